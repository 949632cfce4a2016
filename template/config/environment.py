"""Read and check the production environment.

Each reader records what is wrong instead of raising at the first problem, so that a misconfigured
server stops once with a message naming every missing or unsafe variable. Call `check()` after the
last read.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

# The thresholds of Django's own check for weak keys (security.W009), enforced at start-up instead
# of reported afterwards.
SECRET_KEY_MIN_LENGTH = 50
SECRET_KEY_MIN_UNIQUE_CHARACTERS = 5
INSECURE_KEY_PREFIX = "django-insecure"
NEW_FERNET_KEY_HINT = (
    "generate one with: python -c "
    "'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'"
)
NEW_KEY_HINT = (
    "generate one with: python -c "
    "'from django.core.management.utils import get_random_secret_key as k; print(k())'"
)


def secret_key_problem(value: str) -> str | None:
    """Say why value is unsafe as a SECRET_KEY, or return None if it is acceptable."""
    if value.startswith(INSECURE_KEY_PREFIX):
        return "is a key generated for development (it starts with 'django-insecure')"
    if len(value) < SECRET_KEY_MIN_LENGTH:
        return f"is {len(value)} characters long; at least {SECRET_KEY_MIN_LENGTH} are required"
    if len(set(value)) < SECRET_KEY_MIN_UNIQUE_CHARACTERS:
        return (
            f"has only {len(set(value))} distinct characters; "
            f"at least {SECRET_KEY_MIN_UNIQUE_CHARACTERS} are required"
        )
    return None


def is_fernet_key(value: str) -> bool:
    """Fernet keys are 32 bytes in URL-safe base64."""
    try:
        return len(base64.urlsafe_b64decode(value.encode("ascii"))) == 32
    except (ValueError, binascii.Error):
        return False


class Environment:
    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self.environ = os.environ if environ is None else environ
        self.problems: list[str] = []

    def _get(self, name: str) -> str:
        return self.environ.get(name, "").strip()

    def required(self, name: str, purpose: str) -> str:
        value = self._get(name)
        if not value:
            self.problems.append(f"{name} is not set: {purpose}.")
        return value

    def optional(self, name: str, default: str = "") -> str:
        return self._get(name) or default

    def secret_key(self, name: str) -> str:
        value = self.required(name, f"the key that signs sessions and tokens; {NEW_KEY_HINT}")
        if value and (problem := secret_key_problem(value)):
            self.problems.append(f"{name} {problem}; {NEW_KEY_HINT}.")
        return value

    def secret_key_fallbacks(self, name: str) -> list[str]:
        """Comma-separated former keys, kept while sessions signed with them expire."""
        keys = [key.strip() for key in self._get(name).split(",") if key.strip()]
        for position, key in enumerate(keys, start=1):
            if problem := secret_key_problem(key):
                self.problems.append(f"{name}: key {position} {problem}.")
        return keys

    def fernet_keys(self, name: str, fallbacks_name: str) -> list[str]:
        """A required Fernet key, then former keys (comma-separated) still used to decrypt."""
        key = self.required(name, f"the key that encrypts MFA secrets; {NEW_FERNET_KEY_HINT}")
        if key and not is_fernet_key(key):
            self.problems.append(f"{name} is not a Fernet key; {NEW_FERNET_KEY_HINT}.")
        fallbacks = [value.strip() for value in self._get(fallbacks_name).split(",")]
        fallbacks = [value for value in fallbacks if value]
        for position, value in enumerate(fallbacks, start=1):
            if not is_fernet_key(value):
                self.problems.append(f"{fallbacks_name}: key {position} is not a Fernet key.")
        return [key, *fallbacks]

    def postgres_database(self, name: str) -> dict[str, Any]:
        value = self.required(
            name, "the PostgreSQL database, as postgres://user:password@host:5432/name"
        )
        if not value:
            return {}
        if urlsplit(value).scheme not in {"postgres", "postgresql", "pgsql"}:
            self.problems.append(
                f"{name} must point to PostgreSQL (postgres://...); "
                "production does not run on SQLite or other databases."
            )
            return {}
        try:
            # Persistent connections, checked before each request reuses them.
            return dj_database_url.parse(value, conn_max_age=60, conn_health_checks=True)
        except ValueError as error:
            self.problems.append(f"{name} cannot be parsed: {error}.")
            return {}

    def redis_url(self, name: str) -> str:
        value = self.required(
            name, "the Redis server shared by all app servers, as redis://host:6379/0"
        )
        if value and urlsplit(value).scheme not in {"redis", "rediss", "unix"}:
            self.problems.append(f"{name} must be a redis://, rediss:// or unix:// URL.")
        return value

    def host_list(self, name: str, default: list[str]) -> list[str]:
        hosts = [host.strip() for host in self._get(name).split(",") if host.strip()]
        if not hosts:
            return default
        for host in hosts:
            if host == "*" or "/" in host or " " in host:
                self.problems.append(
                    f"{name}: {host!r} is not a host name; list the exact host names, "
                    "comma-separated (a leading dot allows subdomains)."
                )
        return hosts

    def integer(self, name: str, default: int, minimum: int | None = None) -> int:
        value = self._get(name)
        if not value:
            return default
        try:
            number = int(value)
        except ValueError:
            self.problems.append(f"{name} must be a whole number, not {value!r}.")
            return default
        if minimum is not None and number < minimum:
            self.problems.append(f"{name} must be at least {minimum}, not {number}.")
            return default
        return number

    def check(self) -> None:
        """Stop with one message naming every problem found, if there is any."""
        if self.problems:
            lines = "\n".join(f"  - {problem}" for problem in self.problems)
            raise ImproperlyConfigured(
                "The environment is incomplete or unsafe:\n"
                f"{lines}\n"
                "See .env.example for every variable production reads."
            )

"""Write the generated project's .env with a fresh development SECRET_KEY (and MFA key).

Copier runs this in the project's folder right after `copier copy` (see `_tasks` in copier.yml).
The keys are made here rather than asked for or computed in Jinja so that they never reach
`.copier-answers.yml`. An existing .env is never rewritten: after `copier update`, --add-missing
only appends a key that the new answers need and .env lacks, and does nothing without a .env.
"""

from __future__ import annotations

import argparse
import base64
import os
import re
import secrets
import string
import sys
from pathlib import Path

# The length of Django's get_random_secret_key(), in the URL-safe alphabet of the production keys
# the README makes (secrets.token_urlsafe): no character a shell or systemd reads specially.
ALPHABET = string.ascii_letters + string.digits + "-_"
KEY_LENGTH = 50

ENV_HEADER = """\
# Local development settings for config.settings.dev. This file is git-ignored: never commit it.
# Production reads its variables from the real environment; see .env.example for the full list.
"""


def random_secret_key() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(KEY_LENGTH))


def random_fernet_key() -> str:
    """A key for cryptography's Fernet: 32 random bytes in URL-safe base64."""
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


def key_lines(with_mfa_key: bool) -> dict[str, str]:
    """Each variable .env needs, with a fresh value."""
    lines = {"DJANGO_SECRET_KEY": f"DJANGO_SECRET_KEY='{random_secret_key()}'"}
    if with_mfa_key:
        lines["DJANGO_MFA_KEY"] = f"DJANGO_MFA_KEY='{random_fernet_key()}'"
    return lines


def env_content(with_mfa_key: bool) -> str:
    return ENV_HEADER + "".join(f"{line}\n" for line in key_lines(with_mfa_key).values())


def add_missing(project_dir: Path, with_mfa_key: bool = False) -> list[str]:
    """Append to an existing .env the variables it lacks; return their names."""
    env_file = project_dir / ".env"
    if not env_file.exists():
        return []
    text = env_file.read_text(encoding="utf-8")
    present = set(re.findall(r"^\s*(?:export\s+)?([A-Z_][A-Z0-9_]*)\s*=", text, re.M))
    missing = {name: line for name, line in key_lines(with_mfa_key).items() if name not in present}
    if missing:
        separator = "" if text.endswith("\n") or not text else "\n"
        with env_file.open("a", encoding="utf-8") as handle:
            handle.write(separator + "".join(f"{line}\n" for line in missing.values()))
    return list(missing)


def write_env(project_dir: Path, with_mfa_key: bool = False) -> bool:
    """Create project_dir/.env unless it exists. Return whether it was written."""
    env_file = project_dir / ".env"
    content = env_content(with_mfa_key)
    try:
        # O_EXCL fails if the file exists, so a repeated run cannot overwrite a secret; the mode is
        # set at creation, so the secret is never readable by others, not even for a moment.
        descriptor = os.open(env_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(content)
    return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--add-missing",
        action="store_true",
        help="only append to an existing .env the keys it lacks (after copier update)",
    )
    parser.add_argument(
        "--mfa-key",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="also write DJANGO_MFA_KEY (projects with MFA)",
    )
    options = parser.parse_args()
    project_dir = Path.cwd()
    if options.add_missing:
        for name in add_missing(project_dir, with_mfa_key=options.mfa_key):
            print(f"Added a new development {name} to {project_dir / '.env'}.")
        return 0
    if write_env(project_dir, with_mfa_key=options.mfa_key):
        print(f"Wrote {project_dir / '.env'} with new development keys.")
    else:
        print(f"Kept the existing {project_dir / '.env'}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())

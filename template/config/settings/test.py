"""The test suite: fast, deterministic, offline.

The HTTPS and cookie hardening of base.py stays on, so tests request with secure=True as a browser
behind the proxy would; tests/test_prod_settings.py loads prod.py itself for what it adds.
"""

from django.core.management.utils import get_random_secret_key

from .base import *  # noqa: F403

SECRET_KEY = get_random_secret_key()
ALLOWED_HOSTS = ["testserver"]

DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}

CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

MAILERS = {"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}}

# Hashing cost is what makes real password hashes slow; tests only need them to round-trip.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

"""Local development: plain HTTP on loopback, SQLite, no external service."""

import os

from django.core.exceptions import ImproperlyConfigured
from dotenv import load_dotenv

from .base import *  # noqa: F403
from .base import BASE_DIR

# .env is git-ignored and holds this checkout's own secret; the real environment wins over it.
load_dotenv(BASE_DIR / ".env")

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
if not SECRET_KEY:
    raise ImproperlyConfigured(
        "DJANGO_SECRET_KEY is not set. Copy .env.example to .env and set it to the output of: "
        "python -c 'from django.core.management.utils import get_random_secret_key as k; "
        "print(k())'"
    )

DEBUG = True
ALLOWED_HOSTS = ["localhost", "127.0.0.1", "[::1]"]

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": BASE_DIR / "db.sqlite3",
    }
}

CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

MAILERS = {"default": {"BACKEND": "django.core.mail.backends.console.EmailBackend"}}

# runserver speaks plain HTTP: no redirect to HTTPS, and cookies a browser will send back over HTTP.
# The __Host- prefix requires Secure, so the cookie names lose it here.
SECURE_SSL_REDIRECT = False
SECURE_HSTS_SECONDS = 0
SESSION_COOKIE_SECURE = False
SESSION_COOKIE_NAME = "sessionid"
CSRF_COOKIE_SECURE = False
CSRF_COOKIE_NAME = "csrftoken"

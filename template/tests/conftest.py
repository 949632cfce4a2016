import importlib
import sys

import pytest
from django.core.management.utils import get_random_secret_key

# A production environment that passes every check in config/environment.py. Nothing connects to
# these services: the tests only build settings from them.
VALID_PROD_ENV = {
    "DJANGO_SECRET_KEY": get_random_secret_key(),
    "DATABASE_URL": "postgres://site:password@127.0.0.1:5432/site",
    "REDIS_URL": "redis://127.0.0.1:6379/0",
    "DJANGO_EMAIL_HOST": "smtp.example.net",
}

PROD_ENV_NAMES = [
    "DJANGO_SECRET_KEY",
    "DJANGO_SECRET_KEY_FALLBACKS",
    "DJANGO_ALLOWED_HOSTS",
    "DATABASE_URL",
    "REDIS_URL",
    "DJANGO_EMAIL_HOST",
    "DJANGO_EMAIL_PORT",
    "DJANGO_EMAIL_HOST_USER",
    "DJANGO_EMAIL_HOST_PASSWORD",
    "DJANGO_DEFAULT_FROM_EMAIL",
]


@pytest.fixture
def load_prod_settings(monkeypatch):
    """Import config.settings.prod afresh under the given environment and return the module."""

    def load(**environ):
        for name in PROD_ENV_NAMES:
            monkeypatch.delenv(name, raising=False)
        for name, value in environ.items():
            monkeypatch.setenv(name, value)
        sys.modules.pop("config.settings.prod", None)
        try:
            return importlib.import_module("config.settings.prod")
        finally:
            sys.modules.pop("config.settings.prod", None)

    return load


@pytest.fixture
def prod_settings(settings, load_prod_settings):
    """Run the test with the settings of prod.py, except the test database and cache.

    The responses then pass through the same middleware with the same values as in production.
    """
    prod = load_prod_settings(**VALID_PROD_ENV)
    # The test database, an in-memory cache and the test outbox stand in for PostgreSQL, Redis and
    # SMTP; static files are served unhashed because the tests do not run collectstatic.
    kept = {"DATABASES", "CACHES", "MAILERS", "STORAGES", "PASSWORD_HASHERS"}
    for name in dir(prod):
        if name.isupper() and name not in kept:
            setattr(settings, name, getattr(prod, name))
    return settings

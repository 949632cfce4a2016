"""ASGI entry point; the settings module defaults to prod."""

import gc
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.prod")

application = get_asgi_application()

# As in wsgi.py: Django, the apps and the settings loaded by now stay for the process's life, so
# the garbage collector's full collections need not walk them.
gc.freeze()

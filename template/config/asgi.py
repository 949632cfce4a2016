"""ASGI entry point; the settings module defaults to prod."""

import gc
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.prod")

application = get_asgi_application()

# As in wsgi.py: what is loaded by now lives as long as the process, so the garbage collector's
# full collections need not walk it.
gc.freeze()

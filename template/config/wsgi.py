"""WSGI entry point for gunicorn; the settings module defaults to prod."""

import gc
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.prod")

application = get_wsgi_application()

# Django, the apps and the settings loaded by now stay for the worker's life. Frozen, they are left
# out of the garbage collector's full collections: otherwise the first of them, some 500 requests
# after the worker starts, walks them all and holds up one request for about 40 ms of CPU.
gc.freeze()

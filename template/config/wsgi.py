"""WSGI entry point for gunicorn; the settings module defaults to prod."""

import gc
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.prod")

application = get_wsgi_application()

# What is loaded by now (Django, the apps, their models and settings) lives as long as the worker.
# Freezing it keeps it out of the garbage collector's full collections, which would otherwise walk
# all of it every several thousand requests: a pause of 100 ms or more for one request, in a worker
# that lives that long (gunicorn.conf.py's max_requests replaces workers sooner). The
# django-fortress template's docs/performance.md has the figures.
gc.freeze()

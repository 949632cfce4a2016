"""WSGI entry point for gunicorn; the settings module defaults to prod."""

import gc
import os

from django.core.wsgi import get_wsgi_application
from django.urls import get_resolver

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.prod")

application = get_wsgi_application()

# The URLconf and every view it names, which Django would otherwise import at each worker's first
# request. gunicorn runs this file once and forks its workers from it (preload_app in
# deploy/gunicorn.conf.py): a new worker finds them loaded, and every worker runs the views the
# master loaded, never one changed on disk since.
get_resolver().reverse_dict  # noqa: B018 (read for its side effect: the import)

# Django, the apps and the settings loaded by now stay for the worker's life. Frozen, they are left
# out of the garbage collector's full collections: otherwise the first of them, some 500 requests
# after the worker starts, walks them all and holds up one request for about 40 ms of CPU.
gc.freeze()

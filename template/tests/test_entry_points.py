"""The WSGI and ASGI entry points load the project, then freeze what they loaded, so that the
garbage collector's full collections no longer walk it (config/wsgi.py says why). Loading it opens
no connection: gunicorn loads it once and forks its workers from it (deploy/gunicorn.conf.py)."""

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import VALID_PROD_ENV

PROJECT_DIR = Path(__file__).resolve().parent.parent

# Imports the entry point, then prints how many objects are frozen and whether its application and
# an app's AppConfig, both made as the entry point loads the project, are still among the objects
# the collector walks.
PROBE = """
import gc, importlib, sys
from django.apps import apps
module = importlib.import_module(sys.argv[1])
walked = {id(obj) for obj in gc.get_objects()}
made = [module.application, apps.get_app_config("auth")]
print(gc.get_freeze_count(), any(id(obj) in walked for obj in made))
"""


@pytest.mark.parametrize("module", ["config.wsgi", "config.asgi"])
def test_the_entry_point_freezes_the_loaded_project(module):
    probe = subprocess.run(
        [sys.executable, "-c", PROBE, module],
        cwd=PROJECT_DIR,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test"},
        capture_output=True,
        text=True,
        check=False,
    )

    assert probe.returncode == 0, probe.stderr
    frozen, walked = probe.stdout.split()
    assert walked == "False"  # frozen, so loaded before the freeze
    assert int(frozen) > 10_000


def test_loading_the_project_for_production_opens_no_connection():
    # A connection opened in gunicorn's master would be inherited by every worker forked from it,
    # and two workers on one PostgreSQL or Redis connection read each other's answers.
    with (
        socket.create_server(("127.0.0.1", 0)) as database,
        socket.create_server(("127.0.0.1", 0)) as cache,
    ):
        environ = {
            **os.environ,
            **VALID_PROD_ENV,
            "DJANGO_SETTINGS_MODULE": "config.settings.prod",
            "DATABASE_URL": f"postgres://site:password@127.0.0.1:{database.getsockname()[1]}/site",
            "REDIS_URL": f"redis://127.0.0.1:{cache.getsockname()[1]}/0",
        }
        loaded = subprocess.run(
            [sys.executable, "-c", "import config.wsgi"],
            cwd=PROJECT_DIR,
            env=environ,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        reached = []
        for name, server in (("PostgreSQL", database), ("Redis", cache)):
            server.setblocking(False)
            try:
                server.accept()[0].close()
            except BlockingIOError:
                continue
            reached.append(name)

    assert reached == []
    assert loaded.returncode == 0, loaded.stderr

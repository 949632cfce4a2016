"""The WSGI and ASGI entry points load the project, then freeze what they loaded, so that the
garbage collector's full collections no longer walk it (config/wsgi.py says why)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

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

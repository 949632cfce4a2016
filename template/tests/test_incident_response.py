"""docs/incident-response.md names only commands and settings that exist."""

import re
from pathlib import Path

from django.core.management import get_commands

PROJECT_DIR = Path(__file__).resolve().parent.parent
RUNBOOK = (PROJECT_DIR / "docs" / "incident-response.md").read_text()


def test_every_command_the_runbook_names_exists():
    named = set(re.findall(r"python manage\.py (\w+)", RUNBOOK))

    assert named, "the runbook names no command"
    assert named - set(get_commands()) == set()


def test_every_setting_the_runbook_names_is_in_the_environment_example():
    named = set(re.findall(r"\bDJANGO_[A-Z_]+\b", RUNBOOK)) - {"DJANGO_SETTINGS_MODULE"}
    example = (PROJECT_DIR / ".env.example").read_text()
    documented = set(re.findall(r"^(DJANGO_[A-Z_]+)=", example, re.M))

    assert named, "the runbook names no setting"
    assert named - documented == set()

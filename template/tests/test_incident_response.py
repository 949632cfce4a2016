"""docs/incident-response.md names only commands, options and settings that exist."""

import re
from pathlib import Path

import pytest
from django.core.management import get_commands, load_command_class

PROJECT_DIR = Path(__file__).resolve().parent.parent
RUNBOOK = (PROJECT_DIR / "docs" / "incident-response.md").read_text()
# A command line in the runbook: the command, then its arguments up to the end of the line, the
# code span, or the next command joined with && or ;.
COMMAND_LINE = re.compile(r"python manage\.py (\w+)([^\n`;&|]*)")


def test_every_command_the_runbook_names_exists():
    named = {command for command, _ in COMMAND_LINE.findall(RUNBOOK)}

    assert named, "the runbook names no command"
    assert named - set(get_commands()) == set()


@pytest.mark.parametrize(("command", "arguments"), COMMAND_LINE.findall(RUNBOOK))
def test_every_option_the_runbook_gives_a_command_exists(command, arguments):
    given = set(re.findall(r"(?<!\S)(--?[a-z][\w-]*)", arguments))
    app = get_commands()[command]
    parser = load_command_class(app, command).create_parser("manage.py", command)
    known = {option for action in parser._actions for option in action.option_strings}

    assert given - known == set()


def test_every_setting_the_runbook_names_is_in_the_environment_example():
    named = set(re.findall(r"\bDJANGO_[A-Z_]+\b", RUNBOOK)) - {"DJANGO_SETTINGS_MODULE"}
    example = (PROJECT_DIR / ".env.example").read_text()
    documented = set(re.findall(r"^(DJANGO_[A-Z_]+)=", example, re.M))

    assert named, "the runbook names no setting"
    assert named - documented == set()

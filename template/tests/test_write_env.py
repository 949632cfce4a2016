"""scripts/write_env.py gives a new clone its development .env in one command, and never
overwrites the keys a checkout already has."""

import re
import shutil
import stat
import subprocess
import sys

import pytest
from django.conf import settings

from config import environment

SCRIPT = settings.BASE_DIR / "scripts" / "write_env.py"
# The keys the development settings read from .env, as they read them (read, not imported: they
# refuse to load without the keys, which a new clone does not have).
DEV_SETTINGS = settings.BASE_DIR / "config" / "settings" / "dev.py"
DEV_KEYS = set(re.findall(r'os\.environ\.get\("([A-Z_]+)"', DEV_SETTINGS.read_text()))


@pytest.fixture
def clone(tmp_path):
    """A new clone: the script in its place, no .env yet."""
    (tmp_path / "scripts").mkdir()
    shutil.copy(SCRIPT, tmp_path / "scripts")
    return tmp_path


def write_env(clone, *options):
    return subprocess.run(
        [sys.executable, clone / "scripts" / "write_env.py", *options],
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def env_values(env_file):
    return dict(re.findall(r"^([A-Z_]+)='([^']*)'$", env_file.read_text(), re.M))


def test_it_writes_every_key_the_development_settings_read_readable_by_its_owner(clone):
    write_env(clone)

    values = env_values(clone / ".env")
    assert set(values) == DEV_KEYS
    assert environment.secret_key_problem(values["DJANGO_SECRET_KEY"]) is None
    assert stat.S_IMODE((clone / ".env").stat().st_mode) == 0o600


def test_each_clone_gets_its_own_keys(clone, tmp_path_factory):
    other = tmp_path_factory.mktemp("other-clone")
    (other / "scripts").mkdir()
    shutil.copy(SCRIPT, other / "scripts")

    write_env(clone)
    write_env(other)

    assert not set(env_values(clone / ".env").values()) & set(env_values(other / ".env").values())


def test_a_second_run_keeps_every_key_of_the_first(clone):
    write_env(clone)
    first = (clone / ".env").read_text()

    said = write_env(clone)

    assert (clone / ".env").read_text() == first
    assert "Kept the keys of the existing" in said


@pytest.mark.parametrize("options", [[], ["--add-missing"]])
def test_an_existing_env_keeps_its_lines_and_gains_only_the_keys_it_lacks(clone, options):
    kept = "DJANGO_SECRET_KEY='the team keeps this'\nDJANGO_DEBUG_TOOLBAR=1\n"
    (clone / ".env").write_text(kept)

    write_env(clone, *options)

    values = env_values(clone / ".env")
    assert (clone / ".env").read_text().startswith(kept)
    assert set(values) == DEV_KEYS
    assert values["DJANGO_SECRET_KEY"] == "the team keeps this"


def test_add_missing_writes_no_env_where_there_is_none(clone):
    """After `copier update`, a checkout without .env (its keys in the environment) stays so."""
    write_env(clone, "--add-missing")

    assert not (clone / ".env").exists()


def test_new_keys_never_go_through_a_link_planted_at_env(clone, tmp_path_factory):
    """Another user who can write to the checkout plants .env as a link to a file they read."""
    theirs = tmp_path_factory.mktemp("other-user") / "collected"
    theirs.write_text("")
    (clone / ".env").symlink_to(theirs)

    for options in ([], ["--add-missing"]):
        run = subprocess.run(
            [sys.executable, clone / "scripts" / "write_env.py", *options],
            capture_output=True,
            text=True,
        )
        assert run.returncode != 0
        assert "is not a plain file (a link?): no key written" in run.stderr
    assert theirs.read_text() == ""


def test_keys_added_to_an_env_others_can_read_are_for_its_owner_alone(clone):
    (clone / ".env").write_text("DJANGO_DEBUG_TOOLBAR=1\n")
    (clone / ".env").chmod(0o644)

    write_env(clone, "--add-missing")

    assert set(env_values(clone / ".env")) == DEV_KEYS
    assert stat.S_IMODE((clone / ".env").stat().st_mode) == 0o600

"""The dev secret is made once, at generation: never an answer, never rewritten by an update."""

from __future__ import annotations

import importlib.util
import os
import subprocess
from pathlib import Path
from types import ModuleType

import copier
import pytest

from .helpers import copy_template


@pytest.fixture(scope="module")
def write_env(template_src: Path, tmp_path_factory: pytest.TempPathFactory) -> ModuleType:
    """The generated project's scripts/write_env.py, which writes .env at generation."""
    project = tmp_path_factory.mktemp("write-env") / "project"
    copier.run_copy(str(template_src), project, defaults=True, unsafe=True, quiet=True)
    script = project / "scripts" / "write_env.py"
    spec = importlib.util.spec_from_file_location("write_env", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def git(*args: str, cwd: Path) -> str:
    return subprocess.run(
        ["git", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
        text=True,
        env={
            "GIT_AUTHOR_NAME": "Test",
            "GIT_AUTHOR_EMAIL": "test@example.com",
            "GIT_COMMITTER_NAME": "Test",
            "GIT_COMMITTER_EMAIL": "test@example.com",
            "PATH": os.environ["PATH"],
            "HOME": str(cwd),
        },
    ).stdout


def test_each_key_is_fresh_and_django_shaped(write_env):
    keys = {write_env.random_secret_key() for _ in range(20)}

    assert len(keys) == 20
    assert all(len(key) == 50 and set(key) <= set(write_env.ALPHABET) for key in keys)


def test_an_existing_env_file_is_never_overwritten(write_env, tmp_path):
    (tmp_path / ".env").write_text("DJANGO_SECRET_KEY='the team keeps this'\n")

    assert write_env.write_env(tmp_path / ".env") is False
    assert (tmp_path / ".env").read_text() == "DJANGO_SECRET_KEY='the team keeps this'\n"


def test_two_projects_get_different_secrets(generate, tmp_path):
    first = generate(tmp_path / "first")
    second = generate(tmp_path / "second")

    assert (first / ".env").read_text() != (second / ".env").read_text()


def test_copier_update_leaves_env_alone(tmp_path):
    """Generate at one release, update to the next: the template's change arrives, .env stays."""
    template = copy_template(tmp_path / "template-repo")
    git("init", "--quiet", "--initial-branch=main", cwd=template)
    git("add", "--all", cwd=template)
    git("commit", "--quiet", "--message=first release", cwd=template)
    git("tag", "v0.1.0", cwd=template)

    project = tmp_path / "project"
    copier.run_copy(str(template), project, defaults=True, unsafe=True, quiet=True)
    env_before = (project / ".env").read_text()
    git("init", "--quiet", "--initial-branch=main", cwd=project)
    git("add", "--all", cwd=project)
    git("commit", "--quiet", "--message=generated", cwd=project)

    readme = template / "template" / "README.md.jinja"
    readme.write_text(readme.read_text() + "\nA paragraph added in the second release.\n")
    git("commit", "--quiet", "--all", "--message=second release", cwd=template)
    git("tag", "v0.2.0", cwd=template)

    copier.run_update(project, defaults=True, unsafe=True, overwrite=True, quiet=True)

    assert "A paragraph added in the second release." in (project / "README.md").read_text()
    assert (project / ".env").read_text() == env_before
    assert "_commit: v0.2.0" in (project / ".copier-answers.yml").read_text()

"""The generated README's first steps work as written, in a new clone of the project, on a machine
where Python 3.12 is installed by pyenv but is not the selected version (so `python3.12` is a shim
that answers "command not found")."""

from __future__ import annotations

import os
import re
import subprocess
import urllib.request
from pathlib import Path

from .helpers import free_port
from .services import wait_for_port

PYENV_SHIM = """#!/bin/sh
echo "pyenv: $(basename "$0"): command not found" >&2
exit 127
"""


def first_steps(readme: str) -> list[str]:
    """The commands of the README's "Run it locally" section, in order."""
    section = readme.split("## Run it locally", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```sh\n(.*?)```", section, re.S)
    assert block, "the section has no sh block"
    return block.group(1).strip().splitlines()


def pyenv_like_path(tmp_path: Path) -> str:
    """PATH where python3.12 and python3.13 fail as pyenv's shims do for a version not selected."""
    shims = tmp_path / "shims"
    shims.mkdir()
    for name in ("python3.12", "python3.13"):
        (shims / name).write_text(PYENV_SHIM)
        (shims / name).chmod(0o755)
    return f"{shims}{os.pathsep}{os.environ['PATH']}"


def test_the_first_steps_of_the_readme_run_as_written_in_a_new_clone(generate, tmp_path):
    project = generate(tmp_path / "generated")
    for command in (["git", "init", "-q"], ["git", "add", "."]):
        subprocess.run(command, cwd=project, check=True)
    subprocess.run(
        ["git", "-c", "user.name=T", "-c", "user.email=t@example.com", "commit", "-qm", "new"],
        cwd=project,
        check=True,
    )
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", project, clone], check=True)
    assert not (clone / ".env").exists()
    env = {
        **os.environ,
        "PATH": pyenv_like_path(tmp_path),
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "DJANGO_SUPERUSER_EMAIL": "owner@example.org",
        "DJANGO_SUPERUSER_PASSWORD": "a passphrase long enough for the validators",
    }
    steps = first_steps((clone / "README.md").read_text())
    assert steps[-1] == ".venv/bin/python manage.py runserver"

    for step in steps[:-1]:
        # createsuperuser asks its questions at a terminal; the test answers them from the
        # environment, as Django allows with --noinput.
        command = f"{step} --noinput" if step.endswith("createsuperuser") else step
        done = subprocess.run(  # noqa: S602 (the README's commands, run as a shell runs them)
            command, shell=True, cwd=clone, env=env, capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, f"{step}\n{done.stdout}\n{done.stderr}"

    # runserver on a free port rather than 8000, which another program may hold.
    port = free_port()
    server = subprocess.Popen(  # noqa: S602 (as above)
        f"{steps[-1]} 127.0.0.1:{port} --noreload",
        shell=True,
        cwd=clone,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_for_port(port, server, "runserver", seconds=60)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/") as home:
            assert home.status == 200
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=10)

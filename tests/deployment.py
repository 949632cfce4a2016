"""A generated project deployed on this machine as its README says, for the real-server tests.

`hosting: vps` as a team would run it, and nothing more lenient:

- the code in /srv/<slug>, owned by root; the service's user made, and the proxy's user added to
  its group, by the README's own first-time commands; the release commands of the README run as
  root in that folder, under a strict umask (027) as on a hardened server;
- gunicorn started as the systemd unit says: its User and Group with their supplementary groups,
  its UMask, WorkingDirectory, EnvironmentFile and Environment, and its StateDirectory made with
  StateDirectoryMode and owned by the service's user, as systemd makes it; its socket made as
  the .socket unit says (path, owner, mode) and handed over as systemd hands it (LISTEN_FDS);
- each proxy as its own unprivileged user: nginx's and Apache's workers as www-data under a root
  master (Debian's packages), Caddy as caddy with only the capability to bind ports below 1024
  (Debian's caddy.service).

What differs from a server, and why it changes nothing the tests check:
- the commands that need systemd (`systemctl`, copying the unit) are skipped, and the unit is
  started by reading it as above: no systemd runs here;
- the project's virtualenv is the tests' shared one, linked as /srv/<slug>/.venv, instead of the
  README's `pip install` into a new one: the same lock file, installed with --require-hashes;
- this machine's Python lives in root's home, which no other user may enter; the service's
  processes see it through a private mount (root's home replaced, for them alone, by a folder
  holding only the Python installation), as a server's /usr/bin/python3 is readable by all;
- the proxy runs in a network namespace of its own, where the site's name is 127.0.0.1; gunicorn
  runs beside the test's PostgreSQL and Redis, and the proxy reaches it through its socket.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import copier
from filelock import FileLock

from .helpers import CACHE
from .services import ServiceError

# adduser and deluser of parallel tests would otherwise race for /etc/passwd's lock.
ACCOUNTS_LOCK = CACHE / "accounts.lock"

Namespace = Callable[[list], list]


def sh_block(markdown: str, after: str) -> list[str]:
    """The commands of the first ```sh block after the text `after`, one per line."""
    start = markdown.index(after)
    block = re.search(r"```sh\n(.*?)```", markdown[start:], re.DOTALL)
    assert block, f"no sh block after {after!r}"
    return [line for line in block.group(1).splitlines() if line.strip()]


def unit_settings(unit: Path) -> dict[str, list[str]]:
    """The settings of a systemd unit file, each with its values in order."""
    settings: dict[str, list[str]] = {}
    for line in unit.read_text().replace("\\\n", " ").splitlines():
        if not line or line.startswith(("#", "[")) or "=" not in line:
            continue
        key, value = line.split("=", 1)
        settings.setdefault(key.strip(), []).append(value.strip())
    return settings


def run_as_root(command: str, cwd: Path, env: dict[str, str] | None = None) -> None:
    done = subprocess.run(
        ["sh", "-c", command],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        check=False,
    )
    if done.returncode != 0:
        raise ServiceError(f"`{command}` failed:\n{done.stdout}\n{done.stderr}")


# Run as `sh -c PYTHON_VIEW folder command...`: root's home, for this process and its children
# alone, becomes a folder that anyone may enter, holding only the Python installations.
PYTHON_VIEW = (
    'mount --bind /root/.pyenv "$0" && mount -t tmpfs -o mode=0755 tmpfs /root'
    ' && mkdir /root/.pyenv && mount --move "$0" /root/.pyenv && exec "$@"'
)


@dataclass
class Deployment:
    slug: str
    user: str
    code: Path
    state: Path
    env: dict[str, str]
    unit: dict[str, list[str]]
    runtime: Path

    def manage(self, *arguments: str) -> subprocess.CompletedProcess[str]:
        """manage.py as root in the code's folder, with the production environment: what the
        README's release commands do."""
        return subprocess.run(
            [".venv/bin/python", "manage.py", *arguments],
            cwd=self.code,
            capture_output=True,
            text=True,
            env={**os.environ, **self.service_env()},
            check=False,
        )

    def service_command(self, command: list[str], prepare: str = "") -> list[str]:
        """command as the unit runs its ExecStart: the unit's user and groups, umask and folder,
        no capabilities and no new privileges; prepare is shell run just before it."""
        (user,), (group,), (umask,) = self.unit["User"], self.unit["Group"], self.unit["UMask"]
        (folder,) = self.unit["WorkingDirectory"]
        return [
            "unshare",
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            PYTHON_VIEW,
            str(self.runtime / "python-view"),
            "setpriv",
            f"--reuid={user}",
            f"--regid={group}",
            "--init-groups",
            "--no-new-privs",
            "--inh-caps=-all",
            "--bounding-set=-all",
            "sh",
            "-c",
            f'umask {umask} && cd {shlex.quote(folder)} && {prepare or ":"} && exec "$@"',
            "sh",
            *command,
        ]

    def start_command(self) -> list[str]:
        """The unit's ExecStart, run as the unit runs it, with the socket on file descriptor 3
        (see socket()): LISTEN_PID is the pid that gunicorn will have, the shell's, which it
        replaces."""
        (exec_start,) = self.unit["ExecStart"]
        return self.service_command(
            shlex.split(exec_start), prepare="export LISTEN_FDS=1 LISTEN_PID=$$"
        )

    @contextmanager
    def socket(self) -> Iterator[socket.socket]:
        """The socket of the .socket unit, made as systemd makes it: its path, owner and mode.
        Pass it to the service with pass_fds=(3,) and preexec_fn=hand_over(socket)."""
        unit = unit_settings(self.code / "deploy" / f"{self.slug}.socket")
        (path,), (mode,) = unit["ListenStream"], unit["SocketMode"]
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            listener.bind(path)
            shutil.chown(path, unit["SocketUser"][0], unit["SocketGroup"][0])
            os.chmod(path, int(mode, 8))
            listener.listen(128)
            yield listener
        finally:
            listener.close()
            Path(path).unlink(missing_ok=True)

    def service_env(self) -> dict[str, str]:
        """The environment systemd gives the service: EnvironmentFile, then Environment."""
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"}
        (env_file,) = self.unit["EnvironmentFile"]
        for line in Path(env_file).read_text().splitlines():
            if line and not line.startswith("#"):
                name, value = line.split("=", 1)
                env[name] = value
        for assignment in self.unit.get("Environment", []):
            name, value = assignment.split("=", 1)
            env[name] = value
        return env


@contextmanager
def deployed(
    template_src: Path,
    answers: dict[str, object],
    python: Path,
    environ: dict[str, str],
) -> Iterator[Deployment]:
    """The project of answers (hosting vps) deployed as its README says; removed afterwards with
    its user, group and folders."""
    slug = f"fortress_{uuid.uuid4().hex[:10]}"
    code = Path("/srv") / slug
    runtime = Path(tempfile.mkdtemp(prefix=f"{slug}-"))
    (runtime / "python-view").mkdir()
    try:
        copier.run_copy(
            str(template_src),
            code,
            data={**answers, "hosting": "vps", "project_slug": slug},
            defaults=True,
            unsafe=True,
            quiet=True,
        )
        readme = (code / "README.md").read_text()
        unit = unit_settings(code / "deploy" / f"{slug}.service")
        (user,) = unit["User"]
        with FileLock(str(ACCOUNTS_LOCK)):
            for command in sh_block(readme, "The first time, as root:"):
                # No systemd runs here: the unit is started below as it would start it.
                if not command.startswith(("systemctl ", f"cp deploy/{slug}.service ")):
                    run_as_root(command, cwd=code)
        env_file = Path(unit["EnvironmentFile"][0])
        env_file.write_text("".join(f"{name}={value}\n" for name, value in environ.items()))
        assert oct(env_file.stat().st_mode & 0o777) == "0o600"
        (code / ".venv").symlink_to(python.parent.parent)
        release = [
            command
            for command in sh_block(readme, "Each release, as root in")
            if not command.startswith((".venv/bin/pip install ", "systemctl "))
        ]
        assert len(release) == 5, release
        run_as_root("umask 027\n" + "\n".join(release), cwd=code)
        # What systemd does for StateDirectory= before it starts the service.
        (state_name,), (state_mode,) = unit["StateDirectory"], unit["StateDirectoryMode"]
        state = Path("/var/lib") / state_name
        state.mkdir(mode=int(state_mode, 8))
        state.chmod(int(state_mode, 8))
        shutil.chown(state, user, unit["Group"][0])
        yield Deployment(slug, user, code, state, dict(environ), unit, runtime)
    finally:
        user = slug[:31]
        with FileLock(str(ACCOUNTS_LOCK)):
            for command in ("deluser", "delgroup"):
                subprocess.run([command, "--quiet", "--system", user], capture_output=True)
        for folder in (code, Path("/var/lib") / slug, Path("/etc") / slug, runtime):
            shutil.rmtree(folder, ignore_errors=True)


def as_caddy(command: list) -> list:
    """command as Debian's caddy.service runs Caddy: its own user, and only the capability to
    bind the ports below 1024."""
    return [
        "setpriv",
        "--reuid=caddy",
        "--regid=caddy",
        "--init-groups",
        "--inh-caps=-all,+net_bind_service",
        "--ambient-caps=+net_bind_service",
        "--bounding-set=-all,+net_bind_service",
        *command,
    ]


def hand_over(listener: socket.socket) -> Callable[[], None]:
    """For Popen's preexec_fn: the socket on file descriptor 3, where systemd puts the first
    one it passes."""
    return lambda: os.dup2(listener.fileno(), 3)

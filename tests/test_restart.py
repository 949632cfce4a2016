"""hosting: vps. A release under load, done as deploy/README.md says and as systemd carries it out:
no request fails, and the new code answers once it is over.

gunicorn preloads the project (deploy/gunicorn.conf.py), so only a new gunicorn runs new code, and
the README's release ends with a restart. No systemd runs here (tests/deployment.py says what that
harness emulates), so what systemd would do is done here, from the unit files:

- the .socket unit: this process makes the socket as the unit says and holds it for the whole
  test, as systemd holds it, and hands it to each gunicorn it starts on file descriptor 3 with
  LISTEN_FDS (Deployment.start_command);
- the README's `systemctl` commands, which the harness's stand-in records, are then carried out
  as systemd carries them out for the service unit: a restart sends the unit's KillSignal (TERM)
  to the main process alone (KillMode=mixed), waits for it to exit for up to TimeoutStopSec, kills
  what is left, and runs ExecStart again with the same socket; a reload runs ExecReload, and is
  refused where the unit has none.

The load is what the proxy sends: concurrent requests on the socket, with the headers the proxy
sets, back to back from a pool of clients for the whole release.
"""

from __future__ import annotations

import base64
import os
import re
import shlex
import signal
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from .deployment import Deployment, deployed, hand_over, run_as_root, sh_block
from .services import ServiceError, create_database

pytestmark = [pytest.mark.root, pytest.mark.servers]

DOMAIN = "www.example.com"
# Clients sending requests back to back: more than gunicorn's workers, so that requests queue on
# the socket as they do behind a busy proxy.
CLIENTS = 8
# Seconds of load before the release, and after the new gunicorn first answered.
STEADY = 3.0
# Real pages: the sign-in page (templates, the session and CSRF middleware) and readiness (a
# query to PostgreSQL, round trips to Redis); and liveness, whose answer says which code served it.
PAGES = ("/accounts/login/", "/health/ready/", "/health/live/")
OLD, NEW = b"ok\n", b"ok, release 2\n"
PROC = Path("/proc")


@dataclass
class Answer:
    sent: float
    received: float
    path: str
    # 0 when the request got no answer at all: refused, reset or cut off.
    status: int
    body: bytes


def ask(path: str, socket_path: str) -> Answer:
    """One request as the proxy sends it, on a connection of its own."""
    sent = time.monotonic()
    request = (
        f"GET {path} HTTP/1.0\r\nHost: {DOMAIN}\r\nX-Forwarded-Proto: https\r\n"
        f"X-Forwarded-For: 203.0.113.7\r\nX-Request-ID: {uuid.uuid4().hex}\r\n\r\n"
    ).encode()
    answer = b""
    try:
        with socket.socket(socket.AF_UNIX) as client:
            client.settimeout(90)
            client.connect(socket_path)
            client.sendall(request)
            while chunk := client.recv(65536):
                answer += chunk
    except OSError:
        return Answer(sent, time.monotonic(), path, 0, answer)
    head, _, body = answer.partition(b"\r\n\r\n")
    status = re.match(rb"HTTP/1\.[01] (\d{3}) ", head)
    return Answer(sent, time.monotonic(), path, int(status.group(1)) if status else 0, body)


@contextmanager
def load(socket_path: str) -> Iterator[list[Answer]]:
    """CLIENTS clients requesting PAGES in turn, back to back, until the block ends."""
    answers: list[Answer] = []
    stop = threading.Event()

    def client(number: int) -> None:
        turn = number
        while not stop.is_set():
            answers.append(ask(PAGES[turn % len(PAGES)], socket_path))
            turn += 1

    clients = [threading.Thread(target=client, args=(number,)) for number in range(CLIENTS)]
    for thread in clients:
        thread.start()
    try:
        yield answers
    finally:
        stop.set()
        for thread in clients:
            thread.join()


@dataclass
class Service:
    """The service unit as systemd runs it: one gunicorn at a time, on the socket held here."""

    deployment: Deployment
    listener: socket.socket
    process: subprocess.Popen | None = None
    starts: int = 0
    # When each gunicorn that was stopped had exited.
    exits: list[float] = field(default_factory=list)

    @property
    def log(self) -> Path:
        return self.deployment.runtime / f"gunicorn-{self.starts}.log"

    def start(self) -> None:
        self.starts += 1
        with self.log.open("w") as out:
            self.process = subprocess.Popen(
                self.deployment.start_command(),
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env=self.deployment.service_env(),
                pass_fds=(3,),
                preexec_fn=hand_over(self.listener),
            )
        deadline = time.monotonic() + 90
        while "Booting worker" not in self.log.read_text():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise ServiceError(f"gunicorn did not start:\n{self.log.read_text()}")
            time.sleep(0.1)

    def stop(self) -> None:
        """As systemd stops the unit: KillSignal to the main process alone (KillMode=mixed), up
        to TimeoutStopSec for it to exit, then KILL to whatever is left of the unit."""
        unit = self.deployment.unit
        assert unit["KillMode"] == ["mixed"], unit.get("KillMode")
        assert "KillSignal" not in unit  # systemd's default, TERM
        (timeout,) = unit["TimeoutStopSec"]
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=int(timeout))
        finally:
            with suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
            self.exits.append(time.monotonic())

    def reload(self) -> None:
        """As systemd runs ExecReload, with $MAINPID."""
        (command,) = self.deployment.unit["ExecReload"]
        command = command.replace("$MAINPID", str(self.process.pid))
        subprocess.run(shlex.split(command), check=True)

    def systemctl(self, line: str) -> str:
        """Carry out what the README asked `systemctl` for, as systemd would for this running
        service; return what was done."""
        verb, unit = line.split()
        assert unit in (self.deployment.slug, f"{self.deployment.slug}.service"), line
        reloads = "ExecReload" in self.deployment.unit
        if verb == "reload" and not reloads:
            raise AssertionError(f"`systemctl {line}`: the unit has no reload, systemd refuses")
        if verb in ("reload", "reload-or-restart", "try-reload-or-restart") and reloads:
            self.reload()
            return "reload"
        assert verb in ("restart", "try-restart", "reload-or-restart", "try-reload-or-restart")
        self.stop()
        self.start()
        return "restart"


def socket_inodes(pid: int) -> set[int]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if found := re.fullmatch(r"socket:\[(\d+)\]", target):
            inodes.add(int(found.group(1)))
    return inodes


def children(pid: int) -> list[int]:
    found = []
    for entry in PROC.iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


@dataclass
class Release:
    answers: list[Answer]
    # When the release's systemctl commands began to be carried out, and when the last process
    # of the gunicorn that served before them had exited.
    stopping: float
    settled: float
    done: list[str]
    service: Service


@pytest.fixture(scope="module")
def released(template_src, project_python, postgres, redis) -> Iterator[Release]:
    """The default project deployed, then a release of a change to its Python code done as the
    README says, under load; the new gunicorn still runs while the tests read it."""
    environ = {
        "DJANGO_SECRET_KEY": "live-" + os.urandom(32).hex(),
        "DJANGO_ALLOWED_HOSTS": DOMAIN,
        "DATABASE_URL": create_database(
            project_python, postgres, f"restart_{uuid.uuid4().hex[:8]}"
        ),
        "REDIS_URL": f"{redis}/10",
        "DJANGO_EMAIL_HOST": "127.0.0.1",
        "DJANGO_MFA_KEY": base64.urlsafe_b64encode(os.urandom(32)).decode(),
        "WEB_CONCURRENCY": "2",
    }
    with ExitStack() as stack:
        deployment = stack.enter_context(
            deployed(template_src, {"domain_name": DOMAIN}, project_python, environ)
        )
        listener = stack.enter_context(deployment.socket())
        socket_path = listener.getsockname()
        service = Service(deployment, listener)
        service.start()
        stack.callback(lambda: service.process and service.stop())

        repository = deployment.runtime / "repository"
        readme = (repository / "deploy" / "README.md").read_text()
        release = sh_block(readme, "Each release, the first one included, as root in")
        systemctl = deployment.runtime / "bin" / "systemctl"
        recorded = Path(f"{systemctl}.log")
        asked_before = recorded.read_text().splitlines()
        # The new version: the liveness view's answer changes, in Python code that the master
        # loaded before it forked its workers.
        health = repository / deployment.slug / "operations" / "health.py"
        live = 'def live(request: HttpRequest) -> HttpResponse:\n    return plain("ok")\n'
        assert health.read_text().count(live) == 1
        health.write_text(health.read_text().replace(live, live.replace('"ok"', '"ok, release 2"')))
        git = ["git", "-c", "user.name=Fortress", "-c", "user.email=fortress@example.com"]
        subprocess.run([*git, "commit", "--quiet", "-am", "2"], cwd=repository, check=True)

        # Readiness answers concurrent probes with the last verdict (operations/health.py): a
        # first probe alone makes one, as the platform's or the proxy's first probe does.
        assert ask("/health/ready/", socket_path).status == 200
        with load(socket_path) as answers:
            time.sleep(STEADY)
            # "with the new code checked out, also under umask 022", as the README says.
            run_as_root("umask 022\ngit pull --quiet --ff-only", deployment.code, os.environ.copy())
            run_as_root(
                "\n".join(release),
                deployment.code,
                {
                    "PATH": f"{systemctl.parent}:/usr/sbin:/usr/bin:/sbin:/bin",
                    "LANG": "C.UTF-8",
                    "HOME": "/root",
                },
            )
            asked = recorded.read_text().splitlines()[len(asked_before) :]
            stopping = time.monotonic()
            serving = {service.process.pid, *children(service.process.pid)}
            done = [service.systemctl(line) for line in asked]
            while any((PROC / str(pid)).exists() for pid in serving - {service.process.pid}):
                time.sleep(0.05)
            settled = time.monotonic()
            time.sleep(STEADY)
        yield Release(list(answers), stopping, settled, done, service)


def test_a_release_restarts_the_service(released):
    assert released.done == ["restart"]


def test_no_request_fails_during_a_release(released):
    failed = [
        (answer.path, answer.status, round(answer.sent - released.stopping, 2))
        for answer in released.answers
        if answer.status != 200
    ]
    # The requests that waited in the socket's queue while no gunicorn ran.
    (gone,) = released.service.exits
    waited = [answer for answer in released.answers if answer.sent < gone < answer.received]

    assert failed == []
    assert len(waited) >= CLIENTS // 2
    assert len(released.answers) > 100


def test_the_new_code_answers_after_a_release(released):
    live = [answer for answer in released.answers if answer.path == "/health/live/"]
    before = {answer.body for answer in live if answer.received < released.stopping}
    after = {answer.body for answer in live if answer.sent > released.settled}

    assert before == {OLD}
    assert after == {NEW}


def test_no_connection_is_shared_between_gunicorns_processes(released):
    """The master loaded the project before it forked: it holds no socket but the one it serves,
    and each worker's connections to PostgreSQL and Redis are its own."""
    master = released.service.process.pid
    served = os.fstat(released.service.listener.fileno()).st_ino
    workers = children(master)
    held = {pid: socket_inodes(pid) - {served} for pid in workers}

    assert socket_inodes(master) == {served}
    assert len(workers) == 2
    # The load reached PostgreSQL and Redis. A worker that max_requests replaced near the end of
    # the load may hold nothing of its own yet; a socket inherited from the master it would hold.
    assert max(len(inodes) for inodes in held.values()) >= 2, held
    assert len(set().union(*held.values())) == sum(len(inodes) for inodes in held.values())

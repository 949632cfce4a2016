"""Real servers for the template's tests and benchmarks, started on loopback for one session.

PostgreSQL and Redis come from Debian's packages (postgresql, redis-server; .ci/run installs them).
`live_site` serves a generated project as production does: gunicorn with config.settings.prod, on
PostgreSQL and Redis, its static files collected.
"""

from __future__ import annotations

import base64
import contextlib
import glob
import http.client
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode, urlsplit

from .helpers import free_port


def run(command: list[str | Path], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """Run a command, returning its result; the caller asserts on returncode and output."""
    return subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **env},
    )


class ServiceError(RuntimeError):
    """A server did not start; the message says why."""


def as_postgres(command: list[str | Path]) -> list[str | Path]:
    """PostgreSQL refuses to run as root; CI and these machines run the tests as root."""
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


@contextmanager
def postgres_server() -> Iterator[str]:
    """A PostgreSQL server on a free loopback port; yields the URL of its `fortress` superuser,
    without a database name."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        raise ServiceError("PostgreSQL is not installed (Debian: postgresql; .ci/run installs it)")
    bindir = Path(found[-1]).parent
    # Not under pytest's own temporary folder, which only its owner may enter.
    data = Path(tempfile.mkdtemp(prefix="fortress-postgres-"))
    if os.geteuid() == 0:
        shutil.chown(data, "postgres")
    port = free_port()
    try:
        init = run(
            as_postgres([bindir / "initdb", "-D", data, "-A", "trust", "-U", "fortress"]), cwd=data
        )
        if init.returncode != 0:
            raise ServiceError(init.stderr)
        options = f"-p {port} -k {data} -c listen_addresses=127.0.0.1 -c fsync=off"
        start = run(
            as_postgres(
                [bindir / "pg_ctl", "-D", data, "-o", options, "-l", data / "log", "-w", "start"]
            ),
            cwd=data,
        )
        if start.returncode != 0:
            raise ServiceError(start.stderr + (data / "log").read_text())
        yield f"postgres://fortress@127.0.0.1:{port}"
    finally:
        run(as_postgres([bindir / "pg_ctl", "-D", data, "-m", "immediate", "stop"]), cwd=data)
        shutil.rmtree(data, ignore_errors=True)


def wait_for_port(port: int, process: subprocess.Popen, what: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            if process.poll() is not None:
                raise ServiceError(f"{what} exited with status {process.returncode}") from None
            time.sleep(0.1)
    raise ServiceError(f"{what} did not listen on port {port} within {seconds:.0f} s")


@contextmanager
def runserver(
    python: Path, project: Path, env: dict[str, str], log: Path, *options: str
) -> Iterator[str]:
    """The project served by Django's development server until the block ends: its address."""
    port = free_port()
    with log.open("w") as out:
        server = subprocess.Popen(
            [python, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload", *options],
            cwd=project,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for_port(port, server, "runserver")
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=10)


@contextmanager
def redis_server(workdir: Path, port: int | None = None) -> Iterator[str]:
    """A Redis server on a free loopback port (or on port, to stand in for one that stopped),
    keeping nothing on disk; yields its URL without a database number."""
    server = shutil.which("redis-server")
    if not server:
        raise ServiceError("Redis is not installed (Debian: redis-server; .ci/run installs it)")
    port = port or free_port()
    process = subprocess.Popen(
        [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        cwd=workdir,
        stdout=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, process, "redis-server")
        yield f"redis://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    cookies: dict[str, str]
    body: str


@dataclass
class LiveSite:
    """A generated project served by gunicorn behind an imaginary TLS proxy: requests carry the
    X-Forwarded-Proto and X-Forwarded-For headers that proxy would set."""

    port: int
    host: str
    python: Path
    project: Path
    env: dict[str, str]
    log: Path
    cookies: dict[str, str] = field(default_factory=dict)

    def request(
        self,
        method: str,
        path: str,
        client_ip: str,
        form: dict[str, str] | None = None,
        cookies: dict[str, str] | None = None,
    ) -> Response:
        headers = {
            "Host": self.host,
            "X-Forwarded-Proto": "https",
            "X-Forwarded-For": client_ip,
            "Origin": f"https://{self.host}",
            "Referer": f"https://{self.host}{path}",
        }
        if cookies:
            headers["Cookie"] = "; ".join(f"{name}={value}" for name, value in cookies.items())
        body = None
        if form is not None:
            body = urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        try:
            connection.request(method, path, body=body, headers=headers)
            answer = connection.getresponse()
            received = {}
            for name, value in answer.getheaders():
                if name.lower() == "set-cookie":
                    cookie_name, _, rest = value.partition("=")
                    received[cookie_name] = rest.split(";", 1)[0]
            return Response(
                answer.status,
                {name.lower(): value for name, value in answer.getheaders()},
                received,
                answer.read().decode(),
            )
        finally:
            connection.close()

    def login_form(self, client_ip: str) -> tuple[dict[str, str], str]:
        """The cookies and CSRF token a browser gets with the login page."""
        page = self.request("GET", "/accounts/login/", client_ip)
        if page.status != 200:
            raise ServiceError(f"the login page answered {page.status}: {page.body[:500]}")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.body)
        if not token:
            raise ServiceError("no CSRF token on the login page")
        return page.cookies, token.group(1)

    def sign_in(
        self, client_ip: str, email: str, password: str, session: tuple[dict[str, str], str]
    ) -> Response:
        cookies, token = session
        form = {"login": email, "password": password, "csrfmiddlewaretoken": token}
        return self.request("POST", "/accounts/login/", client_ip, form=form, cookies=cookies)

    def manage(self, *arguments: str) -> subprocess.CompletedProcess[str]:
        return run([self.python, "manage.py", *arguments], cwd=self.project, **self.env)

    def create_account(self, email: str, password: str) -> None:
        """Create an account that signs in with password, its address verified as allauth
        expects."""
        created = self.manage(
            "shell",
            "-c",
            "from allauth.account.models import EmailAddress\n"
            "from django.contrib.auth import get_user_model\n"
            f"user = get_user_model().objects.create_user({email!r}, {password!r})\n"
            "EmailAddress.objects.create(\n"
            "    user=user, email=user.email, primary=True, verified=True\n"
            ")\n",
        )
        if created.returncode != 0:
            raise ServiceError(f"creating {email} failed:\n{created.stderr}")


def create_database(python: Path, server_url: str, name: str) -> str:
    """Create database `name` on the server; return its URL."""
    create = run(
        [
            python,
            "-c",
            "import sys, psycopg\n"
            "with psycopg.connect(sys.argv[1], autocommit=True) as db:\n"
            "    db.execute(f'CREATE DATABASE {sys.argv[2]}')",
            f"{server_url}/postgres",
            name,
        ],
        cwd=Path.cwd(),
    )
    if create.returncode != 0:
        raise ServiceError(create.stderr)
    return f"{server_url}/{name}"


class VanishingServer:
    """A TCP relay in front of PostgreSQL that can lose the connections it relays the way a
    server whose host died, or whose address moved to a standby, loses them: PostgreSQL sees them
    end, the client hears nothing until it sends, and then a reset (what a host that took over
    the address answers to a connection it does not know). New connections are relayed as
    before."""

    def __init__(self, database_url: str) -> None:
        self.postgres_port = urlsplit(database_url).port
        self.listener = socket.create_server(("127.0.0.1", 0))
        # The database's URL through the relay.
        self.url = database_url.replace(
            f":{self.postgres_port}/", f":{self.listener.getsockname()[1]}/"
        )
        self.generation = 0
        self.upstreams: list[socket.socket] = []
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self) -> None:
        while True:
            client, _ = self.listener.accept()
            try:
                upstream = socket.create_connection(("127.0.0.1", self.postgres_port))
            except OSError:  # PostgreSQL is down: so is the relay's connection
                client.close()
                continue
            self.upstreams.append(upstream)
            generation = self.generation
            for relay in (self.to_server, self.to_client):
                threading.Thread(
                    target=relay, args=(client, upstream, generation), daemon=True
                ).start()

    def to_server(self, client: socket.socket, upstream: socket.socket, generation: int) -> None:
        with contextlib.suppress(OSError):  # PostgreSQL or the client ended the connection
            while data := client.recv(65536):
                if generation != self.generation:
                    reset = struct.pack("ii", 1, 0)
                    client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, reset)
                    client.close()
                    return
                upstream.sendall(data)
        # shutdown, not close: it also ends the other relay's recv on the socket.
        for end in (client, upstream):
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)

    def to_client(self, client: socket.socket, upstream: socket.socket, generation: int) -> None:
        with contextlib.suppress(OSError):
            while data := upstream.recv(65536):
                client.sendall(data)
        if generation == self.generation:  # PostgreSQL closed it: so does the relay
            with contextlib.suppress(OSError):
                client.shutdown(socket.SHUT_RDWR)

    def vanish(self) -> None:
        """Lose every connection relayed so far."""
        self.generation += 1
        upstreams, self.upstreams = self.upstreams, []
        for upstream in upstreams:
            with contextlib.suppress(OSError):  # closed already
                upstream.shutdown(socket.SHUT_RDWR)


@contextmanager
def live_site(
    project: Path,
    python: Path,
    database_url: str,
    redis_url: str,
    settings: str = "",
    environ: dict[str, str] | None = None,
    workers: int = 3,
    threads: int = 8,
) -> Iterator[LiveSite]:
    """Serve project with production settings plus `settings` (Python appended to a settings
    module that imports config.settings.prod) and `environ` under gunicorn; stop it on exit."""
    site = prepare_site(project, python, database_url, redis_url, settings, environ)
    site.port = free_port()
    with gunicorn(project, python, "config.wsgi", site.port, site.log, site.env, workers, threads):
        yield site


def prepare_site(
    project: Path,
    python: Path,
    database_url: str,
    redis_url: str,
    settings: str = "",
    environ: dict[str, str] | None = None,
    host: str = "www.example.com",
) -> LiveSite:
    """Make project ready to serve with production settings (see live_site): its environment,
    migrated database and collected static files. Its port is 0 until a server is started."""
    (project / "live_settings.py").write_text(
        f"from config.settings.prod import *  # noqa: F403\n\n{settings}\n"
    )
    env = {
        "DJANGO_SETTINGS_MODULE": "live_settings",
        "DJANGO_SECRET_KEY": "live-" + os.urandom(32).hex(),
        "DJANGO_ALLOWED_HOSTS": host,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "DJANGO_EMAIL_HOST": "127.0.0.1",
        # A Fernet key, for projects with MFA; the others ignore it.
        "DJANGO_MFA_KEY": base64.urlsafe_b64encode(os.urandom(32)).decode(),
        "PYTHONDONTWRITEBYTECODE": "1",
        **(environ or {}),
    }
    site = LiveSite(0, host, python, project, env, project / "gunicorn.log")
    for step in (["migrate", "--noinput"], ["collectstatic", "--noinput"]):
        done = site.manage(*step)
        if done.returncode != 0:
            raise ServiceError(f"manage.py {step[0]} failed:\n{done.stdout}\n{done.stderr}")
    return site


@contextmanager
def gunicorn(
    project: Path,
    python: Path,
    wsgi: str,
    port: int,
    log_path: Path,
    env: dict[str, str],
    workers: int = 3,
    threads: int = 8,
) -> Iterator[None]:
    """Serve the WSGI module wsgi of project on loopback until the block ends: `workers`
    processes of `threads` threads (gthread), or synchronous workers when threads is 1."""
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [
                project_bin(python, "gunicorn"),
                wsgi,
                f"--bind=127.0.0.1:{port}",
                f"--workers={workers}",
                f"--threads={threads}",
                "--worker-class=" + ("gthread" if threads > 1 else "sync"),
                "--timeout=60",
            ],
            cwd=project,
            env={**os.environ, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_for_port(port, process, f"gunicorn ({wsgi})")
        yield
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


def project_bin(python: Path, name: str) -> Path:
    return python.parent / name

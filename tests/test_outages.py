"""End to end: Redis or PostgreSQL stops under a generated project served as in production.

gunicorn (3 workers of 8 threads) runs config.settings.prod on PostgreSQL and Redis (real servers on
loopback), with alerts mailed to an admin through Django's file mail backend so that they can be
counted. Each test stops a server of its own, as `systemctl stop` would, checks what clients get
while it is down (503, Retry-After, the page, the security headers) and that the outage raised one
alert however many requests met it, then starts the server again and checks that the site recovers.
"""

from __future__ import annotations

import glob
import json
import socket
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from .services import (
    LiveSite,
    Response,
    ServiceError,
    VanishingServer,
    as_postgres,
    create_database,
    live_site,
    postgres_server,
    redis_server,
    run,
)

pytestmark = pytest.mark.servers

OWNER = "owner@example.org"
PASSWORD = "correct horse battery staple"  # noqa: S105 (the test account's)
ADMIN = "admin@example.org"
CLIENT_IP = "198.51.100.7"
# Requests made while a server is down, all at once: more than the workers, so every worker
# process meets the outage.
REQUESTS = 24
SECURITY_HEADERS = [
    "content-security-policy",
    "strict-transport-security",
    "x-frame-options",
    "x-content-type-options",
    "referrer-policy",
    "permissions-policy",
    "x-request-id",
]


def serve(project: Path, python: Path, database: str, redis_url: str, folder: Path):
    """live_site, with alerts mailed to files in folder/mail and a temporary folder of its own
    (where the app server claims a Redis outage's alert)."""
    (folder / "mail").mkdir()
    (folder / "tmp").mkdir()
    mail_to_files = (
        'MAILERS = {"default": {"BACKEND": "django.core.mail.backends.filebased.EmailBackend",'
        f' "OPTIONS": {{"file_path": {str(folder / "mail")!r}}}}}}}\n'
    )
    environ = {"DJANGO_ADMINS": ADMIN, "TMPDIR": str(folder / "tmp")}
    return live_site(project, python, database, redis_url, mail_to_files, environ)


def signed_in(site: LiveSite) -> dict[str, str]:
    """The cookies of a browser that signed in as OWNER."""
    cookies, token = site.login_form(CLIENT_IP)
    answer = site.sign_in(CLIENT_IP, OWNER, PASSWORD, (cookies, token))
    assert answer.status == 302, answer.body[:500]
    return {**cookies, **answer.cookies}


def all_at_once(request, count: int = REQUESTS) -> list[Response]:
    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(lambda _: request(), range(count)))


def assert_unavailable(answer: Response, heading: str) -> None:
    assert answer.status == 503, answer.body[:500]
    assert answer.headers["retry-after"] == "60"
    for header in SECURITY_HEADERS:
        assert header in answer.headers, header
    assert heading in answer.body
    for internal in ("Error", "Traceback", "127.0.0.1", "refused", "psycopg", "redis"):
        assert internal not in answer.body, internal


def alerts(folder: Path, site: LiveSite) -> tuple[int, int]:
    """The outage alerts mailed, and the service.unavailable events logged."""
    mails = sum(
        mail.read_text().count("Subject: [My Site] Security alert: service.unavailable")
        for mail in (folder / "mail").iterdir()
    )
    events = 0
    for line in site.log.read_text().splitlines():
        try:
            events += json.loads(line).get("event") == "service.unavailable"
        except ValueError:
            continue  # gunicorn's own lines
    return mails, events


def stop_redis(url: str) -> None:
    """Shut the Redis server down as its service manager would: it closes every connection."""
    address = urlsplit(url)
    with socket.create_connection((address.hostname, address.port), timeout=5) as connection:
        connection.sendall(b"SHUTDOWN NOSAVE\r\n")
        connection.recv(1024)  # nothing: the server closes the connection as it exits
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection((address.hostname, address.port), timeout=1).close()
        except ConnectionRefusedError:
            return
        time.sleep(0.1)
    raise ServiceError("Redis still accepts connections after SHUTDOWN")


@contextmanager
def postgres_stopped(python: Path, server_url: str) -> Iterator[None]:
    """Stop the PostgreSQL server that postgres_server started at server_url, as `systemctl stop`
    would (clients' connections ended, new ones refused); start it again, with the same data and
    options, when the block ends."""
    found = run(
        [
            python,
            "-c",
            "import sys, psycopg\n"
            "with psycopg.connect(sys.argv[1]) as db:\n"
            "    print(db.execute('SHOW data_directory').fetchone()[0])",
            f"{server_url}/postgres",
        ],
        cwd=Path.cwd(),
    )
    if found.returncode != 0:
        raise ServiceError(found.stderr)
    data = Path(found.stdout.strip())
    pg_ctl = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))[-1]
    stop = run(as_postgres([pg_ctl, "-D", data, "-m", "fast", "-w", "stop"]), cwd=data)
    if stop.returncode != 0:
        raise ServiceError(stop.stderr)
    try:
        yield
    finally:
        # restart starts a stopped server with the options it last ran with (postmaster.opts).
        restart = as_postgres([pg_ctl, "-D", data, "-l", data / "log", "-w", "restart"])
        start = run(restart, cwd=data)
        if start.returncode != 0:
            raise ServiceError(start.stdout + start.stderr)


def test_sign_in_answers_503_while_redis_is_down_and_works_again_after(
    generate, project_python, postgres, tmp_path
):
    project = generate()
    database = create_database(project_python, postgres, f"outage_{uuid.uuid4().hex[:8]}")
    with (
        redis_server(tmp_path) as redis_url,
        serve(project, project_python, database, f"{redis_url}/0", tmp_path) as site,
    ):
        site.create_account(OWNER, PASSWORD)
        browser = signed_in(site)
        form = site.login_form(CLIENT_IP)

        stop_redis(redis_url)
        answers = all_at_once(lambda: site.sign_in(CLIENT_IP, OWNER, PASSWORD, form))
        # Sessions are in PostgreSQL: whoever was signed in goes on browsing.
        browsing = site.request("GET", "/accounts/email/", CLIENT_IP, cookies=browser)
        during = alerts(tmp_path, site)

        with redis_server(tmp_path, port=urlsplit(redis_url).port):
            again = site.sign_in(CLIENT_IP, OWNER, PASSWORD, form)
        log = site.log.read_text()

    for answer in answers:
        assert_unavailable(answer, "Sign-in is briefly unavailable")
    assert browsing.status == 200, browsing.body[:500]
    assert during == (1, 1), log[-3000:]
    assert again.status == 302, log[-3000:]


def test_every_page_answers_503_while_postgresql_is_down_and_works_again_after(
    generate, project_python, redis, tmp_path
):
    project = generate()
    with postgres_server() as server:
        database = create_database(project_python, server, "outage")
        with serve(project, project_python, database, f"{redis}/12", tmp_path) as site:
            site.create_account(OWNER, PASSWORD)
            browser = signed_in(site)
            form = site.login_form(CLIENT_IP)
            pages = ["/", "/accounts/login/", "/accounts/email/", "/backoffice/"]

            with postgres_stopped(project_python, server):
                answers = {
                    path: all_at_once(
                        lambda path=path: site.request("GET", path, CLIENT_IP, cookies=browser),
                        count=REQUESTS // len(pages),
                    )
                    for path in pages
                }
                sign_in = site.sign_in(CLIENT_IP, OWNER, PASSWORD, form)
                during = alerts(tmp_path, site)

            home = site.request("GET", "/", CLIENT_IP, cookies=browser)
            again = site.sign_in(CLIENT_IP, OWNER, PASSWORD, site.login_form(CLIENT_IP))
            log = site.log.read_text()

    assert {path: {answer.status for answer in group} for path, group in answers.items()} == {
        path: {503} for path in pages
    }
    for answer in [*(answer for group in answers.values() for answer in group), sign_in]:
        assert_unavailable(answer, "The site is briefly unavailable")
    assert during == (1, 1), log[-3000:]
    assert home.status == 200, log[-3000:]
    assert again.status == 302, log[-3000:]


def test_a_postgresql_restart_fails_no_request_on_a_connection_kept_from_before_it(
    generate, project_python, redis, tmp_path
):
    """Production keeps each worker's connection for the next request (CONN_MAX_AGE). A restart
    of PostgreSQL ends the connection on the server's side only: the worker learns of it when it
    next uses it. The check before a request reuses a connection (CONN_HEALTH_CHECKS) replaces
    the dead one, so the first request after the restart is served; without it, that request
    fails. One synchronous worker, so both requests use the same connection."""
    project = generate()
    with postgres_server() as server:
        database = create_database(project_python, server, "restart")
        with live_site(
            project, project_python, database, f"{redis}/13", workers=1, threads=1
        ) as site:
            site.create_account(OWNER, PASSWORD)
            browser = signed_in(site)
            before = site.request("GET", "/accounts/email/", CLIENT_IP, cookies=browser)
            with postgres_stopped(project_python, server):
                pass
            after = site.request("GET", "/accounts/email/", CLIENT_IP, cookies=browser)
            log = site.log.read_text()

    assert before.status == 200, before.body[:500]
    assert after.status == 200, log[-3000:]


def test_a_postgresql_server_that_vanished_fails_no_request_on_a_connection_kept_from_before_it(
    generate, project_python, redis, tmp_path
):
    """A PostgreSQL host that dies, or whose address moves to a standby, says nothing to the
    connections it held: the worker's next bytes on one meet a reset. The check's round trip
    meets it before the request's first query and replaces the connection; without the check,
    or with a check that only looks for a goodbye on the socket (nothing came), the request
    fails. One synchronous worker, so both requests use the same connection."""
    project = generate()
    with postgres_server() as server:
        relay = VanishingServer(create_database(project_python, server, "vanish"))
        with live_site(
            project, project_python, relay.url, f"{redis}/14", workers=1, threads=1
        ) as site:
            site.create_account(OWNER, PASSWORD)
            browser = signed_in(site)
            before = site.request("GET", "/accounts/email/", CLIENT_IP, cookies=browser)
            relay.vanish()
            after = site.request("GET", "/accounts/email/", CLIENT_IP, cookies=browser)
            log = site.log.read_text()

    assert before.status == 200, before.body[:500]
    assert after.status == 200, log[-3000:]

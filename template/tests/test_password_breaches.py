"""Breached passwords: the Pwned Passwords range API, asked with k-anonymity, through the real
client, against a stand-in for the service on 127.0.0.1 that answers, fails, or never answers."""

import hashlib
import logging
import secrets
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.apps import apps
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError

from config.settings import base

from .conftest import PASSWORD

# Not guessable: only the service can tell that they were breached.
BREACHED = "umbrella harbour violet ninety"
NEVER_BREACHED = "quiet lantern mosaic fourteen"
TIMEOUT = 0.5


def sha1(password: str) -> str:
    return hashlib.sha1(password.encode()).hexdigest().upper()  # noqa: S324 (the API's hash)


class RangeApi(ThreadingHTTPServer):
    """GET /range/<first 5 hex digits of a SHA-1> answers SUFFIX:COUNT lines for the hashes it
    holds under that prefix, with decoys of count 0 when asked for padding, as the service does.
    behaviour "fails" answers 500, "garbage" answers a page that is not a range, "hangs" accepts
    the request and never answers."""

    daemon_threads = True

    def __init__(self, counts: dict[str, int], behaviour: str) -> None:
        super().__init__(("127.0.0.1", 0), RangeHandler)
        self.counts = {sha1(password): count for password, count in counts.items()}
        self.behaviour = behaviour
        self.requests: list[bytes] = []
        self.released = threading.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_port}/range/"


class RangeHandler(BaseHTTPRequestHandler):
    server: RangeApi

    def do_GET(self) -> None:
        self.server.requests.append(self.requestline.encode() + b"\n" + bytes(self.headers))
        if self.server.behaviour == "hangs":
            self.server.released.wait(10)
            return
        if self.server.behaviour == "fails":
            self.send_error(500)
            return
        if self.server.behaviour == "garbage":
            self.answer(b"<html><body>Please sign in to the network</body></html>")
            return
        prefix = self.path.removeprefix("/range/")
        lines = [
            f"{digest[5:]}:{count}"
            for digest, count in self.server.counts.items()
            if digest.startswith(prefix)
        ]
        if self.headers.get("Add-Padding") == "true":
            lines += [f"{secrets.token_hex(18)[:35].upper()}:0" for _ in range(200)]
        self.answer("\r\n".join(lines).encode())

    def answer(self, body: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def breach_service(settings):
    """Start a stand-in for the service and point production's validators at it."""
    servers: list[RangeApi] = []

    def start(counts=None, behaviour="answers") -> RangeApi:
        server = RangeApi(counts or {}, behaviour)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        use_the_service_at(settings, server.url)
        return server

    yield start
    for server in servers:
        server.released.set()
        server.shutdown()
        server.server_close()


def use_the_service_at(settings, url: str) -> None:
    # The test settings leave the check out, to stay offline; these are production's validators.
    settings.AUTH_PASSWORD_VALIDATORS = base.AUTH_PASSWORD_VALIDATORS
    settings.PWNED_PASSWORDS_API_URL = url
    settings.PWNED_PASSWORDS_TIMEOUT = TIMEOUT


@pytest.fixture
def events():
    """The security log's events during the test."""
    records: list[dict] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if hasattr(record, "security"):
                records.append(record.security)

    logger = logging.getLogger(apps.get_app_config("security").name)
    handler = Collect()
    logger.addHandler(handler)
    yield records
    logger.removeHandler(handler)


def test_a_breached_password_is_refused(breach_service):
    breach_service({BREACHED: 3, PASSWORD: 120_000})

    for password in (BREACHED, PASSWORD):
        with pytest.raises(ValidationError) as refused:
            validate_password(password)
        assert [error.code for error in refused.value.error_list] == ["password_breached"]
    validate_password(NEVER_BREACHED)


def test_only_five_hex_digits_of_the_hash_leave_the_server(breach_service):
    service = breach_service({BREACHED: 3})

    with pytest.raises(ValidationError):
        validate_password(BREACHED)

    (request,) = service.requests
    digest = sha1(BREACHED)
    assert request.startswith(f"GET /range/{digest[:5]} HTTP/1.1\n".encode())
    assert b"Add-Padding: true" in request
    assert digest[5:].encode() not in request.upper()
    assert BREACHED.encode() not in request


def test_decoys_and_other_suffixes_under_the_prefix_do_not_count(breach_service):
    # The service pads its answers with suffixes of count 0; one may be this password's.
    breach_service({NEVER_BREACHED: 0})

    validate_password(NEVER_BREACHED)


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize(
    ("behaviour", "reason"),
    [
        ("hangs", "timeout"),
        ("fails", "http_500"),
        ("garbage", "malformed_answer"),
        ("refuses", "connection_refused"),
    ],
)
def test_without_an_answer_the_offline_checks_decide_and_the_log_says_so(
    breach_service, settings, events, behaviour, reason
):
    if behaviour == "refuses":
        use_the_service_at(settings, f"http://127.0.0.1:{closed_port()}/range/")
    else:
        breach_service({BREACHED: 3}, behaviour)

    started = time.monotonic()
    # Fails open: a breached password the service could not report is accepted...
    validate_password(BREACHED)
    # ...after at most the timeout, twice: to connect, and for the answer.
    assert time.monotonic() - started < 2 * TIMEOUT + 0.5
    # ...and a guessable one is still refused, offline.
    with pytest.raises(ValidationError, match="too easy to guess"):
        validate_password("passwordpassword")

    unavailable = [
        event for event in events if event["event"] == "password.breach_check_unavailable"
    ]
    assert [event["reason"] for event in unavailable] == [reason, reason]

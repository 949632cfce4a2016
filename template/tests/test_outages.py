"""While PostgreSQL or Redis cannot be reached (security/outages.py): 503 with Retry-After, a page
that says so and nothing of the fault, the security headers, and one alert.

The failures are the real ones: the cache is production's Redis backend pointed at a closed port,
and the database connection is made by Django's PostgreSQL backend to a closed port, so the errors
are redis-py's and psycopg's, wrapped as Django wraps them.
"""

import socket
import sqlite3
import tempfile
import time
from unittest import mock

import dj_database_url
import psycopg
import pytest
from django.db import OperationalError, connection
from django.db.utils import ConnectionHandler
from django.urls import reverse

from my_site.security import outages

from .conftest import HttpsClient, sign_in

SECURITY_HEADERS = [
    "Content-Security-Policy",
    "Strict-Transport-Security",
    "X-Frame-Options",
    "X-Content-Type-Options",
    "Permissions-Policy",
    "X-Request-ID",
]


def closed_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(autouse=True)
def alert_claims(settings, monkeypatch, tmp_path):
    """Alerts mailed to an admin; this test's own claims: none yet in this process, and a
    temporary folder of its own for the app server's."""
    settings.ADMINS = ["admin@example.org"]
    monkeypatch.setattr(outages, "_claimed", {})
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))


@pytest.fixture
def redis_down(settings):
    """Production's cache backend, with nothing listening where Redis should be."""
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{closed_port()}/0",
        }
    }


def unreachable_database():
    """What Django does to open a connection, made as its PostgreSQL backend makes one to a port
    where nothing listens: what production does while PostgreSQL is stopped."""
    url = f"postgres://site:password@127.0.0.1:{closed_port()}/site"
    return ConnectionHandler({"default": dj_database_url.parse(url)})["default"].ensure_connection


def outage_client(**headers):
    # The test client re-raises a view's exception by default; a browser gets the response.
    return HttpsClient(raise_request_exception=False, **headers)


@pytest.fixture
def signed_in(make_user):
    client = outage_client()
    make_user("owner@example.org", is_staff=True)
    assert sign_in(client, "owner@example.org").status_code == 302
    return client


def assert_unavailable(response, heading):
    assert response.status_code == 503
    assert response["Retry-After"] == str(outages.RETRY_AFTER_SECONDS)
    assert "no-store" in response["Cache-Control"]
    for header in SECURITY_HEADERS:
        assert response.has_header(header), header
    page = response.content.decode()
    assert heading in page
    # Nothing of the fault: no exception, no server address.
    for internal in ("Error", "127.0.0.1", "Traceback", "refused", "psycopg", "redis"):
        assert internal not in page, internal


def alerts(mailoutbox):
    return [mail for mail in mailoutbox if mail.subject.endswith("service.unavailable")]


def test_sign_in_answers_503_while_redis_is_down(make_user, redis_down, mailoutbox):
    make_user("owner@example.org")
    client = outage_client()
    login = {"login": "owner@example.org", "password": "not the password at all"}

    answers = [client.post("/accounts/login/", login) for _ in range(3)]

    for answer in answers:
        assert_unavailable(answer, "Sign-in is briefly unavailable")
    assert len(alerts(mailoutbox)) == 1


def test_pages_that_need_no_cache_still_work_while_redis_is_down(signed_in, settings):
    # Sessions live in the database: a Redis outage signs nobody out.
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{closed_port()}/0",
        }
    }
    for path in ("/", reverse("account_email"), reverse("admin:index")):
        assert signed_in.get(path).status_code == 200, path
    assert outage_client().get(reverse("account_login")).status_code == 200


def test_every_page_of_a_signed_in_user_answers_503_while_the_database_is_down(
    signed_in, mailoutbox
):
    # The session and the user are loaded by middleware (SessionTimeoutMiddleware asks for the
    # user) before any view runs: the error comes from there, not from a view.
    paths = ["/", reverse("account_login"), reverse("account_email"), reverse("admin:index")]
    with mock.patch.object(connection, "ensure_connection", unreachable_database()):
        answers = [signed_in.get(path) for path in paths]

    for answer in answers:
        assert_unavailable(answer, "The site is briefly unavailable")
    assert len(alerts(mailoutbox)) == 1


def test_sign_in_answers_503_while_the_database_is_down(make_user, mailoutbox):
    login = {"login": "owner@example.org", "password": "not the password at all"}
    with mock.patch.object(connection, "ensure_connection", unreachable_database()):
        response = outage_client().post("/accounts/login/", login)

    assert_unavailable(response, "The site is briefly unavailable")
    assert len(alerts(mailoutbox)) == 1


@pytest.mark.parametrize(
    "driver_error",
    [
        psycopg.errors.DeadlockDetected("deadlock detected"),
        psycopg.errors.QueryCanceled("canceling statement due to statement timeout"),
        sqlite3.OperationalError("database is locked"),
    ],
    ids=type,
)
def test_other_database_errors_still_answer_500(signed_in, driver_error, mailoutbox):
    # What Django raises for these: its OperationalError, from the driver's.
    def fail():
        raise OperationalError(str(driver_error)) from driver_error

    with mock.patch.object(connection, "ensure_connection", side_effect=fail):
        response = signed_in.get("/")

    assert response.status_code == 500
    assert not response.has_header("Retry-After")
    assert alerts(mailoutbox) == []


def test_one_alert_per_app_server_while_redis_is_down(redis_down, mailoutbox):
    login = {"login": "owner@example.org", "password": "not the password at all"}
    for _ in range(3):
        assert outage_client().post("/accounts/login/", login).status_code == 503
        # As if the next request went to another worker process of this app server.
        outages._claimed.clear()

    assert len(alerts(mailoutbox)) == 1
    assert "Redis cannot be reached" in alerts(mailoutbox)[0].body


def test_one_alert_for_all_app_servers_while_the_database_is_down(signed_in, mailoutbox):
    # The claim is in the shared cache: other app servers, with other temporary folders, find it.
    with mock.patch.object(connection, "ensure_connection", unreachable_database()):
        for server in range(3):
            tempfile.tempdir = tempfile.mkdtemp(prefix=f"server-{server}-")
            outages._claimed.clear()
            assert signed_in.get("/").status_code == 503

    assert len(alerts(mailoutbox)) == 1
    assert "The database cannot be reached" in alerts(mailoutbox)[0].body


def test_an_outage_alerts_again_after_the_quiet_time(redis_down, mailoutbox, monkeypatch):
    login = {"login": "owner@example.org", "password": "not the password at all"}
    outage_client().post("/accounts/login/", login)
    later = time.time() + outages.ALERT_QUIET_SECONDS + 1
    monkeypatch.setattr(time, "time", lambda: later)
    outage_client().post("/accounts/login/", login)

    assert len(alerts(mailoutbox)) == 2

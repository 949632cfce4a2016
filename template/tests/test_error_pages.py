"""The error pages (400, 403, 404, 500) are the site's own: in its layout, with its name, no inline
code for the Content Security Policy to refuse, and nothing of the error that raised them."""

import re
import sqlite3
from unittest import mock

import pytest
from django.conf import settings
from django.core.exceptions import PermissionDenied, SuspiciousOperation
from django.db import OperationalError, connection
from django.http import Http404
from django.urls import path, reverse
from django.utils.html import escape

import config.urls

from .conftest import HttpsClient
from .test_pages import assert_no_inline_code

# Written for developers, never for the page: each view below raises its error with it.
DETAIL = "detail-for-developers-only"


def refuse(request):
    raise PermissionDenied(DETAIL)


def missing(request):
    raise Http404(DETAIL)


def malformed(request):
    raise SuspiciousOperation(DETAIL)


def broken(request):
    raise RuntimeError(DETAIL)


# Used as ROOT_URLCONF: the site's pages and handlers, and a view for each error.
urlpatterns = [
    path("errors/403/", refuse),
    path("errors/404/", missing),
    path("errors/400/", malformed),
    path("errors/500/", broken),
    *config.urls.urlpatterns,
]
handler500 = config.urls.handler500


def assert_the_sites_page(response, status, template, heading):
    html = response.content.decode()
    assert response.status_code == status
    assert template in [used.name for used in response.templates]
    assert '<a class="site-name"' in html
    title = re.search(r"<title>(.*?)</title>", html, re.DOTALL).group(1)
    assert title.endswith(f" · {escape(settings.SITE_NAME)}"), title
    assert re.findall(r"<h1>(.*?)</h1>", html) == [heading]
    assert DETAIL not in html
    assert "Content-Security-Policy" in response.headers
    assert_no_inline_code(html)
    return html


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("status", "heading"),
    [
        (400, "Bad request"),
        (403, "Access denied"),
        (404, "Page not found"),
        (500, "Something went wrong"),
    ],
)
def test_each_error_page_is_the_sites_and_shows_nothing_of_the_error(settings, status, heading):
    settings.ROOT_URLCONF = __name__
    client = HttpsClient(raise_request_exception=False)

    response = client.get(f"/errors/{status}/")

    assert_the_sites_page(response, status, f"{status}.html", heading)


@pytest.mark.django_db
def test_a_page_that_does_not_exist_does_not_echo_its_address(client):
    response = client.get("/no-such-page-<b>here</b>/")

    html = assert_the_sites_page(response, 404, "404.html", "Page not found")
    assert "no-such-page" not in html


def test_a_signed_in_user_who_is_not_staff_gets_the_sites_403_at_the_admin(client, make_user):
    user = make_user()
    client.force_login(user)

    response = client.get(reverse("admin:index"), follow=True)

    html = assert_the_sites_page(response, 403, "403.html", "Access denied")
    assert "Your account does not have access to this page" in html
    # Still in the site, signed in: the header names the user and offers to sign out.
    assert escape(user.email) in html


def test_the_500_page_needs_neither_the_database_nor_the_user(make_user):
    user = make_user()
    client = HttpsClient(raise_request_exception=False)
    client.force_login(user)

    # A database error that is no outage (test_outages.py): the 500 page, not the 503.
    def fail():
        raise OperationalError("database is locked") from sqlite3.OperationalError()

    with mock.patch.object(connection, "ensure_connection", side_effect=fail):
        response = client.get("/")

    html = assert_the_sites_page(response, 500, "500.html", "Something went wrong")
    # Rendered without the request: it cannot tell who is signed in, so it names nobody and
    # offers neither sign-in nor sign-out.
    assert escape(user.email) not in html
    assert 'href="/accounts/login/"' not in html
    assert "Sign out" not in html

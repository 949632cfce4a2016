"""Every page of allauth's apps opens without a server error, signed out and signed in.

A page whose template needs an app the project lacks answers 500 to everyone who opens it (allauth's
list of passkeys needs django.contrib.humanize). The pages come from the URL resolver, so a page
that an allauth upgrade or another of its apps adds is walked too. Where the project has second
factors, test_mfa.py and test_webauthn.py walk the pages again with each kind of them.
"""

import pytest
from django.urls import URLResolver, get_resolver, reverse
from django.utils.http import int_to_base36

from .conftest import PASSWORD, HttpsClient


def allauth_pages() -> list[tuple[str, set[str]]]:
    """The name and parameters of every URL whose view is one of allauth's."""
    pages = []

    def walk(patterns, parameters):
        for entry in patterns:
            own = parameters | set(entry.pattern.regex.groupindex)
            if isinstance(entry, URLResolver):
                walk(entry.url_patterns, own)
            elif entry.callback.__module__.startswith("allauth."):
                # Reversed by name: one without a name stops the walk, naming its pattern.
                pages.append((entry.name or str(entry.pattern), own))

    walk(get_resolver().url_patterns, set())
    return pages


def page_path(name, parameters, user, key) -> str:
    """The page's path, with values for its parameters: wrong keys get allauth's page for a bad
    link, which has to open too."""
    values = {
        "key": "wrong-key",
        "uidb36": int_to_base36(user.pk) if user else "0",
        # A passkey's id (test_webauthn.py gives the user's own); 0 is nobody's: allauth's 404.
        "pk": key,
    }
    unknown = parameters - values.keys()
    assert not unknown, f"{name}: give the walk a value for {sorted(unknown)}"
    return reverse(name, kwargs={parameter: values[parameter] for parameter in parameters})


def walk(client, user=None, key=0) -> list[str]:
    """GET every page; return what answered with a server error, and why."""
    pages = allauth_pages()
    assert pages, "the walk found none of allauth's pages"
    errors = []
    for name, parameters in pages:
        path = page_path(name, parameters, user, key)
        response = client.get(path)
        if user is not None:
            # Sent away to sign in, a page would not show what it shows its users.
            assert response.wsgi_request.user == user, f"{path} was opened signed out"
        if response.status_code >= 500:
            error = response.exc_info[1] if response.exc_info else ""
            errors.append(f"{path} ({name}): {response.status_code} {error!r}")
    return errors


def signed_in(user) -> HttpsClient:
    """A client signed in as user, who has just confirmed their password again, as allauth asks
    before the pages that change how an account signs in."""
    client = HttpsClient(raise_request_exception=False)
    client.force_login(user)
    assert client.post("/accounts/reauthenticate/", {"password": PASSWORD}).status_code == 302
    return client


@pytest.mark.django_db
def test_every_page_opens_signed_out():
    assert walk(HttpsClient(raise_request_exception=False)) == []


def test_every_page_opens_signed_in(make_user):
    user = make_user()

    assert walk(signed_in(user), user) == []

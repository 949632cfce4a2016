"""In development, mail goes to the console with its links whole, so that they can be clicked."""

import importlib
import re
import sys
from urllib.parse import urlsplit

import dotenv
import pytest
from allauth.account.models import EmailAddress
from allauth.core import context

# A line that ends in the link: quoted-printable would end it with "=" and carry the rest over.
CONFIRMATION_LINK = re.compile(r"^.*?(https?://\S+/accounts/confirm-email/\S+/)$", re.M)


@pytest.fixture
def development_mailers(monkeypatch):
    """MAILERS as config.settings.dev sets it (loaded with stand-in keys, without .env)."""
    monkeypatch.setenv("DJANGO_SECRET_KEY", "development-key-for-this-test-" + "x" * 30)
    monkeypatch.setenv("DJANGO_MFA_KEY", "ZmFrZS1rZXktb2YtdGhpcnR5LXR3by1ieXRlcy0xMjM=")
    monkeypatch.setattr(dotenv, "load_dotenv", lambda *args, **kwargs: False)
    monkeypatch.delitem(sys.modules, "config.settings.dev", raising=False)
    return importlib.import_module("config.settings.dev").MAILERS


@pytest.mark.django_db
def test_a_confirmation_link_printed_in_development_is_whole(
    development_mailers, settings, make_user, rf, client, capsys
):
    settings.MAILERS = development_mailers
    user = make_user("owner@example.org")
    address = EmailAddress.objects.create(user=user, email="second.address@example.org")
    request = rf.get("/")
    request.user = user
    with context.request_context(request):
        address.send_confirmation(request)

    printed = capsys.readouterr().out
    link = CONFIRMATION_LINK.search(printed)
    assert link, printed
    # The link as printed works: it confirms the address.
    confirmation_page = urlsplit(link.group(1)).path
    assert client.get(confirmation_page).status_code == 200
    client.post(confirmation_page)
    address.refresh_from_db()
    assert address.verified

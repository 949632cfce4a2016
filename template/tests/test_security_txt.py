"""/.well-known/security.txt (RFC 9116) and the policy it points to."""

from datetime import UTC, datetime, timedelta

from django.conf import settings


def fields(response):
    lines = response.content.decode().splitlines()
    return dict(line.split(": ", 1) for line in lines)


def test_security_txt_says_where_to_report(client):
    response = client.get("/.well-known/security.txt")

    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    found = fields(response)
    origin = f"https://{settings.SITE_DOMAIN}"
    assert found == {
        "Contact": f"mailto:{settings.SECURITY_CONTACT}",
        "Expires": found["Expires"],
        "Preferred-Languages": "en",
        "Canonical": f"{origin}/.well-known/security.txt",
        "Policy": f"{origin}/.well-known/security-policy.txt",
    }
    # RFC 9116 section 2.5.5: in the future, and less than a year ahead.
    expires = datetime.strptime(found["Expires"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    now = datetime.now(UTC)
    assert now < expires < now + timedelta(days=365)


def test_the_policy_is_the_projects_security_md(client):
    response = client.get("/.well-known/security-policy.txt")

    assert response.status_code == 200
    assert response.content.decode() == (settings.BASE_DIR / "SECURITY.md").read_text()
    assert settings.SECURITY_CONTACT in response.content.decode()


def test_security_txt_only_answers_get(client):
    assert client.post("/.well-known/security.txt").status_code == 405

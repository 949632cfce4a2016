"""`manage.py check_live` against the real proxies of tests/test_proxy.py.

The generated project runs under gunicorn behind Debian's nginx, Apache and Caddy with the
generated configuration (the `served` fixture), and check_live, run with production's settings
from the deployed code, reaches it by its real name inside the same network namespace, trusting
the test CA as a server trusts its system's. On the correct deployment it finds nothing to report;
with a header, the redirect or the certificate broken on purpose in nginx's configuration, it
names each fault and the file that fixes it, and exits non-zero.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from . import test_proxy
from .test_proxy import DOMAIN, Answer, Served, need, replace_once

# test_proxy's deployment behind each proxy, started again for this module.
served = test_proxy.served

pytestmark = [pytest.mark.servers, pytest.mark.root]

URL = f"https://{DOMAIN}"


def check_live(site: Served, *arguments: str) -> subprocess.CompletedProcess[str]:
    """check_live as an operator runs it on the server after a deploy: the deployed code, its
    virtualenv and production's environment."""
    code = site.deployment.code
    return subprocess.run(
        site.inside(
            [str(code / ".venv" / "bin" / "python"), "manage.py", "check_live", *arguments]
        ),
        cwd=code,
        env={**os.environ, **site.deployment.service_env(), "SSL_CERT_FILE": str(site.tls.ca)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def report(site: Served, *arguments: str) -> tuple[int, dict]:
    done = check_live(site, URL, "--json", *arguments)
    assert done.stdout.startswith("{"), (done.stdout, done.stderr, site.logs())
    return done.returncode, json.loads(done.stdout)


def shortfalls(found: dict) -> list[tuple[str, str, str]]:
    return [(item["check"], item["problem"], item["fix"]) for item in found["shortfalls"]]


def test_check_live_passes_the_correct_deployment(served):
    code, found = report(served, "--oversized-post")

    assert shortfalls(found) == [], (found["shortfalls"], served.logs())
    assert code == 0
    passed = "\n".join(found["passed"])
    for kind in ("page", "error page", "static file", "proxy's own answer", "sign-in page"):
        assert f"headers: {kind} " in passed
    for check in ("tls.certificate", "tls.protocols: TLS 1.0 not", "tls.protocols: TLS 1.3"):
        assert check in passed
    for check in ("redirect", "cookies: __Host-csrftoken", "security.txt", "admin", "body limit"):
        assert check in passed
    human = check_live(served, URL)
    assert human.returncode == 0, human.stdout + human.stderr
    assert "FAIL" not in human.stdout and "ok   redirect" in human.stdout


# Breaking nginx on purpose: its configuration (or certificate) changed, the running server
# reloaded, and put back once the test has looked.


def nginx_reload(site: Served, ready) -> None:
    folder = site.deployment.runtime / "nginx"
    subprocess.run(
        [need("nginx", "nginx"), "-c", folder / "nginx-main.conf", "-s", "reload"],
        check=True,
        capture_output=True,
    )
    deadline = time.monotonic() + 30
    while not ready():
        assert time.monotonic() < deadline, site.logs()
        time.sleep(0.3)


@contextmanager
def changed(site: Served, files: dict[Path, str], ready, restored) -> Iterator[None]:
    """files with new contents while the block runs, nginx reloaded once ready() says it serves
    them; put back afterwards, until restored() says nginx serves the originals again."""
    before = {path: path.read_text() for path in files}
    try:
        for path, text in files.items():
            path.write_text(text)
        nginx_reload(site, ready)
        yield
    finally:
        for path, text in before.items():
            path.write_text(text)
        nginx_reload(site, restored)


def server_is(answer: Answer | str, name: str = "nginx") -> bool:
    return isinstance(answer, Answer) and answer.headers.get("server") == name


def fingerprint(pem: str) -> str:
    return subprocess.run(
        ["openssl", "x509", "-noout", "-fingerprint", "-sha256"],
        input=pem,
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def served_certificate(site: Served) -> str:
    """The fingerprint of the certificate nginx serves for the site's name now."""
    done = subprocess.run(
        site.inside(["openssl", "s_client", "-connect", "127.0.0.1:443", "-servername", DOMAIN]),
        input="",
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    start = done.stdout.find("-----BEGIN CERTIFICATE-----")
    return fingerprint(done.stdout[start:]) if start >= 0 else ""


def openssl(*command: str) -> None:
    subprocess.run(["openssl", *command], check=True, capture_output=True)


def certificate(folder: Path, *, days: str, signed_by_ca: bool) -> tuple[str, str]:
    """A certificate for the site (and its key) valid for days from now (negative: expired), signed
    by the test CA or by itself."""
    folder.mkdir(exist_ok=True)
    key, cert, request = folder / "key.pem", folder / "cert.pem", folder / "request.pem"
    subject = ["-subj", f"/CN={DOMAIN}", "-addext", f"subjectAltName=DNS:{DOMAIN}"]
    new_key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key]
    if signed_by_ca:
        openssl("req", "-new", *new_key, "-out", request, *subject)
        ca = folder.parent / "tls"
        openssl(
            *("x509", "-req", "-in", request, "-CA", ca / "ca.pem", "-CAkey", ca / "ca-key.pem"),
            *("-CAcreateserial", "-days", days, "-copy_extensions", "copy", "-out", cert),
        )
    else:
        openssl("req", "-x509", *new_key, "-out", cert, "-days", days, *subject)
    return cert.read_text(), key.read_text()


@pytest.mark.parametrize("served", ["nginx"], indirect=True)
def test_check_live_names_a_broken_header_and_redirect(served):
    site_conf = served.deployment.runtime / "nginx" / "site.conf"
    text = site_conf.read_text()
    text = replace_once(text, "server_tokens off;", "server_tokens on;")
    nosniff = next(
        line for line in text.splitlines() if "add_header X-Content-Type-Options" in line
    )
    text = replace_once(text, nosniff + "\n", "")
    text = replace_once(
        text, f"return 301 https://{DOMAIN}$request_uri;", 'return 200 "plain HTTP";'
    )

    with changed(
        served,
        {site_conf: text},
        ready=lambda: not server_is(served.get("/")),
        restored=lambda: server_is(served.get("/")),
    ):
        code, found = report(served)

    assert code == 1
    faults = shortfalls(found)
    ((redirect, fix),) = [(problem, fix) for check, problem, fix in faults if check == "redirect"]
    assert "answered 200" in redirect and "deploy/nginx.conf" in fix
    # The proxy's own answers lose nosniff (Django still sets it on its pages)...
    for kind in ("headers: proxy's own answer", "headers: static file"):
        problems = [problem for check, problem, _ in faults if check == kind]
        assert any("x-content-type-options is None" in problem for problem in problems), faults
    assert not any(
        "x-content-type-options" in problem
        for check, problem, _ in faults
        if check == "headers: page"
    )
    # ...and every answer names nginx's version.
    versions = [(check, fix) for check, problem, fix in faults if "names its software" in problem]
    assert {check for check, _ in versions} >= {"headers: page", "headers: static file"}
    assert all("deploy/nginx.conf" in fix for _, fix in versions)


@pytest.mark.parametrize("served", ["nginx"], indirect=True)
@pytest.mark.parametrize(
    ("days", "signed_by_ca", "problem"),
    [
        ("90", False, "not trusted: self-signed certificate"),
        ("-1", True, "not trusted: certificate has expired"),
        ("5", True, "expires in 4 days"),
    ],
    ids=["self-signed", "expired", "expiring"],
)
def test_check_live_names_a_broken_certificate(served, days, signed_by_ca, problem):
    cert, key = certificate(
        served.deployment.runtime / f"broken-{days}", days=days, signed_by_ca=signed_by_ca
    )
    files = served.tls
    original = served_certificate(served)

    with changed(
        served,
        {files.cert: cert, files.key: key},
        ready=lambda: served_certificate(served) == fingerprint(cert),
        restored=lambda: served_certificate(served) == original,
    ):
        code, found = report(served)

    assert code == 1
    faults = shortfalls(found)
    assert [check for check, _, _ in faults] == ["tls.certificate"], faults
    ((_, seen, fix),) = faults
    assert seen.startswith(problem), seen
    assert "deploy/nginx.conf" in fix

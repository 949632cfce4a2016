"""Named mutants: each one weakens one security control the way a careless maintainer might, with
one small textual edit, and names the tests expected to catch it.

`make mutants` (scripts/mutation-run) applies them one at a time and runs the named tests: a mutant
is killed when they fail, and survives when they pass. Project mutants edit a project generated
from the working tree and run that project's own suite files; template mutants edit the template
in a copy of this repository and run the template's own tests there. tests/test_mutants.py checks,
in every `make test`, that each edit still applies (its text occurs exactly once), so the list
cannot go stale without notice. docs/testing.md records the last run's score.
"""

from __future__ import annotations

from dataclasses import dataclass

# The answer set of the generation matrix (tests/answer_sets.py) each project mutant is generated
# with: the defaults, and a set with open sign-up, MFA for everyone and virus scanning.
DEFAULTS = "defaults"
OPEN = "docker-apache"


@dataclass(frozen=True)
class Mutant:
    name: str
    # A path in the generated project (kind "project") or in this repository ("template").
    path: str
    old: str
    new: str
    # pytest arguments, relative to the project (or to this repository), that must fail.
    killers: tuple[str, ...]
    answers: str = DEFAULTS
    kind: str = "project"


SETTINGS = "config/settings/base.py"
PROD = "config/settings/prod.py"

PROJECT_MUTANTS = [
    # Content Security Policy and Permissions-Policy, as whole policies.
    Mutant(
        "csp-font-from-any-https-site",
        SETTINGS,
        '"font-src": [CSP.SELF],',
        '"font-src": [CSP.SELF, "https:"],',
        ("tests/test_csp.py",),
    ),
    Mutant(
        "csp-inline-styles",
        SETTINGS,
        '"style-src": [CSP.SELF, CSP.NONCE],',
        '"style-src": [CSP.SELF, CSP.NONCE, CSP.UNSAFE_INLINE],',
        ("tests/test_csp.py",),
    ),
    Mutant(
        "csp-framed-by-the-site",
        SETTINGS,
        '"frame-ancestors": [CSP.NONE],',
        '"frame-ancestors": [CSP.SELF],',
        ("tests/test_csp.py",),
    ),
    Mutant(
        "permissions-camera-on",
        SETTINGS,
        '"camera": [],',
        '"camera": ["self"],',
        ("tests/test_csp.py",),
    ),
    Mutant(
        "permissions-usb-unlisted",
        SETTINGS,
        '    "usb": [],\n',
        "",
        ("tests/test_csp.py",),
    ),
    # Transport, framing and cookies.
    Mutant(
        "hsts-one-day",
        SETTINGS,
        "SECURE_HSTS_SECONDS = 60 * 60 * 24 * 365",
        "SECURE_HSTS_SECONDS = 60 * 60 * 24",
        ("tests/test_security_headers.py",),
    ),
    Mutant(
        "framing-by-the-site",
        SETTINGS,
        'X_FRAME_OPTIONS = "DENY"',
        'X_FRAME_OPTIONS = "SAMEORIGIN"',
        ("tests/test_security_headers.py",),
    ),
    Mutant(
        "referrer-full-url",
        SETTINGS,
        'SECURE_REFERRER_POLICY = "same-origin"',
        'SECURE_REFERRER_POLICY = "unsafe-url"',
        ("tests/test_security_headers.py",),
    ),
    Mutant(
        "session-cookie-read-by-scripts",
        SETTINGS,
        "SESSION_COOKIE_HTTPONLY = True",
        "SESSION_COOKIE_HTTPONLY = False",
        ("tests/test_security_headers.py",),
    ),
    Mutant(
        "csrf-cookie-cross-site",
        SETTINGS,
        'CSRF_COOKIE_SAMESITE = "Lax"',
        'CSRF_COOKIE_SAMESITE = "None"',
        ("tests/test_security_headers.py",),
    ),
    # Sessions and passwords.
    Mutant(
        "session-a-day-long",
        SETTINGS,
        "SESSION_ABSOLUTE_TIMEOUT = 12 * 60 * 60",
        "SESSION_ABSOLUTE_TIMEOUT = 24 * 60 * 60",
        ("tests/test_sessions.py",),
    ),
    Mutant(
        "session-idle-two-hours",
        SETTINGS,
        "SESSION_IDLE_TIMEOUT = 30 * 60",
        "SESSION_IDLE_TIMEOUT = 2 * 60 * 60",
        ("tests/test_sessions.py",),
    ),
    Mutant(
        "password-eight-characters",
        SETTINGS,
        '"OPTIONS": {"min_length": 15},',
        '"OPTIONS": {"min_length": 8},',
        ("tests/test_passwords.py",),
    ),
    Mutant(
        "reset-link-a-day",
        SETTINGS,
        "PASSWORD_RESET_TIMEOUT = 2 * 60 * 60",
        "PASSWORD_RESET_TIMEOUT = 24 * 60 * 60",
        ("tests/test_accounts.py",),
    ),
    Mutant(
        "logout-on-get",
        SETTINGS,
        "ACCOUNT_LOGOUT_ON_GET = False",
        "ACCOUNT_LOGOUT_ON_GET = True",
        ("tests/test_accounts.py",),
    ),
    # Client address and lockout.
    Mutant(
        "one-proxy-more-trusted",
        SETTINGS,
        "TRUSTED_PROXY_COUNT = 1",
        "TRUSTED_PROXY_COUNT = 2",
        ("tests/test_client_ip.py",),
    ),
    Mutant(
        "leftmost-forwarded-entry",
        "my_site/core/client_ip.py",
        "_parse(hops[-count])",
        "_parse(hops[0])",
        ("tests/test_client_ip.py",),
    ),
    Mutant(
        "lockout-after-ten",
        SETTINGS,
        "AXES_FAILURE_LIMIT = 5",
        "AXES_FAILURE_LIMIT = 10",
        ("tests/test_lockout.py",),
    ),
    Mutant(
        "client-lockout-after-a-hundred",
        SETTINGS,
        "LOGIN_IP_FAILURE_LIMIT = 30",
        "LOGIN_IP_FAILURE_LIMIT = 100",
        ("tests/test_lockout.py",),
    ),
    Mutant(
        "lockout-a-minute-long",
        SETTINGS,
        "AXES_COOLOFF_TIME = timedelta(minutes=15)",
        "AXES_COOLOFF_TIME = timedelta(minutes=1)",
        ("tests/test_lockout.py",),
    ),
    # The security log.
    Mutant(
        "password-reset-unlogged",
        "my_site/security/signals.py",
        "@receiver(account_signals.password_reset)\n",
        "",
        ("tests/test_security_log.py",),
    ),
    Mutant(
        "password-set-unlogged",
        "my_site/security/signals.py",
        "@receiver(account_signals.password_set)\n",
        "",
        ("tests/test_security_log.py",),
    ),
    Mutant(
        "email-change-unlogged",
        "my_site/security/signals.py",
        "@receiver(account_signals.email_changed)\n",
        "",
        ("tests/test_security_log.py",),
    ),
    Mutant(
        "recovery-codes-renewal-unlogged",
        "my_site/security/signals.py",
        "@receiver(mfa_signals.authenticator_reset)\n",
        "",
        ("tests/test_security_log.py",),
    ),
    Mutant(
        "privileges-taken-away-unlogged",
        "my_site/security/signals.py",
        '        event = "account.privileges_changed"\n',
        "        return\n",
        ("tests/test_security_log.py",),
    ),
    # The error reporter.
    Mutant(
        "sentry-without-before-send",
        "config/sentry.py",
        "        before_send=before_send,\n",
        "",
        ("tests/test_sentry.py",),
    ),
    Mutant(
        "sentry-scrubs-nothing",
        "config/sentry.py",
        "    return _scrub(event)",
        "    return event",
        ("tests/test_sentry.py",),
    ),
    # Private uploads.
    Mutant(
        "uploads-get-a-url",
        "my_site/uploads/storage.py",
        "    def url(self, name):\n",
        "    def url(self, name):\n        return f'/media/{name}'\n",
        ("tests/test_downloads.py",),
    ),
    Mutant(
        "production-uploads-in-public-storage",
        PROD,
        '"BACKEND": f"{UPLOADS_APP}.storage.PrivateFileSystemStorage",',
        '"BACKEND": "django.core.files.storage.FileSystemStorage",',
        ("tests/test_downloads.py",),
    ),
    Mutant(
        "uploads-follow-symbolic-links",
        "my_site/uploads/storage.py",
        "if os.path.commonpath([folder, os.path.realpath(path)]) != folder:",
        "if not os.path.commonpath([folder, path]):",
        ("tests/test_downloads.py",),
    ),
    Mutant(
        "production-streams-downloads-itself",
        PROD,
        'UPLOAD_HANDOFF = "x-accel-redirect"',
        'UPLOAD_HANDOFF = "stream"',
        ("tests/test_download_handoff.py",),
    ),
    # The answer set with open sign-up, MFA for everyone and virus scanning.
    Mutant(
        "open-signup-without-rate-limit",
        SETTINGS,
        '"signup": "10/m/ip,50/h/ip",',
        '"signup": "1000/m/ip",',
        ("tests/test_rate_limits.py",),
        answers=OPEN,
    ),
    Mutant(
        "mfa-for-staff-only",
        "acme_billing/accounts/mfa.py",
        "    return user.is_authenticated\n",
        "    return user.is_authenticated and user.is_staff\n",
        ("tests/test_mfa.py",),
        answers=OPEN,
    ),
    Mutant(
        "upload-stored-when-the-scanner-is-down",
        "acme_billing/uploads/validation/__init__.py",
        "    except ScannerUnavailable:\n",
        # The refusal below stays, out of reach: the upload goes on unscanned.
        "    except ScannerUnavailable:\n        signature = None\n    if False:\n",
        ("tests/test_clamd.py",),
        answers=OPEN,
    ),
    Mutant(
        "malware-stored",
        "acme_billing/uploads/validation/__init__.py",
        "    if signature is not None:\n",
        "    if signature is not None and False:\n",
        ("tests/test_clamd.py",),
        answers=OPEN,
    ),
    # The release's SBOM: written without checking that it names every pin, or the schema.
    Mutant(
        "sbom-missing-packages-unnoticed",
        "scripts/sbom.py",
        "    for name, (version, hashes) in pinned(lock).items():\n",
        "    for name, (version, hashes) in list(pinned(lock).items())[:0]:\n",
        ("tests/test_sbom.py",),
    ),
    Mutant(
        "sbom-schema-unchecked",
        "scripts/sbom.py",
        "    components = {normalise(",
        "    found = []\n    components = {normalise(",
        ("tests/test_sbom.py",),
    ),
    # An SBOM GitHub's actions/attest refuses (no serial number), or one that lists a package the
    # lock does not.
    Mutant(
        "sbom-without-serial-number",
        "scripts/sbom.py",
        '    document["serialNumber"] = uuid.uuid5(uuid.NAMESPACE_URL, content).urn\n',
        "",
        ("tests/test_sbom.py",),
    ),
    Mutant(
        "sbom-extra-packages-unnoticed",
        "scripts/sbom.py",
        "sorted(components.keys() - in_lock)",
        "sorted(components.keys() & set())",
        ("tests/test_sbom.py",),
    ),
    # gunicorn forks its workers from the process that ran wsgi.py (preload_app): a connection
    # opened there is shared by every worker, which then read each other's answers.
    Mutant(
        "workers-share-a-connection",
        "config/wsgi.py",
        "application = get_wsgi_application()\n",
        'application = get_wsgi_application()\n__import__("django.db").db.connection.cursor()\n',
        ("tests/test_entry_points.py",),
    ),
]

NGINX = "template/deploy/{% if proxy == 'nginx' %}nginx.conf{% endif %}.jinja"
APACHE = "template/deploy/{% if proxy == 'apache' %}apache.conf{% endif %}.jinja"
CADDY = "template/deploy/{% if proxy == 'caddy' %}Caddyfile{% endif %}.jinja"
UNIT = "template/deploy/{% if hosting == 'vps' %}{{ project_slug }}.service{% endif %}.jinja"
DOCKERFILE = "template/{% if hosting == 'docker' %}Dockerfile{% endif %}.jinja"


# test_proxy.py's test_systemd_unit_is_sandboxed checks the overall exposure score, which one
# directive alone does not move past its threshold: tests/test_unit_sandbox.py checks each item.
def deploy(name: str, path: str, old: str, new: str, *killers: str) -> Mutant:
    return Mutant(name, path, old, new, killers, kind="template")


RELEASE_WORKFLOW = "template/{% if ci == 'github' %}.github{% endif %}/workflows/release.yml.jinja"

TEMPLATE_MUTANTS = [
    deploy(
        "release-sbom-job-may-write",
        RELEASE_WORKFLOW,
        "    permissions:\n      contents: read\n    steps:\n      - uses: actions/checkout@"
        "11bd71901bbe5b1630ceea73d27597364c9af683 # v4.2.2\n        with:\n"
        "          persist-credentials: false\n      - uses: actions/setup-python",
        "    permissions:\n      contents: write\n    steps:\n      - uses: actions/checkout@"
        "11bd71901bbe5b1630ceea73d27597364c9af683 # v4.2.2\n        with:\n"
        "          persist-credentials: false\n      - uses: actions/setup-python",
        "tests/test_ci.py",
        "-k",
        "pinned_and_least_privileged",
    ),
    deploy(
        "image-runs-as-root",
        DOCKERFILE,
        "USER 10001:10001",
        "USER root",
        "tests/test_docker.py",
        "-k",
        "unprivileged_user",
    ),
    deploy(
        "unit-may-gain-privileges",
        UNIT,
        "NoNewPrivileges=yes",
        "NoNewPrivileges=no",
        "tests/test_proxy.py::test_systemd_unit_is_sandboxed",
    ),
    deploy(
        "unit-writes-the-system",
        UNIT,
        "ProtectSystem=strict",
        "ProtectSystem=no",
        "tests/test_unit_sandbox.py",
    ),
    deploy(
        "unit-keeps-capabilities",
        UNIT,
        "CapabilityBoundingSet=\n",
        "CapabilityBoundingSet=CAP_SYS_ADMIN\n",
        "tests/test_unit_sandbox.py",
    ),
    deploy(
        "unit-shares-tmp",
        UNIT,
        "PrivateTmp=yes",
        "PrivateTmp=no",
        "tests/test_unit_sandbox.py",
    ),
    deploy(
        "nginx-names-its-version",
        NGINX,
        "server_tokens off;",
        "server_tokens on;",
        "tests/test_proxy.py",
        "-k",
        "test_nginx_sends_http_to_https_on_the_sites_name",
    ),
    deploy(
        "nginx-serves-the-internal-location",
        NGINX,
        "        internal;\n",
        "",
        "tests/test_proxy.py",
        "-k",
        "test_nginx_keeps_its_internal_location_to_itself",
    ),
    deploy(
        "apache-names-its-version",
        APACHE,
        "ServerTokens Prod",
        "ServerTokens Full",
        "tests/test_proxy.py",
        "-k",
        "test_answers_each_proxy_makes_itself_carry_the_sites_headers",
    ),
    deploy(
        "caddy-names-itself",
        CADDY,
        "\t\t-Server\n",
        "",
        "tests/test_proxy.py",
        "-k",
        "test_answers_each_proxy_makes_itself_carry_the_sites_headers",
    ),
    deploy(
        "docker-socket-open-to-all",
        "template/deploy/gunicorn.conf.py.jinja",
        "umask = 0o117",
        "umask = 0o111",
        "tests/test_docker_socket.py",
        "-k",
        "only_the_proxys_process",
    ),
]

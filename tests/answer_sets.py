"""Answer sets for the generation matrix: together they cover every choice of every question.

tests/test_answer_sets.py checks that claim against copier.yml, so a new question or choice cannot
be added without a set that exercises it.
"""

ANSWER_SETS: dict[str, dict[str, object]] = {
    # Copier's defaults: own server behind nginx.
    "defaults": {},
    "docker-apache": {
        "project_name": "Acme Billing",
        "project_slug": "acme_billing",
        "description": "Invoices & payments for Acme's customers.",
        "author_name": "Acme Platform Team",
        "author_email": "platform@acme.example",
        "domain_name": "billing.acme.example",
        "hosting": "docker",
        "proxy": "apache",
        "trusted_proxy_count": 2,
        "admin_path": "staff-console",
        "hsts_preload": True,
        "security_contact": "security@acme.example",
        "python_version": "3.13",
        "mfa": "totp",
        "mfa_required_for": "everyone",
        "open_signup": True,
        "ci": "gitlab",
        "dependency_updates": "renovate",
    },
    "vps-caddy": {
        "project_name": "Intranet Tools",
        "domain_name": "tools.internal-corp.example",
        "hosting": "vps",
        "proxy": "caddy",
        "trusted_proxy_count": 1,
        "admin_path": "ops_2",
        "hsts_preload": False,
        "python_version": "3.12",
        "mfa": "none",
        "open_signup": True,
        "sentry": False,
        "ci": "none",
        "dependency_updates": "none",
    },
    "paas-platform": {
        "project_name": "O'Brien & Sons Shop",
        "project_slug": "obrien_shop",
        "domain_name": "shop.xn--bcher-kva.example",
        "hosting": "paas",
        "proxy": "platform",
        "trusted_proxy_count": 1,
        "hsts_preload": True,
        "python_version": "3.13",
        "mfa": "totp_webauthn",
        "mfa_required_for": "everyone",
        "ci": "github",
        "dependency_updates": "renovate",
    },
    "docker-nginx-cdn": {
        "project_name": "Edge Portal",
        # The longest slug the interview accepts: every generated line must still fit.
        "project_slug": "edge_portal_customer_self_service_centre",
        "hosting": "docker",
        "proxy": "nginx",
        "trusted_proxy_count": 5,
        "admin_path": "control",
        "mfa": "totp",
        "mfa_required_for": "staff",
        "ci": "github",
        "dependency_updates": "dependabot",
    },
}

"""Who has a second factor: the one answer for MFA enforcement (mfa.py) and the reports
(audit_permissions, security_report).

Whether the project has second factors at all is INSTALLED_APPS' answer (allauth.mfa), and which
kinds MFA_SUPPORTED_TYPES' (read through allauth, which knows its default). Recovery codes are a
fallback for a lost device, not a second factor of their own.
"""

from allauth.mfa import app_settings
from django.apps import apps
from django.db.models import QuerySet


def second_factor_types() -> list[str]:
    return [kind for kind in app_settings.SUPPORTED_TYPES if kind != "recovery_codes"]


def has_second_factor(user) -> bool:
    if not apps.is_installed("allauth.mfa"):
        return False
    authenticators = apps.get_model("mfa", "Authenticator").objects
    return authenticators.filter(user=user, type__in=second_factor_types()).exists()


def without_second_factor(users: QuerySet) -> QuerySet:
    """Those of users who have no second factor: all of them in a project without MFA."""
    if not apps.is_installed("allauth.mfa"):
        return users
    authenticators = apps.get_model("mfa", "Authenticator").objects
    return users.exclude(
        pk__in=authenticators.filter(type__in=second_factor_types()).values("user")
    )

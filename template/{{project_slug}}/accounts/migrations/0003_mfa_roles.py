"""Both roles may see who has which second factor (never its secret: accounts/admin.py).

This migration exists whether or not the project uses MFA, so that the migration history is the
same for every answer and later migrations have one parent. Without allauth.mfa installed it does
nothing; a project that turns MFA on later grants the permission by running it again:
`manage.py migrate accounts 0002 && manage.py migrate`.
"""

from django.apps import apps as installed_apps
from django.db import migrations

from ..roles import grant, revoke

ROLES = {
    "Auditor": [("mfa", "view_authenticator")],
    "Operator": [("mfa", "view_authenticator")],
}
MFA_INSTALLED = installed_apps.is_installed("allauth.mfa")


def add_permissions(apps, schema_editor):
    if MFA_INSTALLED:
        grant(apps, ROLES)


def remove_permissions(apps, schema_editor):
    if MFA_INSTALLED:
        revoke(apps, ROLES)


class Migration(migrations.Migration):
    dependencies = [("accounts", "0002_roles")]
    if MFA_INSTALLED:
        dependencies.append(("mfa", "0003_authenticator_type_uniq"))

    operations = [migrations.RunPython(add_permissions, remove_permissions)]

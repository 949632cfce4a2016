"""The roles: groups with the least permissions each job needs.

Auditor reads what matters for a security review and changes nothing. Operator handles accounts
day to day: renames and deactivates users who are not staff (the admin keeps everything else,
and every staff account, for superusers). Superuser is for break-glass only and belongs to no group;
`manage.py audit_permissions` lists who holds it. A later change to a role is a new migration.
"""

from django.db import migrations

from ..roles import grant

ROLES = {
    "Auditor": [
        ("accounts", "view_user"),
        ("auth", "view_group"),
        ("auth", "view_permission"),
        ("admin", "view_logentry"),
        ("account", "view_emailaddress"),
    ],
    "Operator": [
        ("accounts", "view_user"),
        ("accounts", "change_user"),
        ("auth", "view_group"),
        ("account", "view_emailaddress"),
    ],
}


def create_roles(apps, schema_editor):
    grant(apps, ROLES)


def remove_roles(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=ROLES).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_initial"),
        ("admin", "0003_logentry_add_action_flag_choices"),
        ("account", "0009_emailaddress_unique_primary_email"),
    ]

    operations = [migrations.RunPython(create_roles, remove_roles)]

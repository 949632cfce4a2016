"""Granting a role's permissions from a data migration.

Migrations import this, so it must keep working with the historical models they pass in: change a
role by adding a migration that calls it, never by editing an applied migration.
"""

from django.contrib.auth.management import create_permissions


def grant(apps, roles: dict[str, list[tuple[str, str]]]) -> None:
    """Give each group in roles its (app_label, codename) permissions, creating what is missing."""
    # Permissions are normally created after all migrations have run; the roles need them now.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, permissions in roles.items():
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.add(
            *[
                Permission.objects.get(content_type__app_label=app_label, codename=codename)
                for app_label, codename in permissions
            ]
        )


def revoke(apps, roles: dict[str, list[tuple[str, str]]]) -> None:
    """Take the permissions in roles away from their groups again."""
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, permissions in roles.items():
        for app_label, codename in permissions:
            Group.objects.get(name=name).permissions.remove(
                *Permission.objects.filter(content_type__app_label=app_label, codename=codename)
            )

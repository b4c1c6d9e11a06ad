"""Helpers for data migrations that give the role groups their model permissions.

Each app's data migration lists what each role may do with that app's models, so a
new model's permissions arrive with the migration that creates it.
"""

from __future__ import annotations

from django.contrib.auth.management import create_permissions


def grant_permissions(apps, grants: dict[str, dict[str, list[str]]]) -> None:
    """`grants` maps a group name to {app_label: [codename, ...]}."""
    # Permissions are normally created after migrate; create them now so that they
    # can be attached within this migration.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for group_name, by_app in grants.items():
        group, _ = Group.objects.get_or_create(name=group_name)
        for app_label, codenames in by_app.items():
            permissions = list(
                Permission.objects.filter(content_type__app_label=app_label, codename__in=codenames)
            )
            missing = set(codenames) - {p.codename for p in permissions}
            if missing:
                raise LookupError(f"unknown permissions in {app_label}: {sorted(missing)}")
            group.permissions.add(*permissions)

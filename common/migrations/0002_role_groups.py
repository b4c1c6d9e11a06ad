from django.db import migrations

from common.migration_utils import grant_permissions

ROLE_GROUPS = ["Loan officer", "Risk manager", "Supervisor"]


def create_groups(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    for name in ROLE_GROUPS:
        Group.objects.get_or_create(name=name)
    # Risk managers and supervisors read the user list (to pick officers, to see who did what).
    grant_permissions(
        apps,
        {
            "Risk manager": {"auth": ["view_user"]},
            "Supervisor": {"auth": ["view_user"]},
        },
    )


class Migration(migrations.Migration):
    dependencies = [
        ("common", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [migrations.RunPython(create_groups, migrations.RunPython.noop)]

from django.db import migrations

TABLES = ["borrowers_borrower", "borrowers_guarantor", "borrowers_jointgroup"]


class Migration(migrations.Migration):
    """Sequences behind readable references (KH-000001, DB-000001, LB-000001)."""

    dependencies = [("borrowers", "0002_initial")]

    operations = [
        migrations.RunSQL(
            [f"CREATE SEQUENCE IF NOT EXISTS {table}_reference_seq" for table in TABLES],
            [f"DROP SEQUENCE IF EXISTS {table}_reference_seq" for table in TABLES],
        )
    ]

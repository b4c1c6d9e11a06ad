from django.db import migrations


class Migration(migrations.Migration):
    """The sequence behind loan references (DK-2026-000123)."""

    dependencies = [("loans", "0001_initial")]

    operations = [
        migrations.RunSQL(
            "CREATE SEQUENCE IF NOT EXISTS loans_loan_reference_seq",
            "DROP SEQUENCE IF EXISTS loans_loan_reference_seq",
        )
    ]

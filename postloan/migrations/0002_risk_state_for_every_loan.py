from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION postloan_create_risk_state() RETURNS trigger AS $$
BEGIN
    INSERT INTO postloan_loanriskstate (
        loan_id, tier, quantitative_tier, consecutive_missed, days_past_due,
        outstanding_principal, overdue_amount, provision, updated_at
    ) VALUES (NEW.id, 'normal', 'normal', 0, 0, NEW.principal, 0, 0, now());
    RETURN NEW;
END
$$ LANGUAGE plpgsql;

DROP TRIGGER IF EXISTS loans_loan_creates_risk_state ON loans_loan;
CREATE TRIGGER loans_loan_creates_risk_state
    AFTER INSERT ON loans_loan
    FOR EACH ROW EXECUTE FUNCTION postloan_create_risk_state();

INSERT INTO postloan_loanriskstate (
    loan_id, tier, quantitative_tier, consecutive_missed, days_past_due,
    outstanding_principal, overdue_amount, provision, updated_at
)
SELECT id, 'normal', 'normal', 0, 0, principal, 0, 0, now() FROM loans_loan
ON CONFLICT (loan_id) DO NOTHING;
"""

DROP = """
DROP TRIGGER IF EXISTS loans_loan_creates_risk_state ON loans_loan;
DROP FUNCTION IF EXISTS postloan_create_risk_state();
"""


def default_provision_rates(apps, schema_editor):
    ProvisionRate = apps.get_model("postloan", "ProvisionRate")
    defaults = {
        "normal": "0", "special_mention": "2", "substandard": "25", "doubtful": "50",
        "loss": "100",
    }
    for tier, percent in defaults.items():
        ProvisionRate.objects.get_or_create(tier=tier, defaults={"percent": percent})


class Migration(migrations.Migration):
    """Every loan has exactly one risk state (and so one tier) from the moment it exists:
    a trigger creates the row with the loan, whichever way the loan is inserted."""

    dependencies = [("postloan", "0001_initial"), ("loans", "0003_role_permissions")]

    operations = [
        migrations.RunSQL(CREATE, DROP),
        migrations.RunPython(default_provision_rates, migrations.RunPython.noop),
    ]

from django.db import migrations

# One call per INSERT statement, reading the inserted loans from a transition table, instead
# of one PL/pgSQL call per loan: an import of 100,000 loans (or a generated book of a
# million) made as many calls. Every inserted loan still gets its risk state in the same
# statement.
STATEMENT_LEVEL = """
CREATE OR REPLACE FUNCTION postloan_create_risk_states() RETURNS trigger AS $$
BEGIN
    INSERT INTO postloan_loanriskstate (
        loan_id, tier, quantitative_tier, consecutive_missed, days_past_due,
        outstanding_principal, overdue_amount, provision, updated_at
    )
    SELECT id, 'normal', 'normal', 0, 0, principal, 0, 0, now() FROM new_loans;
    RETURN NULL;
END
$$ LANGUAGE plpgsql;

DROP TRIGGER IF EXISTS loans_loan_creates_risk_state ON loans_loan;
CREATE TRIGGER loans_loan_creates_risk_state
    AFTER INSERT ON loans_loan REFERENCING NEW TABLE AS new_loans
    FOR EACH STATEMENT EXECUTE FUNCTION postloan_create_risk_states();
DROP FUNCTION IF EXISTS postloan_create_risk_state();
"""

ROW_LEVEL = """
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
DROP FUNCTION IF EXISTS postloan_create_risk_states();
"""


class Migration(migrations.Migration):
    dependencies = [("postloan", "0012_incremental_planning")]

    operations = [migrations.RunSQL(STATEMENT_LEVEL, ROW_LEVEL)]

# Double submissions (issue 16): one open unplanned visit per loan and officer a day, and a
# risk factor once per report. Written by hand: only these operations.

from django.conf import settings
from django.db import migrations, models

# Rows the double clicks made before the constraints: a factor listed twice in a report
# becomes one (the evidence of each kept, serious if either was), and of the open unplanned
# visits a loan had from one officer on one day the one with a report (else the first) is
# kept, the others cancelled as duplicates.
MERGE_DUPLICATE_FACTORS = """
WITH twice AS (
    SELECT report_id, factor, MIN(id) AS keep_id,
           string_agg(evidence, '; ' ORDER BY id) AS evidence,
           bool_or(is_serious) AS is_serious,
           (array_agg(flag_id ORDER BY id) FILTER (WHERE flag_id IS NOT NULL))[1] AS flag_id
    FROM postloan_foundfactor
    GROUP BY report_id, factor
    HAVING COUNT(*) > 1
), merged AS (
    UPDATE postloan_foundfactor f
    SET evidence = t.evidence, is_serious = t.is_serious, flag_id = COALESCE(f.flag_id, t.flag_id)
    FROM twice t
    WHERE f.id = t.keep_id
    RETURNING f.id
)
DELETE FROM postloan_foundfactor f
USING twice t
WHERE f.report_id = t.report_id AND f.factor = t.factor AND f.id <> t.keep_id;
-- The rows' deferred foreign-key checks now, not at commit: a table with pending checks
-- cannot be altered in the same transaction.
SET CONSTRAINTS ALL IMMEDIATE
"""

CANCEL_DUPLICATE_VISITS = """
WITH ranked AS (
    SELECT i.id,
           row_number() OVER (
               PARTITION BY i.loan_id, i.assigned_to_id, i.due_on
               ORDER BY (r.id IS NULL), i.id
           ) AS n
    FROM postloan_inspection i
    LEFT JOIN postloan_inspectionreport r ON r.inspection_id = i.id
    WHERE i.kind = 'ad_hoc' AND i.reason = 'manual' AND i.status = 'open'
)
UPDATE postloan_inspection i
SET status = 'cancelled', cancelled_on = i.due_on, cancel_reason = 'duplicate unplanned visit'
FROM ranked
WHERE ranked.id = i.id AND ranked.n > 1
"""


class Migration(migrations.Migration):
    dependencies = [
        ("loans", "0006_leaner_ledger_indexes"),
        ("postloan", "0013_risk_state_trigger_per_statement"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RunSQL(MERGE_DUPLICATE_FACTORS, migrations.RunSQL.noop),
        migrations.AddConstraint(
            model_name="foundfactor",
            constraint=models.UniqueConstraint(
                fields=("report", "factor"), name="one_factor_per_report"
            ),
        ),
        migrations.RunSQL(CANCEL_DUPLICATE_VISITS, migrations.RunSQL.noop),
        migrations.AddConstraint(
            model_name="inspection",
            constraint=models.UniqueConstraint(
                condition=models.Q(("kind", "ad_hoc"), ("reason", "manual"), ("status", "open")),
                fields=("loan", "assigned_to", "due_on"),
                name="one_open_unplanned_visit_a_day",
            ),
        ),
    ]

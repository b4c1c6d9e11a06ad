-- The floor for the nightly classification: the same essential work in the plainest SQL,
-- one statement per step over the whole portfolio, nothing else.
--   psql "$DATABASE_URL" -v as_of="'2026-11-29'" -f bench/floor.sql
-- Computes every active loan's consecutive missed periods (with the monthly ageing after
-- maturity), derives the quantitative tier, writes the reclassification rows for the loans
-- whose tier changed and the changed tiers themselves.
\timing on
BEGIN;
SET LOCAL jit = off;
SET LOCAL work_mem = '256MB';

CREATE TEMP TABLE floor_missed ON COMMIT DROP AS
SELECT loan_id,
       missed_instalments + CASE WHEN last_missed THEN GREATEST(0,
           (EXTRACT(YEAR FROM :as_of::date)::int * 12 + EXTRACT(MONTH FROM :as_of::date)::int)
           - (EXTRACT(YEAR FROM last_due)::int * 12 + EXTRACT(MONTH FROM last_due)::int)
           - CASE WHEN EXTRACT(DAY FROM :as_of::date) < LEAST(EXTRACT(DAY FROM last_due),
                 EXTRACT(DAY FROM (date_trunc('month', :as_of::date) + interval '1 month - 1 day')))
             THEN 1 ELSE 0 END) ELSE 0 END AS missed
FROM (
    SELECT i.loan_id,
           COUNT(*) FILTER (WHERE i.due_on + l.grace_days < :as_of::date
                            AND (i.principal_paid < i.principal_due
                                 OR i.interest_paid < i.interest_due)) AS missed_instalments,
           MAX(i.due_on) FILTER (WHERE i.due_on + l.grace_days < :as_of::date
                                 AND (i.principal_paid < i.principal_due
                                      OR i.interest_paid < i.interest_due)) = MAX(i.due_on)
               AS last_missed,
           MAX(i.due_on) AS last_due
    FROM loans_instalment i JOIN loans_loan l ON l.id = i.loan_id
    WHERE l.status = 'active'
    GROUP BY i.loan_id
) per_loan;

CREATE TEMP TABLE floor_tiers ON COMMIT DROP AS
SELECT m.loan_id, s.tier AS old_tier,
       CASE WHEN m.missed <= 2 THEN 'normal' WHEN m.missed = 3 THEN 'special_mention'
            WHEN m.missed <= 6 THEN 'substandard' ELSE 'doubtful' END AS new_tier,
       m.missed
FROM floor_missed m JOIN postloan_loanriskstate s ON s.loan_id = m.loan_id;

INSERT INTO postloan_reclassification (loan_id, from_tier, to_tier, basis, consecutive_missed,
    quantitative_tier, reason, effective_on, created_at)
SELECT loan_id, old_tier, new_tier, 'quantitative', missed, new_tier, '', :as_of::date, now()
FROM floor_tiers WHERE new_tier <> old_tier;

UPDATE postloan_loanriskstate s
SET tier = t.new_tier, quantitative_tier = t.new_tier, consecutive_missed = t.missed
FROM floor_tiers t
WHERE s.loan_id = t.loan_id
  AND (s.tier, s.consecutive_missed) IS DISTINCT FROM (t.new_tier, t.missed);
COMMIT;

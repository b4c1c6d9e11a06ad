"""Portfolio import: moving a company's book off its spreadsheets (docs/import-format.md).

The input is a folder of CSV files or one XLSX workbook, one table each (products,
officers, borrowers, guarantors, groups, loans, schedule, guarantees, repayments,
collateral). The import is one transaction in three passes:

1. **Format**, per row in Python while the files stream by: dates, amounts, enums, lengths,
   identity numbers (common.idnumbers) and mobiles. Each row goes, in batches, by COPY into
   a TEMP staging table (a cell that failed is staged as empty). Loans without schedule
   rows get their schedule from loans.schedule.generate_schedule in a streaming pass over
   the staged loans, also COPYed.
2. **References and totals**, set-based in SQL over the staging tables and the database:
   duplicates, references that must exist in the import or the portal, product ranges,
   schedules (numbering, dates, sum), repayments (dates, references, totals), guarantees
   (cap, self-guarantee), groups (size, membership). Every error is kept as (file, row,
   column, message) in the user's language; with any error nothing is written.
3. **Writes**, set-based: insert what is new, update only rows that differ (refs are the
   natural keys, so a re-import creates nothing twice and reports what it changed),
   rebuild the instalments and allocations of loans whose schedule or repayments changed
   (the allocation in SQL equals loans.ledger.allocate), settle loans paid in full.

A dry run does everything and rolls back, so its preview is exactly what the import would
do. After a real import the portfolio is classified and its inspections planned.

**The cut-over date** (`as_of`, default today): the files are the book as it stood at the
end of that day. Every date of something that happened (disbursements, repayments,
signatures, valuations, registrations, groups formed) must be on or before it, and what the
import itself dates — facts changed on the borrowers' timelines, reassignments, reopened
loans, handovers (loans disbursed in the 30 days up to it), the classification and the
month's inspections — is dated that day, not the machine's today. The nightly run
catches up from there.

The package, by stage: format.py (the tables, their columns, the cell converters),
reading.py (CSV folders and workbooks), staging.py (pass 1: cells checked, COPY into
staging, generated schedules), resolve.py and checks.py (pass 2), writes.py and
ledger_writes.py (pass 3), first_load.py (a first load's deferred indexes), run.py (the
transaction around them, then the classification), results.py (counts and errors).
"""

from portfolio.importing.first_load import FIRST_LOAD_TABLES
from portfolio.importing.format import TABLE_ORDER, TABLES
from portfolio.importing.run import cut_over_problem, import_portfolio

__all__ = ["FIRST_LOAD_TABLES", "TABLES", "TABLE_ORDER", "cut_over_problem", "import_portfolio"]

from django.db import migrations

from common.migration_utils import grant_permissions

BORROWER_MODELS = [
    "borrower", "borrowerfactchange", "guarantor", "guarantorassessment", "guarantee",
    "jointgroup", "groupmembership",
]
LOAN_MODELS = [
    "branch", "officerprofile", "loanproduct", "loan", "loanstatuschange", "instalment",
    "repayment", "allocation", "collateral", "valuation", "officerassignment", "handover",
]


def view(models):
    return [f"view_{m}" for m in models]


def grant(apps, schema_editor):
    officer_borrowers = view(BORROWER_MODELS) + [
        "add_borrower", "change_borrower", "add_borrowerfactchange", "add_guarantor",
        "change_guarantor", "add_guarantorassessment", "add_guarantee", "add_jointgroup",
        "change_jointgroup", "add_groupmembership", "change_groupmembership",
    ]
    officer_loans = view(LOAN_MODELS) + [
        "add_loan", "add_repayment", "add_collateral", "change_collateral", "add_valuation",
        "change_handover",
    ]
    manager_loans = officer_loans + [
        "change_loan", "change_repayment", "add_officerassignment", "add_loanstatuschange",
    ]
    grant_permissions(
        apps,
        {
            "Loan officer": {"borrowers": officer_borrowers, "loans": officer_loans},
            "Risk manager": {
                "borrowers": officer_borrowers + ["change_guarantee"],
                "loans": sorted(set(manager_loans)),
            },
            "Supervisor": {"borrowers": view(BORROWER_MODELS), "loans": view(LOAN_MODELS)},
        },
    )


class Migration(migrations.Migration):
    dependencies = [
        ("loans", "0002_reference_sequence"),
        ("borrowers", "0003_reference_sequences"),
        ("common", "0002_role_groups"),
    ]

    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]

from decimal import Decimal

from django.db import migrations

from common.migration_utils import grant_permissions

# docs/domain.md §5: the inspection policy's defaults. Risk managers edit them afterwards.
DEFAULT_RULES = [
    ("Normal loans: a 10% monthly sample / 正常类:每月抽查10%",
     {"tier": "normal", "frequency": "sample", "sample_percent": Decimal("10"),
      "kind": "routine"}),
    ("Special mention: every loan monthly / 关注类:每月一次",
     {"tier": "special_mention", "frequency": "per_month", "times_per_month": 1,
      "kind": "routine"}),
    ("Substandard: every loan monthly / 次级类:每月一次",
     {"tier": "substandard", "frequency": "per_month", "times_per_month": 1,
      "kind": "key_tracking"}),
    ("Doubtful: every loan twice a month / 可疑类:每月两次",
     {"tier": "doubtful", "frequency": "per_month", "times_per_month": 2,
      "kind": "key_tracking"}),
    ("Loss: every loan once every 12 months / 损失类:每12个月一次",
     {"tier": "loss", "frequency": "every_n_months", "every_months": 12, "kind": "routine"}),
    ("Machinery or equipment as collateral: monthly / 机器设备抵押:每月一次",
     {"collateral_kind": "machinery", "frequency": "per_month", "times_per_month": 1,
      "kind": "routine"}),
]


def create_rules(apps, schema_editor):
    Rule = apps.get_model("postloan", "InspectionPolicyRule")
    if Rule.objects.exists():
        return
    for name, fields in DEFAULT_RULES:
        Rule.objects.create(name=name, **fields)


def grant(apps, schema_editor):
    views = [
        "view_provisionrate", "view_loanriskstate", "view_classificationrun",
        "view_reclassification", "view_tieradjustment", "view_riskflag",
        "view_inspectionpolicyrule", "view_inspection",
    ]
    grant_permissions(
        apps,
        {
            "Loan officer": {"postloan": views + ["add_tieradjustment", "add_riskflag",
                                                  "change_riskflag", "change_inspection"]},
            "Risk manager": {"postloan": views + [
                "add_tieradjustment", "change_tieradjustment", "add_riskflag", "change_riskflag",
                "change_provisionrate", "add_inspectionpolicyrule",
                "change_inspectionpolicyrule", "change_inspection"]},
            "Supervisor": {"postloan": views},
        },
    )


class Migration(migrations.Migration):
    dependencies = [("postloan", "0003_inspections")]

    operations = [
        migrations.RunPython(create_rules, migrations.RunPython.noop),
        migrations.RunPython(grant, migrations.RunPython.noop),
    ]

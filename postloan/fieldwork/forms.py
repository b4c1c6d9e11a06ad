"""Forms for field visits. They validate input; postloan/fieldwork/services.py decides and saves."""

from __future__ import annotations

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from borrowers.models import CreditStanding
from common.forms import date_field, money_field
from postloan.fieldwork.services import ATTEMPT_PREFIX, AttemptInput, ReportInput
from postloan.models import (
    CHECKLIST,
    NOT_APPLICABLE,
    TIER_CHOICES,
    Answer,
    CollectionPlan,
    ContactMethodDefault,
    DefaultReason,
    InspectionKind,
    VisitMethod,
)
from postloan.risk import factors

FACTOR_ROWS = 3

# The report's sections, one screen each on a phone (issue 18), with the checklist items each
# holds. They keep the checklist's order, so that the form numbers 1 to 12 as the printed
# report does: items 5 (organisation, management) and 6 (prospects) go with the people.
REPORT_SECTIONS = (
    ("repayment", _("Repayment and use of funds"), (1, 2)),
    ("business", _("Business"), (3,)),
    ("finances", _("Finances"), (4,)),
    ("people", _("People and guarantors"), (5, 6, 7, 8)),
    ("collateral", _("Collateral"), (9,)),
    ("files", _("Files and risk"), (10, 11)),
    ("findings", _("Findings"), (12,)),
)


class ReportForm(forms.Form):
    version = forms.IntegerField(widget=forms.HiddenInput)
    visited_at = forms.DateTimeField(
        label=_("visit date and time"),
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )
    method = forms.ChoiceField(
        label=_("method"), choices=[("", "—"), *VisitMethod.choices], required=False
    )
    place = forms.CharField(label=_("place"), max_length=255, required=False)
    people_met = forms.CharField(label=_("people met"), max_length=255, required=False)
    latitude = forms.DecimalField(
        max_digits=9, decimal_places=6, required=False, widget=forms.HiddenInput
    )
    longitude = forms.DecimalField(
        max_digits=9, decimal_places=6, required=False, widget=forms.HiddenInput
    )
    location_accuracy = forms.DecimalField(
        max_digits=8, decimal_places=1, required=False, widget=forms.HiddenInput
    )
    findings = forms.CharField(
        label=_("findings"), required=False, widget=forms.Textarea(attrs={"rows": 4})
    )
    recommended_tier = forms.ChoiceField(
        label=_("recommended tier"), choices=[("", _("no change")), *TIER_CHOICES], required=False
    )
    next_action = forms.CharField(label=_("next action"), max_length=255, required=False)
    next_action_on = date_field(_("next action by"), required=False)
    default_reason = forms.ChoiceField(
        label=_("main reason for the default"),
        choices=[("", "—"), *DefaultReason.choices],
        required=False,
    )
    default_reason_detail = forms.CharField(
        label=_("about the default"), required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    risk_judgement = forms.CharField(
        label=_("risk judgement"), required=False, widget=forms.Textarea(attrs={"rows": 2})
    )

    def __init__(self, *args, report, items, collateral, guarantors, **kwargs):
        super().__init__(*args, **kwargs)
        self.report = report
        self.items = items
        self.collateral = collateral
        self.guarantors = guarantors
        self.is_follow_up = report.inspection.kind == InspectionKind.DEFAULT_FOLLOW_UP
        if not self.is_follow_up:
            for name in ("default_reason", "default_reason_detail", "risk_judgement"):
                del self.fields[name]
        for item in items:
            self.fields[f"item_{item}"] = forms.ChoiceField(
                label=CHECKLIST[item],
                choices=Answer.choices,
                required=False,
                widget=forms.RadioSelect,
            )
            self.fields[f"comment_{item}"] = forms.CharField(
                label=_("comment"),
                required=False,
                widget=forms.Textarea(attrs={"rows": 1}),
            )
        for c in collateral:
            self.fields[f"collateral_{c.pk}_condition"] = forms.CharField(
                label=_("condition"), required=False, widget=forms.Textarea(attrs={"rows": 1})
            )
            self.fields[f"collateral_{c.pk}_value"] = money_field(
                _("new value (optional)"), required=False
            )
        for g in guarantors:
            prefix = f"guarantor_{g.pk}"
            self.fields[f"{prefix}_situation"] = forms.CharField(
                label=_("situation"), required=False, widget=forms.Textarea(attrs={"rows": 1})
            )
            self.fields[f"{prefix}_income"] = money_field(_("monthly income"), required=False)
            self.fields[f"{prefix}_assets"] = money_field(
                _("net assets"), required=False, max_digits=16
            )
            self.fields[f"{prefix}_credit"] = forms.TypedChoiceField(
                label=_("credit standing"),
                choices=[("", "—"), *CreditStanding.choices],
                coerce=int,
                empty_value=None,
                required=False,
            )
        for row in range(1, FACTOR_ROWS + 1):
            self.fields[f"factor_{row}"] = forms.TypedChoiceField(
                label=_("risk factor"),
                choices=[("", "—"), *factors.CHOICES],
                coerce=int,
                empty_value=None,
                required=False,
            )
            self.fields[f"factor_{row}_evidence"] = forms.CharField(
                label=_("evidence"), required=False, widget=forms.Textarea(attrs={"rows": 1})
            )
            self.fields[f"factor_{row}_serious"] = forms.BooleanField(
                label=_("sudden or serious"), required=False
            )

    def clean(self):
        data = super().clean()
        listed = set()
        for row in range(1, FACTOR_ROWS + 1):
            factor = data.get(f"factor_{row}")
            if factor and not (data.get(f"factor_{row}_evidence") or "").strip():
                self.add_error(f"factor_{row}_evidence", _("Describe what you found."))
            if factor in listed:
                # One flag per factor and report: the evidence goes with the row above.
                self.add_error(
                    f"factor_{row}",
                    _("This factor is listed above already: add this evidence to that row."),
                )
            elif factor:
                listed.add(factor)
        return data

    def bound_items(self):
        """All twelve items in order, as (number, label, answer, comment, why not
        applicable): the items the report leaves out are shown as not applicable."""
        return [
            (item, CHECKLIST[item], self[f"item_{item}"], self[f"comment_{item}"], "")
            if item in self.items
            else (item, CHECKLIST[item], None, None, NOT_APPLICABLE[item])
            for item in CHECKLIST
            if item in self.items or item in NOT_APPLICABLE
        ]

    def sections(self) -> list[dict]:
        """The report's sections with their checklist rows (those of bound_items), each as
        {key, title, number, items}; the template puts the rest of each section around them."""
        rows = {row[0]: row for row in self.bound_items()}
        return [
            {
                "key": key,
                "title": title,
                "number": number,
                "items": [rows[item] for item in items if item in rows],
            }
            for number, (key, title, items) in enumerate(REPORT_SECTIONS, start=1)
        ]

    def bound_collateral(self):
        return [
            (c, self[f"collateral_{c.pk}_condition"], self[f"collateral_{c.pk}_value"])
            for c in self.collateral
        ]

    def bound_guarantors(self):
        return [
            (
                g,
                self[f"guarantor_{g.pk}_situation"],
                self[f"guarantor_{g.pk}_income"],
                self[f"guarantor_{g.pk}_assets"],
                self[f"guarantor_{g.pk}_credit"],
            )
            for g in self.guarantors
        ]

    def bound_factors(self):
        return [
            (self[f"factor_{r}"], self[f"factor_{r}_evidence"], self[f"factor_{r}_serious"])
            for r in range(1, FACTOR_ROWS + 1)
        ]

    def to_input(self) -> ReportInput:
        data = self.cleaned_data
        values = {
            name: data.get(name)
            for name in (
                "visited_at",
                "latitude",
                "longitude",
                "location_accuracy",
                "next_action_on",
            )
        }
        texts = {
            name: data.get(name) or ""
            for name in (
                "method",
                "place",
                "people_met",
                "findings",
                "recommended_tier",
                "next_action",
                "default_reason",
                "default_reason_detail",
                "risk_judgement",
            )
        }
        return ReportInput(
            **values,
            **texts,
            answers={
                item: (data.get(f"item_{item}") or "", data.get(f"comment_{item}") or "")
                for item in self.items
            },
            collateral={
                c.pk: (
                    data.get(f"collateral_{c.pk}_condition") or "",
                    data.get(f"collateral_{c.pk}_value"),
                )
                for c in self.collateral
            },
            guarantors={
                g.pk: {
                    "situation": data.get(f"guarantor_{g.pk}_situation") or "",
                    "monthly_income": data.get(f"guarantor_{g.pk}_income"),
                    "net_assets": data.get(f"guarantor_{g.pk}_assets"),
                    "credit_standing": data.get(f"guarantor_{g.pk}_credit"),
                }
                for g in self.guarantors
            },
            factors=[
                (
                    data[f"factor_{r}"],
                    data.get(f"factor_{r}_evidence") or "",
                    bool(data.get(f"factor_{r}_serious")),
                )
                for r in range(1, FACTOR_ROWS + 1)
                if data.get(f"factor_{r}")
            ],
        )

    @classmethod
    def initial_for(cls, report) -> dict:
        initial = {
            name: getattr(report, name)
            for name in (
                "visited_at",
                "method",
                "place",
                "people_met",
                "latitude",
                "longitude",
                "location_accuracy",
                "findings",
                "recommended_tier",
                "next_action",
                "next_action_on",
                "default_reason",
                "default_reason_detail",
                "risk_judgement",
            )
        }
        # A new report is usually written on the visit: the visit's time starts as now (to the
        # minute, as the datetime-local input shows it; not rounded up into the future, which
        # the service refuses).
        visited_at = initial["visited_at"] or timezone.now().replace(second=0, microsecond=0)
        initial["visited_at"] = timezone.localtime(visited_at)
        initial["version"] = report.version
        for answer in report.answers.all():
            initial[f"item_{answer.item}"] = answer.answer
            initial[f"comment_{answer.item}"] = answer.comment
        for check in report.collateral_checks.all():
            initial[f"collateral_{check.collateral_id}_condition"] = check.condition
            initial[f"collateral_{check.collateral_id}_value"] = check.new_value
        for check in report.guarantor_checks.all():
            prefix = f"guarantor_{check.guarantor_id}"
            initial.update(
                {
                    f"{prefix}_situation": check.situation,
                    f"{prefix}_income": check.monthly_income,
                    f"{prefix}_assets": check.net_assets,
                    f"{prefix}_credit": check.credit_standing,
                }
            )
        for row, found in enumerate(report.factors.all()[:FACTOR_ROWS], start=1):
            initial.update(
                {
                    f"factor_{row}": found.factor,
                    f"factor_{row}_evidence": found.evidence,
                    f"factor_{row}_serious": found.is_serious,
                }
            )
        return initial


class AttachmentForm(forms.Form):
    file = forms.FileField(
        label=_("photo or document"),
        widget=forms.ClearableFileInput(
            attrs={"accept": "image/jpeg,image/png,application/pdf", "capture": "environment"}
        ),
    )


class ContactAttemptForm(forms.Form):
    """An attempt to reach the borrower, part of the report's page (its fields prefixed
    "attempt-"): logging it saves the draft with it, so the report typed so far stays."""

    method = forms.ChoiceField(label=_("how"), choices=ContactMethodDefault.choices)
    attempted_on = date_field(_("on"), initial=timezone.localdate)
    outcome = forms.CharField(label=_("outcome"), widget=forms.Textarea(attrs={"rows": 2}))
    promise_on = date_field(_("promised to pay by"), required=False)
    promise_amount = money_field(_("promised amount"), required=False)

    # What the officer types; the method and the date come filled in.
    TYPED = ("outcome", "promise_on", "promise_amount")

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("prefix", ATTEMPT_PREFIX)
        super().__init__(*args, **kwargs)

    def has_input(self) -> bool:
        """Did the officer type an attempt (to be logged with the draft, not dropped)?"""
        return self.is_bound and any(
            (self.data.get(self.add_prefix(name)) or "").strip() for name in self.TYPED
        )

    def to_input(self) -> AttemptInput:
        return AttemptInput(**self.cleaned_data)


class AddendumForm(forms.Form):
    text = forms.CharField(label=_("addendum"), widget=forms.Textarea(attrs={"rows": 2}))


STEP_ROWS = 5


class PlanForm(forms.Form):
    kind = forms.ChoiceField(label=_("kind"), choices=CollectionPlan.Kind.choices)
    summary = forms.CharField(label=_("plan"), widget=forms.Textarea(attrs={"rows": 3}))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for row in range(1, STEP_ROWS + 1):
            self.fields[f"step_{row}_action"] = forms.CharField(
                label=_("step %(n)d") % {"n": row}, max_length=255, required=False
            )
            self.fields[f"step_{row}_on"] = date_field(_("due by"), required=False)
            self.fields[f"step_{row}_amount"] = money_field(_("amount"), required=False)

    def steps(self) -> list[dict]:
        data = self.cleaned_data
        return [
            {
                "action": data.get(f"step_{r}_action") or "",
                "target_on": data.get(f"step_{r}_on"),
                "target_amount": data.get(f"step_{r}_amount"),
            }
            for r in range(1, STEP_ROWS + 1)
            if (data.get(f"step_{r}_action") or "").strip()
        ]

    def step_rows(self):
        return [
            (self[f"step_{r}_action"], self[f"step_{r}_on"], self[f"step_{r}_amount"])
            for r in range(1, STEP_ROWS + 1)
        ]


class StepDoneForm(forms.Form):
    done_on = date_field(_("done on"), initial=timezone.localdate)
    note = forms.CharField(label=_("note"), max_length=255, required=False)


class ClosureForm(forms.Form):
    customer = forms.CharField(label=_("the customer"), widget=forms.Textarea(attrs={"rows": 2}))
    loan_assessment = forms.CharField(label=_("the loan"), widget=forms.Textarea(attrs={"rows": 2}))
    originating_officer = forms.CharField(
        label=_("the originating officer"), widget=forms.Textarea(attrs={"rows": 2})
    )
    managing_officer = forms.CharField(
        label=_("the managing officer"), widget=forms.Textarea(attrs={"rows": 2})
    )
    lessons = forms.CharField(label=_("lessons learned"), widget=forms.Textarea(attrs={"rows": 3}))

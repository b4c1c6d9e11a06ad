"""Writes for borrowers, guarantors, guarantees and joint groups.

Each service is one transaction: it validates everything first and raises a
ValidationError keyed by field (shown on the form) before anything is saved.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Count, F
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _

from borrowers.capacity import Capacity, capacity_reductions
from borrowers.models import (
    Borrower,
    BorrowerFactChange,
    Fact,
    GroupMembership,
    GroupStatus,
    Guarantee,
    GuaranteeKind,
    GuaranteeStatus,
    Guarantor,
    GuarantorAssessment,
    JointGroup,
    LegalStatus,
    MaintenanceKind,
    MaintenanceLog,
    PartyKind,
)
from borrowers.selectors import beyond_reach, ensure_may_act
from common import idnumbers, texts
from common.models import BusinessSettings
from common.services import ConcurrentEditError
from common.transitions import Change, Transitions, transition

# Fields of a borrower a form or an import may set.
BORROWER_FIELDS = [
    "kind",
    "name",
    "id_number",
    "credit_code",
    "mobile",
    "address",
    "occupation",
    "business_address",
    "employer",
    "monthly_income",
    "assets",
    "bank_credit",
    "health",
    "legal_status",
    "legal_representative",
    "business_scope",
]


def _clean_identity(kind: str, data: dict[str, Any], errors: dict[str, list]) -> None:
    """Validate and normalise the identity numbers and phone in `data` (in place)."""
    if kind == PartyKind.PERSON:
        data["credit_code"] = None
        try:
            data["id_number"] = idnumbers.validate_resident_id(data.get("id_number") or "")
        except ValidationError as error:
            errors.setdefault("id_number", []).extend(error.messages)
    elif kind == PartyKind.ENTERPRISE:
        data["id_number"] = None
        try:
            data["credit_code"] = idnumbers.validate_credit_code(data.get("credit_code") or "")
        except ValidationError as error:
            errors.setdefault("credit_code", []).extend(error.messages)
    else:
        errors.setdefault("kind", []).append(_("Choose person or enterprise."))
    if data.get("mobile"):
        try:
            data["mobile"] = idnumbers.validate_mobile(data["mobile"])
        except ValidationError as error:
            errors.setdefault("mobile", []).extend(error.messages)


def _check_unique(model, data: dict, errors: dict, exclude_pk=None) -> None:
    for field, message in [
        ("id_number", _("Another record already has this resident ID number.")),
        ("credit_code", _("Another record already has this unified social credit code.")),
    ]:
        value = data.get(field)
        if value and model.objects.filter(**{field: value}).exclude(pk=exclude_pk).exists():
            errors.setdefault(field, []).append(message)


def _next_reference(prefix: str, model) -> str:
    """A readable reference such as KH-000123 from a per-table sequence."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT nextval(%s)", [f"{model._meta.db_table}_reference_seq"])
        (number,) = cursor.fetchone()
    return f"{prefix}-{number:06d}"


@transaction.atomic
def borrower_create(*, data: dict[str, Any], created_by=None, reference: str = "") -> Borrower:
    data = {k: v for k, v in data.items() if k in BORROWER_FIELDS}
    errors: dict[str, list] = {}
    _clean_identity(data.get("kind", ""), data, errors)
    _check_unique(Borrower, data, errors)
    if reference and Borrower.objects.filter(reference=reference).exists():
        errors.setdefault("reference", []).append(_("This reference is already used."))
    if errors:
        raise ValidationError(errors)
    borrower = Borrower(
        **data, reference=reference or _next_reference("KH", Borrower), created_by=created_by
    )
    borrower.full_clean()
    borrower.save()
    return borrower


def _fact_text(borrower: Borrower, field: str, value) -> str:
    if value is None:
        return ""
    if field in ("health", "legal_status"):
        return str(dict(Borrower._meta.get_field(field).choices).get(value, value))
    return str(value)


@transaction.atomic
def borrower_update(
    *,
    borrower: Borrower,
    version: int,
    data: dict[str, Any],
    by=None,
    effective_on: date | None = None,
    note: str = "",
) -> Borrower:
    """Change a borrower; each changed risk fact becomes a dated line of its timeline.

    `version` is the version the user saw: if someone saved in between, the edit is
    refused rather than silently overwriting theirs.
    """
    if by is not None:
        ensure_may_act(by, borrowers=[borrower])
    data = {k: v for k, v in data.items() if k in BORROWER_FIELDS and k != "kind"}
    current = Borrower.objects.select_for_update().get(pk=borrower.pk)
    if current.version != version:
        raise ConcurrentEditError()
    errors: dict[str, list] = {}
    merged = {f: getattr(current, f) for f in BORROWER_FIELDS} | data
    _clean_identity(current.kind, merged, errors)
    _check_unique(Borrower, merged, errors, exclude_pk=current.pk)
    if effective_on and effective_on > timezone.localdate():
        # A future date would count towards risk factor 10 before the change happened.
        errors["effective_on"] = [_("A change cannot take effect in the future.")]
    if errors:
        raise ValidationError(errors)
    effective_on = effective_on or timezone.localdate()
    changes = []
    for fact in Fact.values:
        old, new = getattr(current, fact), merged.get(fact)
        if _normalised(old) != _normalised(new):
            changes.append(
                BorrowerFactChange(
                    borrower=current,
                    fact=fact,
                    old_value=_fact_text(current, fact, old),
                    new_value=_fact_text(current, fact, new),
                    effective_on=effective_on,
                    recorded_by=by,
                    note=note,
                )
            )
    for field in BORROWER_FIELDS:
        setattr(current, field, merged[field])
    current.version = F("version") + 1
    current.full_clean(exclude=["version"])
    current.save()
    BorrowerFactChange.objects.bulk_create(changes)
    current.refresh_from_db()
    _sync_guarantor_from_borrower(current)
    return current


def _normalised(value) -> str:
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return f"{value:.2f}"
    return str(value).strip()


def _sync_guarantor_from_borrower(borrower: Borrower) -> None:
    Guarantor.objects.filter(borrower=borrower).update(
        name=borrower.name, mobile=borrower.mobile, address=borrower.address
    )


# --- Guarantors -----------------------------------------------------------------------------


@transaction.atomic
def guarantor_create(
    *,
    kind: str = "",
    name: str = "",
    id_number: str = "",
    credit_code: str = "",
    mobile: str = "",
    address: str = "",
    borrower: Borrower | None = None,
    created_by=None,
    reference: str = "",
) -> Guarantor:
    """A new guarantor; from an existing borrower, their identity is taken from the borrower."""
    if borrower is not None:
        existing = Guarantor.objects.filter(borrower=borrower).first()
        if existing:
            return existing
        # Someone who guaranteed for us before they borrowed is the same person: link the
        # earlier guarantor record instead of failing on its identity number.
        field = "id_number" if borrower.kind == PartyKind.PERSON else "credit_code"
        earlier = (
            Guarantor.objects.select_for_update()
            .filter(borrower__isnull=True, **{field: getattr(borrower, field)})
            .first()
        )
        if earlier is not None:
            earlier.borrower = borrower
            earlier.name, earlier.mobile = borrower.name, borrower.mobile
            earlier.address = borrower.address
            earlier.save(update_fields=["borrower", "name", "mobile", "address"])
            return earlier
        kind, name = borrower.kind, borrower.name
        id_number, credit_code = borrower.id_number or "", borrower.credit_code or ""
        mobile, address = borrower.mobile, borrower.address
    data = {"id_number": id_number, "credit_code": credit_code, "mobile": mobile}
    errors: dict[str, list] = {}
    if not name.strip():
        errors["name"] = [_("Enter the guarantor's name.")]
    _clean_identity(kind, data, errors)
    _check_unique(Guarantor, data, errors)
    if borrower is None and not errors:
        # A guarantor who already borrows from us is the same person: link, don't copy.
        field = "id_number" if kind == PartyKind.PERSON else "credit_code"
        match = Borrower.objects.filter(**{field: data[field]}).first()
        if match is not None:
            return guarantor_create(borrower=match, created_by=created_by, reference=reference)
    if reference and Guarantor.objects.filter(reference=reference).exists():
        errors.setdefault("reference", []).append(_("This reference is already used."))
    if errors:
        raise ValidationError(errors)
    guarantor = Guarantor(
        reference=reference or _next_reference("DB", Guarantor),
        kind=kind,
        borrower=borrower,
        name=name.strip(),
        id_number=data["id_number"],
        credit_code=data["credit_code"],
        mobile=data["mobile"],
        address=address,
        created_by=created_by,
    )
    guarantor.full_clean()
    guarantor.save()
    return guarantor


def guarantor_for_borrower(borrower: Borrower, *, created_by=None) -> Guarantor:
    return guarantor_create(borrower=borrower, created_by=created_by)


@transaction.atomic
def guarantor_assess(
    *,
    guarantor: Guarantor,
    assessed_on: date,
    monthly_income: Decimal | None = None,
    net_assets: Decimal | None = None,
    credit_standing: int = 1,
    rating: str = "",
    enterprise_status: str = "",
    note: str = "",
    by=None,
    authorised: bool = False,
) -> GuarantorAssessment:
    """Record a re-assessment; mark it when capacity fell since the previous one.

    `authorised`: the caller has already decided that `by` may record it (an inspection
    report's author, whose right to the report was checked by the report's own rule).
    """
    if by is not None and not authorised:
        ensure_may_act(by, guarantors=[guarantor])
    errors = {}
    if assessed_on > timezone.localdate():
        errors["assessed_on"] = [_("An assessment cannot be dated in the future.")]
    if guarantor.kind == PartyKind.PERSON:
        for field, value in (("rating", rating), ("enterprise_status", enterprise_status)):
            if value:
                errors[field] = [_("Ratings and enterprise status apply to enterprises only.")]
    if errors:
        raise ValidationError(errors)
    previous = (
        guarantor.assessments.filter(assessed_on__lte=assessed_on)
        .order_by("-assessed_on", "-id")
        .first()
    )
    drop = BusinessSettings.current().guarantor_income_drop_percent
    with translation.override("en"):  # stored for the audit trail; pages recompute them
        reasons = [
            str(reason)
            for reason in capacity_reductions(
                _capacity(previous) if previous else None,
                Capacity(monthly_income, net_assets, credit_standing, rating, enterprise_status),
                drop_percent=drop,
            )
        ]
    assessment = GuarantorAssessment(
        guarantor=guarantor,
        assessed_on=assessed_on,
        monthly_income=monthly_income,
        net_assets=net_assets,
        credit_standing=credit_standing,
        rating=rating,
        enterprise_status=enterprise_status,
        capacity_lowered=bool(reasons),
        lowered_because="; ".join(reasons)[:255],
        assessed_by=by,
        note=note,
    )
    assessment.full_clean()
    assessment.save()
    return assessment


def _capacity(assessment: GuarantorAssessment) -> Capacity:
    return Capacity(
        assessment.monthly_income,
        assessment.net_assets,
        assessment.credit_standing,
        assessment.rating,
        assessment.enterprise_status,
    )


# --- Guarantees ---------------------------------------------------------------------------------


@transaction.atomic
def guarantee_add(
    *,
    loan,
    guarantor: Guarantor,
    signed_on: date,
    kind: str = GuaranteeKind.ORDINARY,
    amount: Decimal | None = None,
    group: JointGroup | None = None,
) -> Guarantee:
    """A guarantor backs a loan, within their cap of active guarantees."""
    # Lock the guarantor so that two guarantees added at once cannot both pass the cap.
    guarantor = Guarantor.objects.select_for_update().get(pk=guarantor.pk)
    errors: dict[str, list] = {}
    if guarantor.borrower_id is not None and guarantor.borrower_id == loan.borrower_id:
        errors["guarantor"] = [_("A borrower cannot guarantee their own loan.")]
    if Guarantee.objects.filter(loan=loan, guarantor=guarantor, status="active").exists():
        errors["guarantor"] = [_("This guarantor already guarantees this loan.")]
    cap = BusinessSettings.current().max_active_guarantees
    active = Guarantee.objects.filter(guarantor=guarantor, status=GuaranteeStatus.ACTIVE).count()
    if active >= cap:
        errors.setdefault("guarantor", []).append(
            _("%(name)s already backs %(count)d active guarantees; the most allowed is %(cap)d.")
            % {"name": guarantor.name, "count": active, "cap": cap}
        )
    if amount is not None and amount <= 0:
        errors["amount"] = [_("Enter an amount above zero, or leave it empty.")]
    if signed_on > timezone.localdate():
        errors["signed_on"] = [_("A guarantee cannot be signed in the future.")]
    if errors:
        raise ValidationError(errors)
    guarantee = Guarantee(
        loan=loan,
        guarantor=guarantor,
        kind=kind,
        amount=amount,
        group=group,
        signed_on=signed_on,
    )
    guarantee.full_clean()
    guarantee.save()
    return guarantee


def _record_guarantee_change(change: Change) -> list[str]:
    """A guarantee keeps the day it was called or released and the note of its last move;
    its pghistory event is the rest of the record (when, from, to, the request's user)."""
    guarantee = change.obj
    if change.on > timezone.localdate():
        raise ValidationError({"on": [_("The date cannot be in the future.")]})
    if change.after == GuaranteeStatus.RELEASED:
        guarantee.released_on = change.on
    else:
        guarantee.called_on = change.on
    guarantee.status_note = change.why
    guarantee.full_clean()
    return ["released_on", "called_on", "status_note"]


# The guarded status transitions of a guarantee.
GUARANTEE_TRANSITIONS = Transitions(
    model=Guarantee,
    moves={
        GuaranteeStatus.ACTIVE: {GuaranteeStatus.RELEASED, GuaranteeStatus.CALLED},
        GuaranteeStatus.CALLED: {GuaranteeStatus.RELEASED},
        GuaranteeStatus.RELEASED: set(),
    },
    refusal=_("A guarantee that is %(from)s cannot become %(to)s."),
    record=_record_guarantee_change,
    error_key="status",
)


@transaction.atomic
def guarantee_set_status(
    *, guarantee: Guarantee, status: str, on: date, note: str = "", by=None
) -> Guarantee:
    """Call or release a guarantee (common.transitions refuses any other move)."""
    return transition(guarantee, status, by=by, why=note, on=on, table=GUARANTEE_TRANSITIONS)


# --- Joint-guarantee groups ---------------------------------------------------------------------


def _record_group_change(change: Change) -> list[str]:
    """A dissolved group keeps the day and the reason (its pghistory event the rest)."""
    change.obj.dissolved_on, change.obj.dissolved_reason = change.on, change.why
    return ["dissolved_on", "dissolved_reason"]


# A group is dissolved once, when it falls below its product's minimum size.
GROUP_TRANSITIONS = Transitions(
    model=JointGroup,
    moves={GroupStatus.ACTIVE: {GroupStatus.DISSOLVED}},
    refusal=_("The group is dissolved."),
    record=_record_group_change,
)


def _member_errors(product, borrowers: list[Borrower], *, group: JointGroup | None) -> list:
    errors = []
    active = GroupMembership.objects.filter(
        borrower__in=borrowers, left_on__isnull=True
    ).select_related("group", "borrower")
    for membership in active:
        if group is None or membership.group_id != group.pk:
            errors.append(
                _("%(name)s is already a member of the active group %(group)s.")
                % {"name": membership.borrower.name, "group": membership.group.name}
            )
    for borrower in borrowers:
        if borrower.kind == PartyKind.ENTERPRISE and not product.group_members_may_be_enterprises:
            errors.append(
                _("%(name)s is an enterprise; this product's groups take persons only.")
                % {"name": borrower.name}
            )
        if borrower.legal_status != LegalStatus.NORMAL:
            errors.append(
                _("%(name)s cannot join: legal status is %(status)s.")
                % {"name": borrower.name, "status": borrower.get_legal_status_display()}
            )
    return errors


def _guarantee_cap_errors(
    borrowers: list[Borrower], *, group_size: int, group: JointGroup | None = None
) -> list:
    """Members who would back more active guarantees than allowed once every member of a
    group of `group_size` has borrowed (each guarantees the other group_size - 1 loans)."""
    cap = BusinessSettings.current().max_active_guarantees
    active = Guarantee.objects.filter(
        guarantor__borrower__in=borrowers, status=GuaranteeStatus.ACTIVE
    )
    if group is not None:
        # This group's own cross-guarantees are already part of group_size - 1.
        active = active.exclude(group=group)
    existing = dict(active.values_list("guarantor__borrower").annotate(n=Count("id")).order_by())
    errors = []
    for borrower in borrowers:
        count = existing.get(borrower.pk, 0) + group_size - 1
        if count > cap:
            errors.append(
                _(
                    "%(name)s would guarantee %(count)d loans, more than the %(cap)d "
                    "allowed per guarantor."
                )
                % {"name": borrower.name, "count": count, "cap": cap}
            )
    return errors


@transaction.atomic
def group_form(
    *,
    name: str,
    product,
    members: list[Borrower],
    lead: Borrower | None = None,
    formed_on: date,
    by=None,
    reference: str = "",
) -> JointGroup:
    """Form a joint-guarantee group (联保小组) of at least the product's minimum size."""
    members = list(dict.fromkeys(members))  # no one twice
    if by is not None:
        ensure_may_act(by, borrowers=members)
    lead = lead or (members[0] if members else None)
    errors: dict[str, list] = {}
    if not name.strip():
        errors["name"] = [_("Give the group a name.")]
    if not product.allows_joint_group:
        errors["product"] = [_("This product does not accept joint-guarantee groups.")]
    if len(members) < product.min_group_size:
        errors.setdefault("members", []).append(
            _("A joint group needs at least %(min)d members; you chose %(count)d.")
            % {"min": product.min_group_size, "count": len(members)}
        )
    if lead not in members:
        errors["lead"] = [_("The lead member must be one of the members.")]
    member_problems = _member_errors(product, members, group=None)
    if member_problems:
        errors.setdefault("members", []).extend(member_problems)
    cap_problems = _guarantee_cap_errors(members, group_size=len(members))
    if cap_problems:
        errors.setdefault("members", []).extend(cap_problems)
    if formed_on > timezone.localdate():
        errors["formed_on"] = [_("A group cannot be formed in the future.")]
    if errors:
        raise ValidationError(errors)
    group = JointGroup.objects.create(
        name=name.strip(),
        reference=reference or _next_reference("LB", JointGroup),
        product=product,
        lead=lead,
        formed_on=formed_on,
        created_by=by,
    )
    try:
        GroupMembership.objects.bulk_create(
            [GroupMembership(group=group, borrower=b, joined_on=formed_on) for b in members]
        )
    except IntegrityError as error:  # a concurrent formation took a member first
        raise ValidationError(
            {"members": [_("A member joined another group meanwhile; try again.")]}
        ) from error
    for borrower in members:
        guarantor_for_borrower(borrower, created_by=by)
    return group


@transaction.atomic
def group_add_member(*, group: JointGroup, borrower: Borrower, joined_on: date, by=None):
    group = JointGroup.objects.select_for_update().get(pk=group.pk)
    current = [
        m.borrower
        for m in group.memberships.filter(left_on__isnull=True).select_related("borrower")
    ]
    if by is not None:
        # The newcomer joins, and every member takes on guaranteeing the newcomer's loans.
        ensure_may_act(by, borrowers=[borrower, *current])
    if not group.is_active:
        raise ValidationError({"borrower": [_("The group is dissolved.")]})
    problems = _member_errors(group.product, [borrower], group=group)
    if GroupMembership.objects.filter(group=group, borrower=borrower, left_on=None).exists():
        problems.append(_("%(name)s is already a member.") % {"name": borrower.name})
    if joined_on > timezone.localdate() or joined_on < group.formed_on:
        problems.append(_("The joining date must lie between the group's formation and today."))
    if not problems:
        # A bigger group means every member backs one more loan: the cap applies as when
        # the group was formed, or adding members one by one would get round it.
        problems.extend(
            _guarantee_cap_errors([*current, borrower], group_size=len(current) + 1, group=group)
        )
    if problems:
        raise ValidationError({"borrower": problems})
    membership = GroupMembership.objects.create(group=group, borrower=borrower, joined_on=joined_on)
    guarantor_for_borrower(borrower, created_by=by)
    return membership


@dataclass
class LeaveResult:
    membership: GroupMembership
    dissolved: bool
    converted_guarantees: int


@transaction.atomic
def group_member_leave(
    *, membership: GroupMembership, left_on: date, reason: str, by=None
) -> LeaveResult:
    """A member leaves. Below the product's minimum the group is dissolved: its
    cross-guarantees stay in force as ordinary guarantees (the contracts were signed),
    and each remaining member's limit falls back to the ordinary rule."""
    group = JointGroup.objects.select_for_update().get(pk=membership.group_id)
    membership = (
        GroupMembership.objects.select_for_update().select_related("borrower").get(pk=membership.pk)
    )
    if by is not None:
        ensure_may_act(by, borrowers=[membership.borrower])
    errors = {}
    if membership.left_on is not None:
        errors["left_on"] = [_("This member has already left.")]
    if not reason.strip():
        errors["reason"] = [_("Say why the member leaves.")]
    if left_on > timezone.localdate() or left_on < membership.joined_on:
        errors["left_on"] = [_("The leaving date must lie between joining and today.")]
    if errors:
        raise ValidationError(errors)
    staying = list(
        group.memberships.filter(left_on__isnull=True)
        .exclude(pk=membership.pk)
        .select_related("borrower")
        .order_by("joined_on", "id")
    )
    dissolved = len(staying) < group.product.min_group_size
    cross_guarantees = Guarantee.objects.filter(
        group=group, kind=GuaranteeKind.JOINT_GROUP, status=GuaranteeStatus.ACTIVE
    )
    if dissolved and by is not None:
        # Dissolving ends every member's membership and turns the cross-guarantees on every
        # member's loan into ordinary ones: the user must be able to act on all of them.
        refused = beyond_reach(
            by,
            borrowers=[m.borrower for m in staying],
            loans=[guarantee.loan for guarantee in cross_guarantees.select_related("loan")],
        )
        if refused:
            raise ValidationError(
                _(
                    "This member's leaving would dissolve the group and change the "
                    "memberships and guarantees of %(names)s, outside your book: a risk "
                    "manager must record it."
                )
                % {"names": ", ".join(refused)}
            )
    membership.left_on, membership.leave_reason = left_on, reason.strip()
    membership.save(update_fields=["left_on", "leave_reason"])
    if group.lead_id == membership.borrower_id and staying:
        group.lead_id = staying[0].borrower_id
        group.save(update_fields=["lead"])
    converted = 0
    if dissolved:
        transition(
            group,
            GroupStatus.DISSOLVED,
            by=by,
            why=texts.GROUP_BELOW_MINIMUM,
            on=left_on,
            table=GROUP_TRANSITIONS,
        )
        group.memberships.filter(left_on__isnull=True).update(
            left_on=left_on, leave_reason=texts.GROUP_DISSOLVED
        )
        converted = cross_guarantees.update(kind=GuaranteeKind.ORDINARY)
    return LeaveResult(membership, dissolved, converted)


def active_group_of(borrower: Borrower) -> JointGroup | None:
    membership = (
        GroupMembership.objects.filter(borrower=borrower, left_on__isnull=True)
        .select_related("group")
        .first()
    )
    return membership.group if membership else None


def cross_guarantees_for_loan(*, loan, by=None) -> list[Guarantee]:
    """When a group member's loan is booked, every other member guarantees it."""
    group = loan.group
    if group is None or not group.is_active:
        return []
    others = [
        m.borrower
        for m in group.memberships.filter(left_on__isnull=True)
        .exclude(borrower=loan.borrower)
        .select_related("borrower")
    ]
    return [
        guarantee_add(
            loan=loan,
            guarantor=guarantor_for_borrower(member, created_by=by),
            signed_on=loan.disbursed_on,
            kind=GuaranteeKind.JOINT_GROUP,
            group=group,
        )
        for member in others
    ]


@transaction.atomic
def maintenance_add(*, borrower: Borrower, happened_on: date, kind: str, notes: str, by):
    """Log customer maintenance (客户维护, Sec. 6)."""
    ensure_may_act(by, borrowers=[borrower])
    errors: dict[str, list] = {}
    if happened_on > timezone.localdate():
        errors["happened_on"] = [_("This cannot be dated in the future.")]
    if kind not in MaintenanceKind.values:
        errors["kind"] = [_("Choose what was done.")]
    if not (notes or "").strip():
        errors["notes"] = [_("Write down what was said or done.")]
    if errors:
        raise ValidationError(errors)
    return MaintenanceLog.objects.create(
        borrower=borrower, happened_on=happened_on, kind=kind, notes=notes.strip(), officer=by
    )

"""The loan book after disbursement (docs/domain.md §3).

Writes go through loans/services.py. Arithmetic lives in loans/schedule.py and
loans/ledger.py (pure, no ORM); models hold data, constraints and one-row values.
"""

from __future__ import annotations

from decimal import Decimal

import pghistory
from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from loans.schedule import RepaymentMethod as Method


class RepaymentMethod(models.TextChoices):
    BULLET = Method.BULLET.value, _("Bullet: principal and interest at maturity (到期还本付息)")
    EQUAL_INSTALLMENT = Method.EQUAL_INSTALLMENT.value, _("Equal instalments (等额本息)")
    EQUAL_PRINCIPAL = Method.EQUAL_PRINCIPAL.value, _("Equal principal (等额本金)")
    INTEREST_FIRST = (
        Method.INTEREST_FIRST.value,
        _("Interest first, principal at maturity (先息后本)"),
    )


class CollateralKind(models.TextChoices):
    REAL_ESTATE = "real_estate", _("Real estate")
    OFF_PLAN = "off_plan", _("Off-plan property (期房)")
    MACHINERY = "machinery", _("Machinery and equipment")
    VEHICLE = "vehicle", _("Vehicle")
    DEPOSIT = "deposit", _("Deposit or pledged right")
    OTHER = "other", _("Other")


@pghistory.track()
class Branch(models.Model):
    """One of the company's outlets (网点)."""

    code = models.CharField(_("code"), max_length=20, unique=True)
    name = models.CharField(_("name"), max_length=120)
    address = models.CharField(_("address"), max_length=255, blank=True)

    class Meta:
        ordering = ["code"]
        verbose_name = _("branch")
        verbose_name_plural = _("branches")

    def __str__(self) -> str:
        return self.name


@pghistory.track()
class OfficerProfile(models.Model):
    """A staff member's place in the company: their branch."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="officer_profile"
    )
    branch = models.ForeignKey(
        Branch, verbose_name=_("branch"), on_delete=models.PROTECT, related_name="officers"
    )
    employee_number = models.CharField(_("employee number"), max_length=20, blank=True)
    phone = models.CharField(_("phone"), max_length=20, blank=True)

    class Meta:
        verbose_name = _("officer profile")
        verbose_name_plural = _("officer profiles")

    def __str__(self) -> str:
        return f"{self.user} @ {self.branch}"


@pghistory.track()
class LoanProduct(models.Model):
    """A loan product and its rules, edited by admins."""

    code = models.CharField(_("code"), max_length=20, unique=True)
    name = models.CharField(_("name"), max_length=120)
    rate_min = models.DecimalField(
        _("lowest annual rate (%)"), max_digits=6, decimal_places=3, default=Decimal("0")
    )
    rate_max = models.DecimalField(
        _("highest annual rate (%)"), max_digits=6, decimal_places=3, default=Decimal("36")
    )
    amount_min = models.DecimalField(
        _("smallest amount"), max_digits=14, decimal_places=2, default=Decimal("1000.00")
    )
    amount_max = models.DecimalField(
        _("largest amount"), max_digits=14, decimal_places=2, default=Decimal("5000000.00")
    )
    term_min = models.PositiveSmallIntegerField(_("shortest term (months)"), default=1)
    term_max = models.PositiveSmallIntegerField(_("longest term (months)"), default=60)
    repayment_methods = ArrayField(
        models.CharField(max_length=20, choices=RepaymentMethod.choices),
        verbose_name=_("repayment methods"),
        default=list,
        help_text=_("Empty means every method is allowed."),
        blank=True,
    )
    grace_days = models.PositiveSmallIntegerField(
        _("grace days"),
        default=0,
        help_text=_("Days after a due date before an unpaid instalment counts as missed."),
    )
    # Guarantee requirements and the limit rule (docs/domain.md §2).
    min_guarantors = models.PositiveSmallIntegerField(
        _("minimum guarantors"),
        default=0,
        help_text=_("Ordinary guarantors a loan needs unless its borrower is in a joint group."),
    )
    allows_joint_group = models.BooleanField(_("joint-guarantee groups allowed"), default=False)
    min_group_size = models.PositiveSmallIntegerField(
        _("minimum group size"), default=3, validators=[MinValueValidator(2)]
    )
    group_members_may_be_enterprises = models.BooleanField(
        _("enterprises may join groups"), default=False
    )
    per_person_limit = models.DecimalField(
        _("limit per person"),
        max_digits=14,
        decimal_places=2,
        default=Decimal("500000.00"),
        help_text=_(
            "The most one borrower may owe under this product. A guarantor is not a "
            "co-borrower: only a valid joint group gives each member a limit of their own."
        ),
    )
    requires_collateral = models.BooleanField(_("collateral required"), default=False)
    collateral_kinds = ArrayField(
        models.CharField(max_length=20, choices=CollateralKind.choices),
        verbose_name=_("accepted collateral"),
        default=list,
        blank=True,
        help_text=_("Empty means any kind is accepted."),
    )
    is_active = models.BooleanField(_("offered"), default=True)

    class Meta:
        ordering = ["code"]
        verbose_name = _("loan product")
        verbose_name_plural = _("loan products")
        constraints = [
            models.CheckConstraint(
                name="product_ranges_ordered",
                condition=Q(rate_min__lte=F("rate_max"))
                & Q(amount_min__lte=F("amount_max"))
                & Q(term_min__lte=F("term_max"))
                & Q(term_min__gte=1),
            )
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"

    def allows_method(self, method: str) -> bool:
        return not self.repayment_methods or method in self.repayment_methods

    def accepts_collateral(self, kind: str) -> bool:
        return not self.collateral_kinds or kind in self.collateral_kinds


class LoanStatus(models.TextChoices):
    ACTIVE = "active", _("Active")
    SETTLED = "settled", _("Settled")
    WRITTEN_OFF = "written_off", _("Written off")


class ScheduleSource(models.TextChoices):
    GENERATED = "generated", _("Generated from the repayment method")
    EXPLICIT = "explicit", _("Explicit (migrated from the legacy system)")


class LoanQuerySet(models.QuerySet):
    def active(self) -> LoanQuerySet:
        return self.filter(status=LoanStatus.ACTIVE)

    def search(self, text: str) -> LoanQuerySet:
        text = text.strip()
        if not text:
            return self
        return self.filter(
            Q(reference__iexact=text)
            | Q(reference__icontains=text)
            | Q(borrower__name__icontains=text)
            | Q(borrower__id_number__iexact=text.upper())
            | Q(borrower__mobile__contains=text)
        )


@pghistory.track()
class Loan(models.Model):
    """A disbursed loan."""

    reference = models.CharField(_("reference"), max_length=40, unique=True)
    borrower = models.ForeignKey(
        "borrowers.Borrower",
        verbose_name=_("borrower"),
        on_delete=models.PROTECT,
        related_name="loans",
    )
    product = models.ForeignKey(
        LoanProduct, verbose_name=_("product"), on_delete=models.PROTECT, related_name="loans"
    )
    branch = models.ForeignKey(
        Branch, verbose_name=_("branch"), on_delete=models.PROTECT, related_name="loans"
    )
    group = models.ForeignKey(
        "borrowers.JointGroup",
        verbose_name=_("joint group"),
        on_delete=models.PROTECT,
        related_name="loans",
        null=True,
        blank=True,
    )
    principal = models.DecimalField(_("principal"), max_digits=14, decimal_places=2)
    annual_rate = models.DecimalField(_("annual rate (%)"), max_digits=6, decimal_places=3)
    term_months = models.PositiveSmallIntegerField(_("term (months)"))
    repayment_method = models.CharField(
        _("repayment method"), max_length=20, choices=RepaymentMethod.choices
    )
    disbursed_on = models.DateField(_("disbursed on"))
    first_due_on = models.DateField(_("first due date"))
    maturity_on = models.DateField(_("maturity"))
    grace_days = models.PositiveSmallIntegerField(_("grace days"), default=0)
    purpose = models.CharField(_("declared purpose"), max_length=255, blank=True)
    schedule_source = models.CharField(
        _("schedule"), max_length=10, choices=ScheduleSource.choices, default="generated"
    )
    status = models.CharField(
        _("status"), max_length=12, choices=LoanStatus.choices, default="active"
    )
    closed_on = models.DateField(_("closed on"), null=True, blank=True)
    originating_officer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("originating officer"),
        on_delete=models.PROTECT,
        related_name="originated_loans",
    )
    managing_officer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("managing officer"),
        on_delete=models.PROTECT,
        related_name="managed_loans",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    version = models.PositiveIntegerField(default=1, editable=False)

    objects = LoanQuerySet.as_manager()

    class Meta:
        ordering = ["-disbursed_on", "-id"]
        verbose_name = _("loan")
        verbose_name_plural = _("loans")
        constraints = [
            models.CheckConstraint(name="loan_principal_positive", condition=Q(principal__gt=0)),
            models.CheckConstraint(name="loan_rate_not_negative", condition=Q(annual_rate__gte=0)),
            models.CheckConstraint(name="loan_term_positive", condition=Q(term_months__gte=1)),
            models.CheckConstraint(
                name="loan_first_due_after_disbursement",
                condition=Q(first_due_on__gt=F("disbursed_on")),
            ),
            models.CheckConstraint(
                name="loan_closed_when_not_active",
                condition=Q(status="active", closed_on__isnull=True)
                | (~Q(status="active") & Q(closed_on__isnull=False)),
            ),
        ]
        indexes = [
            models.Index(fields=["managing_officer", "status"]),
            models.Index(fields=["originating_officer", "status"]),
            models.Index(fields=["status", "id"]),
        ]

    def __str__(self) -> str:
        return self.reference

    def get_absolute_url(self) -> str:
        return reverse("loans:detail", args=[self.pk])

    @property
    def is_active(self) -> bool:
        return self.status == LoanStatus.ACTIVE


@pghistory.track()
class LoanStatusChange(models.Model):
    """Every move of a loan's status (active → settled / written off), with who and why."""

    loan = models.ForeignKey(Loan, on_delete=models.CASCADE, related_name="status_changes")
    from_status = models.CharField(_("from"), max_length=12, choices=LoanStatus.choices)
    to_status = models.CharField(_("to"), max_length=12, choices=LoanStatus.choices)
    effective_on = models.DateField(_("effective"))
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("by"),
        on_delete=models.PROTECT,
        related_name="+",
        null=True,
        blank=True,
    )
    reason = models.CharField(_("reason"), max_length=255)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["effective_on", "id"]
        verbose_name = _("loan status change")
        verbose_name_plural = _("loan status changes")

    def __str__(self) -> str:
        return f"{self.loan_id}: {self.from_status} → {self.to_status}"


class Instalment(models.Model):
    """One period of the repayment schedule.

    The paid amounts are a cache of the allocation rows (recomputed whenever a repayment
    is posted or reversed), kept so that lists and the nightly run need no aggregation.
    """

    # Looked up through the unique (loan, seq) key: no index of its own, which every one of
    # the millions of instalment rows an import or a generated book writes would pay for.
    loan = models.ForeignKey(
        Loan, on_delete=models.CASCADE, related_name="instalments", db_index=False
    )
    seq = models.PositiveSmallIntegerField(_("period"))
    due_on = models.DateField(_("due on"))
    principal_due = models.DecimalField(_("principal due"), max_digits=14, decimal_places=2)
    interest_due = models.DecimalField(_("interest due"), max_digits=14, decimal_places=2)
    principal_paid = models.DecimalField(
        _("principal paid"), max_digits=14, decimal_places=2, default=Decimal("0")
    )
    interest_paid = models.DecimalField(
        _("interest paid"), max_digits=14, decimal_places=2, default=Decimal("0")
    )

    class Meta:
        ordering = ["loan_id", "seq"]
        verbose_name = _("instalment")
        verbose_name_plural = _("instalments")
        constraints = [
            models.UniqueConstraint(fields=["loan", "seq"], name="instalment_unique_seq"),
            models.CheckConstraint(
                name="instalment_amounts_valid",
                condition=Q(principal_due__gte=0)
                & Q(interest_due__gte=0)
                & Q(principal_paid__gte=0)
                & Q(interest_paid__gte=0)
                & Q(principal_paid__lte=F("principal_due"))
                & Q(interest_paid__lte=F("interest_due")),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.loan_id}#{self.seq} {self.due_on}"

    @property
    def amount_due(self) -> Decimal:
        return self.principal_due + self.interest_due

    @property
    def amount_paid(self) -> Decimal:
        return self.principal_paid + self.interest_paid

    @property
    def outstanding(self) -> Decimal:
        return self.amount_due - self.amount_paid


class Channel(models.TextChoices):
    BANK_TRANSFER = "bank_transfer", _("Bank transfer")
    AUTO_DEBIT = "auto_debit", _("Automatic debit")
    CASH = "cash", _("Cash at a branch")
    WECHAT = "wechat", _("WeChat Pay")
    ALIPAY = "alipay", _("Alipay")
    GUARANTOR = "guarantor", _("Paid by a guarantor")
    ENFORCEMENT = "enforcement", _("Enforcement of security")


@pghistory.track()
class Repayment(models.Model):
    """Money received on a loan. A mistaken one is reversed, never deleted."""

    # Looked up through the (loan, paid_on) and (loan, reference) indexes.
    loan = models.ForeignKey(
        Loan, on_delete=models.PROTECT, related_name="repayments", db_index=False
    )
    paid_on = models.DateField(_("paid on"))
    amount = models.DecimalField(_("amount"), max_digits=14, decimal_places=2)
    channel = models.CharField(_("channel"), max_length=16, choices=Channel.choices)
    reference = models.CharField(
        _("payment reference"),
        max_length=60,
        help_text=_("The bank's or payment channel's reference; unique per loan."),
    )
    note = models.CharField(_("note"), max_length=255, blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("recorded by"),
        on_delete=models.PROTECT,
        related_name="+",
        null=True,
        blank=True,
        db_index=False,  # indexed where set, below
    )
    recorded_at = models.DateTimeField(_("recorded"), auto_now_add=True)
    reversed_at = models.DateTimeField(_("reversed"), null=True, blank=True)
    reversed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("reversed by"),
        on_delete=models.PROTECT,
        related_name="+",
        null=True,
        blank=True,
        db_index=False,  # indexed where set, below
    )
    reversal_reason = models.CharField(_("why reversed"), max_length=255, blank=True)

    class Meta:
        ordering = ["paid_on", "id"]
        verbose_name = _("repayment")
        verbose_name_plural = _("repayments")
        constraints = [
            models.UniqueConstraint(
                fields=["loan", "reference"], name="repayment_reference_unique_per_loan"
            ),
            models.CheckConstraint(name="repayment_amount_positive", condition=Q(amount__gt=0)),
            models.CheckConstraint(
                name="repayment_reversal_complete",
                condition=Q(reversed_at__isnull=True, reversal_reason="")
                | (Q(reversed_at__isnull=False) & ~Q(reversal_reason="")),
            ),
        ]
        indexes = [
            models.Index(fields=["loan", "paid_on"]),
            # What was paid by a past date is read back from the payments made since.
            models.Index(fields=["paid_on"], name="repayment_paid_on"),
            # A user's deletion is checked against these; imported payments have no
            # recorder, and few payments are reversed.
            models.Index(
                fields=["recorded_by"],
                condition=Q(recorded_by__isnull=False),
                name="repayment_recorded_by",
            ),
            models.Index(
                fields=["reversed_by"],
                condition=Q(reversed_by__isnull=False),
                name="repayment_reversed_by",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.loan_id} {self.paid_on} {self.amount}"

    @property
    def is_reversed(self) -> bool:
        return self.reversed_at is not None


class Allocation(models.Model):
    """How much of a repayment went to an instalment's interest and principal.

    Derived from the repayments (oldest instalment first, interest then principal) and
    rebuilt for the loan whenever a repayment is posted or reversed.
    """

    # Looked up through the unique (repayment, instalment) key.
    repayment = models.ForeignKey(
        Repayment, on_delete=models.CASCADE, related_name="allocations", db_index=False
    )
    instalment = models.ForeignKey(Instalment, on_delete=models.CASCADE, related_name="allocations")
    interest = models.DecimalField(_("interest"), max_digits=14, decimal_places=2)
    principal = models.DecimalField(_("principal"), max_digits=14, decimal_places=2)

    class Meta:
        ordering = ["repayment_id", "instalment_id"]
        verbose_name = _("allocation")
        verbose_name_plural = _("allocations")
        constraints = [
            models.UniqueConstraint(
                fields=["repayment", "instalment"], name="allocation_unique_pair"
            ),
            models.CheckConstraint(
                name="allocation_amounts_valid",
                condition=Q(interest__gte=0) & Q(principal__gte=0),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.repayment_id} → {self.instalment_id}"


class Custody(models.TextChoices):
    COMPANY = "company", _("Held by the company")
    OWNER = "owner", _("Kept by the owner")
    REGISTRY = "registry", _("Registered with the authority")
    THIRD_PARTY = "third_party", _("Held by a third party")


class CollateralStatus(models.TextChoices):
    HELD = "held", _("Held")
    RELEASED = "released", _("Released")
    ENFORCED = "enforced", _("Enforced")


@pghistory.track()
class Collateral(models.Model):
    """A mortgage or pledge securing a loan (抵押 / 质押物)."""

    loan = models.ForeignKey(Loan, on_delete=models.PROTECT, related_name="collateral")
    kind = models.CharField(_("kind"), max_length=20, choices=CollateralKind.choices)
    description = models.CharField(_("description"), max_length=255)
    owner_is_borrower = models.BooleanField(_("owned by the borrower"), default=True)
    owner_name = models.CharField(
        _("owner"), max_length=120, blank=True, help_text=_("When a third party owns it.")
    )
    custody = models.CharField(
        _("custody"), max_length=16, choices=Custody.choices, default="registry"
    )
    location = models.CharField(_("location"), max_length=255, blank=True)
    status = models.CharField(
        _("status"), max_length=10, choices=CollateralStatus.choices, default="held"
    )
    # Off-plan property (期房): construction and registration (Art. 1 (6), Art. 5 (12)).
    developer = models.CharField(_("developer"), max_length=120, blank=True)
    expected_completion_on = models.DateField(_("expected completion"), null=True, blank=True)
    completed_on = models.DateField(_("completed on"), null=True, blank=True)
    pre_registration_on = models.DateField(_("mortgage pre-registration"), null=True, blank=True)
    registration_due_on = models.DateField(
        _("formal registration expected by"), null=True, blank=True
    )
    registration_on = models.DateField(_("formal registration"), null=True, blank=True)
    title_certificate_number = models.CharField(
        _("title certificate number"), max_length=60, blank=True
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["loan_id", "id"]
        verbose_name = _("collateral")
        verbose_name_plural = _("collateral")
        constraints = [
            models.CheckConstraint(
                name="collateral_third_party_named",
                condition=Q(owner_is_borrower=True) | ~Q(owner_name=""),
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.description}"


class ValuationMethod(models.TextChoices):
    APPRAISAL = "appraisal", _("Professional appraisal")
    MARKET = "market", _("Market comparison")
    PURCHASE = "purchase", _("Purchase price")
    BOOK = "book", _("Book value")
    OFFICER = "officer", _("Officer's estimate")


@pghistory.track()
class Valuation(models.Model):
    collateral = models.ForeignKey(Collateral, on_delete=models.CASCADE, related_name="valuations")
    valued_on = models.DateField(_("valued on"))
    value = models.DecimalField(_("value"), max_digits=14, decimal_places=2)
    method = models.CharField(_("method"), max_length=12, choices=ValuationMethod.choices)
    valued_by = models.CharField(_("valued by"), max_length=120, blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("recorded by"),
        on_delete=models.PROTECT,
        related_name="+",
        null=True,
        blank=True,
    )
    note = models.CharField(_("note"), max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-valued_on", "-id"]
        get_latest_by = ["valued_on", "id"]
        verbose_name = _("valuation")
        verbose_name_plural = _("valuations")
        constraints = [
            models.CheckConstraint(name="valuation_not_negative", condition=Q(value__gte=0))
        ]

    def __str__(self) -> str:
        return f"{self.collateral_id} {self.valued_on} {self.value}"


@pghistory.track()
class OfficerAssignment(models.Model):
    """A change of a loan's managing officer: from, to, when, by whom, why."""

    loan = models.ForeignKey(Loan, on_delete=models.CASCADE, related_name="assignments")
    from_officer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("from"),
        on_delete=models.PROTECT,
        related_name="+",
        null=True,
        blank=True,
    )
    to_officer = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("to"), on_delete=models.PROTECT, related_name="+"
    )
    effective_on = models.DateField(_("effective"))
    assigned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("by"),
        on_delete=models.PROTECT,
        related_name="+",
        null=True,
        blank=True,
    )
    reason = models.CharField(_("reason"), max_length=255)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["effective_on", "id"]
        verbose_name = _("officer assignment")
        verbose_name_plural = _("officer assignments")

    def __str__(self) -> str:
        return f"{self.loan_id}: {self.from_officer_id} → {self.to_officer_id}"


class ContactMethod(models.TextChoices):
    PHONE = "phone", _("Phone call")
    VISIT = "visit", _("Visit")
    OFFICE = "office", _("Meeting at the office")
    WECHAT = "wechat", _("WeChat")
    SMS = "sms", _("Text message")


@pghistory.track()
class Handover(models.Model):
    """The loan file passed from the originating to the managing officer (Art. 3).

    The managing officer must reach the borrower within 5 working days of disbursement
    and record a fixed contact method.
    """

    loan = models.OneToOneField(Loan, on_delete=models.CASCADE, related_name="handover")
    from_officer = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("from"), on_delete=models.PROTECT, related_name="+"
    )
    to_officer = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("to"), on_delete=models.PROTECT, related_name="+"
    )
    due_on = models.DateField(_("first contact due"))
    due_is_provisional = models.BooleanField(
        _("due date provisional"),
        default=False,
        help_text=_("The holiday calendar for that year was not loaded: Monday–Friday assumed."),
    )
    contacted_on = models.DateField(_("first contact"), null=True, blank=True)
    contact_method = models.CharField(
        _("contact method"), max_length=10, choices=ContactMethod.choices, blank=True
    )
    fixed_contact = models.CharField(
        _("agreed fixed contact"),
        max_length=120,
        blank=True,
        help_text=_("The phone number or account the borrower agreed to be reached at."),
    )
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("recorded by"),
        on_delete=models.PROTECT,
        related_name="+",
        null=True,
        blank=True,
    )
    note = models.CharField(_("note"), max_length=255, blank=True)

    class Meta:
        verbose_name = _("handover")
        verbose_name_plural = _("handovers")
        constraints = [
            models.CheckConstraint(
                name="handover_contact_complete",
                condition=Q(contacted_on__isnull=True)
                | (~Q(contact_method="") & ~Q(fixed_contact="")),
            )
        ]
        indexes = [models.Index(fields=["to_officer", "contacted_on", "due_on"])]

    def __str__(self) -> str:
        return f"{self.loan} {self.due_on}"

    @property
    def is_done(self) -> bool:
        return self.contacted_on is not None

    def is_late(self, today) -> bool:
        if self.contacted_on:
            return self.contacted_on > self.due_on
        return today > self.due_on

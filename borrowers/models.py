"""Borrowers, guarantors, guarantees and joint-guarantee groups (docs/domain.md §2).

Writes go through borrowers/services.py; these models hold data, constraints and
values derived from one row's own fields.
"""

from __future__ import annotations

from datetime import date

import pghistory
from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from borrowers.capacity import RATINGS
from common import idnumbers


class PartyKind(models.TextChoices):
    PERSON = "person", _("Person")
    ENTERPRISE = "enterprise", _("Enterprise")


class Health(models.TextChoices):
    GOOD = "good", _("Good")
    ILL = "ill", _("Ill or injured")
    UNABLE_TO_WORK = "unable_to_work", _("Lost the ability to work")


class LegalStatus(models.TextChoices):
    NORMAL = "normal", _("Normal")
    DECEASED = "deceased", _("Deceased")
    MISSING = "missing", _("Declared missing")
    INCAPACITATED = "incapacitated", _("Lost legal capacity")


class BorrowerQuerySet(models.QuerySet):
    def search(self, text: str) -> BorrowerQuerySet:
        text = text.strip()
        if not text:
            return self
        return self.filter(
            Q(name__icontains=text)
            | Q(id_number__iexact=text.upper())
            | Q(credit_code__iexact=text.upper())
            | Q(mobile__contains=text.replace(" ", ""))
            | Q(reference__iexact=text)
        )


@pghistory.track()
class Borrower(models.Model):
    """A borrower (借款人): a natural person or an enterprise."""

    reference = models.CharField(
        _("reference"),
        max_length=40,
        unique=True,
        help_text=_("The customer number, e.g. from the system the book was migrated from."),
    )
    kind = models.CharField(_("kind"), max_length=12, choices=PartyKind.choices)
    name = models.CharField(_("name"), max_length=120)
    id_number = models.CharField(
        _("resident ID number"), max_length=18, unique=True, null=True, blank=True
    )
    credit_code = models.CharField(
        _("unified social credit code"), max_length=18, unique=True, null=True, blank=True
    )
    mobile = models.CharField(_("mobile"), max_length=11, blank=True)
    address = models.CharField(_("address"), max_length=255, blank=True)
    # Persons
    occupation = models.CharField(_("occupation or business"), max_length=120, blank=True)
    business_address = models.CharField(_("business address"), max_length=255, blank=True)
    employer = models.CharField(_("employer"), max_length=120, blank=True)
    monthly_income = models.DecimalField(
        _("monthly income"), max_digits=14, decimal_places=2, null=True, blank=True
    )
    assets = models.DecimalField(
        _("assets"), max_digits=16, decimal_places=2, null=True, blank=True
    )
    bank_credit = models.DecimalField(
        _("existing bank credit"),
        max_digits=16,
        decimal_places=2,
        null=True,
        blank=True,
        help_text=_("Outstanding credit from banks and other lenders."),
    )
    health = models.CharField(_("health"), max_length=16, choices=Health.choices, default="good")
    legal_status = models.CharField(
        _("legal status"), max_length=16, choices=LegalStatus.choices, default="normal"
    )
    # Enterprises
    legal_representative = models.CharField(_("legal representative"), max_length=120, blank=True)
    business_scope = models.TextField(_("business scope"), blank=True)

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        on_delete=models.PROTECT,
        related_name="+",
        null=True,
        blank=True,
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)
    # Optimistic locking: an edit based on an old version is refused, not silently merged.
    version = models.PositiveIntegerField(default=1, editable=False)

    objects = BorrowerQuerySet.as_manager()

    class Meta:
        ordering = ["name", "id"]
        verbose_name = _("borrower")
        verbose_name_plural = _("borrowers")
        constraints = [
            models.CheckConstraint(
                name="borrower_identity_matches_kind",
                condition=(
                    Q(kind="person", id_number__isnull=False, credit_code__isnull=True)
                    | Q(kind="enterprise", credit_code__isnull=False, id_number__isnull=True)
                ),
            ),
        ]
        indexes = [models.Index(fields=["mobile"])]

    def __str__(self) -> str:
        return f"{self.name} ({self.reference})"

    def get_absolute_url(self) -> str:
        return reverse("borrowers:detail", args=[self.pk])

    @property
    def is_person(self) -> bool:
        return self.kind == PartyKind.PERSON

    @property
    def identity_number(self) -> str:
        return self.id_number or self.credit_code or ""

    @property
    def birth_date(self) -> date | None:
        return idnumbers.resident_id_birth_date(self.id_number) if self.id_number else None

    @property
    def gender(self) -> str:
        return idnumbers.resident_id_gender(self.id_number) if self.id_number else ""

    @property
    def gender_label(self) -> str:
        return {"male": _("Male"), "female": _("Female")}.get(self.gender, "")


class Fact(models.TextChoices):
    """Facts about a borrower that change and matter for risk: kept as a timeline."""

    EMPLOYER = "employer", _("employer")
    MONTHLY_INCOME = "monthly_income", _("monthly income")
    ADDRESS = "address", _("address")
    BUSINESS_ADDRESS = "business_address", _("business address")
    MOBILE = "mobile", _("mobile")
    HEALTH = "health", _("health")
    LEGAL_STATUS = "legal_status", _("legal status")
    OCCUPATION = "occupation", _("occupation or business")


# Facts whose frequent change means the loan cannot be followed (risk factor 10).
CONTACT_FACTS = (Fact.ADDRESS, Fact.MOBILE, Fact.BUSINESS_ADDRESS)


@pghistory.track()
class BorrowerFactChange(models.Model):
    """One change of a risk-relevant fact: who recorded what, when, from what to what."""

    borrower = models.ForeignKey(Borrower, on_delete=models.CASCADE, related_name="fact_changes")
    fact = models.CharField(_("fact"), max_length=20, choices=Fact.choices)
    old_value = models.CharField(_("from"), max_length=255, blank=True)
    new_value = models.CharField(_("to"), max_length=255, blank=True)
    effective_on = models.DateField(_("effective"))
    recorded_at = models.DateTimeField(_("recorded"), auto_now_add=True)
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
        ordering = ["-effective_on", "-id"]
        verbose_name = _("fact change")
        verbose_name_plural = _("fact changes")
        indexes = [models.Index(fields=["borrower", "fact", "effective_on"])]

    def __str__(self) -> str:
        return f"{self.borrower_id} {self.fact}: {self.old_value} → {self.new_value}"


class CreditStanding(models.IntegerChoices):
    """Ordered: a higher number is a worse standing."""

    GOOD = 1, _("Good")
    FAIR = 2, _("Fair")
    POOR = 3, _("Poor")
    DEFAULTED = 4, _("In default elsewhere")


class EnterpriseStatus(models.TextChoices):
    NORMAL = "normal", _("Normal")
    MERGED = "merged", _("Merged")
    RESTRUCTURING = "restructuring", _("Restructuring")
    BANKRUPT = "bankrupt", _("Bankrupt")


@pghistory.track()
class Guarantor(models.Model):
    """A guarantor (担保人 / 保证人): a person or an enterprise; may be one of our borrowers."""

    reference = models.CharField(_("reference"), max_length=40, unique=True)
    kind = models.CharField(_("kind"), max_length=12, choices=PartyKind.choices)
    borrower = models.OneToOneField(
        Borrower,
        verbose_name=_("as borrower"),
        on_delete=models.PROTECT,
        related_name="guarantor",
        null=True,
        blank=True,
        help_text=_("Set when the guarantor is also one of our borrowers."),
    )
    name = models.CharField(_("name"), max_length=120)
    id_number = models.CharField(
        _("resident ID number"), max_length=18, unique=True, null=True, blank=True
    )
    credit_code = models.CharField(
        _("unified social credit code"), max_length=18, unique=True, null=True, blank=True
    )
    mobile = models.CharField(_("mobile"), max_length=11, blank=True)
    address = models.CharField(_("address"), max_length=255, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        on_delete=models.PROTECT,
        related_name="+",
        null=True,
        blank=True,
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        ordering = ["name", "id"]
        verbose_name = _("guarantor")
        verbose_name_plural = _("guarantors")
        constraints = [
            models.CheckConstraint(
                name="guarantor_identity_matches_kind",
                condition=(
                    Q(kind="person", credit_code__isnull=True)
                    | Q(kind="enterprise", id_number__isnull=True)
                ),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.reference})"

    def get_absolute_url(self) -> str:
        return reverse("borrowers:guarantor_detail", args=[self.pk])

    @property
    def identity_number(self) -> str:
        return self.id_number or self.credit_code or ""


@pghistory.track()
class GuarantorAssessment(models.Model):
    """A dated re-assessment of a guarantor's capacity (Art. 1 (4), Art. 5 (13))."""

    guarantor = models.ForeignKey(Guarantor, on_delete=models.CASCADE, related_name="assessments")
    assessed_on = models.DateField(_("assessed on"))
    monthly_income = models.DecimalField(
        _("monthly income"), max_digits=14, decimal_places=2, null=True, blank=True
    )
    net_assets = models.DecimalField(
        _("net assets"), max_digits=16, decimal_places=2, null=True, blank=True
    )
    credit_standing = models.PositiveSmallIntegerField(
        _("credit standing"), choices=CreditStanding.choices, default=CreditStanding.GOOD
    )
    rating = models.CharField(
        _("rating"), max_length=3, blank=True, choices=[(r, r) for r in RATINGS]
    )
    enterprise_status = models.CharField(
        _("enterprise status"),
        max_length=16,
        choices=EnterpriseStatus.choices,
        blank=True,
    )
    capacity_lowered = models.BooleanField(
        _("capacity lowered"),
        default=False,
        help_text=_("Set when this assessment is worse than the previous one (risk factor 13)."),
    )
    lowered_because = models.CharField(_("why lower"), max_length=255, blank=True)
    assessed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("assessed by"),
        on_delete=models.PROTECT,
        related_name="+",
        null=True,
        blank=True,
    )
    note = models.TextField(_("note"), blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-assessed_on", "-id"]
        get_latest_by = ["assessed_on", "id"]
        verbose_name = _("guarantor assessment")
        verbose_name_plural = _("guarantor assessments")

    def __str__(self) -> str:
        return f"{self.guarantor_id} {self.assessed_on}"


class GuaranteeKind(models.TextChoices):
    ORDINARY = "ordinary", _("Ordinary guarantee")
    JOINT_GROUP = "joint_group", _("Joint-group cross-guarantee")


class GuaranteeStatus(models.TextChoices):
    ACTIVE = "active", _("Active")
    RELEASED = "released", _("Released")
    CALLED = "called", _("Called")


@pghistory.track()
class Guarantee(models.Model):
    """A guarantor guaranteeing one loan."""

    loan = models.ForeignKey("loans.Loan", on_delete=models.PROTECT, related_name="guarantees")
    guarantor = models.ForeignKey(Guarantor, on_delete=models.PROTECT, related_name="guarantees")
    kind = models.CharField(_("kind"), max_length=12, choices=GuaranteeKind.choices)
    group = models.ForeignKey(
        "borrowers.JointGroup",
        verbose_name=_("joint group"),
        on_delete=models.PROTECT,
        related_name="guarantees",
        null=True,
        blank=True,
    )
    amount = models.DecimalField(
        _("amount guaranteed"),
        max_digits=14,
        decimal_places=2,
        null=True,
        blank=True,
        help_text=_("Leave empty for the whole debt (principal, interest and costs)."),
    )
    signed_on = models.DateField(_("signed on"))
    status = models.CharField(
        _("status"), max_length=10, choices=GuaranteeStatus.choices, default="active"
    )
    released_on = models.DateField(_("released on"), null=True, blank=True)
    called_on = models.DateField(_("called on"), null=True, blank=True)
    status_note = models.CharField(_("note"), max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["loan_id", "id"]
        verbose_name = _("guarantee")
        verbose_name_plural = _("guarantees")
        constraints = [
            models.UniqueConstraint(
                fields=["loan", "guarantor"],
                condition=Q(status="active"),
                name="one_active_guarantee_per_loan_and_guarantor",
            ),
            models.CheckConstraint(
                name="guarantee_status_dates",
                condition=(
                    Q(status="active", released_on__isnull=True, called_on__isnull=True)
                    | Q(status="released", released_on__isnull=False)
                    | Q(status="called", called_on__isnull=False)
                ),
            ),
            models.CheckConstraint(
                name="guarantee_amount_positive",
                condition=Q(amount__isnull=True) | Q(amount__gt=0),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.guarantor} → {self.loan_id}"


class GroupStatus(models.TextChoices):
    ACTIVE = "active", _("Active")
    DISSOLVED = "dissolved", _("Dissolved")


@pghistory.track()
class JointGroup(models.Model):
    """A joint-guarantee group (联保小组): every member borrows and guarantees the others."""

    name = models.CharField(_("name"), max_length=120)
    reference = models.CharField(_("reference"), max_length=40, unique=True)
    product = models.ForeignKey(
        "loans.LoanProduct",
        verbose_name=_("product"),
        on_delete=models.PROTECT,
        related_name="groups",
        help_text=_("The product whose rules (minimum size, limits) the group follows."),
    )
    lead = models.ForeignKey(
        Borrower, verbose_name=_("lead member"), on_delete=models.PROTECT, related_name="+"
    )
    status = models.CharField(
        _("status"), max_length=10, choices=GroupStatus.choices, default="active"
    )
    formed_on = models.DateField(_("formed on"))
    dissolved_on = models.DateField(_("dissolved on"), null=True, blank=True)
    dissolved_reason = models.CharField(_("why dissolved"), max_length=255, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        on_delete=models.PROTECT,
        related_name="+",
        null=True,
        blank=True,
    )
    version = models.PositiveIntegerField(default=1, editable=False)

    class Meta:
        ordering = ["name", "id"]
        verbose_name = _("joint-guarantee group")
        verbose_name_plural = _("joint-guarantee groups")
        constraints = [
            models.CheckConstraint(
                name="group_dissolution_dated",
                condition=Q(status="active", dissolved_on__isnull=True)
                | Q(status="dissolved", dissolved_on__isnull=False),
            )
        ]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("borrowers:group_detail", args=[self.pk])

    @property
    def is_active(self) -> bool:
        return self.status == GroupStatus.ACTIVE


@pghistory.track()
class GroupMembership(models.Model):
    group = models.ForeignKey(JointGroup, on_delete=models.CASCADE, related_name="memberships")
    borrower = models.ForeignKey(
        Borrower, on_delete=models.PROTECT, related_name="group_memberships"
    )
    joined_on = models.DateField(_("joined on"))
    left_on = models.DateField(_("left on"), null=True, blank=True)
    leave_reason = models.CharField(_("why left"), max_length=255, blank=True)

    class Meta:
        ordering = ["joined_on", "id"]
        verbose_name = _("group membership")
        verbose_name_plural = _("group memberships")
        constraints = [
            # A person is in at most one active group (docs/domain.md §2).
            models.UniqueConstraint(
                fields=["borrower"],
                condition=Q(left_on__isnull=True),
                name="one_active_group_per_borrower",
            ),
            models.CheckConstraint(
                name="membership_left_after_joined",
                condition=Q(left_on__isnull=True) | Q(left_on__gte=models.F("joined_on")),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.borrower} in {self.group}"

    @property
    def is_current(self) -> bool:
        return self.left_on is None


class MaintenanceKind(models.TextChoices):
    OPINION = "opinion", _("Opinions collected")
    INFORMATION = "information", _("Policy or market information given")
    PRODUCT = "product", _("Product recommended")
    ADVICE = "advice", _("Advice on cash planning")


@pghistory.track()
class MaintenanceLog(models.Model):
    """Customer maintenance (客户维护, Sec. 6): what the officer did to keep the customer."""

    borrower = models.ForeignKey(Borrower, on_delete=models.CASCADE, related_name="maintenance")
    happened_on = models.DateField(_("date"))
    kind = models.CharField(_("kind"), max_length=12, choices=MaintenanceKind.choices)
    notes = models.TextField(_("notes"))
    officer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("officer"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-happened_on", "-id"]
        verbose_name = _("customer maintenance")
        verbose_name_plural = _("customer maintenance log")

    def __str__(self) -> str:
        return f"{self.borrower_id} {self.happened_on} {self.kind}"

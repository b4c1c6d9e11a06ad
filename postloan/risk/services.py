"""Writes for classification: qualitative adjustments (maker-checker), risk flags,
provision rates. Each service is one transaction and validates before it writes."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from decimal import Decimal

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from borrowers.models import Borrower, Guarantor, LegalStatus
from common import roles
from common.notifications import notify
from common.transitions import decide, transition, withdraw
from loans.models import Loan
from loans.selectors import loans_actionable_by
from loans.signals import loans_changed
from postloan.models import (
    Basis,
    FlagSource,
    LoanRiskState,
    LossEvidence,
    ProvisionRate,
    Reclassification,
    RiskFlag,
    TierAdjustment,
)
from postloan.risk import factors
from postloan.risk.rules import Adjustment, Tier, adjustment_lapses, provision
from postloan.transitions import ADJUSTMENT_APPROVAL, ADJUSTMENT_TRANSITIONS


def _can_propose(user, loan: Loan) -> bool:
    if roles.manages_risk(user):
        return True
    return roles.is_loan_officer(user) and loans_actionable_by(user).filter(pk=loan.pk).exists()


def _loss_evidence_problems(loan: Loan, evidence: str) -> list:
    if not evidence:
        return [_("Proposing loss needs its evidence: enforcement done, or death / missing.")]
    if evidence == LossEvidence.DEATH_OR_MISSING and loan.borrower.legal_status not in (
        LegalStatus.DECEASED,
        LegalStatus.MISSING,
    ):
        return [
            _("The borrower's record does not say deceased or declared missing; update it first.")
        ]
    if evidence == LossEvidence.ENFORCEMENT:
        secured = loan.guarantees.exists() or loan.collateral.exists()
        enforced = (
            loan.guarantees.filter(status="called").exists()
            or loan.collateral.filter(status="enforced").exists()
        )
        if secured and not enforced:
            return [
                _(
                    "No guarantee has been called and no collateral enforced on this loan: "
                    "enforce the security before proposing loss."
                )
            ]
    return []


@transaction.atomic
def adjustment_propose(
    *,
    loan: Loan,
    tier: str,
    reason: str,
    by,
    factor_numbers: Iterable[int] = (),
    loss_evidence: str = "",
    source: str = "",
) -> TierAdjustment:
    """Propose a tier other than the quantitative one, with a written reason (Art. 7)."""
    if not _can_propose(by, loan):
        raise PermissionDenied
    state = LoanRiskState.objects.select_for_update().get(loan=loan)
    # Judge on the rows as they are now, not on the caller's copy: the borrower's legal
    # status (loss evidence) or the loan's status may have changed since it was loaded.
    loan = Loan.objects.select_related("borrower").get(pk=loan.pk)
    errors: dict[str, list] = {}
    if tier not in {t.value for t in Tier}:
        errors["tier"] = [_("Choose a tier.")]
    elif tier == state.quantitative_tier:
        errors["tier"] = [
            _("This is the quantitative tier already; an adjustment proposes another one.")
        ]
    elif tier == state.tier:
        errors["tier"] = [_("The loan is in this tier already.")]
    if not (reason or "").strip():
        errors["reason"] = [_("Write down the reason for the adjustment.")]
    numbers = sorted({int(n) for n in factor_numbers})
    if any(n not in factors.FACTORS for n in numbers):
        errors["factors"] = [_("Unknown risk factor.")]
    if tier == Tier.LOSS:
        problems = _loss_evidence_problems(loan, loss_evidence)
        if problems:
            errors["loss_evidence"] = problems
    if TierAdjustment.objects.filter(loan=loan, status=TierAdjustment.Status.PENDING).exists():
        errors["__all__"] = [_("A proposal for this loan is already waiting for approval.")]
    if loan.status != "active":
        errors["__all__"] = [_("Only active loans are classified.")]
    if errors:
        raise ValidationError(errors)
    return TierAdjustment.objects.create(
        loan=loan,
        proposed_tier=tier,
        quantitative_tier=state.quantitative_tier,
        consecutive_missed=state.consecutive_missed,
        reason=reason.strip(),
        factors=numbers,
        loss_evidence=loss_evidence if tier == Tier.LOSS else "",
        proposed_by=by,
        source=source,
    )


def _rates() -> dict[str, Decimal]:
    return ProvisionRate.as_dict()


def _still_applies(adjustment: TierAdjustment, by) -> None:
    """Refuse an approval judged on a count that has moved since the proposal; the
    adjustment in force gives way to the one approved (one in force per loan)."""
    state = LoanRiskState.objects.select_for_update().get(loan_id=adjustment.loan_id)
    proposed, judged_on = Tier(adjustment.proposed_tier), Tier(adjustment.quantitative_tier)
    now = Tier(state.quantitative_tier)
    if adjustment_lapses(Adjustment(proposed, judged_on), now):
        raise ValidationError(
            _(
                "The missed periods have grown since the proposal (now %(tier)s): the "
                "proposal no longer applies. Reject it and propose again."
            )
            % {"tier": now.label}
        )
    # The adjustment lapses once the count is worse than it and than the count it was
    # approved against; the batch reads that count from the proposal. When the count has
    # moved since, in a way that would change where the adjustment lapses (an upgrade
    # whose count has improved), the checker would approve on another count than the one
    # recorded: the proposal is made again on today's count instead.
    if max(proposed.rank, judged_on.rank) != max(proposed.rank, now.rank):
        raise ValidationError(
            _(
                "The quantitative tier has changed since the proposal (now %(tier)s): it "
                "was judged on another count. Reject it and propose again."
            )
            % {"tier": now.label}
        )
    in_force = TierAdjustment.objects.filter(
        loan_id=adjustment.loan_id, status=TierAdjustment.Status.APPROVED
    )
    for superseded in in_force:  # at most one (a unique constraint)
        transition(
            superseded,
            TierAdjustment.Status.SUPERSEDED,
            by=by,
            table=ADJUSTMENT_TRANSITIONS,
        )


@transaction.atomic
def adjustment_decide(
    *, adjustment: TierAdjustment, approve: bool, comment: str, by
) -> TierAdjustment:
    """A risk manager who is not the proposer approves or rejects (maker-checker)."""
    adjustment = decide(
        adjustment,
        approve=approve,
        comment=comment,
        by=by,
        rule=ADJUSTMENT_APPROVAL,
        before_approval=_still_applies,
    )
    loan = adjustment.loan
    if not approve:
        notify(
            [adjustment.proposed_by],
            "adjustment_rejected",
            url=loan.get_absolute_url(),
            loan=loan.reference,
            comment=adjustment.decision_comment,
        )
        return adjustment

    state = LoanRiskState.objects.select_for_update().get(loan=loan)
    old_tier = state.tier
    state.adjustment = adjustment
    state.tier = adjustment.proposed_tier
    state.provision = provision(state.outstanding_principal, _rates()[state.tier])
    state.save(update_fields=["adjustment", "tier", "provision", "updated_at"])
    if old_tier != state.tier:
        Reclassification.objects.create(
            loan=loan,
            from_tier=old_tier,
            to_tier=state.tier,
            basis=Basis.ADJUSTMENT,
            consecutive_missed=state.consecutive_missed,
            quantitative_tier=state.quantitative_tier,
            reason=adjustment.reason,
            proposed_by=adjustment.proposed_by,
            approved_by=by,
            adjustment=adjustment,
            effective_on=adjustment.effective_on,
        )
    notify(
        [adjustment.proposed_by],
        "adjustment_approved",
        url=loan.get_absolute_url(),
        loan=loan.reference,
        tier=adjustment.proposed_tier,
    )
    # A stricter tier brings its extra inspections today; a lighter one cancels the surplus
    # (the inspection planning receives this: postloan/seams.py).
    loans_changed.send(sender=Loan, loan_ids=[loan.pk])
    return adjustment


def adjustment_withdraw(*, adjustment: TierAdjustment, by) -> TierAdjustment:
    """The proposer takes back a proposal still waiting for a decision."""
    return withdraw(adjustment, by=by, rule=ADJUSTMENT_APPROVAL)


# --- Risk flags -------------------------------------------------------------------------------


@transaction.atomic
def flag_raise(
    *,
    factor: int,
    evidence: str,
    by,
    loan: Loan | None = None,
    borrower: Borrower | None = None,
    guarantor: Guarantor | None = None,
    is_serious: bool = False,
    raised_on: date | None = None,
    source: str = FlagSource.MANUAL,
) -> RiskFlag:
    """Raise a risk factor on a loan, or on a borrower / guarantor (reaching all their loans)."""
    errors: dict[str, list] = {}
    if factor not in factors.FACTORS:
        errors["factor"] = [_("Choose one of the sixteen risk factors.")]
    if not (evidence or "").strip():
        errors["evidence"] = [_("Describe the evidence.")]
    if sum(x is not None for x in (loan, borrower, guarantor)) != 1:
        errors["__all__"] = [_("A flag is raised on one loan, borrower or guarantor.")]
    raised_on = raised_on or timezone.localdate()
    if raised_on > timezone.localdate():
        errors["raised_on"] = [_("A flag cannot be dated in the future.")]
    if errors:
        raise ValidationError(errors)
    flag = RiskFlag.objects.create(
        factor=factor,
        loan=loan,
        borrower=borrower,
        guarantor=guarantor,
        source=source,
        evidence=evidence.strip(),
        is_serious=is_serious,
        raised_on=raised_on,
        raised_by=by,
    )
    if is_serious:
        # A sudden or serious event: an ad-hoc inspection of every loan the flag reaches.
        loans_changed.send(sender=Loan, loan_ids=_loans_reached_by(flag))
    return flag


def _loans_reached_by(flag: RiskFlag) -> list[int]:
    if flag.loan_id:
        return [flag.loan_id]
    if flag.borrower_id:
        return list(
            Loan.objects.filter(borrower_id=flag.borrower_id, status="active").values_list(
                "pk", flat=True
            )
        )
    return list(
        Loan.objects.filter(
            status="active",
            guarantees__guarantor_id=flag.guarantor_id,
            guarantees__status="active",
        ).values_list("pk", flat=True)
    )


@transaction.atomic
def flag_resolve(*, flag: RiskFlag, resolution: str, by) -> RiskFlag:
    flag = RiskFlag.objects.select_for_update().get(pk=flag.pk)
    if flag.resolved_on is not None:
        raise ValidationError(_("This flag is already resolved."))
    if not (resolution or "").strip():
        raise ValidationError({"resolution": [_("Say how the risk was resolved.")]})
    flag.resolved_on = timezone.localdate()
    flag.resolved_by = by
    flag.resolution = resolution.strip()
    flag.save(update_fields=["resolved_on", "resolved_by", "resolution"])
    return flag


# --- Provision rates ---------------------------------------------------------------------------


@transaction.atomic
def provision_rates_update(*, rates: dict[str, Decimal], by) -> None:
    """Change the per-tier provision rates and recompute every loan's provision."""
    if not roles.manages_risk(by):
        raise PermissionDenied
    errors = {}
    for tier, percent in rates.items():
        if percent is None or not Decimal(0) <= percent <= Decimal(100):
            errors[tier] = [_("A rate lies between 0 and 100%.")]
    if errors:
        raise ValidationError(errors)
    for tier, percent in rates.items():
        ProvisionRate.objects.update_or_create(tier=tier, defaults={"percent": percent})
    with connection.cursor() as cursor:
        cursor.execute(
            """UPDATE postloan_loanriskstate s
               SET provision = ROUND(s.outstanding_principal * r.percent / 100, 2)
               FROM postloan_provisionrate r
               WHERE r.tier = s.tier
                 AND s.provision <> ROUND(s.outstanding_principal * r.percent / 100, 2)"""
        )

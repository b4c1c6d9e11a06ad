"""Qualitative adjustments (Art. 7): maker-checker, loss evidence, the lapse rule."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from borrowers import services as borrower_services
from common.models import Notification
from loans import services as loan_services
from postloan.models import Basis, LoanRiskState, Reclassification, TierAdjustment
from postloan.risk.services import adjustment_decide, adjustment_propose, adjustment_withdraw
from tests.factories import make_guarantor
from tests.postloan.helpers import book, classify, pay_instalments, risk

pytestmark = pytest.mark.django_db


@pytest.fixture
def behind(officer, product, branch):
    """Monthly instalments from 2026-01-15, never paid: substandard (4 missed) on 2026-04-16."""
    loan = book(
        officer,
        product=product,
        branch=branch,
        disbursed_on=date(2025, 12, 15),
        first_due_on=date(2026, 1, 15),
    )
    classify(date(2026, 4, 16))
    assert (risk(loan).consecutive_missed, risk(loan).tier) == (4, "substandard")
    return loan


def _propose(
    loan, by, tier="special_mention", reason="Pays again since March; harvest sold.", **kw
):
    return adjustment_propose(loan=loan, tier=tier, reason=reason, by=by, **kw)


def _errors(excinfo) -> dict:
    return excinfo.value.message_dict


# --- Maker-checker --------------------------------------------------------------------------------


def test_the_proposer_cannot_approve_their_own_proposal(behind, risk_manager, other_risk_manager):
    proposal = _propose(behind, risk_manager)
    with pytest.raises(ValidationError) as refused:
        adjustment_decide(adjustment=proposal, approve=True, comment="", by=risk_manager)
    assert "__all__" in _errors(refused)
    proposal.refresh_from_db()
    assert (proposal.status, proposal.decided_by) == ("pending", None)
    assert risk(behind).tier == "substandard"
    # Another risk manager can.
    adjustment_decide(adjustment=proposal, approve=True, comment="", by=other_risk_manager)
    assert risk(behind).tier == "special_mention"


def test_the_database_refuses_a_self_approval_too(behind, risk_manager):
    proposal = _propose(behind, risk_manager)
    with pytest.raises(IntegrityError), transaction.atomic():
        TierAdjustment.objects.filter(pk=proposal.pk).update(
            decided_by=risk_manager, status="approved"
        )
    proposal.refresh_from_db()
    assert proposal.decided_by is None


def test_a_loan_officer_cannot_approve(behind, officer, other_officer, risk_manager, client):
    proposal = _propose(behind, risk_manager)
    for user in (officer, other_officer):
        with pytest.raises(PermissionDenied):
            adjustment_decide(adjustment=proposal, approve=True, comment="", by=user)
    client.force_login(officer)
    response = client.post(
        reverse("postloan:decide", args=[proposal.pk]), {"decision": "approve", "comment": ""}
    )
    assert response.status_code == 403
    proposal.refresh_from_db()
    assert proposal.status == "pending"
    assert risk(behind).tier == "substandard"


def test_approving_through_the_queue(behind, officer, risk_manager, client):
    proposal = _propose(behind, officer)
    client.force_login(risk_manager)
    queue = client.get(reverse("postloan:queue"))
    assert behind.reference in queue.content.decode()
    response = client.post(
        reverse("postloan:decide", args=[proposal.pk]), {"decision": "approve", "comment": "ok"}
    )
    assert response.status_code == 302
    proposal.refresh_from_db()
    assert (proposal.status, proposal.decided_by, proposal.decision_comment) == (
        "approved",
        risk_manager,
        "ok",
    )


def test_rejecting_needs_a_comment(behind, officer, risk_manager, client):
    proposal = _propose(behind, officer)
    with pytest.raises(ValidationError) as refused:
        adjustment_decide(adjustment=proposal, approve=False, comment="  ", by=risk_manager)
    assert "comment" in _errors(refused)
    client.force_login(risk_manager)
    client.post(reverse("postloan:decide", args=[proposal.pk]), {"decision": "reject"})
    proposal.refresh_from_db()
    assert proposal.status == "pending"
    adjustment_decide(
        adjustment=proposal, approve=False, comment="No evidence of sales.", by=risk_manager
    )
    proposal.refresh_from_db()
    assert (proposal.status, proposal.decision_comment) == ("rejected", "No evidence of sales.")
    assert risk(behind).tier == "substandard"
    assert not Reclassification.objects.filter(basis=Basis.ADJUSTMENT).exists()
    notice = Notification.objects.get(recipient=officer)
    assert (notice.kind, notice.params["comment"]) == (
        "adjustment_rejected",
        "No evidence of sales.",
    )


def test_approval_records_the_reclassification_and_keeps_the_count(behind, officer, risk_manager):
    proposal = _propose(behind, officer, factor_numbers=[1, 3])
    adjustment_decide(
        adjustment=proposal, approve=True, comment="Seen the receipts.", by=risk_manager
    )
    state = risk(behind)
    assert (state.tier, state.quantitative_tier, state.consecutive_missed) == (
        "special_mention",
        "substandard",
        4,
    )
    assert state.adjustment_id == proposal.pk
    assert state.provision == (state.outstanding_principal * 2 / 100).quantize(state.provision)
    change = Reclassification.objects.get(loan=behind, basis=Basis.ADJUSTMENT)
    assert (
        change.from_tier,
        change.to_tier,
        change.quantitative_tier,
        change.consecutive_missed,
        change.proposed_by,
        change.approved_by,
        change.reason,
        change.adjustment,
        change.effective_on,
    ) == (
        "substandard",
        "special_mention",
        "substandard",
        4,
        officer,
        risk_manager,
        "Pays again since March; harvest sold.",
        proposal,
        timezone.localdate(),
    )
    proposal.refresh_from_db()
    assert (proposal.status, proposal.factors) == ("approved", [1, 3])
    assert Notification.objects.get(recipient=officer).kind == "adjustment_approved"
    # The next run keeps the adjusted tier and the count side by side.
    classify(date(2026, 5, 16))
    state = risk(behind)
    assert (state.tier, state.quantitative_tier, state.consecutive_missed) == (
        "special_mention",
        "substandard",
        5,
    )


def test_a_new_approval_supersedes_the_one_in_force(behind, officer, risk_manager):
    first = _propose(behind, officer)
    adjustment_decide(adjustment=first, approve=True, comment="", by=risk_manager)
    second = _propose(behind, officer, tier="normal", reason="Fully back on track.")
    adjustment_decide(adjustment=second, approve=True, comment="", by=risk_manager)
    first.refresh_from_db()
    assert (first.status, first.ended_on) == ("superseded", timezone.localdate())
    assert (risk(behind).tier, risk(behind).adjustment_id) == ("normal", second.pk)
    assert list(
        Reclassification.objects.filter(loan=behind, basis=Basis.ADJUSTMENT)
        .order_by("id")
        .values_list("from_tier", "to_tier")
    ) == [("substandard", "special_mention"), ("special_mention", "normal")]


def test_approval_is_refused_once_the_count_has_outgrown_the_proposal(
    behind, officer, risk_manager
):
    proposal = _propose(behind, officer)  # special mention, judged on substandard
    classify(date(2026, 7, 16))  # seven missed: doubtful
    with pytest.raises(ValidationError):
        adjustment_decide(adjustment=proposal, approve=True, comment="", by=risk_manager)
    assert risk(behind).tier == "doubtful"
    proposal.refresh_from_db()
    assert proposal.status == "pending"


def test_approval_is_refused_when_an_upgrades_count_has_improved_since(
    behind, officer, risk_manager
):
    # given special mention proposed on a substandard count
    proposal = _propose(behind, officer)
    # when the borrower catches up before a risk manager decides (one missed: normal)
    pay_instalments(behind, 3, date(2026, 4, 20))
    classify(date(2026, 4, 21))
    assert risk(behind).quantitative_tier == "normal"
    # then approving would record a count the checker did not judge: refused
    with pytest.raises(ValidationError) as refused:
        adjustment_decide(adjustment=proposal, approve=True, comment="", by=risk_manager)
    assert "changed since the proposal" in str(refused.value)
    proposal.refresh_from_db()
    assert proposal.status == "pending"


def test_a_downgrade_is_approved_whatever_the_count_did_below_it(
    officer, product, branch, risk_manager
):
    loan = book(
        officer,
        product=product,
        branch=branch,
        disbursed_on=date(2025, 12, 15),
        first_due_on=date(2026, 1, 15),
    )
    classify(date(2026, 1, 16))
    proposal = _propose(loan, officer, tier="substandard", reason="Employer closed.")
    classify(date(2026, 3, 16))  # the count reaches special mention meanwhile
    adjustment_decide(adjustment=proposal, approve=True, comment="", by=risk_manager)
    assert (risk(loan).tier, risk(loan).quantitative_tier) == ("substandard", "special_mention")


# --- Proposals ------------------------------------------------------------------------------------


def test_a_proposal_needs_another_tier_and_a_reason(behind, officer):
    with pytest.raises(ValidationError) as refused:
        _propose(behind, officer, tier="substandard")  # the quantitative tier already
    assert "tier" in _errors(refused)
    with pytest.raises(ValidationError) as refused:
        _propose(behind, officer, reason="   ")
    assert "reason" in _errors(refused)
    with pytest.raises(ValidationError) as refused:
        _propose(behind, officer, factor_numbers=[17])
    assert "factors" in _errors(refused)
    assert not TierAdjustment.objects.exists()


def test_a_proposal_cannot_repeat_the_adjusted_tier(behind, officer, risk_manager):
    adjustment_decide(
        adjustment=_propose(behind, officer), approve=True, comment="", by=risk_manager
    )
    with pytest.raises(ValidationError) as refused:
        _propose(behind, officer, tier="special_mention")
    assert "tier" in _errors(refused)


def test_one_pending_proposal_per_loan(behind, officer, risk_manager):
    _propose(behind, officer)
    with pytest.raises(ValidationError):
        _propose(behind, risk_manager, tier="doubtful", reason="Business closed.")
    assert TierAdjustment.objects.filter(loan=behind).count() == 1


def test_who_may_propose(behind, officer, other_officer, risk_manager, supervisor):
    for outsider in (other_officer, supervisor):
        with pytest.raises(PermissionDenied):
            _propose(behind, outsider)
    assert _propose(behind, risk_manager).proposed_by == risk_manager


def test_proposing_through_the_loan_page(behind, officer, client):
    client.force_login(officer)
    response = client.post(
        reverse("postloan:propose", args=[behind.pk]),
        {"tier": "doubtful", "reason": "Shop closed, owner unreachable.", "factors": ["1", "9"]},
    )
    assert response.status_code == 302
    proposal = TierAdjustment.objects.get(loan=behind)
    assert (proposal.proposed_tier, proposal.factors, proposal.quantitative_tier) == (
        "doubtful",
        [1, 9],
        "substandard",
    )
    # Field errors come back to the form.
    response = client.post(reverse("postloan:propose", args=[behind.pk]), {"tier": "loss"})
    assert response.status_code == 200


def test_the_proposer_may_withdraw(behind, officer, risk_manager):
    proposal = _propose(behind, officer)
    with pytest.raises(PermissionDenied):
        adjustment_withdraw(adjustment=proposal, by=risk_manager)
    adjustment_withdraw(adjustment=proposal, by=officer)
    proposal.refresh_from_db()
    assert proposal.status == "withdrawn"
    _propose(behind, officer)  # the loan is free for a new proposal


# --- Loss needs evidence --------------------------------------------------------------------------


def test_loss_needs_evidence(behind, officer):
    with pytest.raises(ValidationError) as refused:
        _propose(behind, officer, tier="loss", reason="Gone.")
    assert "loss_evidence" in _errors(refused)


def test_loss_on_death_needs_the_borrower_recorded_deceased(behind, officer, risk_manager):
    with pytest.raises(ValidationError) as refused:
        _propose(behind, officer, tier="loss", reason="Died.", loss_evidence="death_or_missing")
    assert "loss_evidence" in _errors(refused)
    borrower = behind.borrower
    borrower_services.borrower_update(
        borrower=borrower,
        version=borrower.version,
        data={"legal_status": "deceased"},
        effective_on=date(2026, 4, 1),
    )
    proposal = _propose(
        behind, officer, tier="loss", reason="Died; no estate.", loss_evidence="death_or_missing"
    )
    adjustment_decide(adjustment=proposal, approve=True, comment="", by=risk_manager)
    assert risk(behind).tier == "loss"
    # Loss never lapses by count.
    classify(date(2026, 9, 16))
    assert (risk(behind).tier, risk(behind).quantitative_tier) == ("loss", "doubtful")


def test_loss_by_enforcement_needs_the_security_enforced(officer, product, branch, risk_manager):
    guarantor = make_guarantor()
    loan = book(
        officer,
        product=product,
        branch=branch,
        disbursed_on=date(2025, 12, 15),
        first_due_on=date(2026, 1, 15),
        guarantors=[guarantor],
    )
    classify(date(2026, 8, 16))
    with pytest.raises(ValidationError) as refused:
        _propose(loan, officer, tier="loss", reason="Nothing left.", loss_evidence="enforcement")
    assert "loss_evidence" in _errors(refused)
    borrower_services.guarantee_set_status(
        guarantee=loan.guarantees.get(), status="called", on=date(2026, 8, 20)
    )
    proposal = _propose(
        loan, officer, tier="loss", reason="Guarantor paid nothing.", loss_evidence="enforcement"
    )
    assert proposal.loss_evidence == "enforcement"


def test_loss_by_enforcement_on_an_unsecured_loan(behind, officer):
    proposal = _propose(
        behind, officer, tier="loss", reason="Written up.", loss_evidence="enforcement"
    )
    assert proposal.proposed_tier == "loss"


def test_loss_by_enforcement_when_collateral_was_enforced(officer, product, branch):
    loan = book(
        officer,
        product=product,
        branch=branch,
        disbursed_on=date(2025, 12, 15),
        first_due_on=date(2026, 1, 15),
    )
    collateral = loan_services.collateral_add(
        loan=loan,
        kind="vehicle",
        description="Truck",
        value=Decimal("50000.00"),
        valued_on=date(2026, 1, 5),
    )
    classify(date(2026, 8, 16))
    with pytest.raises(ValidationError):
        _propose(loan, officer, tier="loss", reason="Sold.", loss_evidence="enforcement")
    loan_services.collateral_record_progress(collateral=collateral, status="enforced")
    assert _propose(loan, officer, tier="loss", reason="Sold.", loss_evidence="enforcement")


# --- The lapse rule ------------------------------------------------------------------------------


def test_an_upgrade_lapses_when_the_count_gets_worse_than_both(
    behind, officer, risk_manager, other_risk_manager
):
    # given special mention approved on a substandard count (proposer ≠ managing officer)
    proposal = _propose(behind, risk_manager)
    adjustment_decide(adjustment=proposal, approve=True, comment="", by=other_risk_manager)
    # while the count stays substandard, the adjustment holds
    for as_of in (date(2026, 5, 16), date(2026, 6, 16)):
        run = classify(as_of)
        assert (risk(behind).tier, risk(behind).quantitative_tier) == (
            "special_mention",
            "substandard",
        )
        assert run.changed == 0
    assert not Notification.objects.filter(kind="adjustment_lapsed").exists()
    # when the count reaches doubtful, worse than both the adjustment and its basis
    run = classify(date(2026, 7, 16))
    # then the count wins
    state = risk(behind)
    assert (state.tier, state.quantitative_tier, state.adjustment_id) == (
        "doubtful",
        "doubtful",
        None,
    )
    assert state.provision == (state.outstanding_principal / 2).quantize(state.provision)
    proposal.refresh_from_db()
    assert (proposal.status, proposal.ended_on) == ("lapsed", date(2026, 7, 16))
    lapse = Reclassification.objects.get(loan=behind, basis=Basis.LAPSE)
    assert (
        lapse.from_tier,
        lapse.to_tier,
        lapse.adjustment,
        lapse.run,
        lapse.consecutive_missed,
    ) == (
        "special_mention",
        "doubtful",
        proposal,
        run,
        7,
    )
    notified = set(
        Notification.objects.filter(kind="adjustment_lapsed").values_list("recipient", flat=True)
    )
    assert notified == {risk_manager.pk, officer.pk}
    notice = Notification.objects.get(kind="adjustment_lapsed", recipient=officer)
    assert notice.params == {"loan": behind.reference, "tier": "doubtful"}
    assert notice.url == behind.get_absolute_url()
    # A rerun neither lapses again nor notifies twice.
    classify(date(2026, 7, 16))
    assert Notification.objects.filter(kind="adjustment_lapsed").count() == 2
    assert Reclassification.objects.filter(loan=behind, basis=Basis.LAPSE).count() == 1


def test_a_downgrade_stays_while_the_count_stays_below_it(officer, product, branch, risk_manager):
    loan = book(
        officer,
        product=product,
        branch=branch,
        disbursed_on=date(2025, 12, 15),
        first_due_on=date(2026, 1, 15),
    )
    pay_instalments(loan, 2, date(2026, 2, 14))
    classify(date(2026, 2, 16))
    assert (risk(loan).tier, risk(loan).consecutive_missed) == ("normal", 0)
    # given a qualitative downgrade: paying, but the employer closed
    proposal = _propose(
        loan, officer, tier="substandard", reason="Employer closed.", factor_numbers=[3]
    )
    adjustment_decide(adjustment=proposal, approve=True, comment="", by=risk_manager)
    # the count climbs to special mention, then substandard: the downgrade stays
    for as_of, missed in [
        (date(2026, 4, 16), 2),
        (date(2026, 5, 16), 3),
        (date(2026, 6, 16), 4),
        (date(2026, 8, 16), 6),
    ]:
        classify(as_of)
        state = risk(loan)
        assert (state.tier, state.consecutive_missed, state.adjustment_id) == (
            "substandard",
            missed,
            proposal.pk,
        ), as_of
    proposal.refresh_from_db()
    assert proposal.status == "approved"
    assert not Reclassification.objects.filter(loan=loan, basis=Basis.QUANTITATIVE).exists()
    # and lapses only once the count is worse than the downgrade
    classify(date(2026, 9, 16))
    assert (risk(loan).tier, risk(loan).adjustment_id) == ("doubtful", None)
    proposal.refresh_from_db()
    assert proposal.status == "lapsed"


def test_a_state_always_exists_for_a_new_loan(officer, product, branch):
    loan = book(officer, product=product, branch=branch)
    state = LoanRiskState.objects.get(loan=loan)
    assert (state.tier, state.outstanding_principal) == ("normal", loan.principal)

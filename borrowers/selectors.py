"""Reads about borrowers and guarantors, and who may see which."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import Http404

from borrowers.limits import Person
from borrowers.loanbook import loan_book
from borrowers.models import (
    Borrower,
    BorrowerFactChange,
    GroupMembership,
    Guarantor,
    JointGroup,
    LegalStatus,
    PartyKind,
)
from common import roles


def borrowers_visible_to(user):
    """Risk managers, supervisors and admins see every borrower; a loan officer sees the
    borrowers of their own book and those they created."""
    if roles.sees_whole_portfolio(user):
        return Borrower.objects.all()
    if roles.is_loan_officer(user):
        book = loan_book().loans_visible_to(user).values("borrower_id")
        return Borrower.objects.filter(Q(pk__in=book) | Q(created_by=user))
    return Borrower.objects.none()


def borrowers_actionable_by(user):
    """The one place that decides which borrowers a user may change (edit, log, group).

    Risk managers and admins act on every borrower; a loan officer on the borrowers of the
    loans they manage, and on those they created that no other officer manages a loan of
    (a prospect not yet booked). Seeing a borrower (an originated loan, a shared group) is
    not enough: their managing officer's book is theirs to change.
    """
    if roles.is_admin(user) or roles.is_risk_manager(user):
        return Borrower.objects.all()
    if roles.is_loan_officer(user):
        managed = loan_book().loans_actionable_by(user).values("borrower_id")
        managed_by_others = loan_book().loans_managed_by_others(user).values("borrower_id")
        return Borrower.objects.filter(
            Q(pk__in=managed) | (Q(created_by=user) & ~Q(pk__in=managed_by_others))
        )
    return Borrower.objects.none()


borrowers_editable_by = borrowers_actionable_by


def guarantors_actionable_by(user):
    """Guarantors a user may record things on (a re-assessment): those backing a loan the
    user may act on, those who are a borrower the user may act on, and those they created."""
    if roles.is_admin(user) or roles.is_risk_manager(user):
        return Guarantor.objects.all()
    if roles.is_loan_officer(user):
        return Guarantor.objects.filter(
            Q(guarantees__loan__in=loan_book().loans_actionable_by(user))
            | Q(borrower__in=borrowers_actionable_by(user))
            | Q(created_by=user)
        ).distinct()
    return Guarantor.objects.none()


def beyond_reach(user, *, borrowers=(), loans=(), guarantors=()) -> list[str]:
    """Of the borrowers, loans and guarantors a write would change, those `user` may not
    act on, named for a message (empty: the user may act on all of them).

    Every write that changes more than the object on the page (a member leaving dissolves a
    group and turns every member's guarantees into ordinary ones) asks this about each of
    them, not only whether the user can see the page's object. At most one query per kind.
    """
    refused = []
    for queryset, objects, name in (
        (borrowers_actionable_by(user), borrowers, lambda b: b.name),
        (loan_book().loans_actionable_by(user), loans, lambda loan: loan.reference),
        (guarantors_actionable_by(user), guarantors, lambda g: g.name),
    ):
        objects = list(dict.fromkeys(objects))
        if not objects:
            continue
        allowed = set(queryset.filter(pk__in=[o.pk for o in objects]).values_list("pk", flat=True))
        refused.extend(name(o) for o in objects if o.pk not in allowed)
    return refused


def ensure_may_act(user, *, borrowers=(), loans=(), guarantors=()) -> None:
    """PermissionDenied unless `user` may act on every one of these (see beyond_reach)."""
    if beyond_reach(user, borrowers=borrowers, loans=loans, guarantors=guarantors):
        raise PermissionDenied


def get_borrower_for_user(user, pk: int, *, edit: bool = False) -> Borrower:
    queryset = borrowers_actionable_by(user) if edit else borrowers_visible_to(user)
    try:
        return queryset.get(pk=pk)
    except Borrower.DoesNotExist as missing:
        raise Http404 from missing


def guarantors_visible_to(user):
    if roles.sees_whole_portfolio(user):
        return Guarantor.objects.all()
    if roles.is_loan_officer(user):
        book = loan_book().loans_visible_to(user)
        return Guarantor.objects.filter(
            Q(guarantees__loan__in=book)
            | Q(created_by=user)
            | Q(borrower__in=borrowers_visible_to(user))
        ).distinct()
    return Guarantor.objects.none()


def get_guarantor_for_user(user, pk: int) -> Guarantor:
    try:
        return guarantors_visible_to(user).get(pk=pk)
    except Guarantor.DoesNotExist as missing:
        raise Http404 from missing


def groups_visible_to(user):
    if roles.sees_whole_portfolio(user):
        return JointGroup.objects.all()
    visible = borrowers_visible_to(user)
    return JointGroup.objects.filter(
        Q(memberships__borrower__in=visible) | Q(created_by=user)
    ).distinct()


def get_group_for_user(user, pk: int) -> JointGroup:
    try:
        return groups_visible_to(user).select_related("product", "lead").get(pk=pk)
    except JointGroup.DoesNotExist as missing:
        raise Http404 from missing


def people_for_limits(borrowers, *, group: JointGroup | None = None) -> list[Person]:
    """The limit rule's view of these borrowers: what they owe, whether they may join."""
    borrowers = list(borrowers)
    ids = [b.pk for b in borrowers]
    owed = loan_book().outstanding_by_borrower(ids)
    in_group = set(
        GroupMembership.objects.filter(borrower_id__in=ids, left_on__isnull=True)
        .exclude(group=group)
        .values_list("borrower_id", flat=True)
    )
    people = []
    for b in borrowers:
        unable = ""
        if b.legal_status != LegalStatus.NORMAL:
            unable = str(b.get_legal_status_display())
        people.append(
            Person(
                key=b.pk,
                name=b.name,
                is_enterprise=b.kind == PartyKind.ENTERPRISE,
                outstanding=owed[b.pk],
                in_other_group=b.pk in in_group,
                unable_to_borrow=unable,
            )
        )
    return people


def borrower_timeline(borrower: Borrower):
    return BorrowerFactChange.objects.filter(borrower=borrower).select_related("recorded_by")

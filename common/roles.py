"""The portal's roles (docs/domain.md §1) and who holds them.

Roles are Django groups created by a data migration; one person can hold several.
Admins are staff users (they edit records in Django admin).
"""

from __future__ import annotations

from enum import StrEnum

from django.utils.translation import gettext_lazy as _


class Role(StrEnum):
    LOAN_OFFICER = "Loan officer"  # 客户经理 / 管户信贷员
    RISK_MANAGER = "Risk manager"  # 风险管理人员
    SUPERVISOR = "Supervisor"  # 主管领导


ROLE_LABELS = {
    Role.LOAN_OFFICER: _("Loan officer"),
    Role.RISK_MANAGER: _("Risk manager"),
    Role.SUPERVISOR: _("Supervisor"),
}


def role_names(user) -> frozenset[str]:
    """The names of the role groups `user` belongs to (one query, cached on the user)."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return frozenset()
    cached = getattr(user, "_daihou_roles", None)
    if cached is None:
        cached = frozenset(user.groups.values_list("name", flat=True))
        user._daihou_roles = cached
    return cached


def has_role(user, role: Role) -> bool:
    return role.value in role_names(user)


def is_loan_officer(user) -> bool:
    return has_role(user, Role.LOAN_OFFICER)


def is_risk_manager(user) -> bool:
    return has_role(user, Role.RISK_MANAGER)


def is_supervisor(user) -> bool:
    return has_role(user, Role.SUPERVISOR)


def is_admin(user) -> bool:
    return bool(getattr(user, "is_authenticated", False) and user.is_active and user.is_staff)


def sees_whole_portfolio(user) -> bool:
    """Risk managers, supervisors and admins read every loan; loan officers their own book."""
    return is_admin(user) or is_risk_manager(user) or is_supervisor(user)


def keeps_records(user) -> bool:
    """Loan officers, risk managers and admins record things; supervisors only read."""
    return is_admin(user) or is_loan_officer(user) or is_risk_manager(user)


def manages_risk(user) -> bool:
    return is_admin(user) or is_risk_manager(user)


def role_required(*predicates):
    """View decorator: 403 unless the user satisfies one of the predicates."""
    from functools import wraps

    from django.core.exceptions import PermissionDenied

    def decorator(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            if not any(predicate(request.user) for predicate in predicates):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return wrapped

    return decorator

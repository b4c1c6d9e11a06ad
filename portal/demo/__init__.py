"""Demo users and demo data for `make run`.

Loading is idempotent: users are matched by username, and each app's demo loader
checks its own natural keys, so running `make run` again reuses what is there.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group, User
from django.db import transaction

from common.roles import Role
from portal.demo import loan_book, postloan_work


@dataclass(frozen=True)
class DemoUser:
    username: str
    first_name: str
    last_name: str
    roles: tuple[Role, ...]
    is_staff: bool = False


DEMO_USERS = [
    DemoUser("officer", "Qiang", "Wang", (Role.LOAN_OFFICER,)),
    DemoUser("officer2", "Fang", "Liu", (Role.LOAN_OFFICER,)),
    DemoUser("risk", "Min", "Li", (Role.RISK_MANAGER,)),
    # A second risk manager: a proposal is approved by a risk manager who did not make it.
    DemoUser("risk2", "Jun", "Zhao", (Role.RISK_MANAGER,)),
    DemoUser("supervisor", "Wei", "Zhang", (Role.SUPERVISOR,)),
    DemoUser("admin", "Admin", "", (), is_staff=True),
]


def _loaders() -> list[Callable]:
    """Each app's demo loader `f(steps: common.progress.Steps) -> None`, in dependency order,
    each idempotent; each reports its own steps (a line per step with its time)."""
    return [loan_book.load, postloan_work.load]


@transaction.atomic
def ensure_demo_users() -> list[DemoUser]:
    # One hash for the one shared, published password: hashing it for each user cost half
    # a second apiece at Django's work factor.
    encoded = None
    for demo in DEMO_USERS:
        user, created = User.objects.get_or_create(
            username=demo.username,
            defaults={
                "first_name": demo.first_name,
                "last_name": demo.last_name,
                "is_staff": demo.is_staff,
                "is_superuser": demo.is_staff,
                "email": f"{demo.username}@daihou.example",
            },
        )
        if created:
            encoded = encoded or make_password(settings.DAIHOU_DEMO_PASSWORD)
            user.password = encoded
            user.save(update_fields=["password"])
            user.groups.set([Group.objects.get(name=role.value) for role in demo.roles])
    return DEMO_USERS


def load_demo_data(steps) -> None:
    for loader in _loaders():
        loader(steps)

"""Tasks that exist only for the test suite; the test worker loads them with --include."""

from celery import shared_task
from django.contrib.auth.models import User


@shared_task(name="tests.rename_user")
def rename_user(user_id: int, first_name: str) -> None:
    User.objects.filter(pk=user_id).update(first_name=first_name)

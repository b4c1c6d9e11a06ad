"""The Celery app: tasks are autodiscovered from each app's tasks.py.

Configuration lives in settings (CELERY_* names); the beat schedule is the one dict
CELERY_BEAT_SCHEDULE there. Every task runs inside a pghistory context that names it,
so audit rows written by batch work say which task wrote them.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("daihou", task_cls="common.celery:AuditedTask")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

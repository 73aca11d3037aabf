"""The Celery app: configured from the Django settings' ``CELERY_*`` names (Redis broker, JSON
only, ``acks_late`` with ``reject_on_worker_lost``, time limits, broker socket timeouts), tasks
autodiscovered from each app's ``tasks.py``, schedules in django-celery-beat
(``rewards_site/schedules.py``)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rewards_site.settings")

app = Celery("rewards_site")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

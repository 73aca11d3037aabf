"""The beat scheduler: django-celery-beat's database scheduler that leaves a heartbeat.

On every tick (at least every ``max_interval``, 5 s) it touches ``BEAT_HEARTBEAT_FILE`` when that is
set, so that a healthcheck can tell a beat that is scheduling from one that hangs or has died
(docker-compose.yml: the file's age)."""

from pathlib import Path

from django.conf import settings
from django_celery_beat.schedulers import DatabaseScheduler


class HeartbeatScheduler(DatabaseScheduler):
    def tick(self, *args, **kwargs):
        interval = super().tick(*args, **kwargs)
        if settings.BEAT_HEARTBEAT_FILE:
            Path(settings.BEAT_HEARTBEAT_FILE).touch()
        return interval

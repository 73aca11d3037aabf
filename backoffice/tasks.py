"""Celery tasks of the back office."""

from celery import shared_task

from .housekeeping import records_prune as prune


@shared_task(name="orgs.records_prune")
def records_prune() -> dict:
    """Housekeeping (the name it had when it lived in ``orgs``: schedules refer to it)."""
    return prune()

"""Celery tasks of the books."""

from celery import shared_task

from .reconciliation import reconciliation_run


@shared_task(name="wallets.reconcile", time_limit=3600, soft_time_limit=3500)
def reconcile() -> dict:
    """Every reconciliation check (acks_late: a worker killed mid-run gets the task again;
    the run's single transaction leaves nothing of the killed attempt)."""
    run = reconciliation_run().run
    return {"run": run.pk, "open": run.findings, "new": run.new_findings, "resolved": run.resolved}

"""Celery tasks of the books."""

from celery import shared_task

from .reconciliation import reconciliation_run


@shared_task(name="wallets.reconcile", time_limit=3600, soft_time_limit=3500)
def reconcile() -> dict:
    """Every reconciliation check (acks_late: a worker killed mid-run gets the task again;
    the run's single transaction leaves nothing of the killed attempt)."""
    run = reconciliation_run().run
    return {"run": run.pk, "open": run.findings, "new": run.new_findings, "resolved": run.resolved}


@shared_task(name="wallets.rewards_review_release", time_limit=600, soft_time_limit=540)
def rewards_review_release() -> dict:
    """Approve rewards whose review period ended; hand coupons to approved rewards waiting for stock."""
    from .earning import rewards_review_release as release

    return release()

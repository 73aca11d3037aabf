"""Celery tasks of the Issue Reward API."""

from celery import shared_task

from .vendor import vendor_calls_recover


@shared_task(name="catalogue.vendor_calls_recover")
def recover_vendor_calls() -> dict:
    """Settle vendor calls a dead process left open (points taken, or flagged for staff)."""
    return vendor_calls_recover()

"""Celery tasks of coupon pools."""

from celery import shared_task

from .services import coupons_expire, pools_check_stock


@shared_task(name="coupons.expire_and_check_stock")
def expire_and_check_stock() -> dict:
    expired = coupons_expire()
    return {"expired": expired, "low_stock": pools_check_stock()}

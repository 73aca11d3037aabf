"""Coupon pools (AppVirality pools, Capillary coupon series) and their coupons."""

from django.db import models
from django.db.models import F, Q
from simple_history.models import HistoricalRecords

from orgs.models import Campaign, Customer, Org


class CouponPool(models.Model):
    id = models.BigIntegerField(primary_key=True, help_text="AppVirality poolId / Capillary coupon series id.")
    org = models.ForeignKey(Org, on_delete=models.CASCADE, related_name="coupon_pools")
    name = models.CharField(max_length=200)
    campaign = models.ForeignKey(
        Campaign,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="coupon_pools",
        help_text="The AppVirality campaign whose users may pick from this pool.",
    )
    low_stock_threshold = models.PositiveIntegerField(
        default=100, help_text="A low_stock event is sent when fewer coupons than this are available."
    )
    low_stock_since = models.DateTimeField(
        null=True, blank=True, help_text="Set when the pool went below its stock level (one event per crossing)."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["org_id", "id"]
        permissions = [
            ("manage_stock", "Can upload, generate and void the coupons of a pool"),
            ("export_coupons", "Can export the issued coupons of a pool"),
        ]
        constraints = [models.UniqueConstraint(fields=["org", "id"], name="couponpool_org_id")]

    def __str__(self) -> str:
        return f"{self.name} ({self.id})"


class Coupon(models.Model):
    class Status(models.TextChoices):
        AVAILABLE = "AVAILABLE"
        ISSUED = "ISSUED"
        EXPIRED = "EXPIRED"
        VOID = "VOID"

    org = models.ForeignKey(Org, on_delete=models.CASCADE, related_name="+")
    pool = models.ForeignKey(CouponPool, on_delete=models.CASCADE, related_name="coupons")
    code = models.CharField(max_length=64)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.AVAILABLE)
    expires_at = models.DateTimeField(null=True, blank=True)
    holder = models.ForeignKey(Customer, on_delete=models.PROTECT, null=True, blank=True, related_name="coupons")
    issued_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["org", "pool", "code"], name="coupon_org_pool_code"),
            models.CheckConstraint(
                condition=~Q(status="ISSUED") | Q(holder__isnull=False, issued_at__isnull=False),
                name="coupon_issued_has_holder",
            ),
        ]
        indexes = [
            # The hot path: the next available coupon of a pool (SKIP LOCKED disbursal), in id order.
            # On "id + 0", not "id": a plain id order can also come from the primary key, and with
            # fresh statistics PostgreSQL may take that plan, which walks over every issued coupon
            # (it slows down with each one). Nothing but this index yields "id + 0" in order.
            models.Index(F("pool"), F("id") + 0, condition=Q(status="AVAILABLE"), name="coupon_available"),
            models.Index(fields=["org", "holder"], condition=Q(holder__isnull=False), name="coupon_holder"),
        ]

    def __str__(self) -> str:
        return self.code

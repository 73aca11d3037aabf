"""Coupon pools (AppVirality pools, Capillary coupon series) and their coupons."""

from django.db import models
from django.db.models import F, Q
from simple_history.models import HistoricalRecords

from core.money import MoneyField
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
    # What the two APIs show of a pool (all optional): AppVirality's getcouponpools/getusercoupons
    # (details, image, value, unit) and Capillary's coupon series_info (description, discount_*).
    details = models.TextField(blank=True, max_length=2000, help_text="AppVirality pool details.")
    image = models.URLField(blank=True, max_length=500, help_text="AppVirality pool image URL.")
    value = MoneyField(null=True, blank=True, help_text="Face value of one coupon (two places).")
    unit = models.CharField(blank=True, max_length=32, help_text="Unit of the value, e.g. INR.")
    description = models.CharField(blank=True, max_length=500, help_text="Capillary coupon series description.")

    class DiscountType(models.TextChoices):
        ABS = "ABS", "absolute"
        PERC = "PERC", "percentage"

    discount_type = models.CharField(blank=True, max_length=4, choices=DiscountType.choices)
    discount_value = MoneyField(null=True, blank=True)
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
        REDEEMED = "REDEEMED"  # used at a till (Capillary coupon/redeem); final

    org = models.ForeignKey(Org, on_delete=models.CASCADE, related_name="+")
    pool = models.ForeignKey(CouponPool, on_delete=models.CASCADE, related_name="coupons")
    code = models.CharField(max_length=64)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.AVAILABLE)
    expires_at = models.DateTimeField(null=True, blank=True)
    holder = models.ForeignKey(Customer, on_delete=models.PROTECT, null=True, blank=True, related_name="coupons")
    issued_at = models.DateTimeField(null=True, blank=True)
    redeemed_at = models.DateTimeField(null=True, blank=True)
    redeemed_transaction_number = models.CharField(max_length=64, blank=True, default="", db_default="")
    redeemed_amount = MoneyField(null=True, blank=True, help_text="The till transaction's amount.")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["org", "pool", "code"], name="coupon_org_pool_code"),
            models.CheckConstraint(
                condition=~Q(status="ISSUED") | Q(holder__isnull=False, issued_at__isnull=False),
                name="coupon_issued_has_holder",
            ),
            models.CheckConstraint(
                condition=~Q(status="REDEEMED")
                | Q(holder__isnull=False, redeemed_at__isnull=False) & ~Q(redeemed_transaction_number=""),
                name="coupon_redeemed_has_transaction",
            ),
        ]
        indexes = [
            # The hot path: the next available coupon of a pool (SKIP LOCKED disbursal), in id order.
            # On "id + 0", not "id": a plain id order can also come from the primary key, and with
            # fresh statistics PostgreSQL may take that plan, which walks over every issued coupon
            # (it slows down with each one). Nothing but this index yields "id + 0" in order.
            models.Index(F("pool"), F("id") + 0, condition=Q(status="AVAILABLE"), name="coupon_available"),
            models.Index(fields=["org", "holder"], condition=Q(holder__isnull=False), name="coupon_holder"),
            # Till lookups by code alone (coupon/isredeemable, coupon/redeem): codes are unique per pool only.
            models.Index(fields=["org", "code"], name="coupon_org_code"),
        ]

    def __str__(self) -> str:
        return self.code

"""The Capillary rewards catalogue: rewards, payment configs, cart promotions,
and the custom fields and fulfillment statuses an org defines."""

from django.db import models
from django.db.models import Q
from simple_history.models import HistoricalRecords

from coupons.models import CouponPool
from orgs.models import Org, Segment
from orgs.money import MoneyField, RatioField


class Promotion(models.Model):
    """A cart promotion that a CART_PROMOTION reward grants."""

    org = models.ForeignKey(Org, on_delete=models.CASCADE, related_name="promotions")
    code = models.CharField(max_length=100)
    active = models.BooleanField(default=True)
    max_per_customer = models.PositiveIntegerField(null=True, blank=True, help_text="Empty: no limit.")
    history = HistoricalRecords()

    class Meta:
        ordering = ["org_id", "code"]
        constraints = [models.UniqueConstraint(fields=["org", "code"], name="promotion_org_code")]

    def __str__(self) -> str:
        return self.code


class CatalogueReward(models.Model):
    class Type(models.TextChoices):
        COUPON = "COUPON"
        CART_PROMOTION = "CART_PROMOTION"
        VENDOR = "VENDOR"
        POINTS_ONLY = "POINTS_ONLY"

    id = models.BigIntegerField(primary_key=True, help_text="Capillary rewardId.")
    org = models.ForeignKey(Org, on_delete=models.CASCADE, related_name="catalogue_rewards")
    name = models.CharField(max_length=200)
    type = models.CharField(max_length=16, choices=Type.choices)
    redemption_type = models.CharField(max_length=20, default="POINTS")
    enabled = models.BooleanField(default=True)
    starts_at = models.DateTimeField(null=True, blank=True)
    ends_at = models.DateTimeField(null=True, blank=True)
    segments = models.ManyToManyField(Segment, through="RewardSegment", blank=True, related_name="+")
    coupon_pool = models.ForeignKey(CouponPool, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    promotion = models.ForeignKey(Promotion, on_delete=models.PROTECT, null=True, blank=True, related_name="rewards")
    vendor_name = models.CharField(max_length=100, blank=True)
    vendor_url = models.URLField(max_length=500, blank=True)
    vendor_timeout_ms = models.PositiveIntegerField(default=2000)
    vendor_context_map = models.JSONField(
        default=dict, blank=True, help_text='Dotted paths into the vendor answer, e.g. {"voucher": "data.code"}.'
    )
    history = HistoricalRecords()

    class Meta:
        ordering = ["org_id", "id"]
        constraints = [
            models.UniqueConstraint(fields=["org", "id"], name="cataloguereward_org_id"),
            models.CheckConstraint(
                condition=~Q(type="COUPON") | Q(coupon_pool__isnull=False), name="cataloguereward_coupon_has_pool"
            ),
            models.CheckConstraint(
                condition=~Q(type="CART_PROMOTION") | Q(promotion__isnull=False),
                name="cataloguereward_promotion_has_promotion",
            ),
            models.CheckConstraint(
                condition=~Q(type="VENDOR") | ~Q(vendor_url=""), name="cataloguereward_vendor_has_url"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.id})"


class RewardSegment(models.Model):
    org = models.ForeignKey(Org, on_delete=models.CASCADE, related_name="+")
    reward = models.ForeignKey(CatalogueReward, on_delete=models.CASCADE)
    segment = models.ForeignKey(Segment, on_delete=models.CASCADE)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["org", "reward", "segment"], name="rewardsegment_unique")]

    def __str__(self) -> str:
        return f"reward {self.reward_id} for {self.segment_id}"


class PaymentConfig(models.Model):
    """How a reward is paid for: a fixed number of points, or a conversion ratio."""

    class Mode(models.TextChoices):
        POINTS = "POINTS"
        CONV_RATIO = "CONV_RATIO"

    id = models.BigIntegerField(primary_key=True, help_text="Capillary paymentConfig.id.")
    org = models.ForeignKey(Org, on_delete=models.CASCADE, related_name="+")
    reward = models.ForeignKey(CatalogueReward, on_delete=models.CASCADE, related_name="payment_configs")
    mode = models.CharField(max_length=10, choices=Mode.choices)
    points = MoneyField(null=True, blank=True, help_text="POINTS: points per unit.")
    conversion_ratio = RatioField(null=True, blank=True, help_text="CONV_RATIO: redemption value per point.")
    history = HistoricalRecords()

    class Meta:
        ordering = ["reward_id", "id"]
        constraints = [
            models.UniqueConstraint(fields=["org", "id"], name="paymentconfig_org_id"),
            models.CheckConstraint(
                condition=Q(mode="POINTS", points__gt=0) | Q(mode="CONV_RATIO", conversion_ratio__gt=0),
                name="paymentconfig_mode_values",
            ),
        ]

    def __str__(self) -> str:
        value = self.points if self.mode == self.Mode.POINTS else self.conversion_ratio
        return f"{self.id}: {self.mode} {value}"


class CustomFieldDefinition(models.Model):
    """A custom field an org allows on issued rewards (Capillary customFields)."""

    org = models.ForeignKey(Org, on_delete=models.CASCADE, related_name="custom_fields")
    name = models.CharField(max_length=100)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["org", "name"], name="customfield_org_name")]

    def __str__(self) -> str:
        return self.name


class FulfillmentStatusDefinition(models.Model):
    """A fulfillment status an org defines (BOOKED, SHIPPED, ...)."""

    org = models.ForeignKey(Org, on_delete=models.CASCADE, related_name="fulfillment_statuses")
    name = models.CharField(max_length=100)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["org", "name"], name="fulfillmentstatus_org_name")]

    def __str__(self) -> str:
        return self.name

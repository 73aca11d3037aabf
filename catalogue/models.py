"""The Capillary rewards catalogue: rewards, payment configs, cart promotions,
and the custom fields and fulfillment statuses an org defines."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from simple_history.models import HistoricalRecords

from core.money import MoneyField, RatioField
from coupons.models import CouponPool
from orgs.models import Org, Segment


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


# --- Issue Reward (Capillary /v1.1/user/rewards/issue/) ------------------------------------------


class RewardIssue(models.Model):
    """One issued reward: the transaction record of the Issue Reward API (``transactionId`` is its pk).

    Written in the same database transaction as the ledger entry that paid for it, so a
    record exists exactly when points moved (``wallets.services.wallet_post``). Staff may
    revoke it (``catalogue.revocation.reward_issue_revoke``): CANCELLED, points refunded.
    """

    class Status(models.TextChoices):
        ISSUED = "ISSUED"
        CANCELLED = "CANCELLED"

    # Indexes (written on every issue, so only those a query uses; see Meta): org_id leads the
    # unique (org, points_reference_id), customer_id leads rewardissue_customer_promo, and group and
    # promotion, mostly empty, are indexed where set.
    org = models.ForeignKey(Org, on_delete=models.CASCADE, related_name="+", db_index=False)
    points_reference_id = models.CharField(max_length=16, help_text="pointsReferenceId: the points redemption.")
    customer = models.ForeignKey(
        "orgs.Customer", on_delete=models.PROTECT, related_name="reward_issues", db_index=False
    )
    group = models.ForeignKey(
        "orgs.CustomerGroup",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="reward_issues",
        db_index=False,
    )
    group_loyalty_redemption = models.BooleanField(default=False, help_text="GROUP_LOYALTY_REDEMPTION.")
    reward = models.ForeignKey(CatalogueReward, on_delete=models.PROTECT, related_name="issues")
    payment_config = models.ForeignKey(PaymentConfig, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    till_username = models.CharField(max_length=150, blank=True, help_text="The till the call came through.")
    requested_quantity = models.PositiveIntegerField()
    quantity = models.PositiveIntegerField()
    points = MoneyField(help_text="Points taken from the customer's (or group's) wallet.")
    redemption_value = models.DecimalField(max_digits=20, decimal_places=6, null=True, blank=True)
    coupon_codes = models.JSONField(default=list, blank=True)
    promotion = models.ForeignKey(
        Promotion, on_delete=models.PROTECT, null=True, blank=True, related_name="issues", db_index=False
    )
    voucher = models.CharField(max_length=255, blank=True)
    vendor_details = models.JSONField(default=dict, blank=True, help_text="Context values copied from the vendor.")
    custom_fields = models.JSONField(null=True, blank=True)
    fulfillment_status = models.CharField(max_length=100, blank=True)
    request_id = models.TextField(null=True, blank=True)
    idempotency = models.OneToOneField(
        "IssueRequest", on_delete=models.PROTECT, null=True, blank=True, related_name="issue"
    )
    event_log_id = models.TextField(null=True, blank=True)
    transaction_number = models.CharField(max_length=255, blank=True)
    notes = models.TextField(blank=True)
    brand = models.CharField(max_length=200, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ISSUED)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        permissions = [("revoke_rewardissue", "Can revoke an issued reward (refund its points)")]
        constraints = [
            models.UniqueConstraint(fields=["org", "points_reference_id"], name="rewardissue_org_points_ref"),
        ]
        indexes = [
            # a customer's issues (Customer 360, reward-transactions, the references to a customer
            # being deleted) and the units of a cart promotion it holds (promotion_units_held)
            models.Index(fields=["customer", "promotion"], name="rewardissue_customer_promo"),
            # the references to a group or promotion being deleted; NULL on most rows
            models.Index(fields=["group"], condition=Q(group__isnull=False), name="rewardissue_group"),
            models.Index(fields=["promotion"], condition=Q(promotion__isnull=False), name="rewardissue_promotion"),
        ]

    def __str__(self) -> str:
        return f"issue {self.pk}: reward {self.reward_id} x{self.quantity}"


class IssueRefusal(models.Model):
    """One reward of an Issue Reward call that was refused: a record of the answer only, listed by
    ``GET /v1.1/reward-transactions?status=false``, the admin and Customer 360. Written after the
    call (``catalogue.refusals``), it moves nothing and holds no requestId: the line can be sent
    again. ``reason`` names the refusal (a ``RewardNotIssued`` class), so the answer it gave is
    rendered again from it."""

    org = models.ForeignKey(Org, on_delete=models.CASCADE, related_name="+")
    customer = models.ForeignKey("orgs.Customer", on_delete=models.CASCADE, related_name="issue_refusals")
    reward = models.ForeignKey(CatalogueReward, on_delete=models.CASCADE, related_name="refusals")
    payment_config = models.ForeignKey(
        PaymentConfig, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    till_username = models.CharField(max_length=150, blank=True, help_text="The till the call came through.")
    requested_quantity = models.PositiveIntegerField()
    request_id = models.TextField(null=True, blank=True)
    event_log_id = models.TextField(null=True, blank=True)
    reason = models.CharField(max_length=40, help_text="The refusal (catalogue.errors).")
    message = models.CharField(max_length=255)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["org", "customer", "-id"], name="issuerefusal_customer")]

    def __str__(self) -> str:
        return f"refusal {self.pk}: reward {self.reward_id}: {self.message}"


class IssueRequest(models.Model):
    """A ``requestId`` seen for an org: the idempotency record of one reward of an issue call.

    ``request_key`` is the SHA-256 of the requestId (which has no length limit), unique per org.
    A PENDING row is a claim held while a vendor is called outside any transaction; a DONE row
    belongs to the RewardIssue it produced, whose answer is returned again for the same payload
    (``payload_hash``). A reward that fails leaves no row: its requestId may be retried.
    """

    class State(models.TextChoices):
        PENDING = "PENDING"
        DONE = "DONE"

    org = models.ForeignKey(Org, on_delete=models.CASCADE, related_name="+")
    request_key = models.CharField(max_length=64)
    request_id = models.TextField()
    payload_hash = models.CharField(max_length=64)
    state = models.CharField(max_length=8, choices=State.choices, default=State.PENDING)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["org", "request_key"], name="issuerequest_org_request")]

    def __str__(self) -> str:
        return f"{self.request_id} ({self.state})"


class ValidationCode(models.Model):
    """A one-time code (``POST /v1.1/points/validation_code``) that lets a customer's points be spent."""

    org = models.ForeignKey(Org, on_delete=models.CASCADE, related_name="+")
    customer = models.ForeignKey("orgs.Customer", on_delete=models.CASCADE, related_name="validation_codes")
    code_digest = models.CharField(max_length=64, help_text="SHA-256 hex digest of the code.")
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    failed_attempts = models.PositiveSmallIntegerField(
        default=0, help_text="Wrong codes tried while this one was live; at VALIDATION_CODE_MAX_ATTEMPTS it is void."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["org", "customer", "code_digest"], name="validationcode_lookup")]

    def __str__(self) -> str:
        return f"validation code of {self.customer_id} (until {self.expires_at:%Y-%m-%d %H:%M})"


class VendorException(models.Model):
    """A vendor voucher for staff to settle: UNPAID, obtained but not paid for (the points went
    meanwhile); MAYBE_TWICE, a requestId retried after a call that may have left a voucher at the
    partner (a second voucher, if the partner does not de-duplicate requestIds)."""

    class Kind(models.TextChoices):
        UNPAID = "UNPAID", "voucher without points"
        MAYBE_TWICE = "MAYBE_TWICE", "a voucher may exist at the partner"

    org = models.ForeignKey(Org, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=12, choices=Kind.choices, default=Kind.UNPAID)
    vendor_call = models.ForeignKey(
        "VendorCall", on_delete=models.SET_NULL, null=True, blank=True, related_name="+", help_text="The call flagged."
    )
    customer = models.ForeignKey("orgs.Customer", on_delete=models.PROTECT, related_name="+")
    group = models.ForeignKey("orgs.CustomerGroup", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    reward = models.ForeignKey(CatalogueReward, on_delete=models.PROTECT, related_name="+")
    quantity = models.PositiveIntegerField()
    points = MoneyField()
    voucher = models.CharField(max_length=255, blank=True, help_text="MAYBE_TWICE: the retry's voucher, once answered.")
    vendor_answer = models.JSONField(default=dict)
    reason = models.CharField(max_length=255)
    request_id = models.TextField(null=True, blank=True)
    transaction_number = models.CharField(max_length=255, blank=True)
    resolved = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        if self.kind == self.Kind.MAYBE_TWICE:
            return f"vendor voucher of {self.request_id} maybe issued twice"
        return f"vendor voucher {self.voucher} unpaid ({self.reason})"


class VendorCall(models.Model):
    """A VENDOR reward being issued: written before the partner is called, with everything needed
    to finish the issue without the caller.

    PENDING: the partner is being called. ANSWERED: the partner's voucher is recorded (its own
    short transaction) and the points are being taken. DONE: paid and recorded (``issue``).
    FAILED: the partner refused; nothing was handed out. FLAGGED: a voucher without the points
    (a ``VendorException`` for staff). ABANDONED: the process died before the partner's answer was
    recorded; no voucher was recorded. ``vendor_calls_recover`` settles PENDING and ANSWERED rows
    older than ``stale_after`` (a process that died between the partner's answer and the points).

    ``partner_may_hold_voucher``: the partner may have issued a voucher that no issue pays for
    (ABANDONED, FLAGGED, or FAILED after the request may have reached it: a timeout, a lost
    connection). A later call of the same requestId calls the partner again: it is flagged for
    staff (``retry_of``, ``staff_flag`` and a MAYBE_TWICE ``VendorException``).
    """

    class State(models.TextChoices):
        PENDING = "PENDING"
        ANSWERED = "ANSWERED"
        DONE = "DONE"
        FAILED = "FAILED"
        FLAGGED = "FLAGGED"
        ABANDONED = "ABANDONED"

    org = models.ForeignKey(Org, on_delete=models.CASCADE, related_name="+")
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    customer = models.ForeignKey("orgs.Customer", on_delete=models.PROTECT, related_name="+")
    group = models.ForeignKey("orgs.CustomerGroup", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    wallet_id = models.BigIntegerField(null=True, blank=True, help_text="The paying points wallet.")
    reward = models.ForeignKey(CatalogueReward, on_delete=models.PROTECT, related_name="+")
    payment_config = models.ForeignKey(PaymentConfig, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    claim = models.ForeignKey(IssueRequest, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    request_key = models.CharField(max_length=64, blank=True, help_text="SHA-256 of the requestId, if any.")
    requested_quantity = models.PositiveIntegerField()
    quantity = models.PositiveIntegerField()
    points = MoneyField()
    redemption_value = models.DecimalField(max_digits=20, decimal_places=6, null=True, blank=True)
    record = models.JSONField(default=dict, help_text="The RewardIssue fields of the call (till, notes, ...).")
    partner_may_hold_voucher = models.BooleanField(
        default=False, help_text="The partner may have issued a voucher for this call that no issue pays for."
    )
    retry_of = models.ForeignKey(
        "self",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="An earlier call of the same requestId that may have left a voucher at the partner.",
    )
    staff_flag = models.CharField(max_length=255, blank=True, help_text="Why staff should look at this call.")
    voucher = models.CharField(max_length=255, blank=True)
    vendor_details = models.JSONField(default=dict, blank=True)
    vendor_answer = models.JSONField(null=True, blank=True)
    issue = models.OneToOneField(RewardIssue, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    note = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    stale_after = models.DateTimeField(help_text="Recovery settles it after this moment if still open.")
    answered_at = models.DateTimeField(null=True, blank=True)
    settled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(
                fields=["stale_after"], condition=Q(state__in=["PENDING", "ANSWERED"]), name="vendorcall_open"
            ),
            models.Index(
                fields=["org", "request_key"],
                condition=Q(partner_may_hold_voucher=True),
                name="vendorcall_maybe_voucher",
            ),
        ]

    def __str__(self) -> str:
        return f"vendor call {self.pk}: reward {self.reward_id} ({self.state})"


class RewardIssueRevocation(models.Model):
    """An issued reward revoked by staff: points refunded through the ledger, coupons voided.

    One per issue (the unique constraint makes a second revocation impossible).
    """

    org = models.ForeignKey(Org, on_delete=models.CASCADE, related_name="+")
    issue = models.OneToOneField(RewardIssue, on_delete=models.PROTECT, related_name="revocation")
    reason = models.TextField()
    staff_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    staff_username = models.CharField(max_length=150, help_text="Kept if the staff account is deleted.")
    points = MoneyField(help_text="Points refunded.")
    ledger_entry = models.ForeignKey(
        "wallets.LedgerEntry", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    coupons_voided = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"revocation of issue {self.issue_id} by {self.staff_username}"


class RewardIssueChange(models.Model):
    """One change of an issued reward's fulfilment status or custom fields (``PUT
    /v1/management/transactions``): the state before and after, and who changed it."""

    org = models.ForeignKey(Org, on_delete=models.CASCADE, related_name="+")
    issue = models.ForeignKey(RewardIssue, on_delete=models.CASCADE, related_name="changes")
    till_username = models.CharField(max_length=150, blank=True)
    fulfillment_status_before = models.CharField(max_length=100, blank=True)
    fulfillment_status_after = models.CharField(max_length=100, blank=True)
    custom_fields_before = models.JSONField(null=True, blank=True)
    custom_fields_after = models.JSONField(null=True, blank=True)
    changed_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["issue", "-id"], name="rewardissuechange_issue")]

    def __str__(self) -> str:
        return f"change of issue {self.issue_id} at {self.changed_at:%Y-%m-%d %H:%M}"

"""Tenants and the people in them: orgs, credentials, customers, segments,
cards, groups (group loyalty) and AppVirality campaigns.

Every tenant-owned table carries ``org_id`` and its unique constraints
include it (docs/scaling.md). Credentials (AppCredential, Till, ApiClient) are
looked up *before* the org is known, so their keys are unique across orgs:
they become reference tables when the schema is distributed by org.
"""

import hashlib
import hmac
import secrets
import uuid

from django.conf import settings
from django.contrib.auth.hashers import check_password, make_password
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import Q
from django.db.models.functions import Now
from django.utils import timezone
from simple_history.models import HistoricalRecords


def secret_digest(secret: str) -> str:
    """SHA-256 hex digest of a long random secret (API keys, private keys).

    Such secrets carry enough entropy that a slow password hash would only cost
    every API call ~100 ms; a plain digest compared in constant time suffices.
    """
    return hashlib.sha256(secret.encode()).hexdigest()


def secret_matches(secret: str, digest: str) -> bool:
    return hmac.compare_digest(secret_digest(secret), digest)


class Org(models.Model):
    """A tenant: a Capillary org, and an AppVirality app when it has credentials."""

    id = models.BigIntegerField(primary_key=True, help_text="Capillary orgId, chosen by the operator.")
    name = models.CharField(max_length=200)
    connected_orgs = models.ManyToManyField("self", through="OrgConnection", symmetrical=True, blank=True)
    revoke_enabled = models.BooleanField(
        default=False, help_text="Capillary REVOKE_ENABLE: tills may revoke issued rewards (/v1/user/reward/revoke)."
    )
    points_currency_ratio = models.DecimalField(
        max_digits=12,
        decimal_places=6,
        default=1,
        help_text="What one point is worth at the till (points/isredeemable: points_redeem_value = points x ratio).",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(condition=Q(points_currency_ratio__gt=0), name="org_points_ratio_positive")
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.id})"


class OrgConnection(models.Model):
    """A connected-org link. Stored in both directions (the link is mutual)."""

    from_org = models.ForeignKey(Org, on_delete=models.CASCADE, related_name="+")
    to_org = models.ForeignKey(Org, on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["from_org", "to_org"], name="orgconnection_unique"),
            models.CheckConstraint(condition=~Q(from_org=models.F("to_org")), name="orgconnection_not_self"),
        ]

    def __str__(self) -> str:
        return f"{self.from_org_id} <-> {self.to_org_id}"


class AppCredential(models.Model):
    """AppVirality app credentials of an org: apikey + private key (SHA-256 digest)."""

    org = models.OneToOneField(Org, on_delete=models.CASCADE, related_name="appvirality")
    apikey = models.CharField(max_length=128, unique=True)
    privatekey_digest = models.CharField(max_length=64, help_text="SHA-256 hex digest of the private key.")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"AppVirality app of org {self.org_id}"

    def set_privatekey(self, privatekey: str) -> None:
        self.privatekey_digest = secret_digest(privatekey)

    def check_privatekey(self, privatekey: str) -> bool:
        return secret_matches(privatekey, self.privatekey_digest)


def md5_hex(text: str) -> str:
    """What a Capillary client sends as its Basic-auth password: ``md5_hex(password)``."""
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


class Till(models.Model):
    """A Capillary till: the Basic-auth user of the issue API.

    Capillary clients send ``md5_hex(password)`` (some send the password itself), so the
    stored value is Django's password hash of ``md5_hex(password)``: one hash accepts both.
    A presented value shaped like an MD5 hex digest is the digest, unless the password itself
    has that shape (``password_hex_shaped``): only then does a check cost two hash runs.
    """

    org = models.ForeignKey(Org, on_delete=models.CASCADE, related_name="tills")
    username = models.CharField(max_length=150, unique=True)
    password = models.CharField(max_length=256)
    password_hex_shaped = models.BooleanField(
        default=True,
        help_text="The password itself looks like an MD5 hex digest (32 hex digits), or was set "
        "before this was recorded: a digest-shaped credential is then checked both ways.",
    )
    is_active = models.BooleanField(default=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["org", "username"], name="till_org_username")]

    def __str__(self) -> str:
        return self.username

    def set_password(self, raw_password: str) -> None:
        self.password = make_password(md5_hex(raw_password))
        self.password_hex_shaped = looks_md5(raw_password)

    def check_password(self, presented: str) -> bool:
        """The password or its MD5 hex digest (Capillary's Basic auth)."""
        return any(check_password(candidate, self.password) for candidate in till_password_candidates(presented, self))


def looks_md5(text: str) -> bool:
    return len(text) == 32 and all(c in "0123456789abcdef" for c in text.lower())


def till_password_candidates(presented: str, till: Till | None) -> list[str]:
    """What the stored hash may be of, most likely first: the digest a client sent, or the digest
    of the password it sent. Both only for a till whose password looks like a digest itself."""
    if not looks_md5(presented):
        return [md5_hex(presented)]
    if till is not None and till.password_hex_shaped:
        return [presented.lower(), md5_hex(presented)]
    return [presented.lower()]


class ApiClient(models.Model):
    """An OAuth client (key + secret) of an org, for /v3/oauth/token/generate."""

    org = models.ForeignKey(Org, on_delete=models.CASCADE, related_name="api_clients")
    key = models.CharField(max_length=128, unique=True)
    secret_digest = models.CharField(max_length=64, help_text="SHA-256 hex digest of the secret.")
    is_active = models.BooleanField(default=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["org", "key"], name="apiclient_org_key")]

    def __str__(self) -> str:
        return self.key

    def set_secret(self, secret: str) -> None:
        self.secret_digest = secret_digest(secret)

    def check_secret(self, secret: str) -> bool:
        return secret_matches(secret, self.secret_digest)


class Segment(models.Model):
    org = models.ForeignKey(Org, on_delete=models.CASCADE, related_name="segments")
    name = models.CharField(max_length=100)

    class Meta:
        ordering = ["org_id", "name"]
        constraints = [models.UniqueConstraint(fields=["org", "name"], name="segment_org_name")]

    def __str__(self) -> str:
        return self.name


REFERRAL_CODE_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
REFERRAL_CODE_LENGTH = 8


def referral_code_new() -> str:
    """A fresh referral code: 8 characters from A-Z0-9 (36**8 codes), from the OS's CSPRNG."""
    return "".join(secrets.choice(REFERRAL_CODE_ALPHABET) for _ in range(REFERRAL_CODE_LENGTH))


def email_normalized(email: str | None) -> str | None:
    """The one form an email is stored and looked up in: stripped and lower-cased (None if blank)."""
    email = (email or "").strip().lower()
    return email or None


class Customer(models.Model):
    """A loyalty member. Identified within its org by user key, external id, email or mobile
    (``orgs.selectors.customer_key``: the one lookup both APIs use).

    ``referral_code`` is what the user shares; ``referrer`` the user whose code they came with
    (set once, never the user themself: AppVirality ``updateuserinfo``).
    """

    org = models.ForeignKey(Org, on_delete=models.CASCADE, related_name="customers")
    external_id = models.CharField(max_length=150, help_text="AppVirality UserIdInstore, Capillary externalId.")
    user_key = models.UUIDField(default=uuid.uuid4, help_text="AppVirality userkey.")
    email = models.EmailField(max_length=254, null=True, blank=True)
    mobile = models.CharField(max_length=20, null=True, blank=True)
    blocked = models.BooleanField(default=False)
    segments = models.ManyToManyField(Segment, through="CustomerSegment", blank=True, related_name="customers")
    name = models.CharField(max_length=200, blank=True, default="", db_default="")
    referral_code = models.CharField(
        max_length=REFERRAL_CODE_LENGTH,
        null=True,  # rows written by raw SQL (bulk loaders) get theirs when first asked (updateuserinfo)
        blank=True,
        default=referral_code_new,
        help_text="The code this user shares (A-Z0-9, matched case-insensitively; stored upper-case).",
    )
    referrer = models.ForeignKey(
        "self",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="referees",
        help_text="The user whose referral code this one came with (set once).",
    )
    registered_at = models.DateTimeField(default=timezone.now, db_default=Now(), help_text="AppVirality regDate.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["org_id", "external_id"]
        indexes = [
            models.Index(
                fields=["org", "referrer", "registered_at", "id"],
                condition=Q(referrer__isnull=False),
                name="customer_referees",
            )
        ]
        constraints = [
            models.UniqueConstraint(fields=["org", "referral_code"], name="customer_org_referral_code"),
            models.CheckConstraint(condition=~Q(referrer=models.F("id")), name="customer_not_own_referrer"),
            models.UniqueConstraint(fields=["org", "external_id"], name="customer_org_external_id"),
            models.UniqueConstraint(fields=["org", "user_key"], name="customer_org_user_key"),
            models.UniqueConstraint(
                fields=["org", "email"], condition=Q(email__isnull=False), name="customer_org_email"
            ),
            models.UniqueConstraint(
                fields=["org", "mobile"], condition=Q(mobile__isnull=False), name="customer_org_mobile"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.external_id} @ {self.org_id}"

    def save(self, *args, **kwargs):
        # Stored in the form every lookup uses, however it was typed (the admin, the ORM).
        self.email = email_normalized(self.email)
        super().save(*args, **kwargs)


class CustomerSegment(models.Model):
    org = models.ForeignKey(Org, on_delete=models.CASCADE, related_name="+")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE)
    segment = models.ForeignKey(Segment, on_delete=models.CASCADE)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["org", "customer", "segment"], name="customersegment_unique")]

    def __str__(self) -> str:
        return f"{self.customer_id} in {self.segment_id}"


class Card(models.Model):
    """A card or label linked to a customer. Rewards need an ACTIVE one when any exist."""

    class Status(models.TextChoices):
        ACTIVE = "ACTIVE"
        INACTIVE = "INACTIVE"

    org = models.ForeignKey(Org, on_delete=models.CASCADE, related_name="+")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="cards")
    number = models.CharField(max_length=100)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["org", "number"], name="card_org_number")]

    def __str__(self) -> str:
        return f"{self.number} ({self.status})"


class CustomerGroup(models.Model):
    """A group-loyalty group (Capillary user_group2): members pay from the group's points."""

    id = models.BigIntegerField(primary_key=True, help_text="Capillary user_group2_id.")
    org = models.ForeignKey(Org, on_delete=models.CASCADE, related_name="groups")
    external_id = models.CharField(max_length=150, null=True, blank=True)
    primary = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="primary_of_groups")
    members = models.ManyToManyField(Customer, through="GroupMember", related_name="loyalty_groups")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["org", "id"], name="customergroup_org_id"),
            models.UniqueConstraint(
                fields=["org", "external_id"], condition=Q(external_id__isnull=False), name="customergroup_org_ext"
            ),
        ]

    def __str__(self) -> str:
        return f"group {self.id} ({self.external_id or '-'})"


class GroupMember(models.Model):
    org = models.ForeignKey(Org, on_delete=models.CASCADE, related_name="+")
    group = models.ForeignKey(CustomerGroup, on_delete=models.CASCADE)
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["org", "group", "customer"], name="groupmember_unique")]

    def __str__(self) -> str:
        return f"{self.customer_id} in group {self.group_id}"


class Campaign(models.Model):
    """An AppVirality campaign: what users earn rewards in, and how they are paid out."""

    class GrowthHack(models.TextChoices):
        WORD_OF_MOUTH = "Word_of_Mouth", "Word of mouth (referral)"
        LOYALTY_PROGRAM = "Loyalty_Program", "Loyalty program"

    class RewardType(models.TextChoices):
        WALLET = "WALLET", "Wallet (in-store credits)"
        COUPONS = "COUPONS", "Coupons"

    class CouponDistribution(models.TextChoices):
        BY_ORDER = "BY_ORDER", "By the order I choose"
        BY_EVENT = "BY_EVENT", "By the event I choose"
        USER_WILL_CHOOSE = "USER_WILL_CHOOSE", "User will choose"

    org = models.ForeignKey(Org, on_delete=models.CASCADE, related_name="campaigns")
    code = models.CharField(max_length=100, help_text="AppVirality campaignId.")
    name = models.CharField(max_length=200, blank=True)
    growth_hack = models.CharField(max_length=20, choices=GrowthHack.choices)
    reward_type = models.CharField(max_length=10, choices=RewardType.choices)
    coupon_distribution = models.CharField(max_length=20, choices=CouponDistribution.choices, null=True, blank=True)
    active = models.BooleanField(default=True)
    ends_at = models.DateTimeField(null=True, blank=True)
    eligible_segment = models.ForeignKey(Segment, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    reward_unit = models.CharField(
        max_length=32,
        blank=True,
        default="credits",
        db_default="credits",
        help_text="What the amounts are in (free text: INR, Points, credits).",
    )
    history = HistoricalRecords()

    class Meta:
        ordering = ["org_id", "code"]
        constraints = [
            models.UniqueConstraint(fields=["org", "code"], name="campaign_org_code"),
            models.CheckConstraint(
                condition=Q(reward_type="WALLET", coupon_distribution__isnull=True)
                | Q(reward_type="COUPONS", coupon_distribution__isnull=False),
                name="campaign_distribution_matches_type",
            ),
        ]

    def __str__(self) -> str:
        return self.code


# --- Events and webhooks -----------------------------------------------------------------------


class EventKind(models.TextChoices):
    REDEMPTION = "redemption", "Redemption (AppVirality Redeem Rewards)"
    ISSUE = "issue", "Reward issued (Capillary Issue Reward)"
    REVERSAL = "reversal", "Reversal of a redemption or issue"
    ADJUSTMENT = "adjustment", "Manual wallet adjustment"
    LOW_STOCK = "low_stock", "Coupon pool below its stock level"
    CONVERSION = "conversion", "Rewards earned by a conversion event (AppVirality)"
    REWARD_STATUS = "reward_status", "Earned reward status changed (review)"


class WebhookFormat(models.TextChoices):
    NATIVE = "native", "This service's event envelope"
    APPVIRALITY = "appvirality", "AppVirality's webhook JSON (conversion, friend, referrer)"


APPVIRALITY_WEBHOOK_KINDS = (EventKind.CONVERSION, EventKind.REWARD_STATUS)


class WebhookEndpoint(models.Model):
    """A URL of an org that receives its events, signed with HMAC-SHA256 (``secret``)."""

    org = models.ForeignKey(Org, on_delete=models.CASCADE, related_name="webhook_endpoints")
    url = models.URLField(max_length=500)
    secret = models.CharField(
        max_length=200, help_text="Key of the HMAC-SHA256 signature (X-Rewards-Signature) over the raw body."
    )
    securekey = models.CharField(
        max_length=200,
        blank=True,
        help_text="AppVirality 'Secure Key': sent as \"securekey\" in every payload, for receivers that check it.",
    )
    kinds = models.JSONField(default=list, blank=True, help_text="Event kinds sent here; empty: every kind.")
    format = models.CharField(
        max_length=12,
        choices=WebhookFormat.choices,
        blank=True,
        default=WebhookFormat.NATIVE,
        db_default=WebhookFormat.NATIVE,
        help_text="appvirality: the body is AppVirality's webhook JSON (for conversions and reward statuses).",
    )
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords(excluded_fields=["secret"])

    class Meta:
        ordering = ["org_id", "id"]

    def __str__(self) -> str:
        return self.url

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        if not isinstance(self.kinds, list) or not set(self.kinds) <= set(EventKind.values):
            raise ValidationError({"kinds": f"a list of event kinds among {', '.join(EventKind.values)}"})

    def wants(self, kind: str) -> bool:
        if self.format == WebhookFormat.APPVIRALITY and kind not in APPVIRALITY_WEBHOOK_KINDS:
            return False  # AppVirality's webhook JSON exists for rewards only
        return not self.kinds or kind in self.kinds


class OutboxEvent(models.Model):
    """An event, written in the transaction of the change it reports; delivered at least once.

    ``event_id`` is the id receivers de-duplicate on (header X-Rewards-Event-Id and ``"id"``).
    ``dispatched_at`` is set once a worker has fanned the event out into one
    ``WebhookDelivery`` per endpoint: rows still without it are re-queued by the sweep.
    """

    org = models.ForeignKey(Org, on_delete=models.CASCADE, related_name="+")
    event_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    kind = models.CharField(max_length=16, choices=EventKind.choices)
    payload = models.JSONField(default=dict, encoder=DjangoJSONEncoder)
    created_at = models.DateTimeField(auto_now_add=True)
    dispatched_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["created_at"], condition=Q(dispatched_at__isnull=True), name="outbox_undispatched"),
            models.Index(fields=["created_at"], name="outbox_created"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.event_id}"


class WebhookDelivery(models.Model):
    """One event for one endpoint: attempts, back-off and the dead-letter state."""

    class State(models.TextChoices):
        PENDING = "PENDING"
        DELIVERED = "DELIVERED"
        DEAD = "DEAD", "Dead-lettered"

    org = models.ForeignKey(Org, on_delete=models.CASCADE, related_name="+")
    event = models.ForeignKey(OutboxEvent, on_delete=models.CASCADE, related_name="deliveries")
    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(help_text="When the next attempt is due (PENDING).")
    leased_until = models.DateTimeField(
        null=True, blank=True, help_text="A worker is sending it until then; others leave it alone."
    )
    last_status = models.SmallIntegerField(null=True, blank=True, help_text="HTTP status of the last attempt.")
    last_error = models.CharField(max_length=500, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "webhook deliveries"
        constraints = [models.UniqueConstraint(fields=["event", "endpoint"], name="webhookdelivery_event_endpoint")]
        indexes = [
            models.Index(fields=["next_attempt_at"], condition=Q(state="PENDING"), name="webhookdelivery_due"),
        ]

    def __str__(self) -> str:
        return f"{self.event_id} -> {self.endpoint_id} ({self.state})"


class CustomerNote(models.Model):
    """A note support staff leave on a customer (shown on the Customer 360 page)."""

    org = models.ForeignKey(Org, on_delete=models.CASCADE, related_name="+")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="notes")
    text = models.TextField()
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    author_username = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["org", "customer", "-id"], name="customernote_customer")]

    def __str__(self) -> str:
        return f"note on {self.customer_id} by {self.author_username or '-'}"

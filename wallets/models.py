"""Wallets (credits and points) with an append-only ledger, and earned rewards.

The database itself keeps the books (migration ``0002_ledger_guards``):

* ``wallet.balance >= 0`` is a CHECK constraint;
* ledger entries cannot be updated, and not deleted outside an org purge;
* on PostgreSQL, deferred constraint triggers check at commit that every
  entry's ``balance_after`` continues its wallet's chain
  (previous ``balance_after`` + ``delta``) and that the wallet's cached
  balance equals its latest ``balance_after``, hence the sum of its entries.

Only ``wallets.services.wallet_post`` writes balances.
"""

import uuid
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Lower
from simple_history.models import HistoricalRecords

from core.money import ZERO, MoneyField
from orgs.models import Campaign, Customer, CustomerGroup, Org


class Wallet(models.Model):
    class Kind(models.TextChoices):
        CREDITS = "CREDITS", "In-store credits"
        POINTS = "POINTS", "Loyalty points"

    org = models.ForeignKey(Org, on_delete=models.CASCADE, related_name="wallets")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, null=True, blank=True, related_name="wallets")
    group = models.ForeignKey(CustomerGroup, on_delete=models.CASCADE, null=True, blank=True, related_name="wallets")
    balance = MoneyField(default=ZERO, help_text="Cached sum of the ledger entries; changed only by the ledger.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        permissions = [("adjust_wallet", "Can credit or debit a wallet by a manual adjustment")]
        constraints = [
            models.CheckConstraint(condition=Q(balance__gte=0), name="wallet_balance_non_negative"),
            models.CheckConstraint(
                condition=Q(customer__isnull=False, group__isnull=True) | Q(customer__isnull=True, group__isnull=False),
                name="wallet_exactly_one_owner",
            ),
            models.UniqueConstraint(
                fields=["org", "kind", "customer"], condition=Q(customer__isnull=False), name="wallet_org_kind_customer"
            ),
            models.UniqueConstraint(
                fields=["org", "kind", "group"], condition=Q(group__isnull=False), name="wallet_org_kind_group"
            ),
        ]

    def __str__(self) -> str:
        owner = f"customer {self.customer_id}" if self.customer_id else f"group {self.group_id}"
        return f"{self.get_kind_display()} of {owner} @ {self.org_id}"


class LedgerEntry(models.Model):
    """One balance change. Append-only: never updated or deleted."""

    class Kind(models.TextChoices):
        OPENING = "OPENING", "Opening balance"
        REDEMPTION = "REDEMPTION", "Rewards redeemed into the wallet"
        ISSUE = "ISSUE", "Points spent on an issued reward"
        REVERSAL = "REVERSAL", "Reversal of a redemption or issue"
        ADJUSTMENT = "ADJUSTMENT", "Manual adjustment by staff"
        POINTS_REDEEM = "POINTS_REDEEM", "Points redeemed at a till"
        POINTS_REVERSE = "POINTS_REVERSE", "Till redemption reversed"

    org = models.ForeignKey(Org, on_delete=models.CASCADE, related_name="+")
    # indexed by ledger_wallet_id (wallet, id), which every lookup by wallet uses
    wallet = models.ForeignKey(Wallet, on_delete=models.PROTECT, related_name="entries", db_index=False)
    delta = MoneyField()
    balance_after = MoneyField()
    kind = models.CharField(max_length=16, choices=Kind.choices)
    reference = models.CharField(max_length=64, blank=True, help_text="What caused it: a redemption, an issue, ...")
    memo = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "ledger entries"
        ordering = ["wallet_id", "id"]
        indexes = [models.Index(fields=["wallet", "id"], name="ledger_wallet_id")]
        constraints = [
            models.CheckConstraint(condition=~Q(delta=0), name="ledger_delta_non_zero"),
            models.CheckConstraint(condition=Q(balance_after__gte=0), name="ledger_balance_after_non_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.delta:+} -> {self.balance_after}"


@dataclass(frozen=True)
class RuleSide:
    """One side of a rule (referrer, friend or user) as the services read it."""

    amount: Decimal | None
    percent: Decimal | None
    cap: Decimal | None
    coupon: bool


RULE_SIDES = ("referrer", "friend", "user")


class CampaignRule(models.Model):
    """What a conversion event earns in a campaign (AppVirality ``registerconversionevent``).

    For an event name (matched case-insensitively): what the referrer and the friend earn
    (Word_of_Mouth), or the user (Loyalty_Program). A side pays a fixed ``amount``, or
    ``percent`` of the transaction value (half-up to cents), at most ``max`` when set; on a
    COUPONS campaign a side is one coupon (``coupon``). ``per_user``: how many of one user's
    events pay under the rule; ``review_days``: how long new rewards stay under review.
    """

    SIDES = RULE_SIDES

    org = models.ForeignKey(Org, on_delete=models.CASCADE, related_name="+")
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="rules")
    event = models.CharField(max_length=100, help_text="Install, Signup, Transaction or a custom name.")
    referrer_amount = MoneyField(null=True, blank=True)
    referrer_percent = models.DecimalField(max_digits=5, decimal_places=2, null=True, blank=True)
    referrer_max = MoneyField(null=True, blank=True)
    referrer_coupon = models.BooleanField(default=False)
    friend_amount = MoneyField(null=True, blank=True)
    friend_percent = models.DecimalField(max_digits=5, decimal_places=2, null=True, blank=True)
    friend_max = MoneyField(null=True, blank=True)
    friend_coupon = models.BooleanField(default=False)
    user_amount = MoneyField(null=True, blank=True)
    user_percent = models.DecimalField(max_digits=5, decimal_places=2, null=True, blank=True)
    user_max = MoneyField(null=True, blank=True)
    user_coupon = models.BooleanField(default=False)
    per_user = models.PositiveIntegerField(default=1, help_text="Events of one user paid under this rule, at most.")
    review_days = models.PositiveIntegerField(default=0, help_text="New rewards stay under review this many days.")
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["org_id", "campaign_id", "id"]
        constraints = [
            models.UniqueConstraint(F("campaign"), Lower("event"), name="campaignrule_campaign_event"),
            models.CheckConstraint(condition=Q(per_user__gte=1), name="campaignrule_per_user_positive"),
            *(
                models.CheckConstraint(
                    condition=(Q(**{f"{side}_amount__isnull": True}) | Q(**{f"{side}_percent__isnull": True}))
                    & (Q(**{f"{side}_amount__isnull": True}) | Q(**{f"{side}_amount__gt": 0}))
                    & (Q(**{f"{side}_percent__isnull": True}) | Q(**{f"{side}_percent__gt": 0}))
                    & (Q(**{f"{side}_max__isnull": True}) | Q(**{f"{side}_percent__isnull": False}))
                    & (
                        Q(**{f"{side}_coupon": False})
                        | Q(**{f"{side}_amount__isnull": True, f"{side}_percent__isnull": True})
                    ),
                    name=f"campaignrule_{side}_one_kind",
                )
                for side in RULE_SIDES
            ),
        ]

    def __str__(self) -> str:
        return f"{self.campaign_id}: {self.event}"

    def side(self, name: str) -> RuleSide | None:
        amount, percent = getattr(self, f"{name}_amount"), getattr(self, f"{name}_percent")
        coupon = getattr(self, f"{name}_coupon")
        if amount is None and percent is None and not coupon:
            return None
        return RuleSide(amount=amount, percent=percent, cap=getattr(self, f"{name}_max"), coupon=coupon)

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        campaign = self.campaign if self.campaign_id else None
        problems = {}
        for name in self.SIDES:
            side = self.side(name)
            if side is None or campaign is None:
                continue
            wanted = ("referrer", "friend") if campaign.growth_hack == Campaign.GrowthHack.WORD_OF_MOUTH else ("user",)
            if name not in wanted:
                pays = " and ".join(wanted)
                problems[f"{name}_amount"] = f"a {campaign.get_growth_hack_display()} campaign pays the {pays}"
            elif campaign.reward_type == Campaign.RewardType.COUPONS and not side.coupon:
                problems[f"{name}_coupon"] = "a COUPONS campaign's reward is one coupon"
            elif campaign.reward_type == Campaign.RewardType.WALLET and side.coupon:
                problems[f"{name}_coupon"] = "a WALLET campaign's reward is an amount"
        if problems:
            raise ValidationError(problems)


class ConversionEvent(models.Model):
    """One ``registerconversionevent`` call that was accepted: what the user did.

    ``tskey`` makes the call idempotent: unique per user (the constraint, not a check), and
    ``answer`` keeps the first call's rewards so that a repeat answers the same.
    """

    # no index of its own: conversionevent_customer leads with it
    org = models.ForeignKey(Org, on_delete=models.CASCADE, related_name="+", db_index=False)
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="conversion_events")
    event_name = models.CharField(max_length=100)
    transaction_value = MoneyField(null=True, blank=True)
    transaction_unit = models.CharField(max_length=32, blank=True)
    extra_info = models.TextField(blank=True, max_length=1000)
    tskey = models.CharField(max_length=100, null=True, blank=True)
    answer = models.JSONField(null=True, blank=True, help_text="The rewards the first call answered (for repeats).")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            # NULLs are distinct: events without a tskey never conflict.
            models.UniqueConstraint(fields=["org", "customer", "tskey"], name="conversionevent_tskey")
        ]
        indexes = [models.Index(fields=["org", "customer", "-id"], name="conversionevent_customer")]

    def __str__(self) -> str:
        return f"{self.event_name} of {self.customer_id}"


class RuleUsage(models.Model):
    """How many of one user's events a rule has paid: the ``per_user`` limit, kept by one upsert."""

    org = models.ForeignKey(Org, on_delete=models.CASCADE, related_name="+")
    # no index of its own: ruleusage_rule_customer leads with it
    rule = models.ForeignKey(CampaignRule, on_delete=models.CASCADE, related_name="usages", db_index=False)
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["rule", "customer"], name="ruleusage_rule_customer")]

    def __str__(self) -> str:
        return f"rule {self.rule_id} x{self.count} for {self.customer_id}"


class EarnedReward(models.Model):
    """An AppVirality reward detail: what a user earned in a campaign.

    WALLET campaigns carry an ``amount`` that may be redeemed in parts
    (``redeemed_amount``); COUPONS campaigns earn one coupon each (no amount).
    ``status`` is the redemption state; ``review_status`` the review life cycle
    (UnderReview -> Approved | Rejected | Suspicious): only approved rewards can be
    redeemed, and a consumed reward is approved (a constraint) and can no longer change.
    """

    class Status(models.TextChoices):
        UNREDEEMED = "UNREDEEMED"
        REDEEMED = "REDEEMED"

    class Review(models.TextChoices):
        UNDER_REVIEW = "UNDER_REVIEW", "Under review"
        APPROVED = "APPROVED", "Approved"
        REJECTED = "REJECTED", "Rejected"
        SUSPICIOUS = "SUSPICIOUS", "Suspicious"

    class Beneficiary(models.TextChoices):
        REFERRER = "referrer"
        FRIEND = "friend"
        USER = "user"

    # no index of its own: earnedreward_org_code leads with it
    org = models.ForeignKey(Org, on_delete=models.CASCADE, related_name="+", db_index=False)
    code = models.CharField(max_length=100, help_text="AppVirality reward detail id (rewarddtlid).")
    campaign = models.ForeignKey(Campaign, on_delete=models.PROTECT, related_name="earned_rewards")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="earned_rewards")
    amount = MoneyField(null=True, blank=True)
    redeemed_amount = MoneyField(default=ZERO)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.UNREDEEMED)
    earned_at = models.DateTimeField()
    redeemed_at = models.DateTimeField(null=True, blank=True)
    review_status = models.CharField(
        max_length=12, choices=Review.choices, default=Review.APPROVED, db_default=Review.APPROVED
    )
    review_until = models.DateTimeField(
        null=True, blank=True, help_text="Under review until then; the review job approves it afterwards."
    )
    review_comment = models.CharField(max_length=500, blank=True, default="", db_default="")
    reviewed_by = models.CharField(
        max_length=150, blank=True, default="", db_default="", help_text="Who set the review status last."
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    beneficiary = models.CharField(max_length=8, choices=Beneficiary.choices, blank=True, default="", db_default="")
    conversion = models.ForeignKey(
        ConversionEvent, on_delete=models.PROTECT, null=True, blank=True, related_name="rewards"
    )
    rule = models.ForeignKey(CampaignRule, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    coupon = models.OneToOneField(
        "coupons.Coupon",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="earned_reward",
        help_text="The coupon handed out for it (coupons by the event or by the order).",
    )
    history = HistoricalRecords(excluded_fields=["redeemed_amount", "redeemed_at"])

    class Meta:
        ordering = ["org_id", "earned_at", "id"]
        permissions = [("review_earnedreward", "Can approve, reject or flag earned rewards")]
        constraints = [
            models.UniqueConstraint(fields=["org", "code"], name="earnedreward_org_code"),
            models.CheckConstraint(condition=Q(amount__isnull=True) | Q(amount__gt=0), name="earnedreward_amount_pos"),
            models.CheckConstraint(
                condition=Q(redeemed_amount__gte=0)
                & (Q(amount__isnull=True, redeemed_amount=0) | Q(redeemed_amount__lte=F("amount"))),
                name="earnedreward_redeemed_within_amount",
            ),
            models.CheckConstraint(
                condition=Q(review_status="APPROVED") | Q(status="UNREDEEMED", redeemed_amount=0),
                name="earnedreward_consumed_is_approved",
            ),
        ]
        indexes = [
            # the campaign in it: wallets_redeem_call picks a user's wallet rewards from the index
            # alone (an index-only scan), not from the row of each of the user's coupon rewards
            models.Index(
                fields=["org", "customer", "earned_at", "id"],
                include=["campaign"],
                condition=Q(status="UNREDEEMED"),
                name="earnedreward_unredeemed",
            ),
            models.Index(
                fields=["review_until", "id"], condition=Q(review_status="UNDER_REVIEW"), name="earnedreward_in_review"
            ),
            models.Index(
                fields=["earned_at", "id"],
                condition=Q(status="UNREDEEMED", review_status="APPROVED", coupon__isnull=True, rule__isnull=False)
                & Q(amount__isnull=True),
                name="earnedreward_coupon_waiting",
            ),
        ]

    def __str__(self) -> str:
        return self.code

    @property
    def remaining(self):
        return (self.amount or ZERO) - self.redeemed_amount


class RedemptionCall(models.Model):
    """One authenticated call of the Redeem Rewards API: who, what, the outcome, what moved."""

    class Mode(models.TextChoices):
        IDS = "IDS", "By reward ids"
        AMOUNT = "AMOUNT", "By amount"
        POOL = "POOL", "By coupon pool"

    org = models.ForeignKey(Org, on_delete=models.CASCADE, related_name="+")
    customer = models.ForeignKey(
        Customer, on_delete=models.SET_NULL, null=True, blank=True, related_name="redemption_calls"
    )
    mode = models.CharField(max_length=8, choices=Mode.choices, blank=True)
    user_identifier = models.CharField(max_length=254, blank=True, help_text="The identifier the caller sent.")
    request_summary = models.JSONField(default=dict, help_text="The request without credentials.")
    status_code = models.SmallIntegerField(help_text="AppVirality statuscode answered.")
    http_status = models.SmallIntegerField(default=200)
    response = models.JSONField(default=dict)
    amount = MoneyField(null=True, blank=True, help_text="Credits moved into the wallet.")
    reward_codes = models.JSONField(default=list, blank=True, help_text="Earned rewards consumed.")
    reward_amounts = models.JSONField(
        default=dict, blank=True, help_text="Amount taken from each earned reward (code: amount), for reversals."
    )
    coupon = models.ForeignKey("coupons.Coupon", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    ledger_entry = models.ForeignKey(LedgerEntry, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    reference = models.UUIDField(default=uuid.uuid4, unique=True, help_text="Written on the ledger entries it made.")
    idempotency_key = models.CharField(max_length=255, blank=True)
    replayed = models.BooleanField(default=False, help_text="Answered from the Idempotency-Key store.")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-id"]
        permissions = [("reverse_redemption", "Can reverse a redemption")]
        indexes = [
            models.Index(fields=["org", "customer", "-id"], name="redemptioncall_customer"),
            models.Index(fields=["org", "status_code", "-id"], name="redemptioncall_status"),
        ]

    def __str__(self) -> str:
        return f"Redemption call {self.pk}"


class IdempotencyKey(models.Model):
    """The first answer given to an ``Idempotency-Key`` (per app), replayed for 24 hours."""

    org = models.ForeignKey(Org, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    body_digest = models.CharField(max_length=64, help_text="SHA-256 of the request body.")
    http_status = models.SmallIntegerField(null=True)
    response = models.JSONField(null=True)
    created_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["org", "key"], name="idempotencykey_org_key")]
        indexes = [models.Index(fields=["created_at"], name="idempotencykey_created")]

    def __str__(self) -> str:
        return self.key


class Discrepancy(models.Model):
    """A finding of the reconciliation: something in the books that does not add up.

    Recorded once per (check, subject) while open (``resolved_at`` empty); a later run that
    finds it again updates ``found`` and ``last_seen``. Nothing is corrected here: staff settle
    a finding through the adjustment or reversal services, and the next run that no longer
    finds it marks it resolved.
    """

    org = models.ForeignKey(Org, on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    check_name = models.CharField(max_length=40, help_text="Which reconciliation check found it.")
    subject = models.CharField(max_length=100, help_text="The row concerned: table:id.")
    expected = models.CharField(max_length=255, blank=True)
    found = models.CharField(max_length=255, blank=True)
    detail = models.TextField(blank=True)
    first_seen = models.DateTimeField()
    last_seen = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolution = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["-last_seen", "-id"]
        verbose_name_plural = "discrepancies"
        constraints = [
            models.UniqueConstraint(
                fields=["check_name", "subject"], condition=Q(resolved_at__isnull=True), name="discrepancy_open_once"
            )
        ]
        indexes = [models.Index(fields=["org", "-last_seen"], name="discrepancy_org_seen")]

    def __str__(self) -> str:
        return f"{self.check_name} {self.subject}: expected {self.expected}, found {self.found}"


class ReconciliationRun(models.Model):
    """A completed reconciliation: written in the transaction that records its findings."""

    started_at = models.DateTimeField()
    finished_at = models.DateTimeField()
    wallets_checked = models.BigIntegerField(default=0)
    findings = models.PositiveIntegerField(default=0, help_text="Open findings after the run.")
    new_findings = models.PositiveIntegerField(default=0)
    resolved = models.PositiveIntegerField(default=0)
    batches = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"run {self.pk} at {self.finished_at:%Y-%m-%d %H:%M}: {self.findings} open"


class RedemptionReversal(models.Model):
    """A redemption undone by staff: rewards back to unredeemed, the credits taken back (or the coupon voided).

    One per redemption call (the unique constraint makes a second reversal impossible).
    """

    org = models.ForeignKey(Org, on_delete=models.CASCADE, related_name="+")
    redemption_call = models.OneToOneField(RedemptionCall, on_delete=models.PROTECT, related_name="reversal")
    reason = models.TextField()
    staff_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    staff_username = models.CharField(max_length=150, help_text="Kept if the staff account is deleted.")
    amount = MoneyField(null=True, blank=True, help_text="Credits taken back from the wallet.")
    ledger_entry = models.ForeignKey(LedgerEntry, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"reversal of call {self.redemption_call_id} by {self.staff_username}"


class WalletAdjustment(models.Model):
    """A manual credit or debit of a wallet by staff, with its reason and ledger entry."""

    org = models.ForeignKey(Org, on_delete=models.CASCADE, related_name="+")
    wallet = models.ForeignKey(Wallet, on_delete=models.PROTECT, related_name="adjustments")
    delta = MoneyField()
    reason = models.TextField()
    staff_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    staff_username = models.CharField(max_length=150, help_text="Kept if the staff account is deleted.")
    ledger_entry = models.OneToOneField(LedgerEntry, on_delete=models.PROTECT, related_name="adjustment")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"adjustment {self.delta:+} of wallet {self.wallet_id} by {self.staff_username}"


class PointsRedemption(models.Model):
    """Points taken at a till (Capillary ``POST /v1.1/points/redeem``): one POINTS_REDEEM ledger entry.

    ``reference`` is the ``redemption_id`` the till gets back; the ledger entry's reference is
    ``points-redeem:<reference>``. ``transaction_number`` is the till's idempotency key, unique
    per customer. ``reversed_points`` grows with each reversal and never exceeds ``points``
    (a CHECK constraint; the reversal service moves it in one conditional UPDATE).
    """

    org = models.ForeignKey(Org, on_delete=models.CASCADE, related_name="+")
    reference = models.CharField(max_length=16, help_text="redemption_id, as answered to the till.")
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="points_redemptions")
    group = models.ForeignKey(CustomerGroup, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    wallet = models.ForeignKey(Wallet, on_delete=models.PROTECT, related_name="+")
    points = MoneyField()
    reversed_points = MoneyField(default=ZERO)
    points_currency_ratio = models.DecimalField(max_digits=12, decimal_places=6)
    redeemed_value = MoneyField(help_text="points x the org's points_currency_ratio at the time.")
    balance_after = MoneyField(help_text="The wallet's balance right after: answered again on a replay.")
    transaction_number = models.CharField(max_length=255, null=True, blank=True)
    till_username = models.CharField(max_length=150, blank=True)
    notes = models.TextField(blank=True)
    redemption_time = models.CharField(max_length=64, blank=True, help_text="As the till sent it.")
    ledger_entry = models.OneToOneField(LedgerEntry, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["org", "reference"], name="pointsredemption_org_reference"),
            models.UniqueConstraint(
                fields=["org", "customer", "transaction_number"], name="pointsredemption_transaction_once"
            ),
            models.CheckConstraint(condition=Q(points__gt=0), name="pointsredemption_points_positive"),
            models.CheckConstraint(
                condition=Q(reversed_points__gte=0, reversed_points__lte=F("points")),
                name="pointsredemption_reversed_within_points",
            ),
        ]
        indexes = [models.Index(fields=["org", "customer", "-id"], name="pointsredemption_customer")]

    def __str__(self) -> str:
        return f"till redemption {self.reference}: {self.points} points"

    @property
    def reversible(self):
        return self.points - self.reversed_points


class PointsReversal(models.Model):
    """Points given back on a till redemption (Capillary ``POST /v2/points/reverse``): a
    POINTS_REVERSE ledger entry referencing ``points-reverse:<redemption reference>``."""

    org = models.ForeignKey(Org, on_delete=models.CASCADE, related_name="+")
    redemption = models.ForeignKey(PointsRedemption, on_delete=models.PROTECT, related_name="reversals")
    points = MoneyField()
    till_username = models.CharField(max_length=150, blank=True)
    ledger_entry = models.OneToOneField(LedgerEntry, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        constraints = [models.CheckConstraint(condition=Q(points__gt=0), name="pointsreversal_points_positive")]

    def __str__(self) -> str:
        return f"reversal of {self.points} points on till redemption {self.redemption_id}"

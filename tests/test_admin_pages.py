"""The admin of orgs, wallets, coupons and catalogue: every page renders, lists
run a fixed number of queries, and money and secrets stay read-only."""

import uuid
from decimal import Decimal

import pytest
from django.apps import apps
from django.contrib import admin
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from simple_history.admin import SimpleHistoryAdmin

from catalogue.models import (
    CatalogueReward,
    CustomFieldDefinition,
    FulfillmentStatusDefinition,
    IssueRefusal,
    IssueRequest,
    PaymentConfig,
    Promotion,
    RewardIssue,
    RewardIssueChange,
    RewardIssueRevocation,
    RewardSegment,
    ValidationCode,
    VendorCall,
    VendorException,
)
from coupons.models import Coupon, CouponPool
from orgs.models import (
    ApiClient,
    AppCredential,
    Campaign,
    Card,
    Customer,
    CustomerGroup,
    CustomerNote,
    CustomerSegment,
    GroupMember,
    Org,
    OrgConnection,
    OutboxEvent,
    Segment,
    Till,
    WebhookDelivery,
    WebhookEndpoint,
)
from wallets.models import (
    CampaignRule,
    ConversionEvent,
    Discrepancy,
    EarnedReward,
    IdempotencyKey,
    LedgerEntry,
    PointsRedemption,
    PointsReversal,
    ReconciliationRun,
    RedemptionCall,
    RedemptionReversal,
    RuleUsage,
    Wallet,
    WalletAdjustment,
)
from wallets.services import wallet_post

pytestmark = pytest.mark.django_db

APP_LABELS = ("orgs", "wallets", "coupons", "catalogue")
MODELS = [
    model
    for label in APP_LABELS
    for model in apps.get_app_config(label).get_models()
    if not model._meta.model_name.startswith("historical")
]
REGISTERED = [model for model in MODELS if admin.site.is_registered(model)]
HISTORY = [model for model in REGISTERED if isinstance(admin.site.get_model_admin(model), SimpleHistoryAdmin)]


def model_id(model) -> str:
    return model._meta.label


def admin_url(model, view: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def build_everything(n: int) -> dict:
    """One row of every model of the four apps, all in one org; ``n`` keeps keys apart."""
    org = Org.objects.create(id=7_000_000 + n, name=f"Admin org {n}")
    other = Org.objects.create(id=7_100_000 + n, name=f"Connected org {n}")
    connection_ = OrgConnection.objects.create(from_org=org, to_org=other)
    OrgConnection.objects.create(from_org=other, to_org=org)
    segment = Segment.objects.create(org=org, name=f"gold-{n}")
    customer = Customer.objects.create(org=org, external_id=f"cust-{n}", email=f"c{n}@example.com", mobile=f"9100{n}")
    till = Till(org=org, username=f"till-{n}")
    till.set_password("till-secret")
    till.save()
    client = ApiClient(org=org, key=f"client-{n}")
    client.set_secret("client-secret")
    client.save()
    credential = AppCredential(org=org, apikey=f"apikey-{n}")
    credential.set_privatekey("private-key")
    credential.save()
    group = CustomerGroup.objects.create(id=7_200_000 + n, org=org, external_id=f"grp-{n}", primary=customer)
    campaign = Campaign.objects.create(
        org=org, code=f"camp-{n}", growth_hack=Campaign.GrowthHack.LOYALTY_PROGRAM, reward_type="WALLET"
    )
    wallet = Wallet.objects.create(org=org, kind=Wallet.Kind.POINTS, customer=customer)
    entry = wallet_post(wallet=wallet, delta=Decimal("100.00"), kind=LedgerEntry.Kind.OPENING, reference=f"open-{n}")
    pool = CouponPool.objects.create(id=7_300_000 + n, org=org, name=f"Pool {n}")
    promotion = Promotion.objects.create(org=org, code=f"promo-{n}")
    reward = CatalogueReward.objects.create(
        id=7_400_000 + n, org=org, name=f"Reward {n}", type=CatalogueReward.Type.COUPON, coupon_pool=pool
    )
    issue_request = IssueRequest.objects.create(
        org=org, request_key=f"{n:064d}", request_id=f"req-{n}", payload_hash="0"
    )
    issue = RewardIssue.objects.create(
        org=org, points_reference_id=f"ref-{n}", customer=customer, reward=reward, requested_quantity=1, quantity=1,
        points="50.00", idempotency=issue_request, request_id=f"req-{n}", transaction_number=f"txn-{n}",
    )  # fmt: skip
    now = timezone.now()
    endpoint = WebhookEndpoint.objects.create(org=org, url=f"http://127.0.0.1:9/hook-{n}", secret="s")
    event = OutboxEvent.objects.create(org=org, kind="redemption", payload={"n": n})

    call = RedemptionCall.objects.create(
        org=org, customer=customer, mode="AMOUNT", user_identifier=customer.external_id, status_code=1, amount="1.00",
        ledger_entry=entry,
    )  # fmt: skip
    group_wallet = Wallet.objects.create(org=org, kind=Wallet.Kind.POINTS, group=group)
    adjustment_entry = wallet_post(wallet=group_wallet, delta=Decimal("1.00"), kind=LedgerEntry.Kind.ADJUSTMENT)
    till_entry = wallet_post(wallet=group_wallet, delta=Decimal("-0.50"), kind=LedgerEntry.Kind.POINTS_REDEEM)
    back_entry = wallet_post(wallet=group_wallet, delta=Decimal("0.25"), kind=LedgerEntry.Kind.POINTS_REVERSE)
    till_redemption = PointsRedemption.objects.create(
        org=org, reference=f"R{n}", customer=customer, group=group, wallet=group_wallet, points="0.50",
        reversed_points="0.25", points_currency_ratio="1", redeemed_value="0.50", balance_after="0.50",
        transaction_number=f"bill-{n}", till_username=till.username, ledger_entry=till_entry,
    )  # fmt: skip
    rule = CampaignRule.objects.create(org=org, campaign=campaign, event=f"Signup-{n}", user_amount="1.00")
    return {
        PointsRedemption: till_redemption,
        PointsReversal: PointsReversal.objects.create(
            org=org, redemption=till_redemption, points="0.25", till_username=till.username, ledger_entry=back_entry
        ),
        RewardIssueChange: RewardIssueChange.objects.create(
            org=org, issue=issue, till_username=till.username, fulfillment_status_after="SHIPPED"
        ),
        CampaignRule: rule,
        ConversionEvent: ConversionEvent.objects.create(org=org, customer=customer, event_name="Signup", tskey=f"t{n}"),
        RuleUsage: RuleUsage.objects.create(org=org, rule=rule, customer=customer, count=1),
        WebhookEndpoint: endpoint,
        OutboxEvent: event,
        WebhookDelivery: WebhookDelivery.objects.create(org=org, event=event, endpoint=endpoint, next_attempt_at=now),
        Discrepancy: Discrepancy.objects.create(
            org=org,
            check_name="wallet_balance",
            subject=f"wallets_wallet:{wallet.pk}",
            expected="1.00",
            found="2.00",
            first_seen=now,
            last_seen=now,
        ),
        ReconciliationRun: ReconciliationRun.objects.create(started_at=now, finished_at=now),
        VendorCall: VendorCall.objects.create(
            org=org,
            customer=customer,
            reward=reward,
            requested_quantity=1,
            quantity=1,
            points="5.00",
            stale_after=now,
            issue=issue,
        ),
        IssueRequest: issue_request,
        RedemptionReversal: RedemptionReversal.objects.create(
            org=org, redemption_call=call, reason="test", staff_username="staff", amount="1.00"
        ),
        WalletAdjustment: WalletAdjustment.objects.create(
            org=org,
            wallet=group_wallet,
            delta="1.00",
            reason="test",
            staff_username="staff",
            ledger_entry=adjustment_entry,
        ),
        RewardIssueRevocation: RewardIssueRevocation.objects.create(
            org=org, issue=issue, reason="test", staff_username="staff", points="50.00"
        ),
        CustomerNote: CustomerNote.objects.create(org=org, customer=customer, text="called about points"),
        RewardIssue: issue,
        ValidationCode: ValidationCode.objects.create(
            org=org, customer=customer, code_digest="0" * 64, expires_at=timezone.now()
        ),
        IssueRefusal: IssueRefusal.objects.create(
            org=org, customer=customer, reward=reward, requested_quantity=1, reason="OutsideSegment", message="no"
        ),
        VendorException: VendorException.objects.create(
            org=org, customer=customer, reward=reward, quantity=1, points="50.00", voucher=f"V-{n}", reason="test"
        ),
        Org: org,
        OrgConnection: connection_,
        Segment: segment,
        Customer: customer,
        CustomerSegment: CustomerSegment.objects.create(org=org, customer=customer, segment=segment),
        Card: Card.objects.create(org=org, customer=customer, number=f"card-{n}"),
        Till: till,
        ApiClient: client,
        AppCredential: credential,
        CustomerGroup: group,
        GroupMember: GroupMember.objects.create(org=org, group=group, customer=customer),
        Campaign: campaign,
        Wallet: wallet,
        LedgerEntry: entry,
        EarnedReward: EarnedReward.objects.create(
            org=org, code=f"earned-{n}", campaign=campaign, customer=customer, amount="10.00", earned_at=timezone.now()
        ),
        CouponPool: pool,
        Coupon: Coupon.objects.create(org=org, pool=pool, code=f"CODE{n}"),
        Promotion: promotion,
        CatalogueReward: reward,
        PaymentConfig: PaymentConfig.objects.create(
            id=7_500_000 + n, org=org, reward=reward, mode=PaymentConfig.Mode.POINTS, points="50.00"
        ),
        RewardSegment: RewardSegment.objects.create(org=org, reward=reward, segment=segment),
        CustomFieldDefinition: CustomFieldDefinition.objects.create(org=org, name=f"field-{n}"),
        FulfillmentStatusDefinition: FulfillmentStatusDefinition.objects.create(org=org, name=f"SHIPPED-{n}"),
        RedemptionCall: call,
        IdempotencyKey: IdempotencyKey.objects.create(
            org=org, key=f"key-{n}", body_digest="0" * 64, http_status=200, response={}, created_at=timezone.now()
        ),
    }


@pytest.fixture
def data():
    return build_everything(0)


def test_every_model_is_registered_or_an_inline_of_a_registered_model():
    inline_models = {inline.model for model in REGISTERED for inline in admin.site.get_model_admin(model).inlines}
    unreachable = [model_id(model) for model in MODELS if model not in REGISTERED and model not in inline_models]
    assert unreachable == []


def test_build_everything_covers_every_model(data):
    assert set(data) == set(MODELS)


@pytest.mark.parametrize("model", REGISTERED, ids=model_id)
def test_changelist_renders_and_searches(admin_client, data, model):
    assert admin_client.get(admin_url(model, "changelist")).status_code == 200
    # a word, a number and a UUID: text, integer and UUID search fields must all cope
    response = admin_client.get(admin_url(model, "changelist"), {"q": f"cust-0 7000000 {uuid.uuid4()}"})
    assert response.status_code == 200


@pytest.mark.parametrize("model", REGISTERED, ids=model_id)
def test_changelist_runs_the_same_queries_for_one_row_or_two(admin_client, data, model):
    # given
    url = admin_url(model, "changelist")
    admin_client.get(url)  # warm the session and content types
    with CaptureQueriesContext(connection) as one_row:
        assert admin_client.get(url).status_code == 200
    # when
    build_everything(1)
    with CaptureQueriesContext(connection) as two_rows:
        assert admin_client.get(url).status_code == 200
    # then: no query per row (list_select_related, annotations)
    assert len(two_rows) == len(one_row), [query["sql"] for query in two_rows]


@pytest.mark.parametrize("model", REGISTERED, ids=model_id)
def test_add_page_renders_where_adding_is_allowed(admin_client, admin_user, rf, model):
    request = rf.get("/")
    request.user = admin_user
    may_add = admin.site.get_model_admin(model).has_add_permission(request)
    assert admin_client.get(admin_url(model, "add")).status_code == (200 if may_add else 403)


@pytest.mark.parametrize("model", REGISTERED, ids=model_id)
def test_change_page_renders(admin_client, data, model):
    assert admin_client.get(admin_url(model, "change", data[model].pk)).status_code == 200


@pytest.mark.parametrize("model", HISTORY, ids=model_id)
def test_history_page_renders(admin_client, data, model):
    assert admin_client.get(admin_url(model, "history", data[model].pk)).status_code == 200


def test_ledger_entries_cannot_be_added_changed_or_deleted(admin_client, data):
    entry = data[LedgerEntry]
    assert admin_client.get(admin_url(LedgerEntry, "add")).status_code == 403
    assert admin_client.post(admin_url(LedgerEntry, "change", entry.pk), {"delta": "1.00"}).status_code == 403
    assert admin_client.post(admin_url(LedgerEntry, "delete", entry.pk), {"post": "yes"}).status_code == 403
    assert LedgerEntry.objects.get(pk=entry.pk).delta == Decimal("100.00")


def test_ledger_entries_filter_by_org_and_kind_and_search_by_customer(admin_client, data):
    build_everything(1)
    url = admin_url(LedgerEntry, "changelist")
    response = admin_client.get(url, {"org__id__exact": data[Org].pk, "kind__exact": LedgerEntry.Kind.OPENING})
    assert list(response.context["cl"].result_list) == [data[LedgerEntry]]
    for term in ("open-0", "cust-0", "C0@example.com", str(data[Customer].user_key)):
        response = admin_client.get(url, {"q": term})
        assert list(response.context["cl"].result_list) == [data[LedgerEntry]], term


def test_a_wallet_balance_cannot_be_changed_through_the_admin(admin_client, data):
    # given
    wallet = data[Wallet]
    form = {"org": wallet.org_id, "kind": wallet.kind, "customer": wallet.customer_id, "balance": "999.00"}
    # when
    response = admin_client.post(admin_url(Wallet, "change", wallet.pk), form)
    # then
    assert response.status_code == 403
    wallet.refresh_from_db()
    assert wallet.balance == Decimal("100.00")


def test_a_wallet_added_through_the_admin_starts_empty(admin_client, data):
    # given
    customer = Customer.objects.create(org=data[Org], external_id="newcomer")
    form = {"org": customer.org_id, "kind": Wallet.Kind.CREDITS, "customer": customer.pk, "balance": "999.00"}
    form |= {"entries-TOTAL_FORMS": "0", "entries-INITIAL_FORMS": "0"}
    # when
    response = admin_client.post(admin_url(Wallet, "add"), form)
    # then
    assert response.status_code == 302
    assert Wallet.objects.get(customer=customer).balance == Decimal("0.00")


def test_a_wallet_shows_its_ledger_read_only_and_cannot_be_deleted(admin_client, data):
    wallet = data[Wallet]
    content = admin_client.get(admin_url(Wallet, "change", wallet.pk)).content.decode()
    assert "open-0" in content
    assert 'name="entries-0-delta"' not in content
    assert 'name="balance"' not in content
    assert admin_client.post(admin_url(Wallet, "delete", wallet.pk), {"post": "yes"}).status_code == 403


def test_the_wallet_page_shows_only_the_newest_entries_newest_first(admin_client, data):
    # given
    wallet = data[Wallet]
    for i in range(1, 25):
        wallet_post(wallet=wallet, delta=Decimal("1.00"), kind=LedgerEntry.Kind.REDEMPTION, reference=f"r-{i}")
    # when
    response = admin_client.get(admin_url(Wallet, "change", wallet.pk))
    # then
    (entries,) = response.context["inline_admin_formsets"]
    assert [form.instance.reference for form in entries.formset.forms] == [f"r-{i}" for i in range(24, 4, -1)]


@pytest.mark.parametrize(
    ("model", "secret_field"),
    [(Till, "password"), (ApiClient, "secret_digest"), (AppCredential, "privatekey_digest")],
    ids=["Till", "ApiClient", "AppCredential"],
)
def test_secrets_are_shown_hashed_and_never_editable(admin_client, data, model, secret_field):
    obj = data[model]
    content = admin_client.get(admin_url(model, "change", obj.pk)).content.decode()
    assert getattr(obj, secret_field) in content
    assert f'name="{secret_field}"' not in content


def test_coupon_pools_list_available_and_issued_counts(admin_client, data):
    # given
    pool, customer = data[CouponPool], data[Customer]
    Coupon.objects.create(org=pool.org, pool=pool, code="SECOND")
    Coupon.objects.create(
        org=pool.org, pool=pool, code="GONE", status="ISSUED", holder=customer, issued_at=timezone.now()
    )
    # when
    content = admin_client.get(admin_url(CouponPool, "changelist")).content.decode()
    # then: 2 available is below the default threshold (100): highlighted
    assert '<strong class="low-stock" style="color: #ba2121">2 (low)</strong>' in content
    assert '<td class="field-issued">1</td>' in content
    # when the threshold is lower, the count is shown plain
    CouponPool.objects.filter(pk=pool.pk).update(low_stock_threshold=2)
    content = admin_client.get(admin_url(CouponPool, "changelist")).content.decode()
    assert '<td class="field-available">2</td>' in content


def test_catalogue_reward_edits_payment_configs_inline(admin_client, data):
    content = admin_client.get(admin_url(CatalogueReward, "change", data[CatalogueReward].pk)).content.decode()
    assert 'name="payment_configs-0-points"' in content

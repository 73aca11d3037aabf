"""The back office in a real browser: the four journeys of issue #5's acceptance list."""

from decimal import Decimal

import httpx
import pytest
from django.contrib.auth.models import Group, User

from backoffice.scenario import scenario_load
from coupons.models import Coupon
from orgs.models import Customer
from orgs.roles import REWARDS_MANAGER, SUPPORT_AGENT, roles_setup
from wallets.models import LedgerEntry, RedemptionCall, Wallet

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

O2, ASHA, ASHA_MOBILE = 4000876, "ext_id98543198", "919900000001"


@pytest.fixture
def world(demo_document, settings):
    settings.API_RATE_LIMIT_PER_MINUTE = 0
    scenario_load(document=demo_document)
    roles_setup()
    for username, role in (("agent", SUPPORT_AGENT), ("manager", REWARDS_MANAGER)):
        user = User.objects.create_user(username=username, password=f"{username}-password", is_staff=True)
        user.groups.add(Group.objects.get(name=role))


def log_in(page, live_server, username: str) -> None:
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", f"{username}-password")
    page.steps.shot(f"login-{username}")
    page.click("input[type=submit]")
    page.wait_for_selector("#dashboard")
    page.steps.shot("dashboard")


def credits() -> Decimal:
    return Wallet.objects.get(org_id=O2, kind="CREDITS", customer__external_id=ASHA).balance


def redeem_through_the_api(live_server) -> RedemptionCall:
    body = {
        "apikey": "demo-o2-apikey",
        "privatekey": "demo-o2-privatekey",
        "UserIdInstore": ASHA,
        "rewarddtlids": ["rd-1001"],
    }
    answer = httpx.post(f"{live_server.url}/v2_0/redeemrewards", json=body, timeout=30).json()
    assert answer["statuscode"] == 1, answer
    return RedemptionCall.objects.get()


def test_a_support_agent_finds_a_customer_by_mobile_and_sees_the_ledger(page, live_server, world):
    # given
    log_in(page, live_server, "agent")
    # when: Customers -> Customer 360 -> search by mobile
    page.goto(f"{live_server.url}/admin/orgs/customer/")
    page.click("#customer-360-search")
    page.fill("#customer-q", ASHA_MOBILE)
    page.steps.shot("search-by-mobile")
    page.click("#customer-search input[type=submit]")
    page.wait_for_selector("#search-results")
    page.steps.shot("results")
    assert "2 customers found" in page.inner_text("#search-results h2")  # Asha in both orgs
    page.click("#search-results tr:has-text('O2Brand') a.customer-360-link")
    # then: her page, her wallets and their ledger
    page.wait_for_selector("#identifiers")
    page.steps.shot("customer-360")
    assert page.inner_text("#customer-mobile") == ASHA_MOBILE
    points = Wallet.objects.get(org_id=O2, kind="POINTS", customer__external_id=ASHA)
    assert page.inner_text(f"#balance-{points.pk}") == "500.00"
    ledger = page.inner_text(f"#wallet-{points.pk} table.ledger")
    assert "OPENING" in ledger and "500.00" in ledger


def test_a_manager_uploads_a_csv_with_a_duplicate_line_and_sees_it_reported(page, live_server, world, tmp_path):
    # given
    csv = tmp_path / "codes.csv"
    csv.write_text("code\nUP-0001\nUP-0002\nUP-0001\nUP-0003\n")
    log_in(page, live_server, "manager")
    # when: the pool's page -> Upload codes
    page.goto(f"{live_server.url}/admin/coupons/couponpool/234/change/")
    page.steps.shot("pool")
    page.click("#upload")
    page.set_input_files("#id_file", str(csv))
    page.steps.shot("upload-form")
    page.click("#upload-submit")
    page.wait_for_selector("#upload-report")
    page.steps.shot("upload-report")
    # then
    assert page.inner_text("#report-added") == "3"
    assert page.inner_text("#report-duplicates-in-file") == "1"
    duplicates = page.inner_text("#duplicate-lines")
    assert "4" in duplicates and "UP-0001" in duplicates and "repeats an earlier line" in duplicates
    assert "1 duplicates within the file" in page.inner_text("ul.messagelist")
    assert sorted(Coupon.objects.filter(pool_id=234, code__startswith="UP-").values_list("code", flat=True)) == [
        "UP-0001",
        "UP-0002",
        "UP-0003",
    ]


def test_a_manager_reverses_a_redemption_and_the_balance_and_ledger_change(page, live_server, world):
    # given: Asha redeemed rd-1001 (10.00) through the API
    call = redeem_through_the_api(live_server)
    wallet = Wallet.objects.get(org_id=O2, kind="CREDITS", customer__external_id=ASHA)
    customer = Customer.objects.get(org_id=O2, external_id=ASHA)
    log_in(page, live_server, "manager")
    page.goto(f"{live_server.url}/admin/orgs/customer/{customer.pk}/360/")
    page.steps.shot("before")
    assert page.inner_text(f"#balance-{wallet.pk}") == "10.00"
    # when: the call's page -> Reverse -> a reason -> confirm
    page.click(f"#redemption-calls a:text-is('{call.pk}')")
    page.wait_for_selector("#reverse-redemption")
    page.steps.shot("redemption-call")
    page.click("#reverse-redemption")
    page.fill("#id_reason", "customer says the order was cancelled")
    page.steps.shot("reverse-form")
    page.click("#operation-submit")
    page.wait_for_selector("ul.messagelist")
    page.steps.shot("reversed")
    assert "reversed: 10.00 taken back" in page.inner_text("ul.messagelist")
    # then: the balance and the ledger on the customer's page
    page.goto(f"{live_server.url}/admin/orgs/customer/{customer.pk}/360/")
    page.steps.shot("after")
    assert page.inner_text(f"#balance-{wallet.pk}") == "0.00"
    ledger = page.inner_text(f"#wallet-{wallet.pk} table.ledger")
    assert "REVERSAL" in ledger and "-10.00" in ledger
    assert credits() == Decimal("0.00")


def test_a_support_agent_is_refused_the_reversal(page, live_server, world):
    # given
    call = redeem_through_the_api(live_server)
    log_in(page, live_server, "agent")
    # when: the call's page has no reverse button, and its address is refused
    page.goto(f"{live_server.url}/admin/wallets/redemptioncall/{call.pk}/change/")
    page.steps.shot("redemption-call")
    assert page.locator("#reverse-redemption").count() == 0
    response = page.goto(f"{live_server.url}/admin/wallets/redemptioncall/{call.pk}/reverse/")
    page.steps.shot("refused")
    # then
    assert response.status == 403
    assert "403" in page.content()
    assert credits() == Decimal("10.00")
    assert not LedgerEntry.objects.filter(kind="REVERSAL").exists()

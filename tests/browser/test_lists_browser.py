"""The back-office lists on a 1366 x 768 screen, in a real browser: every column header of the
redemption-call, reward-issue and pool lists is inside the window with no horizontal scrolling,
status codes read with their meaning, and a screenshot of each list is kept."""

import base64
from datetime import timedelta

import httpx
import pytest
from django.utils import timezone

from coupons.models import Coupon
from orgs.models import md5_hex
from tests.browser.test_backoffice_browser import ASHA, log_in, world  # noqa: F401 (a fixture)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]
SCREEN = {"width": 1366, "height": 768}
KEYS = {"apikey": "demo-o2-apikey", "privatekey": "demo-o2-privatekey"}
USER_KEY = "2d0f2c8e-7c7e-4a57-9c43-5f3f6b1f0a11"


@pytest.fixture
def busy(live_server, world):  # noqa: F811
    """Calls of every kind, issues with long references, a pool with expired coupons."""
    redeem = f"{live_server.url}/v2_0/redeemrewards"
    key = {"Idempotency-Key": "order-2026-000001"}
    bodies = [
        ({"UserIdInstore": ASHA, "amount": "12.50"}, {}),
        ({"EmailId": "ravi@example.com", "rewarddtlids": ["rd-1003"]}, key),
        ({"EmailId": "ravi@example.com", "rewarddtlids": ["rd-1003"]}, key),  # replayed
        ({"EmailId": "ravi@example.com", "amount": "1"}, key),  # 105
        ({"EmailId": "somebody.with.a.long.address@example.com", "amount": "1"}, {}),  # 5
        ({"userkey": USER_KEY, "poolId": 531}, {}),
    ]
    for body, headers in bodies:
        assert httpx.post(redeem, json={**KEYS, **body}, headers=headers, timeout=30).status_code in (200, 409)
    auth = {"Authorization": "Basic " + base64.b64encode(f"o2.till:{md5_hex('o2-till-password')}".encode()).decode()}
    issue = f"{live_server.url}/v1.1/user/rewards/issue/?username=o2.till&skip_validation=true"
    long_id = "till-0042-2026-12-01T10:15:00-line-0001-of-0003"
    for body in (
        {
            "externalId": ASHA,
            "transactionNumber": "POS-0042-2026-12-01-000123456",
            "rewards": [{"rewardId": 351, "requestId": long_id}],
        },
        {"externalId": ASHA, "rewards": [{"rewardId": 353}, {"rewardId": 352}]},
        {"externalId": "ext-ravi", "user_group2_id": 77, "rewards": [{"rewardId": 351}]},
    ):
        answer = httpx.post(issue, json=body, headers=auth, timeout=30).json()
        assert answer["status"]["code"] == 200, answer
    expired = Coupon.objects.filter(pool_id=234, status="AVAILABLE").order_by("pk")[:3].values_list("pk", flat=True)
    Coupon.objects.filter(pk__in=list(expired)).update(status="EXPIRED", expires_at=timezone.now() - timedelta(days=1))


def headers_fit(page) -> dict:
    """Where the list's column headers are, against the window and the list's own scroll box."""
    return page.evaluate(
        """() => {
            const results = document.querySelector('#changelist-form .results');
            const box = results.getBoundingClientRect();
            const headers = [...document.querySelectorAll('#result_list thead th')].map(th => {
                const r = th.getBoundingClientRect();
                return {text: th.innerText.trim(), left: r.left, right: r.right};
            });
            return {
                headers, listRight: box.right, listScroll: results.scrollWidth - results.clientWidth,
                pageScroll: document.documentElement.scrollWidth - window.innerWidth, width: window.innerWidth,
            };
        }"""
    )


# The lists: who looks, where, and the column headers they must see.
LISTS = {
    "redemption-calls": (
        "agent",
        "/admin/wallets/redemptioncall/",
        ["id", "at", "user", "mode", "status", "amount / coupon", "replayed", "reversed"],
    ),
    "reward-issues": (
        "agent",
        "/admin/catalogue/rewardissue/",
        ["id", "at", "reward", "customer (group)", "qty", "points", "status", "references"],
    ),
    "coupon-pools": (
        "manager",
        "/admin/coupons/couponpool/",
        ["id", "name", "org", "campaign", "low below", "available", "issued", "expired"],
    ),
}


def open_list_on_a_1366_screen(page, live_server, name: str) -> None:
    """Log in, open the list, keep (and print) a screenshot; every header is inside the window."""
    user, path, headers = LISTS[name]
    page.set_viewport_size(SCREEN)
    log_in(page, live_server, user)
    page.goto(f"{live_server.url}{path}")
    print(f"screenshot: {page.steps.shot(f'{name}-1366')}")
    assert_every_header_is_visible(page, headers)


def assert_every_header_is_visible(page, expected: list[str]) -> None:
    seen = headers_fit(page)
    texts = [header["text"].lower() for header in seen["headers"] if header["text"]]
    assert texts == expected, texts
    assert seen["pageScroll"] <= 0 and seen["listScroll"] <= 0, seen
    for header in seen["headers"]:
        assert header["left"] >= 0 and header["right"] <= min(seen["width"], seen["listRight"] + 0.5), header


def test_the_redemption_call_list_fits_a_1366_screen_with_status_meanings(page, live_server, busy):
    open_list_on_a_1366_screen(page, live_server, "redemption-calls")
    listed = page.inner_text("#result_list")
    for text in (
        "1 · success",
        "5 · Invalid StoreID or EmailID",
        "105 · Idempotency-Key reused",
        "none (replayed answer)",
    ):
        assert text in listed, text
    assert "5 · Invalid StoreID or EmailID" in page.inner_text("#changelist-filter")
    # a coupon code stays on one line
    code = page.locator("#result_list td.field-moved span.nowrap").first
    assert code.inner_text().startswith("COF-")
    assert code.evaluate("e => e.getClientRects().length") == 1


def test_the_reward_issue_list_fits_a_1366_screen(page, live_server, busy):
    open_list_on_a_1366_screen(page, live_server, "reward-issues")
    listed = page.inner_text("#result_list")
    assert "ext-ravi @ 4000876, group family-77" in listed and "transaction: POS-0042" in listed


def test_the_pool_list_fits_a_1366_screen_with_expired_counts(page, live_server, busy):
    open_list_on_a_1366_screen(page, live_server, "coupon-pools")
    row = page.inner_text("#result_list tbody tr:has-text('Movie series')")
    assert "\t3\t" in row  # 3 expired

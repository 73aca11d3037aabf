"""What the back-office lists and pages say: status codes with their meaning, replayed and refused
calls read from their request, a call's page title, a pool's fixed fields, the site's icon.
(That every column fits a 1366 px screen: tests/browser/test_lists_browser.py.)"""

import json
import re

import pytest
from django.test import Client
from django.urls import reverse

from coupons.models import CouponPool
from wallets.models import RedemptionCall

from .conftest import ASHA, KEYS

pytestmark = pytest.mark.django_db


@pytest.fixture
def calls(redeem, client):
    """A credit, a replay of it, a 105 (its key with another body), an unknown user, a pool coupon."""

    def post(body, key=None):
        headers = {"Idempotency-Key": key} if key else {}
        return client.post(
            "/v2_0/redeemrewards", json.dumps({**KEYS, **body}), content_type="application/json", headers=headers
        ).json()

    assert post({"EmailId": "ravi@example.com", "rewarddtlids": ["rd-1003"]}, key="order-1")["statuscode"] == 1
    assert post({"EmailId": "ravi@example.com", "rewarddtlids": ["rd-1003"]}, key="order-1")["statuscode"] == 1
    assert post({"EmailId": "ravi@example.com", "amount": "1"}, key="order-1")["statuscode"] == 105
    assert post({"EmailId": "nobody@example.com", "amount": "1"})["statuscode"] == 5
    assert post({"UserIdInstore": ASHA, "poolId": 531})["statuscode"] == 1
    return {call.pk: call for call in RedemptionCall.objects.order_by("pk")}


def rows(content: str) -> list[list[str]]:
    """The result rows of a changelist, each cell's text."""
    body = content.split('id="result_list"', 1)[1].split("</table>", 1)[0]
    return [
        [re.sub(r"<[^>]+>", " ", cell).split() for cell in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row, re.DOTALL)]
        for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body.split("<tbody>", 1)[1], re.DOTALL)
    ]


def cells(content: str) -> list[list[str]]:
    return [[" ".join(words) for words in row] for row in rows(content)]


def test_the_call_list_reads_every_call_with_the_meaning_of_its_status(as_agent, calls):
    content = as_agent.get(reverse("admin:wallets_redemptioncall_changelist")).content.decode()
    listed = {int(row[0]): row for row in cells(content)}
    credit, replay, refused, unknown, pool = calls
    # id, at, user, mode, status, amount / coupon, replayed, reversed
    assert listed[credit][2:6] == ["ext-ravi @ 4000876", "by reward ids", "1 · success", "7.50"]
    assert listed[replay][2:6] == ["ravi@example.com", "by reward ids", "1 · success", "none (replayed answer)"]
    assert listed[refused][2:6] == [
        "ravi@example.com",
        "by amount",
        "105 · Idempotency-Key reused with a different body",
        "none",
    ]
    assert listed[unknown][2:5] == ["nobody@example.com (unknown)", "by amount", "5 · Invalid StoreID or EmailID"]
    assert listed[pool][3] == "by coupon pool"
    assert listed[pool][5] == calls[pool].coupon.code
    assert '<span class="nowrap">' + calls[pool].coupon.code in content  # a code does not break at its hyphen
    for row in listed.values():
        assert "-" not in row[2:6], row


def test_the_status_code_filter_names_each_code_with_its_meaning(as_agent, calls):
    url = reverse("admin:wallets_redemptioncall_changelist")
    content = as_agent.get(url).content.decode()
    assert "5 · Invalid StoreID or EmailID" in content.split('id="changelist-filter"', 1)[1]
    assert "105 · Idempotency-Key reused with a different body" in content.split('id="changelist-filter"', 1)[1]
    chosen = as_agent.get(url, {"status_code": "5"})
    assert [call.status_code for call in chosen.context["cl"].result_list] == [5]
    assert as_agent.get(url, {"status_code": "nonsense"}).status_code == 200


def test_a_calls_page_is_titled_by_its_id_mode_and_status(as_agent, calls):
    credit = next(iter(calls))
    content = as_agent.get(reverse("admin:wallets_redemptioncall_change", args=[credit])).content.decode()
    title = re.search(r"<title>(.*?)</title>", content).group(1)
    assert title.startswith(f"Redemption call {credit} · by reward ids · 1 · success |"), title
    assert "-&gt;" not in content


def test_the_issue_list_shows_the_customer_group_and_references(as_agent, issue_reward):
    issue_reward(353)
    content = as_agent.get(reverse("admin:catalogue_rewardissue_changelist")).content.decode()
    [row] = cells(content)
    assert row[2:7] == ["Gold lounge pass (353)", f"{ASHA} @ 4000876", "1", "100.00", "Issued"]
    assert row[7].startswith("points: ")


def test_a_pools_id_and_low_stock_time_are_not_offered_for_editing(as_manager, demo):
    content = as_manager.get(reverse("admin:coupons_couponpool_change", args=[531])).content.decode()
    assert 'name="id"' not in content and 'name="low_stock_since"' not in content
    assert 'name="name"' in content and 'name="low_stock_threshold"' in content
    add = as_manager.get(reverse("admin:coupons_couponpool_add")).content.decode()
    assert 'name="id"' in add  # a new pool's poolId is chosen when it is added
    pool = CouponPool.objects.get(pk=531)
    form = {"org": pool.org_id, "name": "Coffee", "low_stock_threshold": 5, "id": 999, "low_stock_since": "2020-01-01"}
    response = as_manager.post(reverse("admin:coupons_couponpool_change", args=[531]), form)
    assert response.status_code == 302
    pool.refresh_from_db()
    assert (pool.pk, pool.name, pool.low_stock_since) == (531, "Coffee", None)
    assert not CouponPool.objects.filter(pk=999).exists()


def test_the_site_serves_its_icon():
    response = Client().get("/favicon.ico")
    assert response.status_code == 200 and response["Content-Type"] == "image/x-icon"
    assert response.content[:4] == b"\x00\x00\x01\x00"  # an ICO file

"""Every reference Customer 360 shows finds its record in the admin search.

The references are made by the real calls and staff operations (Redeem Rewards, Issue Reward,
reversal, revocation, adjustment, the scenario's opening balances) and read off the customer's
Customer 360 page as an agent sees them; each kind is then searched where its record is listed.
"""

import base64
import json
import re
from decimal import Decimal
from html import unescape

import pytest
from django.test import Client
from django.urls import reverse

from catalogue.models import RewardIssue, RewardIssueRevocation
from catalogue.revocation import reward_issue_revoke
from coupons.models import Coupon
from orgs.models import Card, Customer, md5_hex
from wallets.models import (
    EarnedReward,
    LedgerEntry,
    PointsRedemption,
    PointsReversal,
    RedemptionCall,
    RedemptionReversal,
    Wallet,
    WalletAdjustment,
)
from wallets.reversal import redemption_reverse
from wallets.services import wallet_adjust

from .conftest import ASHA, O2

pytestmark = pytest.mark.django_db
LEDGER_ROW = re.compile(r'<tr class="ledger-entry">' + r"<td>(.*?)</td>" * 7 + r"</tr>")


@pytest.fixture
def history(redeem, client, manager):
    """Asha's redemptions (one reversed, one from a pool), issues (one revoked, one with a
    requestId), an adjustment: one record of every kind that writes a reference."""
    reversed_call = redeem(UserIdInstore=ASHA, rewarddtlids=["rd-1001"])
    assert reversed_call["statuscode"] == 1
    first = RedemptionCall.objects.get()
    redemption_reverse(redemption_call_id=first.pk, reason="order cancelled", staff_user=manager)
    assert redeem(UserIdInstore=ASHA, rewarddtlids=["rd-1002"])["statuscode"] == 1
    assert redeem(UserIdInstore=ASHA, poolId=531)["statuscode"] == 1
    auth = "Basic " + base64.b64encode(f"o2.till:{md5_hex('o2-till-password')}".encode()).decode()
    body = {"externalId": ASHA, "rewards": [{"rewardId": 353, "requestId": "till-42-line-1"}, {"rewardId": 351}]}
    answer = client.post(
        "/v1.1/user/rewards/issue/?username=o2.till&skip_validation=true",
        json.dumps(body),
        content_type="application/json",
        headers={"Authorization": auth},
    ).json()
    assert answer["status"]["code"] == 200, answer
    till = {"content_type": "application/json", "headers": {"Authorization": auth}}
    redeem_points = {"root": {"redeem": {"points_redeemed": "30", "transaction_number": "bill-77",
                                         "customer": {"external_id": ASHA}}}}  # fmt: skip
    redeemed = client.post(
        "/v1.1/points/redeem?username=o2.till&skip_validation=true", json.dumps(redeem_points), **till
    ).json()
    redemption_id = redeemed["response"]["responses"]["points"]["redemption_id"]
    reverse_points = {"redemptionId": redemption_id, "pointsToBeReversed": "10",
                      "identifier": {"type": "externalId", "value": ASHA}}  # fmt: skip
    assert client.post("/v2/points/reverse?username=o2.till", json.dumps(reverse_points), **till).status_code == 200
    lounge = RewardIssue.objects.get(reward_id=353)
    reward_issue_revoke(reward_issue_id=lounge.pk, reason="wrong reward", staff_user=manager)
    credits = Wallet.objects.get(org_id=O2, kind="CREDITS", customer__external_id=ASHA)
    wallet_adjust(wallet_id=credits.pk, delta=Decimal("5.00"), reason="goodwill", staff_user=manager)


@pytest.fixture
def shown(history, agent):
    """What Customer 360 shows an agent: each ledger reference, call id, requestId and coupon code."""
    page = Client()
    page.force_login(agent)
    asha = Customer.objects.get(org_id=O2, external_id=ASHA)
    content = page.get(reverse("admin:orgs_customer_360", args=[asha.pk])).content.decode()
    references = [unescape(row[5]) for row in LEDGER_ROW.findall(content)]
    assert references, "no ledger shown"

    def section(name: str) -> str:
        return content.split(f'id="{name}"', 1)[1].split("</table>", 1)[0]

    return {
        "ledger": references,
        "calls": re.findall(r'redemptioncall/(\d+)/change/">\1<', section("redemption-calls")),
        "coupons": re.findall(r'<td class="nowrap">([^<]+)</td>', section("coupons-held")),
        "issues": section("reward-issues"),
        "earned": section("earned-rewards"),
        "identifiers": section("identifiers"),
        "client": page,
    }


def found(shown, admin_name: str, term: str) -> set:
    """The pks the changelist ``admin_name`` lists for the search ``term``."""
    response = shown["client"].get(reverse(f"admin:{admin_name}_changelist"), {"q": term})
    assert response.status_code == 200
    return {obj.pk for obj in response.context["cl"].result_list}


def one(references, pattern: str) -> list[str]:
    matching = [reference for reference in references if re.fullmatch(pattern, reference)]
    assert matching, f"no reference like {pattern} among {references}"
    return matching


def test_a_redemption_reference_finds_its_call(shown):
    for reference in one(shown["ledger"], r"appvirality-redeem:[0-9a-f]{32}"):
        [call] = RedemptionCall.objects.filter(reference=reference.split(":", 1)[1])
        assert found(shown, "wallets_redemptioncall", reference) == {call.pk}
        assert found(shown, "wallets_ledgerentry", reference) == {call.ledger_entry_id}
        # and as the call's page shows it (dashed), or bare
        for form in (str(call.reference), call.reference.hex, str(call.reference).upper()):
            assert found(shown, "wallets_redemptioncall", form) == {call.pk}, form


def test_a_reversal_reference_finds_the_reversal_and_its_call(shown):
    [reference] = one(shown["ledger"], r"reversal:[0-9a-f]{32}")
    reversal = RedemptionReversal.objects.get()
    assert found(shown, "wallets_redemptionreversal", reference) == {reversal.pk}
    assert found(shown, "wallets_redemptioncall", reference) == {reversal.redemption_call_id}


def test_an_issue_reference_finds_its_issued_reward(shown):
    bare = [r for r in one(shown["ledger"], r"[0-9A-Za-z]{10}") if r != "scenario"]
    assert len(bare) == 2  # the two issued rewards
    for reference in bare:
        assert found(shown, "catalogue_rewardissue", reference) == {
            RewardIssue.objects.get(points_reference_id=reference).pk
        }


def test_a_revocation_reference_finds_the_revocation_and_its_issue(shown):
    [reference] = one(shown["ledger"], r"revoke:[0-9A-Za-z]{10}")
    revocation = RewardIssueRevocation.objects.get()
    assert found(shown, "catalogue_rewardissuerevocation", reference) == {revocation.pk}
    assert found(shown, "catalogue_rewardissue", reference) == {revocation.issue_id}


def test_a_till_redemption_reference_finds_the_redemption(shown):
    [reference] = one(shown["ledger"], r"points-redeem:\S+")
    redemption = PointsRedemption.objects.get()
    assert reference == f"points-redeem:{redemption.reference}"
    assert found(shown, "wallets_pointsredemption", reference) == {redemption.pk}
    assert found(shown, "wallets_ledgerentry", reference) == {redemption.ledger_entry_id}


def test_a_till_reversal_reference_finds_the_reversal_and_its_redemption(shown):
    [reference] = one(shown["ledger"], r"points-reverse:\S+")
    reversal = PointsReversal.objects.get()
    assert found(shown, "wallets_pointsreversal", reference) == {reversal.pk}
    assert found(shown, "wallets_pointsredemption", reference) == {reversal.redemption_id}


def test_an_adjustment_reference_finds_the_adjustment(shown):
    [reference] = one(shown["ledger"], r"adjustment:manager")
    assert found(shown, "wallets_walletadjustment", reference) == {WalletAdjustment.objects.get().pk}


def test_the_opening_reference_finds_the_opening_entries(shown):
    [reference] = set(one(shown["ledger"], r"scenario"))
    opening = set(LedgerEntry.objects.filter(kind="OPENING").values_list("pk", flat=True))
    assert found(shown, "wallets_ledgerentry", reference) == opening


def test_a_call_id_finds_its_call(shown):
    assert len(shown["calls"]) == 3
    for pk in shown["calls"]:
        assert found(shown, "wallets_redemptioncall", pk) == {int(pk)}


def test_a_coupon_code_finds_the_coupon_and_the_call_that_handed_it_out(shown):
    codes = shown["coupons"]
    assert {code.split("-")[0] for code in codes} == {"COF", "MOV"}  # the pool redemption's, the issue's
    for code in codes:
        assert found(shown, "coupons_coupon", code) == {Coupon.objects.get(code=code).pk}
    [pool_code] = [code for code in codes if code.startswith("COF-")]
    assert found(shown, "wallets_redemptioncall", pool_code) == {RedemptionCall.objects.get(mode="POOL").pk}


def test_a_request_id_finds_its_issued_reward(shown):
    assert "till-42-line-1" in shown["issues"]
    assert found(shown, "catalogue_rewardissue", "till-42-line-1") == {RewardIssue.objects.get(reward_id=353).pk}


def test_an_earned_reward_id_finds_the_earned_reward(shown):
    assert "rd-1001" in shown["earned"]
    assert found(shown, "wallets_earnedreward", "rd-1001") == {EarnedReward.objects.get(org_id=O2, code="rd-1001").pk}


def test_a_card_number_finds_the_card(shown):
    assert "O2-CARD-1" in shown["identifiers"]
    assert found(shown, "orgs_card", "O2-CARD-1") == {Card.objects.get(number="O2-CARD-1").pk}

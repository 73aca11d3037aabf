"""OAuth tokens (PyJWT) for the issue API, and VENDOR rewards against a real HTTP server on
127.0.0.1: points move only when the vendor answers 200 with a voucher."""

import time
from decimal import Decimal

import jwt
import pytest

from capillary.auth import TOKEN_AUDIENCE, TOKEN_ISSUER, _jwt_key
from capillary.render import failure_result
from catalogue.models import IssueRefusal, IssueRequest, RewardIssue, VendorException
from catalogue.refusals import refusal_failed
from tests.catalogue.conftest import ASHA, O2, VOUCHER, assert_ledgers_add_up, open_transactions_elsewhere, points
from wallets.models import LedgerEntry, Wallet
from wallets.services import wallet_post

TOKEN_URL = "/v3/oauth/token/generate"
VENDOR_BODY = {"externalId": ASHA, "rewards": [{"rewardId": 350, "paymentConfig": {"redemptionValue": 5}}]}


def token_for(client, key="demo-o2-oauth-key", secret="demo-o2-oauth-secret"):
    return client.post(TOKEN_URL, {"key": key, "secret": secret}, content_type="application/json")


def claims(**overrides):
    now = int(time.time())
    return {"iss": TOKEN_ISSUER, "aud": TOKEN_AUDIENCE, "sub": "demo-o2-oauth-key", "org": O2, "iat": now}, now


@pytest.mark.django_db
class TestOAuth:
    def test_a_token_from_key_and_secret_issues_rewards_for_a_till_of_its_org(self, demo, client, issue):
        answer = token_for(client)
        assert answer.status_code == 200
        body = answer.json()
        assert body["errors"] is None and body["data"]["ttlSeconds"] == 300
        token = body["data"]["accessToken"]
        response = issue(
            {"externalId": ASHA, "rewards": [{"rewardId": 352}]}, auth="", headers={"X-CAP-API-OAUTH-TOKEN": token}
        )
        assert response.status_code == 200
        assert points(ASHA) == Decimal("475.00")

    def test_wrong_secret_or_malformed_body_gets_no_token(self, demo, client):
        wrong = token_for(client, secret="nope")
        assert wrong.status_code == 401
        assert wrong.json() == {"data": None, "errors": [{"code": 401, "message": "invalid key or secret"}]}
        assert client.post(TOKEN_URL, {"key": 1}, content_type="application/json").status_code == 400

    @pytest.mark.parametrize("case", ["expired", "forged", "other_org_till", "garbage", "no_org"])
    def test_expired_forged_or_other_org_tokens_get_401_and_nothing_moves(self, demo, issue, case):
        base, now = claims()
        username = "o2.till"
        if case == "expired":
            token = jwt.encode({**base, "exp": now - 1}, _jwt_key(), algorithm="HS256")
        elif case == "forged":
            token = jwt.encode({**base, "exp": now + 60}, b"x" * 32, algorithm="HS256")
        elif case == "other_org_till":
            token, username = jwt.encode({**base, "exp": now + 60}, _jwt_key(), algorithm="HS256"), "o2travel.till"
        elif case == "no_org":
            token = jwt.encode({**base, "org": None, "exp": now + 60}, _jwt_key(), algorithm="HS256")
        else:
            token = "not-a-jwt"
        body = {"externalId": ASHA, "rewards": [{"rewardId": 352}]}
        response = issue(body, auth="", username=username, headers={"X-CAP-API-OAUTH-TOKEN": token})
        assert response.status_code == 401 and response.json()["status"]["code"] == 401
        assert points(ASHA) == Decimal("500.00")


@pytest.mark.django_db
class TestVendorOutcomes:
    def test_200_with_a_voucher_issues_and_moves_the_points(self, demo, issue, vendor):
        vendor.route()
        response = issue(VENDOR_BODY)
        assert response.status_code == 200
        [reward] = response.json()["rewards"]
        assert reward["vendor"] == [
            {
                "voucher": VOUCHER,
                "valid_till": "2027-11-01",
                "coupon_series_id": "234",
                "pointsRedeemed": "10",
                "offer_name": "marvel-loadtest",
            }
        ]
        assert points(ASHA) == Decimal("490.00")

    @pytest.mark.parametrize("mode", ["error", "empty", "slow"])
    def test_500_no_voucher_or_too_slow_issue_nothing_and_move_no_points(self, demo, issue, vendor, mode):
        vendor.mode = mode
        vendor.route(timeout_ms=300)
        response = issue(VENDOR_BODY)
        assert response.status_code == 400
        assert response.json()["rewards"][0]["status"]["code"] == 8003
        assert len(vendor.requests) == 1
        assert points(ASHA) == Decimal("500.00") and not RewardIssue.objects.exists()
        assert_ledgers_add_up()

    def test_a_vendor_failure_among_other_rewards_is_a_partial_issual(self, demo, issue, vendor):
        vendor.mode = "error"
        vendor.route()
        body = {**VENDOR_BODY, "rewards": [*VENDOR_BODY["rewards"], {"rewardId": 352}]}
        response = issue(body)
        assert (response.status_code, response.json()["status"]["code"]) == (200, 8010)
        assert points(ASHA) == Decimal("475.00")

    def test_a_vendor_refusal_is_recorded_as_answered_and_holds_nothing(self, demo, issue, vendor):
        vendor.mode = "error"
        vendor.route()
        body = {**VENDOR_BODY, "rewards": [{**VENDOR_BODY["rewards"][0], "requestId": "rq-vendor"}]}
        answered = issue(body).json()["rewards"][0]
        refusal = IssueRefusal.objects.get()
        assert (refusal.reward_id, refusal.reason, refusal.request_id) == (350, "VendorFailed", "rq-vendor")
        assert failure_result(refusal_failed(refusal), event_log_id=None) == answered
        assert not IssueRequest.objects.filter(request_id="rq-vendor").exists()
        assert points(ASHA) == Decimal("500.00")
        vendor.mode = "ok"  # the same requestId is free to be issued
        assert issue(body).status_code == 200 and IssueRefusal.objects.count() == 1

    def test_the_sandbox_vendor_answers_like_a_partner(self, client, settings):
        settings.SANDBOX_VENDOR = True
        answer = client.post("/sandbox/vendor/issue", {"rewardId": 350}, content_type="application/json")
        assert answer.status_code == 200 and answer.json()["data"]["code"].startswith("SBX")
        settings.SANDBOX_VENDOR = False
        assert client.post("/sandbox/vendor/issue", {}, content_type="application/json").status_code == 404


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
class TestVendorCallsHoldNoTransaction:
    def test_no_transaction_is_open_while_the_vendor_is_called(self, demo, issue, vendor):
        # given a vendor that looks, from its own connection, for sessions inside a transaction
        vendor.route()
        vendor.before_answer = lambda: vendor.open_transactions_seen.append(open_transactions_elsewhere())
        # when
        body = {**VENDOR_BODY, "rewards": [{**VENDOR_BODY["rewards"][0], "requestId": "v-1"}]}
        assert issue(body).status_code == 200
        # then none was open
        assert vendor.open_transactions_seen == [0]

    def test_points_spent_during_the_vendor_call_make_a_vendor_exception_not_a_negative_balance(
        self, demo, issue, vendor
    ):
        # given the customer spends all her points while the vendor works
        vendor.route()
        wallet = Wallet.objects.get(org_id=O2, kind="POINTS", customer__external_id=ASHA)

        def spend_everything():
            wallet_post(wallet=wallet, delta=-Decimal("500.00"), kind=LedgerEntry.Kind.ADJUSTMENT, reference="spent")

        vendor.before_answer = spend_everything
        # when
        response = issue({**VENDOR_BODY, "rewards": [{**VENDOR_BODY["rewards"][0], "requestId": "v-2"}]})
        # then the reward is not issued, the voucher is an exception for staff, the balance is zero
        assert response.status_code == 400
        assert response.json()["rewards"][0]["status"]["code"] == 8004
        exception = VendorException.objects.get()
        assert (exception.voucher, exception.points, exception.request_id) == (VOUCHER, Decimal("10.00"), "v-2")
        assert points(ASHA) == Decimal("0.00") and not RewardIssue.objects.exists()
        assert_ledgers_add_up()

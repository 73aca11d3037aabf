"""POST /v2_0/redeemrewards: the AppVirality wire contract, through HTTP.

Every status code of docs/contracts/redeem-rewards.md with its HTTP status,
the check order where two apply, all-or-nothing, Idempotency-Key, call records.
Concurrency lives in test_redeem_concurrency.py, fuzzing in test_redeem_fuzz.py.
"""

import json
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from coupons.models import Coupon, CouponPool
from orgs.models import Campaign, Customer
from wallets.models import EarnedReward, LedgerEntry, RedemptionCall, Wallet

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("redeem_path")]  # both paths

URL = "/v2_0/redeemrewards"
KEYS = {"apikey": "demo-o2-apikey", "privatekey": "demo-o2-privatekey"}
ASHA, RAVI, MEENA = "ext_id98543198", "ext-ravi", "ext-meena"
ASHA_KEY = "2d0f2c8e-7c7e-4a57-9c43-5f3f6b1f0a11"


@pytest.fixture
def call(client, demo):
    def post(body, *, raw=None, **headers):
        data = raw if raw is not None else json.dumps(body)
        response = client.post(URL, data=data, content_type="application/json", headers=headers)
        return response.status_code, response.json()

    return post


def credits(external_id: str) -> Decimal:
    wallet = Wallet.objects.filter(kind="CREDITS", customer__external_id=external_id, org_id=4000876).first()
    return wallet.balance if wallet else Decimal("0.00")


def books_balance():
    for wallet in Wallet.objects.all():
        assert wallet.balance == sum(wallet.entries.values_list("delta", flat=True), Decimal("0.00"))


def status_of(result) -> tuple[int, int]:
    http, body = result
    return http, body["statuscode"]


class TestSuccess:
    def test_by_ids_credits_their_sum(self, call):
        http, body = call({**KEYS, "UserIdInstore": ASHA, "rewarddtlids": ["rd-1001", "rd-1002", "rd-1001"]})
        assert http == 200
        assert body == {
            "success": True,
            "statuscode": 1,
            "message": "success",
            "redeemed": {"amount": "25.00", "rewarddtlids": ["rd-1001", "rd-1002"]},
            "wallet": {"balance": "25.00"},
        }
        assert set(EarnedReward.objects.filter(code__in=["rd-1001", "rd-1002"]).values_list("status", flat=True)) == {
            "REDEEMED"
        }
        books_balance()

    def test_by_amount_consumes_oldest_first_and_keeps_the_remainder(self, call):
        http, body = call({**KEYS, "userkey": ASHA_KEY, "amount": "12.50"})
        assert (http, body["redeemed"], body["wallet"]) == (
            200,
            {"amount": "12.50", "rewarddtlids": ["rd-1001", "rd-1002"]},
            {"balance": "12.50"},
        )
        first, second = EarnedReward.objects.filter(code__in=["rd-1001", "rd-1002"]).order_by("code")
        assert (first.status, first.redeemed_amount) == ("REDEEMED", Decimal("10.00"))
        assert (second.status, second.redeemed_amount, second.remaining) == ("UNREDEEMED", Decimal("2.50"), 12.5)
        # the remainder can be redeemed by id afterwards
        http, body = call({**KEYS, "UserIdInstore": ASHA, "rewarddtlids": ["rd-1002"]})
        assert body["redeemed"]["amount"] == "12.50" and body["wallet"]["balance"] == "25.00"
        books_balance()

    def test_amount_as_a_json_number_is_read_exactly(self, call):
        _, body = call(
            None,
            raw=f'{{"apikey": "{KEYS["apikey"]}", "privatekey": "{KEYS["privatekey"]}", '
            f'"UserIdInstore": "{ASHA}", "amount": 0.1}}',
        )
        assert body["redeemed"]["amount"] == "0.10"

    def test_by_pool_hands_out_one_coupon(self, call):
        http, body = call({**KEYS, "EmailId": "Asha@Example.com", "Poolid": "531"})
        assert http == 200 and body["statuscode"] == 1
        coupon = Coupon.objects.get(code=body["coupon"]["code"])
        assert body["coupon"] == {"code": coupon.code, "poolId": 531, "expiresAt": None}
        assert coupon.status == "ISSUED" and coupon.holder.external_id == ASHA
        assert EarnedReward.objects.get(code="rd-2001").status == "REDEEMED"

    def test_keys_are_case_insensitive_and_unknown_keys_ignored(self, call):
        http, body = call(
            {"APIKEY": KEYS["apikey"], "PrivateKey": KEYS["privatekey"], "useridINSTORE": RAVI, "Amount": 7, "x": 1}
        )
        assert (http, body["statuscode"], body["redeemed"]["amount"]) == (200, 1, "7.00")

    def test_trailing_slash_is_accepted(self, client, demo):
        response = client.post(
            URL + "/", data={**KEYS, "UserIdInstore": RAVI, "amount": "1"}, content_type="application/json"
        )
        assert response.json()["statuscode"] == 1

    def test_userkey_wins_over_the_other_identifiers(self, call):
        _, body = call({**KEYS, "userkey": ASHA_KEY, "UserIdInstore": "nobody", "EmailId": "x@y.z", "amount": "1"})
        assert body["statuscode"] == 1 and credits(ASHA) == 1

    def test_ids_win_over_amount_and_pool_which_are_not_validated(self, call):
        _, body = call({**KEYS, "UserIdInstore": ASHA, "rewarddtlids": ["rd-1001"], "amount": "x", "poolId": []})
        assert body["statuscode"] == 1 and body["redeemed"]["amount"] == "10.00"


class TestStatusCodes:
    @pytest.mark.parametrize(
        "body",
        [
            {**KEYS, "UserIdInstore": ASHA, "campaignId": "no-such", "amount": "1"},
            {**KEYS, "UserIdInstore": ASHA, "rewarddtlids": ["rd-1003"]},  # Ravi's
            {**KEYS, "UserIdInstore": ASHA, "rewarddtlids": ["rd-nope"]},
            {**KEYS, "UserIdInstore": ASHA, "rewarddtlids": ["rd-1001"], "growthHack": "Loyalty_Program"},
        ],
        ids=["unknown campaign", "another user's reward", "unknown reward", "filtered out by growth hack"],
    )
    def test_0_no_data_found(self, call, body):
        assert status_of(call(body)) == (200, 0)

    @pytest.mark.parametrize("userkey", ["00000000-0000-0000-0000-000000000000", "not-a-uuid"])
    def test_2_unknown_user_key(self, call, userkey):
        assert status_of(call({**KEYS, "userkey": userkey, "amount": "1"})) == (200, 2)

    def test_3_unknown_growth_hack(self, call):
        assert status_of(call({**KEYS, "UserIdInstore": ASHA, "amount": "1", "growthHack": "Viral"})) == (200, 3)

    @pytest.mark.parametrize("identifier", [{"UserIdInstore": "nobody"}, {"EmailId": "nobody@example.com"}])
    def test_5_unknown_store_id_or_email(self, call, identifier):
        assert status_of(call({**KEYS, **identifier, "amount": "1"})) == (200, 5)

    def test_30_unknown_pool_and_another_apps_pool(self, call):
        assert status_of(call({**KEYS, "UserIdInstore": ASHA, "poolId": 999})) == (200, 30)
        other = Customer.objects.get(org_id=4004543)
        CouponPool.objects.create(id=777, org_id=other.org_id, name="Theirs")
        assert status_of(call({**KEYS, "UserIdInstore": ASHA, "poolId": 777})) == (200, 30)

    def test_43_nothing_left_to_redeem(self, call):
        assert status_of(call({**KEYS, "UserIdInstore": MEENA, "amount": "1"})) == (200, 43)
        assert status_of(call({**KEYS, "UserIdInstore": RAVI, "poolId": 531})) == (200, 43)

    def test_49_pool_empty_or_expired(self, call):
        Coupon.objects.filter(pool_id=531).update(expires_at=timezone.now() - timedelta(seconds=1))
        assert status_of(call({**KEYS, "UserIdInstore": ASHA, "poolId": 531})) == (200, 49)
        assert EarnedReward.objects.get(code="rd-2001").status == "UNREDEEMED"

    def test_57_already_redeemed(self, call):
        call({**KEYS, "UserIdInstore": ASHA, "rewarddtlids": ["rd-1001"]})
        assert status_of(call({**KEYS, "UserIdInstore": ASHA, "rewarddtlids": ["rd-1001"]})) == (200, 57)

    @pytest.mark.parametrize(
        "change",
        [
            lambda: Campaign.objects.filter(code="refer-a-friend").update(active=False),
            lambda: Campaign.objects.filter(code="refer-a-friend").update(ends_at=timezone.now()),
            lambda: Customer.objects.filter(external_id=ASHA, org_id=4000876).update(blocked=True),
        ],
        ids=["inactive", "ended", "blocked"],
    )
    def test_69_not_eligible(self, call, change):
        change()
        assert status_of(call({**KEYS, "UserIdInstore": ASHA, "rewarddtlids": ["rd-1001"]})) == (200, 69)
        assert status_of(call({**KEYS, "UserIdInstore": ASHA, "amount": "1", "campaignId": "refer-a-friend"})) == (
            200,
            69,
        )

    def test_69_outside_the_eligible_segment_but_left_out_without_campaign(self, call):
        # Ravi (SILVER) has rd-1003 (7.50, open to all) and rd-3001 (5.00, GOLD only)
        assert status_of(call({**KEYS, "UserIdInstore": RAVI, "amount": "1", "campaignId": "gold-only"})) == (200, 69)
        assert status_of(call({**KEYS, "UserIdInstore": RAVI, "rewarddtlids": ["rd-3001"]})) == (200, 69)
        assert status_of(call({**KEYS, "UserIdInstore": RAVI, "amount": "12.50"})) == (200, 104)
        assert status_of(call({**KEYS, "UserIdInstore": RAVI, "amount": "7.50"}))[1] == 1
        assert EarnedReward.objects.get(code="rd-3001").status == "UNREDEEMED"

    @pytest.mark.parametrize(
        "body",
        [
            {"privatekey": KEYS["privatekey"], "UserIdInstore": ASHA, "amount": "1"},
            {**KEYS, "privatekey": "wrong", "UserIdInstore": ASHA, "amount": "1"},
            {**KEYS, "apikey": "unknown", "UserIdInstore": ASHA, "amount": "1"},
            {"apikey": 1, "privatekey": 2},
        ],
        ids=["missing apikey", "wrong privatekey", "unknown apikey", "not strings"],
    )
    def test_101_bad_credentials(self, call, body):
        assert status_of(call(body)) == (401, 101)

    @pytest.mark.parametrize(
        "body",
        [
            {**KEYS, "amount": "1"},
            {**KEYS, "UserIdInstore": ASHA},
            {**KEYS, "UserIdInstore": ASHA, "amount": "-1"},
            {**KEYS, "UserIdInstore": ASHA, "amount": "0"},
            {**KEYS, "UserIdInstore": ASHA, "amount": "1.005"},
            {**KEYS, "UserIdInstore": ASHA, "amount": "ten"},
            {**KEYS, "UserIdInstore": ASHA, "amount": True},
            {**KEYS, "UserIdInstore": ASHA, "amount": "1e400"},
            {**KEYS, "UserIdInstore": ASHA, "poolId": "abc"},
            {**KEYS, "UserIdInstore": ASHA, "poolId": -5},
            {**KEYS, "UserIdInstore": ASHA, "poolId": 2**70},
            {**KEYS, "UserIdInstore": ASHA, "rewarddtlids": "rd-1001"},
            {**KEYS, "UserIdInstore": ASHA, "rewarddtlids": [{"id": 1}]},
            {**KEYS, "userkey": 5, "amount": "1"},
            {**KEYS, "UserIdInstore": ASHA, "amount": "1", "campaignId": ["x"]},
        ],
    )
    def test_102_malformed_fields(self, call, body):
        assert status_of(call(body)) == (400, 102)

    @pytest.mark.parametrize("raw", ["", "not json", "[1, 2]", '"text"', "{" * 5000 + "}" * 5000, '{"amount": NaN}'])
    def test_102_body_not_a_json_object(self, call, raw):
        assert status_of(call(None, raw=raw)) == (400, 102)

    def test_103_mode_does_not_fit_the_campaign(self, call):
        assert status_of(call({**KEYS, "UserIdInstore": ASHA, "rewarddtlids": ["rd-2001"]})) == (200, 103)
        body = {**KEYS, "UserIdInstore": ASHA, "amount": "1", "campaignId": "loyalty-coffee"}
        assert status_of(call(body)) == (200, 103)
        assert status_of(call({**KEYS, "UserIdInstore": ASHA, "poolId": 234})) == (200, 103)  # no campaign
        Campaign.objects.filter(code="loyalty-coffee").update(coupon_distribution="BY_ORDER")
        assert status_of(call({**KEYS, "UserIdInstore": ASHA, "poolId": 531})) == (200, 103)

    def test_104_amount_above_the_unredeemed_total(self, call):
        assert status_of(call({**KEYS, "UserIdInstore": ASHA, "amount": "25.01"})) == (200, 104)
        assert credits(ASHA) == 0

    def test_105_idempotency_key_with_another_body(self, call):
        call({**KEYS, "UserIdInstore": ASHA, "amount": "1"}, **{"Idempotency-Key": "k-105"})
        assert status_of(call({**KEYS, "UserIdInstore": ASHA, "amount": "2"}, **{"Idempotency-Key": "k-105"})) == (
            409,
            105,
        )
        assert credits(ASHA) == 1

    def test_106_rate_limit_per_app(self, call, settings):
        settings.API_RATE_LIMIT_PER_MINUTE = 3
        answers = [status_of(call({**KEYS, "UserIdInstore": ASHA, "amount": "1"})) for _ in range(4)]
        assert answers == [(200, 1)] * 3 + [(429, 106)]
        assert credits(ASHA) == 3


class TestCheckOrder:
    @pytest.mark.parametrize(
        ("body", "expected"),
        [
            ({**KEYS, "privatekey": "wrong", "amount": "x"}, 101),
            ({**KEYS, "UserIdInstore": "nobody", "amount": "x"}, 102),
            ({**KEYS, "UserIdInstore": "nobody", "amount": "1", "growthHack": "Viral"}, 5),
            ({**KEYS, "userkey": "nope", "amount": "1", "campaignId": "no-such"}, 2),
            ({**KEYS, "UserIdInstore": ASHA, "amount": "1", "growthHack": "Viral", "campaignId": "no-such"}, 3),
            ({**KEYS, "UserIdInstore": RAVI, "campaignId": "no-such", "poolId": 999}, 0),
            ({**KEYS, "UserIdInstore": RAVI, "campaignId": "gold-only", "poolId": 999}, 69),
            ({**KEYS, "UserIdInstore": ASHA, "poolId": 999, "campaignId": "refer-a-friend"}, 30),
            ({**KEYS, "UserIdInstore": RAVI, "rewarddtlids": ["rd-3001", "rd-nope"]}, 69),
            ({**KEYS, "UserIdInstore": ASHA, "rewarddtlids": ["rd-2001", "rd-nope"]}, 103),
            ({**KEYS, "UserIdInstore": RAVI, "poolId": 234}, 103),
        ],
    )
    def test_first_failing_check_wins(self, call, body, expected):
        assert call(body)[1]["statuscode"] == expected

    def test_0_before_57(self, call):
        call({**KEYS, "UserIdInstore": ASHA, "rewarddtlids": ["rd-1001"]})
        assert call({**KEYS, "UserIdInstore": ASHA, "rewarddtlids": ["rd-1001", "rd-nope"]})[1]["statuscode"] == 0

    def test_43_before_49(self, call):
        Coupon.objects.filter(pool_id=531).update(status="VOID")
        assert call({**KEYS, "UserIdInstore": RAVI, "poolId": 531})[1]["statuscode"] == 43


class TestAllOrNothing:
    def test_one_bad_id_among_good_ones_changes_nothing(self, call):
        before = list(EarnedReward.objects.order_by("id").values_list("status", "redeemed_amount"))
        assert (
            call({**KEYS, "UserIdInstore": ASHA, "rewarddtlids": ["rd-1001", "rd-1002", "rd-1003"]})[1]["statuscode"]
            == 0
        )
        assert list(EarnedReward.objects.order_by("id").values_list("status", "redeemed_amount")) == before
        assert not LedgerEntry.objects.filter(kind="REDEMPTION").exists()

    def test_one_already_redeemed_id_changes_nothing(self, call):
        call({**KEYS, "UserIdInstore": ASHA, "rewarddtlids": ["rd-1002"]})
        assert call({**KEYS, "UserIdInstore": ASHA, "rewarddtlids": ["rd-1001", "rd-1002"]})[1]["statuscode"] == 57
        assert EarnedReward.objects.get(code="rd-1001").status == "UNREDEEMED"
        assert credits(ASHA) == 15


class TestIdempotency:
    def test_a_replay_gives_the_identical_body_and_no_second_entry(self, call):
        body = {**KEYS, "UserIdInstore": ASHA, "amount": "5.00"}
        first = call(body, **{"Idempotency-Key": "order-42"})
        second = call(body, **{"Idempotency-Key": "order-42"})
        assert first == second and first[1]["statuscode"] == 1
        assert LedgerEntry.objects.filter(kind="REDEMPTION").count() == 1
        assert credits(ASHA) == 5
        assert list(RedemptionCall.objects.order_by("id").values_list("replayed", flat=True)) == [False, True]

    def test_failures_are_replayed_too(self, call):
        body = {**KEYS, "UserIdInstore": ASHA, "amount": "99"}
        assert call(body, **{"Idempotency-Key": "k"}) == call(body, **{"Idempotency-Key": "k"})

    def test_keys_are_per_app_and_expire_after_a_day(self, call):
        from wallets.models import IdempotencyKey

        body = {**KEYS, "UserIdInstore": ASHA, "amount": "1"}
        call(body, **{"Idempotency-Key": "old"})
        IdempotencyKey.objects.update(created_at=timezone.now() - timedelta(hours=25))
        call(body, **{"Idempotency-Key": "old"})
        assert credits(ASHA) == 2

    def test_an_overlong_key_is_refused(self, call):
        assert status_of(call({**KEYS, "UserIdInstore": ASHA, "amount": "1"}, **{"Idempotency-Key": "k" * 256})) == (
            400,
            102,
        )


class TestCallRecords:
    def test_every_authenticated_call_is_recorded_with_what_moved(self, call):
        call({**KEYS, "EmailId": "asha@example.com", "amount": "12.50", "campaignId": "refer-a-friend"})
        call({**KEYS, "UserIdInstore": "nobody", "amount": "1"})
        call({**KEYS, "userkey": ASHA_KEY, "poolId": 531})
        call({**KEYS, "privatekey": "wrong"})  # not authenticated: not recorded
        credited, unknown, pool = RedemptionCall.objects.order_by("id")
        assert (credited.mode, credited.status_code, credited.amount) == ("AMOUNT", 1, Decimal("12.50"))
        assert credited.customer.external_id == ASHA and credited.user_identifier == "asha@example.com"
        assert credited.reward_codes == ["rd-1001", "rd-1002"]
        assert credited.ledger_entry.delta == Decimal("12.50")
        assert credited.ledger_entry.reference == f"appvirality-redeem:{credited.reference.hex}"
        assert "privatekey" not in json.dumps(credited.request_summary)
        assert credited.request_summary["campaignId"] == "refer-a-friend"
        assert (unknown.status_code, unknown.customer, unknown.user_identifier) == (5, None, "nobody")
        assert pool.coupon.holder.external_id == ASHA and pool.reward_codes == ["rd-2001"]

    def test_support_staff_find_calls_by_user_identifier(self, call, admin_client):
        call({**KEYS, "UserIdInstore": ASHA, "amount": "1"})
        call({**KEYS, "UserIdInstore": RAVI, "amount": "1"})
        for term in (ASHA, "asha@example.com", "919900000001", ASHA_KEY):
            page = admin_client.get("/admin/wallets/redemptioncall/", {"q": term}).content.decode()
            assert page.count('<td class="field-user">') == 1, term


class TestCredentialsCache:
    def test_a_rotated_private_key_stops_working_once_the_cache_expires(self, call, settings):
        from orgs.models import AppCredential

        # given the credentials read once (cached per process for CREDENTIALS_CACHE_SECONDS)
        body = {**KEYS, "UserIdInstore": ASHA, "amount": "1"}
        assert status_of(call(body)) == (200, 1)
        credential = AppCredential.objects.get(apikey=KEYS["apikey"])
        credential.set_privatekey("rotated-private-key")
        credential.save()
        # then the old key still works within the window, and not after it
        assert status_of(call(body)) == (200, 1)
        settings.CREDENTIALS_CACHE_SECONDS = 0
        from orgs.credentials import app_credentials_cache_clear

        app_credentials_cache_clear()
        assert status_of(call(body)) == (401, 101)
        assert status_of(call({**body, "privatekey": "rotated-private-key"})) == (200, 1)

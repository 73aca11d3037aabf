"""Helpers of the till, catalogue and revoke tests: calls as the demo till, and the books' state."""

import json
from decimal import Decimal

import pytest

from catalogue.models import RewardIssue
from coupons import sql as coupon_sql
from tests.catalogue.conftest import ASHA, TILL, basic, issue, vendor  # noqa: F401 - fixtures
from wallets import sql as wallet_sql
from wallets import till as wallet_till
from wallets.models import LedgerEntry, Wallet
from wallets.services import wallet_post

RAVI, MEENA = "ext-ravi", "ext-meena"
ASHA_MOBILE = "919900000001"


@pytest.fixture(params=["one round trip", "lookup then one statement", "stepwise"])
def coupon_redeem_path(request, monkeypatch):
    """Each way a till's coupon redemption is written: the customer's lookup, the redemption and its
    event in one statement (PostgreSQL), the lookup then the other two in one statement (PostgreSQL,
    a replay or a refusal), or the portable statements in one transaction (what SQLite runs)."""
    if request.param != "one round trip":
        monkeypatch.setattr(coupon_sql, "TILL_REDEEM_BY_CUSTOMER", {})
    if request.param == "stepwise":
        monkeypatch.setattr(coupon_sql, "TILL_REDEEM_WITH_EVENT", {})
    return request.param


@pytest.fixture(params=["one round trip", "lookup then one statement", "stepwise"])
def points_redeem_path(request, monkeypatch):
    """Each way a till's points redemption is written: the lookup and the writes in one statement
    (PostgreSQL, the customer's own wallet), the lookup then the writes in one statement (PostgreSQL,
    a group, a validation code, a replay), or step by step (what SQLite runs)."""
    if request.param != "one round trip":
        monkeypatch.setattr(wallet_sql, "TILL_REDEEM_BY_CUSTOMER", {})
    if request.param == "stepwise":
        monkeypatch.setattr(wallet_till, "_REDEEM_SQL", {})
    return request.param


@pytest.fixture
def till(client):
    """``till.get(path, **query)`` / ``till.post(path, body, **query)`` as the demo till (Basic md5)."""

    class Till:
        def _url(self, path, query):
            query = {"username": TILL, **query}
            return path + "?" + "&".join(f"{k}={v}" for k, v in query.items() if v is not None)

        def get(self, path, headers=None, auth=None, **query):
            headers = {"Authorization": auth if auth is not None else basic(), **(headers or {})}
            return client.get(self._url(path, query), headers=headers)

        def send(self, method, path, body, headers=None, auth=None, **query):
            headers = {"Authorization": auth if auth is not None else basic(), **(headers or {})}
            payload = body if isinstance(body, (str, bytes)) else json.dumps(body)
            return getattr(client, method)(
                self._url(path, query), payload, content_type="application/json", headers=headers
            )

        def post(self, path, body, **kwargs):
            return self.send("post", path, body, **kwargs)

        def put(self, path, body, **kwargs):
            return self.send("put", path, body, **kwargs)

    return Till()


def redeem_body(points="30", number="bill-1", customer=None, **item):
    return {
        "root": {
            "redeem": [
                {
                    "points_redeemed": points,
                    "transaction_number": number,
                    "customer": customer or {"external_id": ASHA},
                    **item,
                }
            ]
        }
    }


def set_points(external_id: str, points: str, org_id: int = 4000876) -> None:
    """Move a customer's points wallet to ``points`` through the ledger."""
    wallet = Wallet.objects.get(org_id=org_id, kind="POINTS", customer__external_id=external_id)
    delta = Decimal(points) - wallet.balance
    if delta:
        wallet_post(wallet=wallet, delta=delta, kind=LedgerEntry.Kind.ADJUSTMENT, reference="test")


def issue_coupon(issue_call, external_id: str = ASHA) -> tuple[int, str]:
    """Issue reward 351 (a coupon of pool 234): (transactionId, coupon code)."""
    response = issue_call({"externalId": external_id, "rewards": [{"rewardId": 351}]})
    assert response.status_code == 200, response.json()
    reward = response.json()["rewards"][0]
    return reward["transactionId"], reward["intouch"]["couponCode"]


def ledger_count() -> int:
    return LedgerEntry.objects.count()


def issue_state():
    return list(RewardIssue.objects.order_by("pk").values_list("pk", "status", "fulfillment_status", "custom_fields"))

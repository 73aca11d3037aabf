"""Fixtures of the Issue Reward tests: credentials of the demo, a call helper, and a vendor
stand-in: a real HTTP server on 127.0.0.1 started by the test."""

import base64
import json
import threading
import time
from dataclasses import dataclass, field
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.db import connection
from django.db.models import Sum

from catalogue.models import CatalogueReward
from orgs.credentials import till_auth_cache_clear
from orgs.models import md5_hex
from wallets.models import LedgerEntry, Wallet

ISSUE_URL = "/v1.1/user/rewards/issue/"
TILL, PASSWORD = "o2.till", "o2-till-password"
O2, TRAVEL = 4000876, 4004543
ASHA = "ext_id98543198"
VOUCHER = "OV4GJYQV3Y"


def basic(username: str = TILL, password: str = PASSWORD, *, md5: bool = True) -> str:
    secret = md5_hex(password) if md5 else password
    return "Basic " + base64.b64encode(f"{username}:{secret}".encode()).decode()


def points(external_id: str, org_id: int = O2) -> Decimal:
    return Wallet.objects.get(org_id=org_id, kind="POINTS", customer__external_id=external_id).balance


def group_points(group_id: int = 77) -> Decimal:
    return Wallet.objects.get(kind="POINTS", group_id=group_id).balance


def assert_ledgers_add_up() -> None:
    """Every points wallet's balance equals the sum of its ledger entries."""
    sums = dict(
        LedgerEntry.objects.filter(wallet__kind="POINTS")
        .values("wallet")
        .annotate(s=Sum("delta"))
        .values_list("wallet", "s")
    )
    for wallet in Wallet.objects.filter(kind="POINTS"):
        assert wallet.balance == sums.get(wallet.pk, Decimal("0.00")), wallet


@pytest.fixture(params=["one statement", "python"])
def issue_path(request, settings):
    """Both implementations of an issue call of local rewards (``catalogue/issue_statement.py``):
    one PostgreSQL statement, or the step-by-step Python path (SQLite's only one), so the two
    cannot drift. Used by the issue tests' modules (``pytestmark``)."""
    one_statement = request.param == "one statement"
    if one_statement and connection.vendor != "postgresql":
        pytest.skip("the one-statement path is PostgreSQL's")
    settings.ISSUE_ONE_STATEMENT = one_statement
    return request.param


@pytest.fixture(autouse=True)
def _fresh_auth_cache():
    till_auth_cache_clear()
    yield
    till_auth_cache_clear()


@pytest.fixture
def issue(client):
    """POST an issue call as the demo till (or as told); returns the response."""

    def call(body, *, username=TILL, skip="true", headers=None, auth=None, url=ISSUE_URL):
        query = f"?username={username}" + (f"&skip_validation={skip}" if skip is not None else "")
        headers = {"Authorization": auth if auth is not None else basic(), **(headers or {})}
        payload = body if isinstance(body, str) else json.dumps(body)
        return client.post(url + query, payload, content_type="application/json", headers=headers)

    return call


OTHER_SCOPE = {"DATA-SCOPE": "OTHER", "DATA-SCOPE-ORG": f"{O2},{TRAVEL}"}


@dataclass
class VendorStandIn:
    """How the stand-in answers: ``ok`` (200 + voucher), ``error`` (500), ``empty`` (200, no
    voucher), ``slow`` (answers after ``slow_seconds``); ``before_answer`` runs first."""

    url: str = ""
    mode: str = "ok"
    slow_seconds: float = 1.5
    requests: list = field(default_factory=list)
    before_answer: object = None
    open_transactions_seen: list = field(default_factory=list)

    def route(self, reward_id: int = 350, timeout_ms: int = 500) -> None:
        """Point a vendor reward at this stand-in."""
        CatalogueReward.objects.filter(pk=reward_id).update(
            vendor_url=self.url,
            vendor_timeout_ms=timeout_ms,
            vendor_context_map={
                "voucher": "data.code",
                "valid_till": "data.validTill",
                "coupon_series_id": "data.couponSeriesId",
            },
        )


@pytest.fixture
def vendor():
    stand_in = VendorStandIn()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            stand_in.requests.append(json.loads(self.rfile.read(length) or b"null"))
            if stand_in.before_answer is not None:
                try:
                    stand_in.before_answer()
                finally:
                    connection.close()  # this thread's own database connection
            if stand_in.mode == "slow":
                time.sleep(stand_in.slow_seconds)
            if stand_in.mode == "error":
                self._answer(500, {"error": "partner down"})
            elif stand_in.mode == "empty":
                self._answer(200, {"data": {"code": "", "validTill": "2027-11-01"}})
            else:
                self._answer(200, {"data": {"code": VOUCHER, "validTill": "2027-11-01", "couponSeriesId": "234"}})

        def _answer(self, status, body):
            data = json.dumps(body).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the caller gave up (timeout)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    stand_in.url = f"http://127.0.0.1:{server.server_address[1]}/issue"
    yield stand_in
    server.shutdown()
    server.server_close()


def open_transactions_elsewhere(*, or_running: bool = False) -> int:
    """Sessions of this database that sit inside a transaction (run from another connection);
    ``or_running``: also those running a statement."""
    running = " OR state = 'active'" if or_running else ""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            f"AND (state LIKE 'idle in transaction%%'{running}) AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0]

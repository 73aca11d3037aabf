"""``manage.py load_scenario``: one transaction, paths in errors, ids refused
without --replace, secrets hashed, opening balances through the ledger."""

import copy
import json
import re
from decimal import Decimal

import pytest
from django.apps import apps
from django.core.management import CommandError, call_command

from backoffice.scenario import ScenarioError, scenario_load
from catalogue.models import CatalogueReward, PaymentConfig
from coupons.models import Coupon
from orgs.models import ApiClient, AppCredential, Customer, Org, Till
from wallets.models import LedgerEntry, Wallet
from wallets.services import wallet_post

pytestmark = pytest.mark.django_db

O2, TRAVEL = 4000876, 4004543


def snapshot() -> dict:
    """Every row of every project table, as comparable values."""
    state = {}
    for app in ("orgs", "wallets", "coupons", "catalogue"):
        for model in apps.get_app_config(app).get_models():
            if model.__name__.startswith("Historical"):
                continue
            fields = [f.attname for f in model._meta.concrete_fields if f.attname not in ("created_at", "id")]
            state[model._meta.label] = sorted(map(repr, model.objects.values_list(*fields)))
    return state


def write(tmp_path, document) -> str:
    path = tmp_path / "scenario.json"
    path.write_text(json.dumps(document))
    return str(path)


def test_demo_loads_everything(demo_document, tmp_path, capsys):
    # when
    call_command("load_scenario", write(tmp_path, demo_document))
    # then
    assert "Loaded" in capsys.readouterr().out
    assert set(Org.objects.values_list("id", flat=True)) == {O2, TRAVEL}
    assert set(Org.objects.get(pk=O2).connected_orgs.values_list("id", flat=True)) == {TRAVEL}
    assert set(Org.objects.get(pk=TRAVEL).connected_orgs.values_list("id", flat=True)) == {O2}
    assert Customer.objects.filter(org_id=O2).count() == 3
    asha = Customer.objects.get(org_id=O2, external_id="ext_id98543198")
    assert str(asha.user_key) == "2d0f2c8e-7c7e-4a57-9c43-5f3f6b1f0a11"
    assert set(asha.segments.values_list("name", flat=True)) == {"GOLD"}
    assert Coupon.objects.filter(pool_id=531, status="AVAILABLE").count() == 1000
    assert Coupon.objects.filter(pool_id=234).count() == 500
    assert CatalogueReward.objects.get(pk=351).coupon_pool_id == 234
    assert PaymentConfig.objects.get(pk=54).conversion_ratio == Decimal("0.5")


def test_opening_balances_are_ledger_entries(demo):
    asha_points = Wallet.objects.get(org_id=O2, kind="POINTS", customer__external_id="ext_id98543198")
    assert asha_points.balance == Decimal("500.00")
    assert list(asha_points.entries.values_list("kind", "delta", "balance_after")) == [
        ("OPENING", Decimal("500.00"), Decimal("500.00"))
    ]
    group_points = Wallet.objects.get(org_id=O2, kind="POINTS", group_id=77)
    assert group_points.balance == Decimal("1000.00")
    for wallet in Wallet.objects.all():
        assert wallet.balance == sum(wallet.entries.values_list("delta", flat=True), Decimal("0.00"))
    # a zero opening balance opens the wallet without an entry (entries move money)
    asha_credits = Wallet.objects.get(org_id=O2, kind="CREDITS", customer__external_id="ext_id98543198")
    assert asha_credits.balance == 0 and not asha_credits.entries.exists()


def test_secrets_are_stored_hashed(demo):
    credential = AppCredential.objects.get(org_id=O2)
    assert credential.apikey == "demo-o2-apikey"
    assert "demo-o2-privatekey" not in credential.privatekey_digest
    assert credential.check_privatekey("demo-o2-privatekey") and not credential.check_privatekey("wrong")
    till = Till.objects.get(username="o2.till")
    assert "o2-till-password" not in till.password
    assert till.check_password("o2-till-password") and not till.check_password("nope")
    client = ApiClient.objects.get(key="demo-o2-oauth-key")
    assert client.check_secret("demo-o2-oauth-secret") and "demo-o2-oauth-secret" not in client.secret_digest


def test_generated_codes_are_unique_and_shaped(demo):
    codes = list(Coupon.objects.filter(pool_id=531).values_list("code", flat=True))
    assert len(codes) == len(set(codes)) == 1000
    assert all(re.fullmatch(r"COF-[0-9A-HJKMNP-TV-Z]{10}", code) for code in codes)


def test_second_load_is_refused_and_replace_loads_afresh(demo_document, tmp_path):
    path = write(tmp_path, demo_document)
    call_command("load_scenario", path)
    before = snapshot()
    # when loaded again without --replace
    with pytest.raises(CommandError, match=r"orgs\[0\]\.id: org 4000876 already exists \(use --replace") as refused:
        call_command("load_scenario", path)
    assert refused.value.returncode == 1
    assert snapshot() == before
    # when loaded with --replace (after the demo's books moved)
    wallet = Wallet.objects.get(org_id=O2, kind="POINTS", customer__external_id="ext-ravi")
    wallet_post(wallet=wallet, delta=Decimal("1.00"), kind=LedgerEntry.Kind.ADJUSTMENT)
    call_command("load_scenario", path, replace=True)
    # then the orgs are as the file says again
    after = snapshot()
    for label in ("wallets.Wallet", "wallets.LedgerEntry", "orgs.Customer", "catalogue.CatalogueReward"):
        assert len(after[label]) == len(before[label])
    assert Wallet.objects.get(org_id=O2, kind="POINTS", customer__external_id="ext-ravi").balance == Decimal("30.00")
    assert Coupon.objects.filter(pool_id=531).count() == 1000


def _mutations():
    """(description, change to the demo document, expected problem)."""

    def add_reward(doc):
        doc["orgs"][0]["earned_rewards"].append(
            {
                "id": "rd-x",
                "campaign": "x",
                "customer": "ext-ravi",
                "amount": "1.00",
                "earned_at": "2026-10-01T00:00:00Z",
            }
        )

    def set_(path, value):
        def change(doc):
            target = doc
            for key in path[:-1]:
                target = target[key]
            target[path[-1]] = value

        return change

    return [
        ("unknown campaign", add_reward, "orgs[0].earned_rewards[5].campaign: unknown campaign 'x'"),
        (
            "bad mobile",
            set_(["orgs", 0, "customers", 1, "mobile"], "call me"),
            "orgs[0].customers[1].mobile: not a phone number",
        ),
        (
            "unknown pool",
            set_(["orgs", 0, "catalogue", 1, "coupon_pool"], 999),
            "orgs[0].catalogue[1].coupon_pool: unknown coupon pool 999",
        ),
        (
            "unknown member",
            set_(["orgs", 0, "groups", 0, "members", 1], "ghost"),
            "orgs[0].groups[0].members[1]: unknown customer 'ghost'",
        ),
        ("unknown org link", set_(["orgs", 1, "connected_orgs", 0], 123), "orgs[1].connected_orgs[0]: unknown org 123"),
        (
            "unknown segment",
            set_(["orgs", 0, "customers", 0, "segments", 0], "PLATINUM"),
            "orgs[0].customers[0].segments[0]: unknown segment 'PLATINUM'",
        ),
        (
            "time without zone",
            set_(["orgs", 0, "earned_rewards", 2, "earned_at"], "2026-10-03 09:00"),
            "orgs[0].earned_rewards[2].earned_at: not an ISO 8601 time with zone",
        ),
        (
            "money as float",
            set_(["orgs", 1, "customers", 0, "points"], 80.5),
            "orgs[1].customers[0].points: 80.5 is not of type 'string'",
        ),
        (
            "duplicate pool id",
            set_(["orgs", 0, "coupon_pools", 1, "id"], 531),
            "orgs[0].coupon_pools[1].id: duplicate coupon pool id 531",
        ),
        (
            "COUPONS reward with amount",
            set_(["orgs", 0, "earned_rewards", 3, "amount"], "1.00"),
            "orgs[0].earned_rewards[3].amount: a reward of a COUPONS campaign is one coupon",
        ),
        (
            "vendor reward without vendor",
            set_(["orgs", 0, "catalogue", 0, "vendor"], None),
            "orgs[0].catalogue[0].vendor: required for a VENDOR reward",
        ),
        (
            "unknown key",
            set_(["orgs", 0, "custmers"], []),
            "orgs[0]: Additional properties are not allowed ('custmers' was unexpected)",
        ),
    ]


@pytest.mark.parametrize(("mutate", "problem"), [m[1:] for m in _mutations()], ids=[m[0] for m in _mutations()])
@pytest.mark.parametrize("replace", [False, True], ids=["fresh", "replace"])
def test_a_bad_document_names_the_path_and_changes_nothing(demo_document, tmp_path, mutate, problem, replace):
    # given the demo already loaded when replacing, an empty database otherwise
    if replace:
        scenario_load(document=demo_document)
    before = snapshot()
    bad = copy.deepcopy(demo_document)
    mutate(bad)
    # when
    with pytest.raises(CommandError) as refused:
        call_command("load_scenario", write(tmp_path, bad), replace=replace)
    # then
    assert problem in str(refused.value)
    assert refused.value.returncode == 1
    assert snapshot() == before


def test_ids_of_an_org_not_in_the_file_are_refused_even_with_replace(demo_document):
    scenario_load(document=demo_document)
    other = {"orgs": [{"id": 1, "name": "Other", "coupon_pools": [{"id": 531, "name": "Clash"}]}]}
    with pytest.raises(
        ScenarioError, match=r"orgs\[0\]\.coupon_pools\[0\]\.id: coupon pool 531 already exists in org 4000876"
    ):
        scenario_load(document=other, replace=True)
    assert not Org.objects.filter(pk=1).exists()


@pytest.mark.parametrize("text", ["{", "[]", '{"orgs": "x"}'])
def test_files_that_are_not_scenarios_are_refused(tmp_path, text):
    path = tmp_path / "broken.json"
    path.write_text(text)
    with pytest.raises(CommandError):
        call_command("load_scenario", str(path))
    assert not Org.objects.exists()


def test_a_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(CommandError, match="cannot read"):
        call_command("load_scenario", str(tmp_path / "nope.json"))

"""The back office in the admin: roles and permissions on every page and action, reversals,
revocations and adjustments through their pages, pool stock, Customer 360, the dashboard."""

import importlib
import io
from decimal import Decimal

import pytest
from django.apps import apps as django_apps
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from backoffice.purge import org_purge
from backoffice.scenario import scenario_load
from catalogue.models import RewardIssue
from coupons.models import Coupon, CouponPool
from orgs.models import Campaign, Customer, CustomerNote
from orgs.roles import REWARDS_MANAGER, SUPPORT_AGENT, roles_setup
from wallets.models import LedgerEntry, RedemptionCall, Wallet
from wallets.services import wallet_post

from .conftest import ASHA, ASHA_MOBILE, O2, login, staff

pytestmark = pytest.mark.django_db


def asha() -> Customer:
    return Customer.objects.get(org_id=O2, external_id=ASHA)


def credits() -> Wallet:
    return Wallet.objects.get(org_id=O2, kind="CREDITS", customer__external_id=ASHA)


# --- roles ------------------------------------------------------------------------------------


def test_the_data_migration_creates_both_roles():
    # given (a transactional test's flush may have emptied the tables the migration filled)
    migration = importlib.import_module("orgs.migrations.0005_roles")
    Group.objects.filter(name__in=[SUPPORT_AGENT, REWARDS_MANAGER]).delete()
    # when
    migration.create_roles(django_apps, None)
    # then
    assert set(Group.objects.values_list("name", flat=True)) >= {SUPPORT_AGENT, REWARDS_MANAGER}
    assert Group.objects.get(name=REWARDS_MANAGER).permissions.filter(codename="reverse_redemption").exists()


def test_setup_roles_is_idempotent_and_restores_permissions():
    # given: someone removed a permission by hand
    call_command("setup_roles", stdout=io.StringIO())
    manager_group = Group.objects.get(name=REWARDS_MANAGER)
    manager_group.permissions.remove(manager_group.permissions.get(codename="reverse_redemption"))
    # when
    out = io.StringIO()
    call_command("setup_roles", stdout=out)
    call_command("setup_roles", stdout=out)
    # then
    assert manager_group.permissions.filter(codename="reverse_redemption").exists()
    assert "Support agent:" in out.getvalue() and "Rewards manager:" in out.getvalue()


def test_a_support_agent_sees_everything_but_moves_no_money(agent, manager):
    money = ["wallets.reverse_redemption", "wallets.adjust_wallet", "catalogue.revoke_rewardissue"]
    config = ["coupons.manage_stock", "coupons.change_couponpool", "catalogue.change_cataloguereward"]
    assert agent.has_perm("wallets.view_ledgerentry") and agent.has_perm("orgs.view_customer")
    assert agent.has_perm("orgs.add_customernote")
    assert not any(agent.has_perm(p) for p in money + config)
    assert all(manager.has_perm(p) for p in money + config)
    assert not manager.has_perm("wallets.change_wallet") and not manager.has_perm("wallets.change_ledgerentry")


# --- permissions on every back-office page and action -----------------------------------------


@pytest.fixture
def pages(redeem, issue_reward):
    redeem(UserIdInstore=ASHA, rewarddtlids=["rd-1001"])
    issue_reward(353)
    call, issue, pool = RedemptionCall.objects.get(), RewardIssue.objects.get(), CouponPool.objects.get(pk=531)
    return {
        "reverse": reverse("admin:wallets_redemptioncall_reverse", args=[call.pk]),
        "revoke": reverse("admin:catalogue_rewardissue_revoke", args=[issue.pk]),
        "adjust": reverse("admin:wallets_wallet_adjust", args=[credits().pk]),
        "upload": reverse("admin:coupons_couponpool_upload", args=[pool.pk]),
        "generate": reverse("admin:coupons_couponpool_generate", args=[pool.pk]),
        "export": reverse("admin:coupons_couponpool_export", args=[pool.pk]),
        "pool_change": reverse("admin:coupons_couponpool_change", args=[pool.pk]),
        "reward_change": reverse("admin:catalogue_cataloguereward_change", args=[353]),
        "campaign_add": reverse("admin:orgs_campaign_add"),
        "360_search": reverse("admin:orgs_customer_360_search"),
        "360": reverse("admin:orgs_customer_360", args=[asha().pk]),
        "call_change": reverse("admin:wallets_redemptioncall_change", args=[call.pk]),
        "issue_change": reverse("admin:catalogue_rewardissue_change", args=[issue.pk]),
        "index": reverse("admin:index"),
    }


MONEY_AND_STOCK = ["reverse", "revoke", "adjust", "upload", "generate"]


@pytest.mark.parametrize("page", MONEY_AND_STOCK)
def test_a_support_agent_is_refused_every_operation_get_and_post(as_agent, pages, page):
    assert as_agent.get(pages[page]).status_code == 403
    assert as_agent.post(pages[page], {"reason": "x", "delta": "5.00", "count": 1, "length": 10}).status_code == 403


def test_a_support_agent_changes_nothing_through_a_refused_reversal(as_agent, pages):
    as_agent.post(pages["reverse"], {"reason": "please"})
    assert credits().balance == Decimal("10.00")
    assert not LedgerEntry.objects.filter(kind="REVERSAL").exists()


@pytest.mark.parametrize("page", ["360_search", "360", "call_change", "issue_change", "index", "pool_change"])
def test_a_support_agent_can_look(as_agent, pages, page):
    assert as_agent.get(pages[page]).status_code == 200


def test_a_support_agent_cannot_change_pools_catalogue_or_campaigns(as_agent, pages):
    assert as_agent.post(pages["campaign_add"], {}).status_code == 403
    content = as_agent.get(pages["pool_change"]).content.decode()
    assert 'name="name"' not in content  # view only
    assert as_agent.get(pages["export"]).status_code == 403


@pytest.mark.parametrize("page", [*MONEY_AND_STOCK, "export", "360", "reward_change", "campaign_add"])
def test_a_rewards_manager_opens_every_page(as_manager, pages, page):
    assert as_manager.get(pages[page]).status_code == 200


def test_the_operation_buttons_show_only_to_whom_may_use_them(as_agent, as_manager, pages):
    assert 'id="reverse-redemption"' in as_manager.get(pages["call_change"]).content.decode()
    assert 'id="reverse-redemption"' not in as_agent.get(pages["call_change"]).content.decode()
    assert 'id="revoke-issue"' in as_manager.get(pages["issue_change"]).content.decode()
    assert 'id="revoke-issue"' not in as_agent.get(pages["issue_change"]).content.decode()


def test_only_a_manager_marks_a_vendor_exception_resolved(agent, manager, demo):
    from catalogue.admin import VendorExceptionAdmin
    from catalogue.models import VendorException

    model_admin = VendorExceptionAdmin(VendorException, None)

    class Request:
        def __init__(self, user):
            self.user = user

    assert model_admin.has_change_permission(Request(manager))
    assert not model_admin.has_change_permission(Request(agent))


def test_staff_without_a_role_see_nothing(pages):
    nobody = login(staff("nobody", None))
    for page in ("360_search", "360", "call_change", "reverse", "upload", "export"):
        assert nobody.get(pages[page]).status_code == 403, page


def test_the_void_action_is_offered_to_managers_only(as_agent, as_manager, demo):
    url = reverse("admin:coupons_coupon_changelist")
    assert "void_coupons" in as_manager.get(url).content.decode()
    assert "void_coupons" not in as_agent.get(url).content.decode()
    coupon = Coupon.objects.filter(pool_id=531).first()
    as_agent.post(url, {"action": "void_coupons", "_selected_action": [coupon.pk]})
    coupon.refresh_from_db()
    assert coupon.status == "AVAILABLE"


# --- operations through their pages -----------------------------------------------------------


def test_a_manager_reverses_a_redemption_through_its_page(as_manager, pages):
    # when
    response = as_manager.post(pages["reverse"], {"reason": "customer complaint"}, follow=True)
    # then
    assert "reversed: 10.00 taken back" in response.content.decode()
    assert credits().balance == Decimal("0.00")
    content = as_manager.get(pages["call_change"]).content.decode()
    assert "customer complaint" in content and "REVERSAL" in content
    assert 'id="reverse-redemption"' not in content  # once only


def test_a_reversal_without_a_reason_or_of_spent_credits_is_refused_on_the_form(as_manager, pages):
    response = as_manager.post(pages["reverse"], {"reason": "  "})
    assert response.status_code == 400 and "This field is required" in response.content.decode()
    wallet_post(wallet=credits(), delta=Decimal("-1.00"), kind="ADJUSTMENT")
    response = as_manager.post(pages["reverse"], {"reason": "complaint"})
    assert response.status_code == 400
    assert "the credits were already spent: the wallet holds 9.00" in response.content.decode()
    assert credits().balance == Decimal("9.00")


def test_a_manager_revokes_an_issued_reward_through_its_page(as_manager, pages):
    response = as_manager.post(pages["revoke"], {"reason": "duplicate order"}, follow=True)
    assert "100.00 points refunded" in response.content.decode()
    assert RewardIssue.objects.get().status == "CANCELLED"
    assert Wallet.objects.get(org_id=O2, kind="POINTS", customer__external_id=ASHA).balance == Decimal("500.00")


def test_a_manager_adjusts_a_balance_through_its_page(as_manager, pages):
    response = as_manager.post(pages["adjust"], {"delta": "-4.00", "reason": "manual correction"}, follow=True)
    assert "adjusted by -4.00: the balance is now 6.00" in response.content.decode()
    response = as_manager.post(pages["adjust"], {"delta": "-7.00", "reason": "too much"})
    assert response.status_code == 400 and "holds 6.00" in response.content.decode()
    assert credits().balance == Decimal("6.00")


@pytest.mark.parametrize("body", [{"delta": "abc", "reason": "x"}, {"delta": "0", "reason": "x"}, {}])
def test_bad_adjustment_input_is_a_clear_error_not_a_5xx(as_manager, pages, body):
    assert as_manager.post(pages["adjust"], body).status_code == 400
    assert credits().balance == Decimal("10.00")


# --- coupon pools -----------------------------------------------------------------------------


def upload(client, pool_id: int, text: bytes, name: str = "codes.csv"):
    file = io.BytesIO(text)
    file.name = name
    return client.post(reverse("admin:coupons_couponpool_upload", args=[pool_id]), {"file": file})


def test_an_upload_reports_duplicates_and_malformed_lines(as_manager, demo):
    # given: a code of the pool, a repeated line, a malformed line, a blank line
    existing = Coupon.objects.filter(pool_id=234).values_list("code", flat=True).first()
    text = f"code\nNEW-1\nNEW-2\nNEW-1\n{existing}\nbad code!\n\nNEW-3,extra\nNEW-4\n".encode()
    # when
    response = upload(as_manager, 234, text)
    # then
    report = response.context["report"]
    assert (report.added, report.duplicates_in_file, report.duplicates_existing, report.malformed) == (3, 1, 1, 2)
    assert report.duplicate_lines == [
        (4, "NEW-1", "repeats an earlier line of the file"),
        (5, existing, "already in the pool"),
    ]
    assert [(n, why) for n, _, why in report.malformed_lines] == [
        (6, "not a code (letters, digits, '.', '_', '-')"),
        (8, "more than one column (expected one code per line)"),
    ]
    content = response.content.decode()
    assert 'id="duplicate-lines"' in content and "already in the pool" in content
    assert set(Coupon.objects.filter(pool_id=234, code__startswith="NEW-").values_list("code", flat=True)) == {
        "NEW-1", "NEW-2", "NEW-4"
    }  # fmt: skip


def test_the_upload_page_reports_its_progress_by_token(as_manager, as_agent, demo):
    # given
    url = reverse("admin:coupons_couponpool_upload", args=[234])
    progress = reverse("admin:coupons_couponpool_upload_progress", args=[234])
    token = as_manager.get(url).context["form"].initial["token"]
    assert as_manager.get(progress, {"token": token}).json() == {"lines": 0, "done": False}
    # when
    file = io.BytesIO(b"\n".join(b"P-%05d" % n for n in range(25_000)))
    file.name = "codes.csv"
    as_manager.post(url, {"file": file, "token": token})
    # then
    assert as_manager.get(progress, {"token": token}).json() == {"lines": 25_000, "done": True}
    assert as_agent.get(progress, {"token": token}).status_code == 403


def test_an_upload_that_is_not_text_changes_nothing_and_says_so(as_manager, demo):
    before = Coupon.objects.filter(pool_id=234).count()
    response = upload(as_manager, 234, b"\xff\xfe\x00garbage\nOK-1\n")
    assert response.status_code == 200
    assert response.context["report"].malformed == 1
    assert Coupon.objects.filter(pool_id=234).count() == before + 1


@pytest.mark.postgres
def test_a_large_upload_goes_through_copy(as_manager, demo):
    codes = "\n".join(f"BULK-{n:06d}" for n in range(20_000)) + "\nBULK-000001\n"
    response = upload(as_manager, 234, codes.encode())
    report = response.context["report"]
    assert (report.added, report.duplicates_in_file) == (20_000, 1)
    assert Coupon.objects.filter(pool_id=234, code__startswith="BULK-").count() == 20_000


def test_generate_adds_fresh_codes(as_manager, demo):
    url = reverse("admin:coupons_couponpool_generate", args=[234])
    before = Coupon.objects.filter(pool_id=234).count()
    response = as_manager.post(url, {"count": 25, "prefix": "GEN-", "length": 8}, follow=True)
    assert "25 new codes added" in response.content.decode()
    assert Coupon.objects.filter(pool_id=234, code__startswith="GEN-").count() == 25
    assert Coupon.objects.filter(pool_id=234).count() == before + 25


def test_void_action_voids_available_coupons_and_leaves_issued_ones(as_manager, issue_reward):
    issue_reward(351)
    issued = Coupon.objects.get(pool_id=234, status="ISSUED")
    available = Coupon.objects.filter(pool_id=234, status="AVAILABLE").first()
    url = reverse("admin:coupons_coupon_changelist")
    response = as_manager.post(
        url, {"action": "void_coupons", "_selected_action": [issued.pk, available.pk]}, follow=True
    )
    assert "1 coupon(s) voided; 1 issued or void coupon(s) left" in response.content.decode()
    assert Coupon.objects.get(pk=available.pk).status == "VOID"
    assert Coupon.objects.get(pk=issued.pk).status == "ISSUED"


def test_export_streams_the_issued_coupons_as_csv(as_manager, issue_reward):
    issue_reward(351, quantity=2)
    response = as_manager.get(reverse("admin:coupons_couponpool_export", args=[234]))
    assert response.streaming and response["Content-Type"] == "text/csv"
    lines = b"".join(response.streaming_content).decode().splitlines()
    assert lines[0] == "code,holder_external_id,holder_email,holder_mobile,issued_at,expires_at"
    codes = set(Coupon.objects.filter(pool_id=234, status="ISSUED").values_list("code", flat=True))
    assert {line.split(",")[0] for line in lines[1:]} == codes and len(codes) == 2
    assert all(f",{ASHA},asha@example.com,{ASHA_MOBILE}," in line for line in lines[1:])


def test_pool_page_shows_stock_and_low_stock(as_manager, demo):
    CouponPool.objects.filter(pk=234).update(low_stock_threshold=1000)
    content = as_manager.get(reverse("admin:coupons_couponpool_change", args=[234])).content.decode()
    assert "500 (low)" in content and "0 issued, 0 expired" in content


# --- big tables -------------------------------------------------------------------------------


@pytest.mark.postgres
def test_an_unfiltered_big_changelist_is_counted_from_statistics(as_manager, demo, monkeypatch):
    # given: statistics, and a threshold that makes this table "big"
    monkeypatch.setattr("core.admin_tools.ESTIMATE_FROM_ROWS", 1)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE coupons_coupon")
        cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE oid = 'coupons_coupon'::regclass")
        (estimate,) = cursor.fetchone()
    url = reverse("admin:coupons_coupon_changelist")
    # when
    with CaptureQueriesContext(connection) as queries:
        response = as_manager.get(url)
    # then
    assert response.context["cl"].result_count == estimate
    assert not [q["sql"] for q in queries if "COUNT(*)" in q["sql"] and "coupons_coupon" in q["sql"]]
    # a filtered list is counted exactly
    response = as_manager.get(url, {"pool__id__exact": 531})
    assert response.context["cl"].result_count == 1000


# --- Customer 360 -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        ASHA_MOBILE,
        "99000000",
        ASHA,
        "id985431",
        "asha@example.com",
        "ASHA@EXAMPLE",
        "2d0f2c8e-7c7e-4a57-9c43-5f3f6b1f0a11",
    ],
)
def test_customer_search_exact_and_partial_across_orgs(as_agent, demo, query):
    response = as_agent.get(reverse("admin:orgs_customer_360_search"), {"q": query})
    found = {(c.org_id, c.external_id) for c in response.context["results"]}
    assert (O2, ASHA) in found
    if query in (ASHA_MOBILE, "asha@example.com", ASHA):
        assert (4004543, ASHA) in found  # the same person in the connected org


def test_customer_search_finds_nothing_for_nonsense(as_agent, demo):
    response = as_agent.get(reverse("admin:orgs_customer_360_search"), {"q": "no-such-person"})
    assert response.context["results"] == []
    assert as_agent.get(reverse("admin:orgs_customer_360", args=["abc"])).status_code == 404
    assert as_agent.get(reverse("admin:orgs_customer_360", args=[10**12])).status_code == 404


def test_customer_360_shows_everything_in_a_fixed_number_of_queries(as_agent, redeem, issue_reward):
    # given
    url = reverse("admin:orgs_customer_360", args=[asha().pk])
    redeem(UserIdInstore=ASHA, rewarddtlids=["rd-1001"])
    as_agent.get(url)
    with CaptureQueriesContext(connection) as few:
        first = as_agent.get(url)
    # when: more of everything
    redeem(UserIdInstore=ASHA, rewarddtlids=["rd-1002"])
    redeem(UserIdInstore=ASHA, poolId=531)
    issue_reward(351)
    issue_reward(353)
    CustomerNote.objects.create(org_id=O2, customer=asha(), text="called")
    with CaptureQueriesContext(connection) as more:
        second = as_agent.get(url)
    # then
    assert first.status_code == second.status_code == 200
    assert len(more) == len(few), [q["sql"] for q in more]
    content = second.content.decode()
    for text in ("919900000001", "GOLD", "O2-CARD-1", "rd-1001", "REDEMPTION", "Gold lounge pass", "MOV-", "called"):
        assert text in content, text
    assert 'id="balance-' in content


def test_customer_360_and_the_admin_show_the_rewards_refused(as_agent, issue_reward):
    issue_reward(352)
    refused = issue_reward(352)["rewards"][0]  # the cart promotion's limit is once
    content = as_agent.get(reverse("admin:orgs_customer_360", args=[asha().pk])).content.decode()
    section = content[content.index('id="issue-refusals"') :]
    assert refused["status"]["message"] in section[: section.index("</table>")]
    listed = as_agent.get(reverse("admin:catalogue_issuerefusal_changelist")).content.decode()
    assert "PromotionLimitReached" in listed


def test_customer_360_pages_the_ledger(as_agent, demo):
    wallet = Wallet.objects.get(org_id=O2, kind="POINTS", customer__external_id=ASHA)
    for n in range(25):
        wallet_post(wallet=wallet, delta=Decimal("1.00"), kind="ADJUSTMENT", reference=f"page-{n}")
    url = reverse("admin:orgs_customer_360", args=[asha().pk])
    first = as_agent.get(url).content.decode()
    assert "page-24" in first and "page-4" not in first.replace("page-24", "")
    older = as_agent.get(url, {f"ledger_{wallet.pk}": 2}).content.decode()
    assert "page-4" in older and "page-24" not in older


def test_a_support_agent_adds_a_note(as_agent, demo):
    url = reverse("admin:orgs_customer_360", args=[asha().pk])
    response = as_agent.post(url, {"text": "asked where her reward went"}, follow=True)
    assert "asked where her reward went" in response.content.decode()
    assert CustomerNote.objects.get().author_username == "agent"


# --- dashboard --------------------------------------------------------------------------------


def test_the_dashboard_shows_today_pools_low_on_stock_and_reconciliation(as_agent, redeem, issue_reward):
    redeem(UserIdInstore=ASHA, rewarddtlids=["rd-1001"])
    issue_reward(353)
    CouponPool.objects.filter(pk=234).update(low_stock_threshold=501)
    response = as_agent.get(reverse("admin:index"))
    content = response.content.decode()
    assert '<td id="today-redemptions">1</td>' in content
    assert '<td id="today-issues">1</td>' in content
    assert '<td id="today-points">100.00</td>' in content
    assert "Movie series (234)" in content and "500 available (threshold 501)" in content
    assert "Free coffee" not in content.split('id="low-stock-pools"')[1].split("</table>")[0]
    assert "0 open</a>" in content.split('id="discrepancies"')[1]
    assert content.count('class="dashboard-chart"') == 4


def test_the_dashboard_runs_a_fixed_number_of_queries(as_agent, redeem):
    url = reverse("admin:index")
    as_agent.get(url)
    with CaptureQueriesContext(connection) as before:
        as_agent.get(url)
    redeem(UserIdInstore=ASHA, rewarddtlids=["rd-1001"])
    CouponPool.objects.update(low_stock_threshold=10_000)
    with CaptureQueriesContext(connection) as after:
        as_agent.get(url)
    assert len(after) == len(before)


# --- history and purge ------------------------------------------------------------------------


def test_changes_to_campaigns_are_recorded_with_who_and_when(as_manager, demo):
    campaign = Campaign.objects.get(org_id=O2, code="refer-a-friend")
    url = reverse("admin:orgs_campaign_change", args=[campaign.pk])
    form = {
        "org": O2, "code": campaign.code, "name": "Refer and earn", "growth_hack": campaign.growth_hack,
        "reward_type": campaign.reward_type, "active": "on",
    }  # fmt: skip
    assert as_manager.post(url, form).status_code == 302
    latest = campaign.history.latest()
    assert (latest.name, latest.history_user.username, latest.history_type) == ("Refer and earn", "manager", "~")
    assert (
        "Refer and earn" in as_manager.get(reverse("admin:orgs_campaign_history", args=[campaign.pk])).content.decode()
    )


def test_an_org_with_back_office_records_can_still_be_purged(redeem, issue_reward, manager, demo_document):
    from catalogue.revocation import reward_issue_revoke
    from wallets.reversal import redemption_reverse
    from wallets.services import wallet_adjust

    redeem(UserIdInstore=ASHA, rewarddtlids=["rd-1001"])
    issue_reward(353)
    redemption_reverse(redemption_call_id=RedemptionCall.objects.get().pk, reason="x", staff_user=manager)
    reward_issue_revoke(reward_issue_id=RewardIssue.objects.get().pk, reason="x", staff_user=manager)
    wallet_adjust(wallet_id=credits().pk, delta=Decimal("1.00"), reason="x", staff_user=manager)
    CustomerNote.objects.create(org_id=O2, customer=asha(), text="note")
    org_purge(org_id=4004543)
    org_purge(org_id=O2)
    assert not Customer.objects.filter(org_id=O2).exists()
    scenario_load(document=demo_document, replace=True)
    roles_setup()


# --- bad input never makes a 5xx --------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("wallets:redemptioncall", {"created_at__gte": "2026-13-45", "created_at__lte": "yesterday"}),
        ("wallets:redemptioncall", {"reward": "x" * 500}),
        ("wallets:redemptioncall", {"created_at__gte": "2026-01-01", "created_at__lte": "2099-12-31", "reward": "rd"}),
        ("catalogue:rewardissue", {"reward_id": "not-a-number"}),
        ("catalogue:rewardissue", {"reward_id": "99999999999999999999999"}),
        ("catalogue:rewardissue", {"created_at__gte": "\x00"}),
        ("coupons:coupon", {"p": "9999999"}),
    ],
)
def test_odd_filter_values_are_no_5xx(as_manager, demo, name, params):
    app, model = name.split(":")
    response = as_manager.get(reverse(f"admin:{app}_{model}_changelist"), params)
    assert response.status_code in (200, 302), response.status_code


@pytest.mark.parametrize(
    ("url_name", "args", "body"),
    [
        ("admin:coupons_couponpool_upload", [234], {}),
        ("admin:coupons_couponpool_generate", [234], {"count": "-1", "length": "99"}),
        ("admin:coupons_couponpool_generate", [234], {"count": "10", "length": "8", "prefix": "bad prefix!"}),
        ("admin:wallets_redemptioncall_reverse", [10**15], {"reason": "x"}),
        ("admin:catalogue_rewardissue_revoke", ["abc"], {"reason": "x"}),
        ("admin:coupons_couponpool_export", [10**15], {}),
        ("admin:orgs_customer_360", ["1"], {"text": ""}),
    ],
)
def test_bad_operation_input_is_no_5xx(as_manager, demo, url_name, args, body):
    response = as_manager.post(reverse(url_name, args=args), body)
    assert response.status_code in (200, 400, 404), response.status_code
    assert Coupon.objects.filter(pool_id=234).count() == 500


def test_odd_ledger_page_numbers_are_no_5xx(as_agent, demo):
    url = reverse("admin:orgs_customer_360", args=[asha().pk])
    assert as_agent.get(url, {"ledger_1": "abc", "ledger_x": "1", "ledger_99999": "-4"}).status_code == 200


def test_redemption_calls_filter_by_earned_reward_and_date_range(as_agent, redeem):
    # given
    redeem(UserIdInstore=ASHA, rewarddtlids=["rd-1001"])
    redeem(UserIdInstore=ASHA, rewarddtlids=["rd-1002"])
    url = reverse("admin:wallets_redemptioncall_changelist")
    today = RedemptionCall.objects.first().created_at.date()

    def codes(params):
        return [call.reward_codes for call in as_agent.get(url, params).context["cl"].result_list]

    # then
    assert codes({"reward": "rd-1001"}) == [["rd-1001"]]
    assert codes({"reward": "rd-100"}) == []  # a whole code, not a part of one
    assert len(codes({"created_at__gte": today.isoformat(), "created_at__lte": today.isoformat()})) == 2
    assert codes({"created_at__lte": "2020-01-01"}) == []


def test_issued_rewards_filter_by_reward_status_and_search_by_transaction_number(as_agent, issue_reward):
    issue_reward(353)
    issue_reward(351)
    RewardIssue.objects.filter(reward_id=351).update(transaction_number="TXN-42")
    url = reverse("admin:catalogue_rewardissue_changelist")

    def rewards(params):
        return [issue.reward_id for issue in as_agent.get(url, params).context["cl"].result_list]

    assert rewards({"reward_id": "353"}) == [353]
    assert rewards({"q": "TXN-42"}) == [351]
    assert rewards({"status__exact": "CANCELLED"}) == []


def test_the_dashboard_lists_open_discrepancies_and_links_to_them(demo, as_agent):
    from django.utils import timezone

    from wallets.models import Discrepancy

    now = timezone.now()
    Discrepancy.objects.create(
        org_id=4000876, check_name="wallet_balance", subject="wallets_wallet:1", expected="1.00", found="2.00",
        first_seen=now, last_seen=now,
    )  # fmt: skip
    Discrepancy.objects.create(
        org_id=4000876, check_name="wallet_balance", subject="wallets_wallet:2", expected="1.00", found="3.00",
        first_seen=now, last_seen=now, resolved_at=now,
    )  # fmt: skip
    content = as_agent.get(reverse("admin:index")).content.decode()
    panel = content.split('id="discrepancies"')[1]
    assert "1 open</a>" in panel and "wallets_wallet:1" in panel and "wallets_wallet:2" not in panel
    assert "/admin/wallets/discrepancy/?resolved_at__isempty=1" in panel

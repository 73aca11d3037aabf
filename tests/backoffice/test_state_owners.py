"""One owner per state machine: a coupon's status changes only through the coupons services (the
admin's coupon form is read-only), a note is written only through its service, a reversal voids
its coupon through ``coupons_void_issued``."""

import pytest
from django.test import Client
from django.urls import reverse

from coupons.models import Coupon
from coupons.services import coupons_void_issued
from orgs.models import Customer, CustomerNote

from .conftest import ASHA, O2

pytestmark = pytest.mark.django_db


def login(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_a_rewards_manager_cannot_change_a_coupon_by_hand(manager, issue_reward):
    # given a coupon handed out by an issue
    issue_reward(351)
    coupon = Coupon.objects.filter(status="ISSUED").first()
    url = reverse("admin:coupons_coupon_change", args=[coupon.pk])
    as_manager = login(manager)
    # when the manager opens it and posts a new status, holder and date
    page = as_manager.get(url)
    posted = as_manager.post(url, {"status": "AVAILABLE", "holder": "", "issued_at": ""})
    # then the page is read-only and nothing changed
    assert page.status_code == 200 and 'name="status"' not in page.content.decode()
    assert posted.status_code == 403
    assert Coupon.objects.get(pk=coupon.pk).status == "ISSUED"
    assert as_manager.get(reverse("admin:coupons_coupon_add")).status_code == 403


def test_voiding_an_issued_coupon_is_the_coupons_service(issue_reward):
    issue_reward(351)
    coupon = Coupon.objects.filter(status="ISSUED").first()
    # a coupon held by someone else, or not issued, is left alone
    assert coupons_void_issued(org_id=coupon.org_id, holder_id=coupon.holder_id + 1, coupon_ids=[coupon.pk]) == 0
    assert coupons_void_issued(org_id=coupon.org_id, holder_id=coupon.holder_id, coupon_ids=[coupon.pk]) == 1
    assert Coupon.objects.get(pk=coupon.pk).status == "VOID"
    # once: a second reversal finds nothing to void
    assert coupons_void_issued(org_id=coupon.org_id, holder_id=coupon.holder_id, coupon_ids=[coupon.pk]) == 0


def test_a_note_added_in_the_admin_goes_through_its_service(agent, demo):
    customer = Customer.objects.get(org_id=O2, external_id=ASHA)
    as_agent = login(agent)
    response = as_agent.post(
        reverse("admin:orgs_customernote_add"), {"customer": customer.pk, "text": "  called about a coupon  "}
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    note = CustomerNote.objects.get()
    # the service's rules: the org is the customer's, the text trimmed, the author recorded
    assert (note.org_id, note.text, note.author_username) == (O2, "called about a coupon", "agent")
    # and a note is a record: it cannot be edited afterwards
    changed = as_agent.post(reverse("admin:orgs_customernote_change", args=[note.pk]), {"text": "rewritten"})
    assert changed.status_code == 403 and CustomerNote.objects.get().text == "called about a coupon"

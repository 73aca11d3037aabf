"""One rule for emails: stored stripped and lower-cased however they were typed, and found the same
way by both APIs (``orgs.selectors.customer_key``)."""

import importlib
import json

import pytest
from django.contrib.admin.sites import site
from django.test import RequestFactory

from orgs.models import Customer
from orgs.selectors import customer_find, customer_key
from tests.catalogue.conftest import ISSUE_URL, O2, TILL, basic

pytestmark = pytest.mark.django_db

KEYS = {"apikey": "demo-o2-apikey", "privatekey": "demo-o2-privatekey"}


@pytest.fixture
def mixed_case(demo):
    # given a customer whose email an admin typed with capitals and spaces (saved through the ORM,
    # as the admin's form saves it)
    customer = Customer.objects.get(org_id=O2, external_id="ext_id98543198")
    customer.email = "  Asha.Mixed@Example.COM "
    customer.save()
    return customer


def test_an_email_is_stored_stripped_and_lower_cased(mixed_case):
    assert Customer.objects.get(pk=mixed_case.pk).email == "asha.mixed@example.com"


def test_the_admin_form_stores_it_normalised_too(demo, admin_user):
    customer = Customer.objects.get(org_id=O2, external_id="ext_id98543198")
    model_admin = site._registry[Customer]
    request = RequestFactory().post("/")
    request.user = admin_user
    form_class = model_admin.get_form(request, customer)
    data = {
        field: value
        for field, value in form_class(instance=customer).initial.items()
        if field in form_class.base_fields and value is not None
    }
    form = form_class(data={**data, "org": customer.org_id, "email": "ASHA@Example.com"}, instance=customer)
    assert form.is_valid(), form.errors
    model_admin.save_model(request, form.save(commit=False), form, change=True)
    assert Customer.objects.get(pk=customer.pk).email == "asha@example.com"


def test_one_lookup_finds_it_in_any_case(mixed_case):
    assert customer_key(kind="email", value=" ASHA.mixed@example.com") == ("email", "asha.mixed@example.com")
    assert customer_find(org_id=O2, kind="email", value="ASHA.MIXED@EXAMPLE.COM").pk == mixed_case.pk
    assert customer_key(kind="email", value="  ") is None


def test_redeem_rewards_finds_the_customer_by_a_mixed_case_email(client, mixed_case):
    # when Redeem Rewards names the customer by email, in yet another case
    body = {**KEYS, "EmailId": "ASHA.Mixed@example.com", "amount": "1.00"}
    response = client.post("/v2_0/redeemrewards", json.dumps(body), content_type="application/json")
    # then the customer is found (not 5: "Invalid StoreID or EmailID") and credited
    assert response.status_code == 200 and response.json()["statuscode"] == 1


def test_issue_reward_finds_the_customer_by_a_mixed_case_email(client, mixed_case):
    body = {"email": "asha.MIXED@Example.com", "rewards": [{"rewardId": 353}]}
    response = client.post(
        f"{ISSUE_URL}?username={TILL}&skip_validation=true",
        json.dumps(body),
        content_type="application/json",
        HTTP_AUTHORIZATION=basic(),
    )
    assert response.status_code == 200, response.json()
    assert response.json()["status"]["code"] == 200


def test_the_migration_normalises_existing_rows(mixed_case):
    from django.apps import apps

    migration = importlib.import_module("orgs.migrations.0007_customer_email_normalized")
    other = Customer.objects.get(org_id=O2, external_id="ext-ravi")
    Customer.objects.filter(pk=mixed_case.pk).update(email="  Asha.Mixed@Example.COM ")  # written around save()
    meena = Customer.objects.get(org_id=O2, external_id="ext-meena")
    Customer.objects.filter(pk=other.pk).update(email="Ravi@Example.com")
    Customer.objects.filter(pk=meena.pk).update(email="RAVI@example.com ")  # the two would collide
    migration.normalise(apps, None)
    assert Customer.objects.get(pk=mixed_case.pk).email == "asha.mixed@example.com"
    # colliding ones are left as they were, for staff to settle
    assert Customer.objects.get(pk=other.pk).email == "Ravi@Example.com"
    assert Customer.objects.get(pk=meena.pk).email == "RAVI@example.com "

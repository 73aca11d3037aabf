"""OAuth tokens stop working the moment their API client is deactivated, deleted, renamed or
purged, in every process: the client's state lives in the shared cache (Redis), written after
each commit that changes it. Real commits (transactional tests) and, for "every process", a
gunicorn with two worker processes on the test database."""

import json
import subprocess
import sys

import httpx
import pytest
from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.urls import reverse

from backoffice.purge import org_purge
from catalogue.models import PaymentConfig
from orgs.models import ApiClient
from tests.catalogue.conftest import ASHA, ISSUE_URL, O2
from tests.processes import ROOT, free_port, wait_for, worker_env

pytestmark = pytest.mark.django_db(transaction=True)
TOKEN_URL = "/v3/oauth/token/generate"
KEY, SECRET = "demo-o2-oauth-key", "demo-o2-oauth-secret"
BODY = {"externalId": ASHA, "rewards": [{"rewardId": 353}]}


@pytest.fixture
def world(demo):
    PaymentConfig.objects.filter(pk=62).update(points="1.00")  # reward 353 at 1 point
    return demo


def token(client) -> str:
    answer = client.post(TOKEN_URL, {"key": KEY, "secret": SECRET}, content_type="application/json")
    assert answer.status_code == 200, answer.content
    return answer.json()["data"]["accessToken"]


def issue_with(client, access_token: str) -> int:
    response = client.post(
        f"{ISSUE_URL}?username=o2.till&skip_validation=true",
        json.dumps(BODY),
        content_type="application/json",
        headers={"X-CAP-API-OAUTH-TOKEN": access_token},
    )
    if response.status_code == 401:
        assert "inactive or deleted" in response.json()["status"]["message"]
    return response.status_code


def test_a_token_stops_when_its_client_is_deactivated_and_works_again_when_reactivated(world, client):
    access = token(client)
    assert issue_with(client, access) == 200
    # when
    client_row = ApiClient.objects.get(key=KEY)
    client_row.is_active = False
    client_row.save()
    # then at once
    assert issue_with(client, access) == 401
    client_row.is_active = True
    client_row.save()
    assert issue_with(client, access) == 200


def test_a_token_stops_when_its_client_is_deactivated_or_deleted_in_the_admin(world, client, admin_client):
    access = token(client)
    assert issue_with(client, access) == 200
    row = ApiClient.objects.get(key=KEY)
    change = reverse("admin:orgs_apiclient_change", args=[row.pk])
    assert admin_client.post(change, {"org": O2, "key": KEY}).status_code == 302  # is_active unticked
    assert issue_with(client, access) == 401
    admin_client.post(change, {"org": O2, "key": KEY, "is_active": "on"})
    assert issue_with(client, access) == 200
    # when the client is deleted in the admin
    delete = reverse("admin:orgs_apiclient_delete", args=[row.pk])
    assert admin_client.post(delete, {"post": "yes"}).status_code == 302
    assert not ApiClient.objects.filter(key=KEY).exists()
    assert issue_with(client, access) == 401


def test_a_token_stops_when_its_client_is_deleted_with_its_org_or_purged(world, client, demo_document):
    from backoffice.scenario import scenario_load

    access = token(client)
    assert issue_with(client, access) == 200
    # the demo loaded again over itself (load_scenario --replace: raw deletes, no signals)
    with transaction.atomic():
        org_purge(org_id=O2)
    assert issue_with(client, access) == 401
    scenario_load(document=demo_document, replace=True)
    PaymentConfig.objects.filter(pk=62).update(points="1.00")
    assert issue_with(client, access) == 200  # the same key of the same org, active again


def test_a_token_of_a_renamed_client_stops(world, client):
    access = token(client)
    assert issue_with(client, access) == 200
    row = ApiClient.objects.get(key=KEY)
    row.key = "renamed-key"
    row.save()
    assert issue_with(client, access) == 401


def test_a_deactivation_rolled_back_changes_nothing(world, client):
    access = token(client)
    assert issue_with(client, access) == 200
    with pytest.raises(RuntimeError), transaction.atomic():
        row = ApiClient.objects.get(key=KEY)
        row.is_active = False
        row.save()
        raise RuntimeError("rolled back")
    assert issue_with(client, access) == 200


def test_the_hot_path_costs_one_cache_read_and_no_query(world, client, django_assert_num_queries):
    access = token(client)
    assert issue_with(client, access) == 200  # the client's state is cached from here on
    from capillary.auth import oauth_token_caller

    with django_assert_num_queries(0):
        caller = oauth_token_caller(token=access)
    assert caller.org_id == O2


@pytest.mark.postgres
@pytest.mark.slow
def test_every_process_refuses_the_token_at_once(world, client):
    if "redis" not in settings.CACHES["default"]["BACKEND"].lower():
        pytest.skip("processes share the API client state through Redis: set REDIS_URL")
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "rewards_site.wsgi:application", "--bind", f"127.0.0.1:{port}"]
        + ["--workers", "2", "--worker-class", "sync"],
        cwd=ROOT,
        env=worker_env(settings.CACHES["default"]["LOCATION"], CELERY_TASK_ALWAYS_EAGER="1"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _answers(base), timeout=60, what="gunicorn")
        access = httpx.post(base + TOKEN_URL, json={"key": KEY, "secret": SECRET}).json()["data"]["accessToken"]

        def calls() -> set[int]:
            url = f"{base}{ISSUE_URL}?username=o2.till&skip_validation=true"
            headers = {"X-CAP-API-OAUTH-TOKEN": access}
            # new connections: gunicorn hands them to either worker
            return {httpx.post(url, json=BODY, headers=headers, timeout=30).status_code for _ in range(8)}

        assert calls() == {200}  # both workers have read the client's state
        # when this process deactivates the client
        row = ApiClient.objects.get(key=KEY)
        row.is_active = False
        row.save()
        # then no worker of the other process accepts the token any more
        assert calls() == {401}
        # and deleted (after reactivating) the same
        row.is_active = True
        row.save()
        assert calls() == {200}
        row.delete()
        assert calls() == {401}
    finally:
        server.terminate()
        server.wait(15)
        cache.clear()


def _answers(base: str) -> bool:
    try:
        return httpx.get(base + "/healthz", timeout=1).status_code == 200
    except httpx.TransportError:
        return False

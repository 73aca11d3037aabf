"""Fixtures of the back-office tests: staff users in each role, calls of the demo's APIs."""

import base64
import json

import pytest
from django.contrib.auth.models import Group, User
from django.test import Client

from orgs.models import md5_hex
from orgs.roles import REWARDS_MANAGER, SUPPORT_AGENT, roles_setup

KEYS = {"apikey": "demo-o2-apikey", "privatekey": "demo-o2-privatekey"}
O2 = 4000876
ASHA = "ext_id98543198"
ASHA_MOBILE = "919900000001"


def staff(username: str, role: str | None) -> User:
    user = User.objects.create_user(username=username, password=f"{username}-pw", is_staff=True)
    if role is not None:
        roles_setup()  # the groups exist after migrate; a transactional test's flush removes them
        user.groups.add(Group.objects.get(name=role))
    return user


@pytest.fixture
def manager(db):
    return staff("manager", REWARDS_MANAGER)


@pytest.fixture
def agent(db):
    return staff("agent", SUPPORT_AGENT)


def login(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def as_manager(manager):
    return login(manager)


@pytest.fixture
def as_agent(agent):
    return login(agent)


@pytest.fixture
def redeem(client, demo, settings):
    """POST /v2_0/redeemrewards for the demo app; returns the JSON answer."""
    settings.API_RATE_LIMIT_PER_MINUTE = 0

    def post(**body):
        response = client.post("/v2_0/redeemrewards", json.dumps({**KEYS, **body}), content_type="application/json")
        assert response.status_code == 200, response.content
        return response.json()

    return post


@pytest.fixture
def issue_reward(client, demo):
    """POST an Issue Reward call as the demo till; returns the JSON answer."""
    auth = "Basic " + base64.b64encode(f"o2.till:{md5_hex('o2-till-password')}".encode()).decode()

    def post(reward_id: int, external_id: str = ASHA, quantity: int = 1):
        body = {"externalId": external_id, "rewards": [{"rewardId": reward_id, "quantity": quantity}]}
        response = client.post(
            "/v1.1/user/rewards/issue/?username=o2.till&skip_validation=true",
            json.dumps(body),
            content_type="application/json",
            headers={"Authorization": auth},
        )
        return response.json()

    return post

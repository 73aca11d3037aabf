"""Validation codes cannot be guessed: after VALIDATION_CODE_MAX_ATTEMPTS wrong codes a customer's
live code is void (400, the contract's code for a wrong validationCode), counted in one locked
step, so that parallel guesses cannot get more tries than the limit."""

import http.client
import json
import threading
from decimal import Decimal
from urllib.parse import urlsplit

import pytest

from catalogue.models import PaymentConfig, ValidationCode
from tests.catalogue.conftest import ASHA, ISSUE_URL, basic, points

BODY = {"externalId": ASHA, "rewards": [{"rewardId": 353}]}


@pytest.fixture
def world(demo, settings):
    settings.VALIDATION_CODE_MAX_ATTEMPTS = 5
    PaymentConfig.objects.filter(pk=62).update(points="1.00")  # reward 353 at 1 point


def new_code(client) -> str:
    answer = client.post(
        "/v1.1/points/validation_code?username=o2.till",
        {"externalId": ASHA},
        content_type="application/json",
        headers={"Authorization": basic()},
    )
    return answer.json()["validationCode"]["code"]


def wrong(code: str, n: int) -> str:
    """The n-th six-digit code that is not ``code``."""
    return f"{(int(code) + 1 + n) % 1_000_000:06d}"


def status_of(response) -> tuple[int, int]:
    return response.status_code, response.json()["status"]["code"]


@pytest.mark.django_db
def test_twenty_five_wrong_codes_void_the_right_one(world, client, issue):
    code = new_code(client)
    for n in range(25):
        assert status_of(issue({**BODY, "validationCode": wrong(code, n)}, skip="false")) == (400, 400)
    response = issue({**BODY, "validationCode": code}, skip="false")
    assert status_of(response) == (400, 400)
    assert "void after 5 wrong attempts" in response.json()["status"]["message"]
    assert points(ASHA) == Decimal("500.00")
    assert ValidationCode.objects.get().failed_attempts == 5
    # a new code works
    assert issue({**BODY, "validationCode": new_code(client)}, skip="false").status_code == 200


@pytest.mark.django_db
def test_fewer_wrong_codes_than_the_limit_leave_the_right_one_usable(world, client, issue):
    code = new_code(client)
    for n in range(4):
        assert status_of(issue({**BODY, "validationCode": wrong(code, n)}, skip="false")) == (400, 400)
    assert issue({**BODY, "validationCode": code}, skip="false").status_code == 200
    assert points(ASHA) == Decimal("499.00")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_parallel_wrong_guesses_get_no_more_tries_than_the_limit(world, client, live_server):
    # given a live code and 20 callers guessing at once, each on its own connection
    code = new_code(client)
    guesses = [wrong(code, n) for n in range(20)]
    barrier = threading.Barrier(len(guesses))
    answers = []
    address = urlsplit(live_server.url)

    def guess(value: str):
        connection = http.client.HTTPConnection(address.hostname, address.port, timeout=60)
        connection.connect()
        barrier.wait()
        connection.request(
            "POST",
            f"{ISSUE_URL}?username=o2.till&skip_validation=false",
            body=json.dumps({**BODY, "validationCode": value}),
            headers={"Authorization": basic(), "Content-Type": "application/json"},
        )
        response = connection.getresponse()
        answers.append((response.status, json.loads(response.read())["status"]["code"]))
        connection.close()

    threads = [threading.Thread(target=guess, args=(value,)) for value in guesses]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # then each was refused, the code was compared with exactly 5 of them, and it is void now
    assert answers == [(400, 400)] * 20
    assert ValidationCode.objects.get().failed_attempts == 5
    response = client.post(
        f"{ISSUE_URL}?username=o2.till&skip_validation=false",
        {**BODY, "validationCode": code},
        content_type="application/json",
        headers={"Authorization": basic()},
    )
    assert status_of(response) == (400, 400)
    assert points(ASHA) == Decimal("500.00")

"""The acceptance of the till Basic-auth throttle, against a live server with real threads: a
storm of wrong passwords for one till (hashed with Django's production PBKDF2, 1,000,000
iterations) does not slow an honest call of another org beyond twice its normal latency, and the
storm is answered 429 once over the limit, with no hash computed for those answers.

The attackers connect from 127.0.0.2, the honest caller from 127.0.0.1: two client addresses
on one machine (the whole of 127.0.0.0/8 is the loopback)."""

import http.client
import json
import statistics
import threading
import time
from collections import Counter
from urllib.parse import urlsplit

import pytest
from django.contrib.auth.hashers import PBKDF2PasswordHasher

from orgs.models import Till, md5_hex
from tests.catalogue.conftest import ASHA, ISSUE_URL, TILL, basic
from tests.orgs.test_till_auth import CountingPBKDF2

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

ATTACKERS = 12  # the issue's storm: 12 concurrent wrong-password requests
ATTACK_PAUSE = 0.5  # seconds between one attacker's answer and its next try: up to 24 tries/s in all
HONEST_TILL, HONEST_PASSWORD = "o2travel.till", "o2travel-till-password"
# Asha in org 4004543: reward 900 at conversion ratio 0.5, value 0.5 -> 1 point of her 80
HONEST_BODY = {"externalId": ASHA, "rewards": [{"rewardId": 900, "paymentConfig": {"id": 90, "redemptionValue": 0.5}}]}


class ProductionPBKDF2(CountingPBKDF2):
    """Django's PBKDF2 at its production cost, counting its runs."""

    iterations = PBKDF2PasswordHasher.iterations
    runs = 0


def post(server, *, auth: str, username: str, body: dict, source: str) -> tuple[int, float]:
    """One call on its own connection from ``source``; (HTTP status, seconds)."""
    address = urlsplit(server.url)
    connection = http.client.HTTPConnection("127.0.0.1", address.port, timeout=60, source_address=(source, 0))
    started = time.perf_counter()
    connection.request(
        "POST",
        f"{ISSUE_URL}?username={username}&skip_validation=true",
        body=json.dumps(body),
        headers={"Authorization": auth, "Content-Type": "application/json"},
    )
    response = connection.getresponse()
    response.read()
    elapsed = time.perf_counter() - started
    connection.close()
    return response.status, elapsed


def honest_latencies(server, count: int) -> list[float]:
    latencies = []
    for _ in range(count):
        status, elapsed = post(
            server, auth=basic(HONEST_TILL, HONEST_PASSWORD), username=HONEST_TILL, body=HONEST_BODY, source="127.0.0.1"
        )
        assert status == 200
        latencies.append(elapsed)
        time.sleep(0.05)
    return latencies


def test_a_storm_of_wrong_passwords_leaves_an_honest_call_of_another_org_at_its_normal_speed(
    demo, live_server, settings
):
    # given the attacked till hashed at production cost, and the default limits
    settings.PASSWORD_HASHERS = [f"{__name__}.ProductionPBKDF2", *settings.PASSWORD_HASHERS]
    till = Till.objects.get(username=TILL)
    till.set_password("o2-till-password")
    till.save()
    assert till.password.startswith("pbkdf2_sha256$1000000$")
    # and the honest caller's normal latency
    honest_latencies(live_server, 3)  # warm up: its till's check is remembered from here on
    before = honest_latencies(live_server, 15)

    # when 12 attackers send wrong digest-shaped passwords for another org's till
    ProductionPBKDF2.runs = 0
    stop = threading.Event()
    answers = Counter()

    def attack(n: int):
        tries = 0
        while not stop.is_set():
            tries += 1
            wrong = basic(TILL, md5_hex(f"guess-{n}-{tries}"), md5=False)
            status, _ = post(live_server, auth=wrong, username=TILL, body=HONEST_BODY, source="127.0.0.2")
            answers[status] += 1
            time.sleep(ATTACK_PAUSE)

    attackers = [threading.Thread(target=attack, args=(n,)) for n in range(ATTACKERS)]
    storm_started = time.perf_counter()
    for thread in attackers:
        thread.start()
    try:
        during = honest_latencies(live_server, 40)
    finally:
        stop.set()
        for thread in attackers:
            thread.join()
    storm_seconds = time.perf_counter() - storm_started
    after = honest_latencies(live_server, 15)

    # then
    normal, stormy = statistics.median(before + after), statistics.median(during)
    print(
        f"\nhonest call (median): {normal * 1000:.1f} ms normally, {stormy * 1000:.1f} ms during the storm "
        f"(p90 {sorted(during)[int(len(during) * 0.9)] * 1000:.1f} ms); storm: {sum(answers.values())} tries in "
        f"{storm_seconds:.1f} s, answers {dict(answers)}, {ProductionPBKDF2.runs} hashes computed"
    )
    assert stormy <= 2 * normal
    limit = int(settings.TILL_AUTH_FAILURES_PER_TILL.split("/")[0])
    assert set(answers) == {401, 429}
    assert answers[401] == limit, "concurrent tries count before their hashes are done"
    assert answers[429] > 5 * answers[401]
    assert ProductionPBKDF2.runs == answers[401], "one hash per wrong password, none for a 429"

"""The Redeem Rewards application service (``wallets.redeem.redemption_call``) without HTTP: it
takes typed input, owns the transaction, the Idempotency-Key and the call record, and reports a
domain result or a domain error to whatever renders it. No AppVirality code appears here: the
renderer of these tests is not the AppVirality one."""

from decimal import Decimal

import pytest

from core.errors import DomainError
from orgs.errors import UnknownCampaign, UnknownUser, UnknownUserKey
from orgs.models import Org
from wallets.errors import AlreadyRedeemed, IdempotencyKeyReused
from wallets.models import RedemptionCall
from wallets.redeem import Answer, IdempotencyIn, Redeemed, RedeemIn, Replayed, redemption_call

pytestmark = pytest.mark.django_db
ASHA = "ext_id98543198"


class Renderer:
    """A stand-in wire format: it keeps what it was asked to render and answers a fixed shape."""

    def __init__(self):
        self.seen = []

    def __call__(self, outcome):
        self.seen.append(outcome)
        if isinstance(outcome, Replayed):
            return Answer(outcome.http_status, outcome.body["code"], outcome.body)
        if isinstance(outcome, DomainError):
            return Answer(422, 2, {"code": 2, "error": type(outcome).__name__})
        return Answer(201, 1, {"code": 1})


def by_ids(*codes, **fields) -> RedeemIn:
    fields.setdefault("identifier_kind", "external_id")
    fields.setdefault("identifier", ASHA)
    return RedeemIn(mode="IDS", reward_ids=list(codes), summary={"asked": list(codes)}, **fields)


def call(request, *, key=None, digest="d1", render=None):
    render = render or Renderer()
    answer = redemption_call(
        org=Org.objects.get(pk=4000876),
        request=request,
        sent={"as": "sent"},
        idempotency=IdempotencyIn(key, digest) if key else None,
        render=render,
    )
    return answer, render.seen[-1]


def test_it_reports_what_was_redeemed_and_records_the_call_with_the_answer_given(demo):
    answer, outcome = call(by_ids("rd-1001", "rd-1002"))
    assert isinstance(outcome, Redeemed)
    assert outcome.customer.external_id == ASHA
    assert (outcome.redemption.amount, outcome.redemption.reward_codes) == (Decimal("25.00"), ["rd-1001", "rd-1002"])
    record = RedemptionCall.objects.get()
    assert (record.status_code, record.http_status, record.response) == (1, 201, {"code": 1})
    assert (record.mode, record.user_identifier, record.request_summary) == (
        "IDS",
        ASHA,
        {"asked": ["rd-1001", "rd-1002"]},
    )
    assert record.ledger_entry.reference == f"appvirality-redeem:{record.reference.hex}"
    assert record.reward_amounts == {"rd-1001": "10.00", "rd-1002": "15.00"}


@pytest.mark.parametrize(
    ("request_fields", "error"),
    [
        ({"identifier_kind": "user_key", "identifier": "not-a-uuid"}, UnknownUserKey),
        ({"identifier_kind": "email", "identifier": "nobody@example.com"}, UnknownUser),
        ({"campaign_code": "no-such-campaign"}, UnknownCampaign),
    ],
)
def test_a_refusal_is_a_domain_error_recorded_with_its_answer(demo, request_fields, error):
    answer, outcome = call(by_ids("rd-1001", **request_fields))
    assert type(outcome) is error
    assert RedemptionCall.objects.get().status_code == 2 and answer.http_status == 422


def test_the_same_key_replays_the_stored_answer_and_another_body_is_refused(demo):
    first, _ = call(by_ids("rd-1001"), key="k-1")
    again, outcome = call(by_ids("rd-1001"), key="k-1")
    assert isinstance(outcome, Replayed) and again == first  # no second effect: not AlreadyRedeemed
    _, other = call(by_ids("rd-1002"), key="k-1", digest="d2")
    assert isinstance(other, IdempotencyKeyReused)
    assert list(RedemptionCall.objects.order_by("id").values_list("replayed", flat=True)) == [False, True, False]
    # a replay is recorded as sent, not as parsed
    assert RedemptionCall.objects.order_by("id")[1].request_summary == {"as": "sent"}


def test_a_request_the_adapter_could_not_parse_is_recorded_and_stored_under_its_key(demo):
    class Unreadable(DomainError):
        pass

    call(Unreadable("a field cannot be read"), key="k-2")
    _, outcome = call(by_ids("rd-1001"), key="k-2")  # the same key and body: the stored refusal again
    assert isinstance(outcome, Replayed) and outcome.body == {"code": 2, "error": "Unreadable"}


def test_a_rule_refusal_leaves_the_books_as_they_were(demo):
    call(by_ids("rd-1001"))
    _, outcome = call(by_ids("rd-1001", "rd-1002"))
    assert isinstance(outcome, AlreadyRedeemed)
    assert RedemptionCall.objects.filter(amount__isnull=False).count() == 1

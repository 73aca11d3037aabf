"""The one number parser: ASCII digits only, bounded, checked before any costly conversion."""

import time
from decimal import Decimal

import pytest

from core.numbers import BIGINT_MAX, NumberInvalid, decimal_parse, id_list_parse, id_parse, integer_parse, money_parse

NOT_ASCII_DIGITS = [
    "١",  # Arabic-Indic one
    "２",  # fullwidth two
    "1_0",
    "4_000_876",
    " 1",
    "1 ",
    "\u00a01",
    "1\n",
    "\u20071",
    "+1",
    "1e2",
    "0x10",
    "NaN",
    "Infinity",
    "",
    ".5",
    "5.",
    "1.2.3",
    "߁",  # NKo digit one
    "𝟏",  # mathematical bold one
]


@pytest.mark.parametrize("text", NOT_ASCII_DIGITS)
def test_money_is_ascii_digits_only(text):
    with pytest.raises(NumberInvalid):
        money_parse(text)


@pytest.mark.parametrize("text", NOT_ASCII_DIGITS + ["1.5", "-1"])
def test_ids_are_ascii_digits_only(text):
    with pytest.raises(NumberInvalid):
        id_parse(text)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("12.50", Decimal("12.50")), ("7", Decimal("7.00")), (3, Decimal("3.00")), (Decimal("1.500"), Decimal("1.50"))],
)
def test_money_reads_strings_ints_and_decimals_exactly(value, expected):
    assert money_parse(value) == expected and str(money_parse(value)) == str(expected)


@pytest.mark.parametrize(
    "value", [1.5, True, None, [], "1.005", "1" * 13, Decimal("1e12"), Decimal("NaN"), Decimal("-Infinity"), 10**50]
)
def test_money_refuses_floats_booleans_more_places_and_more_digits(value):
    with pytest.raises(NumberInvalid):
        money_parse(value)


def test_ids_take_integers_integral_numbers_and_digit_strings_within_bigint():
    assert id_parse(531) == id_parse("531") == id_parse(Decimal("531.0")) == id_parse("000531") == 531
    assert id_parse(str(BIGINT_MAX)) == BIGINT_MAX
    for value in (0, -1, BIGINT_MAX + 1, str(BIGINT_MAX + 1), "9" * 40, Decimal("1.5"), True):
        with pytest.raises(NumberInvalid):
            id_parse(value)


@pytest.mark.parametrize("value", [Decimal("1e100"), Decimal("9e99999999"), 10**4000, "9" * 100_000])
def test_huge_numbers_are_refused_without_being_expanded(value):
    started = time.thread_time()
    for parse in (id_parse, money_parse, lambda v: integer_parse(v, minimum=1, maximum=10, truncate=True)):
        with pytest.raises(NumberInvalid):
            parse(value)
    assert time.thread_time() - started < 0.1


def test_a_quantity_drops_its_decimal_part():
    assert integer_parse("2.7", minimum=1, maximum=10, truncate=True) == 2
    assert integer_parse(Decimal("1.56"), minimum=1, maximum=10, truncate=True) == 1
    with pytest.raises(NumberInvalid):
        integer_parse("0.5", minimum=1, maximum=10, truncate=True)


def test_decimals_keep_their_places():
    assert decimal_parse("0.000001", max_digits=20, places=6) == Decimal("0.000001")
    with pytest.raises(NumberInvalid):
        decimal_parse("0.0000001", max_digits=20, places=6)


def test_id_lists_as_headers_send_them():
    assert id_list_parse("4000876, 4004543,\t7,", max_items=5) == [4000876, 4004543, 7]
    for text in ("4_000_876", "4000876,١", "a,b", "1;2"):
        with pytest.raises(NumberInvalid):
            id_list_parse(text, max_items=5)
    with pytest.raises(NumberInvalid):
        id_list_parse(",".join(["1"] * 6), max_items=5)

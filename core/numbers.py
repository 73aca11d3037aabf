"""The one parser of the numbers the APIs take: money amounts, quantities and ids.

A number arrives as a JSON integer, as a JSON number (a ``Decimal`` from ``core.request_body``,
never a float) or as a string. A string must be ASCII digits with an optional sign and one
decimal point: no Unicode digits ("١", "２"), no underscores ("1_0"), no exponent, no
whitespace, no "NaN"/"Infinity", at most ``MAX_NUMBER_CHARS`` characters. The magnitude is
checked before any conversion that could cost time (``int()`` of a huge ``Decimal``).
"""

from __future__ import annotations

import math
import re
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal

BIGINT_MAX = 2**63 - 1  # PostgreSQL bigint: every id of this service fits
MAX_NUMBER_CHARS = 40  # a number literal or numeric string longer than this is refused unread
MAX_ID_CHARS = len(str(BIGINT_MAX)) + 1
MONEY_MAX_DIGITS = 14  # credits and points: numeric(14, 2) (core.money.MoneyField)
MONEY_DECIMAL_PLACES = 2

_DECIMAL_TEXT = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")  # ASCII only: [0-9], never \d
_DIGITS = re.compile(r"[0-9]+")


class NumberInvalid(ValueError):
    """The value is not a number of the kind asked for; the message says why."""


def decimal_from(value) -> Decimal:
    """A finite ``Decimal`` from a JSON int, a ``Decimal`` or a strict numeric string."""
    if isinstance(value, (bool, float)):
        raise NumberInvalid("a number or a numeric string is required (never a float or a boolean)")
    if isinstance(value, int):
        if abs(value) >= 10**MAX_NUMBER_CHARS:
            raise NumberInvalid(f"more than {MAX_NUMBER_CHARS} digits")
        return Decimal(value)
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise NumberInvalid("not a finite number")
        if value and not -MAX_NUMBER_CHARS <= value.adjusted() < MAX_NUMBER_CHARS:
            raise NumberInvalid("out of range")
        return value
    if isinstance(value, str):
        if len(value) > MAX_NUMBER_CHARS or not _DECIMAL_TEXT.fullmatch(value):
            raise NumberInvalid(f"not a decimal number of ASCII digits: {value[:MAX_NUMBER_CHARS]!r}")
        return Decimal(value)
    raise NumberInvalid("a number or a numeric string is required")


def decimal_parse(value, *, max_digits: int, places: int) -> Decimal:
    """A decimal of at most ``max_digits`` digits, ``places`` of them after the point, quantized
    to ``places``. More places are refused unless they are zeros ("1.500" is 1.50)."""
    number = decimal_from(value)
    if number and number.adjusted() >= max_digits - places:
        raise NumberInvalid(f"too large: at most {max_digits - places} digits before the decimal point")
    step = Decimal(1).scaleb(-places)
    if number.as_tuple().exponent < -places and number != number.quantize(step, rounding=ROUND_HALF_UP):
        raise NumberInvalid(f"more than {places} decimal places")
    return number.quantize(step)


def money_parse(value) -> Decimal:
    """A credits or points amount: ``numeric(14, 2)`` (``core.money.MoneyField``); may be negative."""
    return decimal_parse(value, max_digits=MONEY_MAX_DIGITS, places=MONEY_DECIMAL_PLACES)


def integer_parse(value, *, minimum: int, maximum: int, truncate: bool = False) -> int:
    """An integer in ``[minimum, maximum]``. A decimal part is refused, or dropped with ``truncate``.
    A float (from Python code; the request reader makes none) is taken at its exact value."""
    if isinstance(value, float):
        if not math.isfinite(value):
            raise NumberInvalid("not a finite number")
        value = Decimal(value)
    if (
        isinstance(value, str)
        and not truncate
        and (len(value) > MAX_ID_CHARS or not _DIGITS.fullmatch(value.removeprefix("-")))
    ):
        raise NumberInvalid(f"not an integer of ASCII digits: {value[:MAX_ID_CHARS]!r}")
    number = decimal_from(value)
    if number and number.adjusted() > len(str(max(abs(minimum), abs(maximum)))):
        raise NumberInvalid(f"must be between {minimum} and {maximum}")
    integral = number.to_integral_value(rounding=ROUND_DOWN)
    if integral != number and not truncate:
        raise NumberInvalid("an integer is required")
    result = int(integral)
    if not minimum <= result <= maximum:
        raise NumberInvalid(f"must be between {minimum} and {maximum}")
    return result


def id_parse(value) -> int:
    """A positive 64-bit id: a JSON integer, an integral JSON number or a string of ASCII digits."""
    return integer_parse(value, minimum=1, maximum=BIGINT_MAX)


def id_list_parse(text: str, *, max_items: int) -> list[int]:
    """Comma-separated ids, as in a header (``DATA-SCOPE-ORG: 4000876, 4004543``); blanks between
    commas are skipped, spaces and tabs around an id allowed."""
    parts = [part for part in (part.strip(" \t") for part in text.split(",")) if part]
    if len(parts) > max_items:
        raise NumberInvalid(f"at most {max_items} ids")
    return [id_parse(part) for part in parts]

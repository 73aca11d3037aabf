"""One definition of money-like values (credits, points) used everywhere.

Credits and points are ``Decimal`` with two places: in code, in JSON (as
strings) and in the database (``numeric(14, 2)``). Never ``float``.
"""

from decimal import Decimal

from django.db import models

from core.numbers import MONEY_DECIMAL_PLACES, MONEY_MAX_DIGITS, money_parse

MONEY_PLACES = Decimal("0.01")
ZERO = Decimal("0.00")


class MoneyField(models.DecimalField):
    """A credit or points amount: ``numeric(14, 2)``."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("max_digits", MONEY_MAX_DIGITS)
        kwargs.setdefault("decimal_places", MONEY_DECIMAL_PLACES)
        super().__init__(*args, **kwargs)


class RatioField(models.DecimalField):
    """A conversion ratio (points to redemption value): ``numeric(12, 6)``."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("max_digits", 12)
        kwargs.setdefault("decimal_places", 6)
        super().__init__(*args, **kwargs)


def to_money(value) -> Decimal:
    """A two-place Decimal from an int, a Decimal or a strict numeric string (``core.numbers``:
    ASCII digits, at most two decimal places unless zeros); floats are refused.

    Raises ``ValueError`` (``core.numbers.NumberInvalid``) for anything else.
    """
    return money_parse(value)

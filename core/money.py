"""One definition of money-like values (credits, points) used everywhere.

Credits and points are ``Decimal`` with two places: in code, in JSON (as
strings) and in the database (``numeric(14, 2)``). Never ``float``.
"""

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django.db import models

MONEY_PLACES = Decimal("0.01")
MONEY_MAX_DIGITS = 14
ZERO = Decimal("0.00")


class MoneyField(models.DecimalField):
    """A credit or points amount: ``numeric(14, 2)``."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("max_digits", MONEY_MAX_DIGITS)
        kwargs.setdefault("decimal_places", 2)
        super().__init__(*args, **kwargs)


class RatioField(models.DecimalField):
    """A conversion ratio (points to redemption value): ``numeric(12, 6)``."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("max_digits", 12)
        kwargs.setdefault("decimal_places", 6)
        super().__init__(*args, **kwargs)


def to_money(value) -> Decimal:
    """Parse a JSON string/int/Decimal into a two-place Decimal; floats are refused.

    Raises ``ValueError`` for anything that is not a finite decimal number with at
    most two decimal places.
    """
    if isinstance(value, (float, bool)):
        raise ValueError("money must be a decimal string, not a float")
    try:
        amount = Decimal(str(value).strip())
    except (InvalidOperation, ValueError) as exc:
        raise ValueError(f"not a decimal number: {value!r}") from exc
    if not amount.is_finite():
        raise ValueError(f"not a finite number: {value!r}")
    if amount and amount.adjusted() >= MONEY_MAX_DIGITS - 2:
        raise ValueError(f"too large: {value!r}")
    if amount.as_tuple().exponent < -2 and amount != amount.quantize(MONEY_PLACES, rounding=ROUND_HALF_UP):
        raise ValueError(f"more than two decimal places: {value!r}")
    return amount.quantize(MONEY_PLACES)

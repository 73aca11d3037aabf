"""DRF serializer fields over ``core.numbers`` and for free JSON, shared by the API adapters.

Each field turns a ``NumberInvalid`` into a DRF ``ValidationError`` (the adapter's exception
handler renders it in the vendor's format) and documents its range in the OpenAPI schema.
"""

from __future__ import annotations

import json
import math
from decimal import Decimal

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from .numbers import BIGINT_MAX, NumberInvalid, decimal_parse, id_parse, integer_parse


@extend_schema_field({"type": "integer", "format": "int64", "minimum": 1, "maximum": BIGINT_MAX})
class IdField(serializers.Field):
    """A positive 64-bit id: a JSON integer or a string of ASCII digits."""

    def to_internal_value(self, data):
        try:
            return id_parse(data)
        except NumberInvalid as exc:
            raise serializers.ValidationError(str(exc)) from exc

    def to_representation(self, value):
        return value


class IntegerField(serializers.IntegerField):
    """DRF's IntegerField (its schema, ``min_value``/``max_value``) read by ``core.numbers``:
    ASCII digits only; with ``truncate`` a decimal part is dropped (1.56 is 1)."""

    def __init__(self, *, truncate: bool = False, **kwargs):
        self.truncate = truncate
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        low = self.min_value if self.min_value is not None else -BIGINT_MAX - 1
        high = self.max_value if self.max_value is not None else BIGINT_MAX
        try:
            return integer_parse(data, minimum=low, maximum=high, truncate=self.truncate)
        except NumberInvalid as exc:
            raise serializers.ValidationError(str(exc)) from exc


class DecimalField(serializers.DecimalField):
    """DRF's DecimalField (its schema and min/max validators) read by ``core.numbers``: a JSON
    number or a string of ASCII digits with one decimal point, never a float."""

    def to_internal_value(self, data):
        try:
            value = decimal_parse(data, max_digits=self.max_digits, places=self.decimal_places)
        except NumberInvalid as exc:
            raise serializers.ValidationError(str(exc)) from exc
        return super().to_internal_value(value)


def plain_json(value):
    """Free JSON as JSON libraries expect it: the ``Decimal`` fractions ``core.request_body``
    reads become floats again (a value this service stores or forwards but never computes with)."""
    if isinstance(value, Decimal):
        number = float(value)
        if not math.isfinite(number):
            raise serializers.ValidationError("a number is out of range")
        return number
    if isinstance(value, dict):
        return {key: plain_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain_json(item) for item in value]
    return value


@extend_schema_field({"description": "Any JSON value, passed on as sent."})
class JSONValueField(serializers.JSONField):
    """Free JSON, at most ``max_chars`` characters once serialized."""

    def __init__(self, *, max_chars: int, **kwargs):
        self.max_chars = max_chars
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        data = super().to_internal_value(plain_json(data))
        if len(json.dumps(data)) > self.max_chars:
            raise serializers.ValidationError(f"at most {self.max_chars} characters of JSON")
        return data

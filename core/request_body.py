"""The one reader of request bodies: every API endpoint reads its JSON through ``json_read``
(as the DRF parser ``JSONBodyParser``, ``DEFAULT_PARSER_CLASSES``), so every body meets the
same limits before any view, serializer or database sees it:

* **size**: at most ``API_MAX_BODY_BYTES`` (also Django's ``DATA_UPLOAD_MAX_MEMORY_SIZE``);
  over it ``BodyTooLarge`` (HTTP 413), which each vendor adapter renders in its own format;
* **encoding**: UTF-8, UTF-16 or UTF-32 (detected as JSON allows, RFC 8259 / ``json.loads``),
  decoded strictly; after decoding no NUL and no lone surrogate anywhere, in values and key
  names (the text is encodable UTF-8, which PostgreSQL text and jsonb can store);
* **depth**: at most ``API_MAX_JSON_DEPTH`` nested arrays/objects, counted on the text in
  linear time before ``json.loads`` runs (so no ``RecursionError``, however deep);
* **numbers**: each literal checked before it is converted (``parse_int`` / ``parse_float``
  hooks): at most ``MAX_NUMBER_CHARS`` characters, exponent within ``MAX_EXPONENT``; no NaN
  or Infinity; fractions become ``Decimal``, never ``float``.

Everything else refused is ``BodyMalformed`` (HTTP 400, a DRF ``ParseError``).
"""

from __future__ import annotations

import gc
import json
import re
from decimal import Decimal
from itertools import accumulate
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from rest_framework import exceptions
from rest_framework.parsers import BaseParser

from .numbers import MAX_NUMBER_CHARS

DEFAULT_MAX_BODY_BYTES = 1024 * 1024
DEFAULT_MAX_JSON_DEPTH = 32
MAX_EXPONENT = 100

# The depth count: drop escapes (a backslash and the character after it), then strings, then every
# byte but the brackets. Each step is one linear pass (no regex that could backtrack).
_ESCAPE = re.compile(r"\\.", re.DOTALL)
_STRING = re.compile(r'"[^"]*"')
_NOT_BRACKET = bytes(b for b in range(256) if b not in b"[]{}")
_NESTING = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}
# Only these escapes can put a NUL or a lone surrogate into a strictly decoded text.
_RISKY_ESCAPE = re.compile(r"\\u(?:0000|[dD][89abcdefABCDEF])")
_SURROGATE = re.compile(r"[\ud800-\udfff]")


class BodyMalformed(exceptions.ParseError):
    """The body is not JSON this service reads (HTTP 400); the message says why."""


class BodyTooLarge(exceptions.APIException):
    """The body is larger than ``API_MAX_BODY_BYTES`` (HTTP 413)."""

    status_code = 413
    default_detail = "the body is too large"
    default_code = "body_too_large"


def max_body_bytes() -> int:
    return getattr(settings, "API_MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES)


def max_json_depth() -> int:
    return getattr(settings, "API_MAX_JSON_DEPTH", DEFAULT_MAX_JSON_DEPTH)


def too_large() -> BodyTooLarge:
    return BodyTooLarge(f"the body is larger than {max_body_bytes()} bytes")


def json_read(raw: bytes) -> Any:
    """The JSON document of a request body, within the limits above; raises ``BodyTooLarge``
    or ``BodyMalformed``."""
    if len(raw) > max_body_bytes():
        raise too_large()
    try:
        text = raw.decode(json.detect_encoding(raw))
    except UnicodeDecodeError as exc:
        raise BodyMalformed("the body is not valid UTF-8, UTF-16 or UTF-32 text") from exc
    if "\x00" in text:
        raise BodyMalformed("the body contains a NUL character")
    limit = max_json_depth()
    if _nesting_depth(text, limit) > limit:
        raise BodyMalformed(f"the JSON is nested more than {limit} levels deep")
    # The cyclic garbage collector would run many times over a body of many small arrays or objects
    # (10 times the parse itself for 1 MB of "[]"); nothing parsed can form a cycle.
    collecting = gc.isenabled()
    gc.disable()
    try:
        document = json.loads(text, parse_int=_integer, parse_float=_fraction, parse_constant=_constant)
    except json.JSONDecodeError as exc:
        raise BodyMalformed(f"the body is not valid JSON: {exc}") from exc
    finally:
        if collecting:
            gc.enable()
    if _RISKY_ESCAPE.search(text):
        _check_strings(document)
    return document


def _nesting_depth(text: str, limit: int) -> int:
    """The deepest nesting of arrays and objects, strings excluded. For text that is not JSON it
    may count more than ``json.loads`` would reach before failing, never less."""
    if text.count("[") + text.count("{") <= limit:
        return 0
    outside_strings = _STRING.sub("", _ESCAPE.sub("", text))
    # UTF-8 encodes every non-ASCII character without ASCII bytes: the brackets survive alone.
    brackets = outside_strings.encode("utf-8", "surrogatepass").translate(None, _NOT_BRACKET)
    return max(accumulate(map(_NESTING.__getitem__, brackets)), default=0)


def _integer(literal: str) -> int:
    if len(literal) > MAX_NUMBER_CHARS:
        raise BodyMalformed(f"a number has more than {MAX_NUMBER_CHARS} characters")
    return int(literal)


def _fraction(literal: str) -> Decimal:
    if len(literal) > MAX_NUMBER_CHARS:
        raise BodyMalformed(f"a number has more than {MAX_NUMBER_CHARS} characters")
    _, _, exponent = literal.lower().partition("e")
    if exponent and abs(int(exponent)) > MAX_EXPONENT:
        raise BodyMalformed(f"a number's exponent is outside -{MAX_EXPONENT}..{MAX_EXPONENT}")
    return Decimal(literal)


def _constant(name: str):
    raise BodyMalformed(f"{name} is not a number")


def _check_strings(document: Any) -> None:
    stack = [document]
    while stack:
        value = stack.pop()
        if isinstance(value, str):
            _check_text(value)
        elif isinstance(value, dict):
            for key, item in value.items():
                _check_text(key)
                stack.append(item)
        elif isinstance(value, list):
            stack.extend(value)


def _check_text(text: str) -> None:
    if "\x00" in text:
        raise BodyMalformed("a string contains a NUL character (\\u0000)")
    if _SURROGATE.search(text):
        raise BodyMalformed("a string contains a lone surrogate (\\ud800-\\udfff): it is not valid Unicode")


class JSONBodyParser(BaseParser):
    """DRF parser over ``json_read`` for ``application/json``."""

    media_type = "application/json"

    def parse(self, stream, media_type=None, parser_context=None):
        request = (parser_context or {}).get("request")
        try:
            # Django's own limit (DATA_UPLOAD_MAX_MEMORY_SIZE) applies first, by Content-Length.
            raw = request.body if request is not None else stream.read(max_body_bytes() + 1)
        except RequestDataTooBig as exc:
            raise too_large() from exc
        return json_read(raw)


class AnyContentTypeJSONBodyParser(JSONBodyParser):
    """The same reader whatever the Content-Type says (AppVirality clients may send none)."""

    media_type = "*/*"

"""The one request-body reader: size, encoding, NUL and surrogates, depth, numbers; each refusal fast."""

import json
from decimal import Decimal

import pytest

from core.request_body import BodyMalformed, BodyTooLarge, json_read
from tests.hostile import answered_within_a_second

MB = 1024 * 1024


def refused(raw: bytes, error=BodyMalformed) -> str:
    with answered_within_a_second("a refusal"), pytest.raises(error) as caught:
        json_read(raw)
    return str(caught.value.detail)


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le"])
def test_json_in_any_encoding_json_allows_is_read(encoding):
    body = {"name": "Zoë 😀", "n": 1, "x": 1.5}
    assert json_read(json.dumps(body, ensure_ascii=False).encode(encoding)) == {**body, "x": Decimal("1.5")}


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16", "utf-16-le", "utf-32", "utf-32-be"])
@pytest.mark.parametrize("where", ["value", "key", "list item"])
def test_a_nul_is_refused_in_every_encoding_in_values_and_keys(encoding, where):
    body = {"value": {"a": "x\x00y"}, "key": {"a\x00": 1}, "list item": {"a": ["ok", "\x00"]}}[where]
    assert "NUL" in refused(json.dumps(body).encode(encoding))
    assert "NUL" in refused(json.dumps(body, ensure_ascii=False).encode(encoding))


def test_a_raw_nul_outside_strings_is_refused():
    assert "NUL" in refused(b'{"a": 1}\x00')


@pytest.mark.parametrize("raw", [b'{"a": "\\ud800"}', b'{"\\udfff": 1}', b'["ok", ["\\ud83d"]]', b'{"a": "x\\ude00y"}'])
def test_a_lone_surrogate_is_refused_in_values_and_keys(raw):
    assert "surrogate" in refused(raw)


def test_a_surrogate_pair_is_a_character_and_an_escaped_backslash_is_no_escape():
    assert json_read(b'{"a": "\\ud83d\\ude00"}') == {"a": "😀"}
    assert json_read(b'{"a": "\\\\u0000", "b": "\\\\ud800"}') == {"a": "\\u0000", "b": "\\ud800"}


@pytest.mark.parametrize("raw", [b"\xff\xfe\x00", b'{"a": "\xed\xa0\x80"}', b'{"a": "\xc3"}'])
def test_bytes_that_are_not_text_are_refused(raw):
    refused(raw)


@pytest.mark.parametrize(
    "raw",
    [
        b"[" * 5000 + b"]" * 5000,
        b"{" * 5000 + b"}" * 5000,
        b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
        b'{"apikey": "k", "ignored": ' + b"[" * 940 + b"]" * 940 + b"}",
        b"[" * 600_000,
        b"[{" * 300_000,
    ],
    ids=["5000 lists", "5000 objects", "50000 objects", "ignored key 940 deep", "unclosed", "mixed"],
)
def test_deep_nesting_is_refused_before_parsing(raw):
    assert "nested" in refused(raw)


def test_nesting_up_to_the_limit_is_read_and_brackets_inside_strings_do_not_count(settings):
    settings.API_MAX_JSON_DEPTH = 5
    assert json_read(b"[[[[[1]]]]]") == [[[[[1]]]]]
    assert "nested more than 5" in refused(b"[[[[[[1]]]]]]")
    text = {"a": "[[[[[[[[{{{{{{{{", "b": ['\\"[[[[[[[[[', "\\\\"]}
    assert json_read(json.dumps(text).encode()) == text


@pytest.mark.parametrize(
    "raw",
    [b'"\\' * 500_000, b'\\"' * 500_000, b'"' * MB, b'["' + b"\\\\" * 400_000 + b'"' * 10],
    ids=["quote-backslash", "backslash-quote", "quotes", "backslashes"],
)
def test_quote_and_backslash_floods_take_linear_time(raw):
    refused(raw)


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        (b'{"poolId": 1e2000000}', "exponent"),
        (b'{"poolId": 1e300000}', "exponent"),
        (b'{"poolId": 1E-2000000}', "exponent"),
        (b'{"amount": 1.5e+101}', "exponent"),
        (b'{"n": ' + b"9" * 5000 + b"}", "characters"),
        (b'{"n": ' + b"9" * 41 + b"}", "characters"),
        (b'{"n": 0.' + b"1" * 50 + b"}", "characters"),
        (b'{"n": NaN}', "NaN"),
        (b'{"n": -Infinity}', "Infinity"),
    ],
)
def test_numbers_are_range_checked_before_conversion(raw, fragment):
    assert fragment in refused(raw)


def test_numbers_within_range_are_exact():
    assert json_read(b"[1e100, 12.345678901234567890123, 9223372036854775807, -0.0]") == [
        Decimal("1e100"),
        Decimal("12.345678901234567890123"),
        2**63 - 1,
        Decimal("-0.0"),
    ]


def test_a_body_over_the_limit_is_too_large_and_the_limit_is_a_setting(settings):
    assert "1048576 bytes" in refused(b" " * (MB + 1), BodyTooLarge)
    settings.API_MAX_BODY_BYTES = 10
    assert json_read(b"[1, 2, 3] ") == [1, 2, 3]
    assert "10 bytes" in refused(b"[1, 2, 3]  ", BodyTooLarge)


def test_a_megabyte_of_small_arrays_is_read_in_well_under_a_second():
    raw = b"[" + b",".join([b"[]"] * (MB // 3 - 1)) + b"]"
    with answered_within_a_second():
        assert len(json_read(raw)) == MB // 3 - 1


def test_not_json_is_malformed_with_a_message_naming_json():
    assert "not valid JSON" in refused(b"{not json")
    assert "not valid JSON" in refused(b"")


def test_the_limits_come_from_the_environment_and_django_uses_the_same_size():
    from tests.test_project import read_settings

    names = ("API_MAX_BODY_BYTES", "DATA_UPLOAD_MAX_MEMORY_SIZE", "API_MAX_JSON_DEPTH")
    seen = read_settings(*names, API_MAX_BODY_BYTES="2048", API_MAX_JSON_DEPTH="8")
    assert seen == dict(zip(names, (2048, 2048, 8), strict=True))

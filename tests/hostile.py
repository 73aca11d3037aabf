"""Hostile request bodies for every API: the classes ``core.request_body`` refuses, as raw bytes,
and a hypothesis strategy that hides one of them inside an otherwise plausible body."""

import gc
import json
import time
from contextlib import contextmanager

from hypothesis import strategies as st

MB = 1024 * 1024


_collecting = {"seconds": 0.0, "started": 0.0}


def _time_collections(phase: str, info: dict) -> None:
    if phase == "start":
        _collecting["started"] = time.perf_counter()
    else:
        _collecting["seconds"] += time.perf_counter() - _collecting["started"]


gc.callbacks.append(_time_collections)


@contextmanager
def answered_within_a_second(what: str = "the request"):
    """What runs inside costs under a second of this thread's CPU (what a worker spends: other
    processes on this shared machine do not count) and under ten of wall clock (nothing hangs).
    Collections of the garbage of the test process itself (hypothesis, schemathesis, fixtures: a
    heap no worker has) do not count either."""
    cpu, wall, collecting = time.thread_time(), time.perf_counter(), _collecting["seconds"]
    yield
    collecting = _collecting["seconds"] - collecting
    cpu, wall = time.thread_time() - cpu - collecting, time.perf_counter() - wall - collecting
    assert cpu < 1, f"{what}: {cpu:.2f} s of CPU"
    assert wall < 10, f"{what}: {wall:.2f} s"


# A JSON value (raw text) of each class, to put anywhere a value may stand.
HOSTILE_VALUES = {
    "lone surrogate": '"\\ud800"',
    "low surrogate": '"x\\udfffy"',
    "NUL escape": '"a\\u0000b"',
    "huge exponent": "1e2000000",
    "big exponent": "1e300000",
    "tiny exponent": "-1E-2000000",
    "long digits": "9" * 5000,
    "long fraction": "0." + "1" * 5000,
    "NaN": "NaN",
    "Infinity": "-Infinity",
    "deep lists": "[" * 5000 + "]" * 5000,
    "deep objects": '{"a":' * 940 + "1" + "}" * 940,
}
HOSTILE_KEYS = {"lone surrogate key": '"\\ud800"', "NUL key": '"\\u0000"'}
ENCODINGS = ["utf-8", "utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le", "utf-32-be"]


def with_value(body: dict, raw_value: str, key: str = "x") -> str:
    """``body`` as JSON text with one more member ``key: <raw_value>``."""
    text = json.dumps(body)
    return f'{text[:-1]}, "{key}": {raw_value}}}' if body else f'{{"{key}": {raw_value}}}'


def with_key(body: dict, raw_key: str) -> str:
    text = json.dumps(body)
    return f"{text[:-1]}, {raw_key}: 1}}" if body else f"{{{raw_key}: 1}}"


def hostile_cases(body: dict) -> dict[str, bytes]:
    """One body of each class (by name), built around a well-formed ``body``."""
    cases = {name: with_value(body, value).encode() for name, value in HOSTILE_VALUES.items()}
    cases.update({name: with_key(body, key).encode() for name, key in HOSTILE_KEYS.items()})
    cases["ignored key 940 deep"] = with_value(body, "[" * 940 + "]" * 940, key="ignored").encode()
    nul = json.dumps({**body, "x": "a\x00b"})
    cases.update({f"NUL in {encoding}": nul.encode(encoding) for encoding in ("utf-16", "utf-32")})
    cases["raw NUL in UTF-16 text"] = json.dumps({**body, "x": "a\x00b"}, ensure_ascii=False).encode("utf-16")
    cases["not text"] = b"\xff\xfe\x00garbage" + json.dumps(body).encode()
    return cases


@st.composite
def hostile_bodies(draw, body: dict) -> bytes:
    """``body`` (or a random sub-dict of it) with one hostile value or key at a random place
    (top level, or inside a list or object), encoded in one of the encodings JSON allows."""
    base = {k: v for k, v in body.items() if draw(st.booleans()) or k in ("apikey", "privatekey")}
    kind = draw(st.sampled_from(["value", "key", "nested value", "nested key"]))
    if kind.endswith("key"):
        raw = draw(st.sampled_from(sorted(HOSTILE_KEYS.values())))
        member = f"{{{raw}: 1}}"
    else:
        raw = draw(st.sampled_from(sorted(HOSTILE_VALUES.values())))
        member = raw
    if kind.startswith("nested"):
        member = draw(st.sampled_from([f"[{member}]", f'{{"a": [1, {member}]}}', f"[[], {{}}, {member}]"]))
    if kind == "key":
        text = with_key(base, raw)
    else:
        text = with_value(base, member, key=draw(st.sampled_from(["x", "rewards", "amount", "key", "params"])))
    encoding = draw(st.sampled_from(ENCODINGS))
    return text.encode(encoding, "surrogatepass")

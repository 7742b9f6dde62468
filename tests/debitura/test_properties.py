"""Property tests: hostile or odd input never crashes the parsers, and never leaks the key."""

from __future__ import annotations

import base64
import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.debitura.errors import ApiError, api_error_from_response
from bot.debitura.models import Case, CloseCode, CloseCodeValue, Lifecycle, LifecycleValue, TimelineItem
from bot.debitura.webhooks import InvalidSignature, sign, verify_signature
from tests.debitura import bodies

SECRET = base64.b64encode(b"k" * 32).decode()
KEY = "dk_live_property_key_123456"

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None)
@given(
    status=st.sampled_from([400, 401, 404, 409, 413, 415, 422, 429, 500, 502, 503]),
    raw=st.binary(max_size=200) | json_values.map(lambda v: json.dumps(v).encode()),
)
def test_any_error_body_gives_a_typed_error_with_text(status: int, raw: bytes) -> None:
    err = api_error_from_response(status, raw + KEY.encode(), redact=[KEY])
    assert isinstance(err, ApiError) and err.status == status
    assert str(err).strip() and KEY not in str(err) and KEY not in repr(err)


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=60))
def test_any_code_text_parses_and_keeps_its_display(text: str) -> None:
    lv = LifecycleValue.parse(text)
    cv = CloseCodeValue.parse(text)
    assert lv.display == text and cv.display == text
    assert lv.name is Lifecycle.from_display(text) and cv.name is CloseCode.from_display(text)


@settings(max_examples=100, deadline=None)
@given(
    extra=st.dictionaries(
        st.text(min_size=1, max_size=12).filter(lambda k: k[0].isupper()), json_values, max_size=5
    )
)
def test_unknown_case_fields_are_kept(extra: dict[str, Any]) -> None:
    case = Case.model_validate({**bodies.case(), **extra})
    assert case.model_extra is not None
    for key, value in extra.items():
        assert case.model_extra[key] == value


@settings(max_examples=300, deadline=None)
@given(header=st.text(max_size=120))
def test_any_signature_header_is_refused_cleanly(header: str) -> None:
    try:
        verify_signature(SECRET, header, b"{}", now=1_000_000)
    except InvalidSignature:
        return
    raise AssertionError("a random header verified")


@settings(max_examples=100, deadline=None)
@given(body=st.binary(max_size=300), t=st.integers(min_value=0, max_value=10**11))
def test_sign_then_verify_round_trips(body: bytes, t: int) -> None:
    verify_signature(SECRET, sign(SECRET, body, t), body, now=t)


@settings(max_examples=100, deadline=None)
@given(title=st.text(max_size=30), description=st.text(max_size=30))
def test_fingerprint_is_a_function_of_the_item(title: str, description: str) -> None:
    item = {
        "date": "2026-01-01T00:00:00Z",
        "type": "Note",
        "title": title,
        "description": description,
        "actor": None,
    }
    a, b = TimelineItem.model_validate(item), TimelineItem.model_validate(dict(item))
    assert a.fingerprint() == b.fingerprint()
    other = TimelineItem.model_validate({**item, "title": title + "x"})
    assert other.fingerprint() != a.fingerprint()

"""Webhook signature verification and the lenient envelope."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from bot.debitura.webhooks import InvalidSignature, WebhookEvent, parse_event, sign, verify_signature

SECRET = base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()
OTHER_SECRET = base64.b64encode(b"fedcba9876543210fedcba9876543210").decode()
BODY = (
    b'{"id":"9d8c7b6a","specVersion":"1.0","event":"case.updated","timestamp":"2026-04-07T10:34:35Z",'
    b'"data":{"caseId":"3f2c8a9e","reference":"Q8OAXF3W","oldLifecycle":"Active","newLifecycle":"Paused"}}'
)
NOW = 1_775_558_075


def test_sign_matches_the_documented_recipe() -> None:
    key = base64.b64decode(SECRET)
    expected = hmac.new(key, f"{NOW}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert sign(SECRET, BODY, NOW) == f"t={NOW},v1={expected}"
    assert expected == expected.lower()


def test_valid_signature_passes() -> None:
    verify_signature(SECRET, sign(SECRET, BODY, NOW), BODY, now=NOW)
    verify_signature(SECRET, sign(SECRET, BODY, NOW - 300), BODY, now=NOW)  # edge of the window
    verify_signature(SECRET, sign(SECRET, BODY, NOW + 300), BODY, now=NOW)


def test_tampered_body_fails() -> None:
    header = sign(SECRET, BODY, NOW)
    with pytest.raises(InvalidSignature) as info:
        verify_signature(SECRET, header, BODY.replace(b"Paused", b"Closed"), now=NOW)
    assert info.value.reason == "mismatch"


def test_stale_and_future_timestamps_fail() -> None:
    with pytest.raises(InvalidSignature) as stale:
        verify_signature(SECRET, sign(SECRET, BODY, NOW - 301), BODY, now=NOW)
    assert stale.value.reason == "stale"
    with pytest.raises(InvalidSignature) as future:
        verify_signature(SECRET, sign(SECRET, BODY, NOW + 301), BODY, now=NOW)
    assert future.value.reason == "future"


def test_changing_t_in_header_breaks_the_mac() -> None:
    header = sign(SECRET, BODY, NOW).replace(f"t={NOW}", f"t={NOW + 1}")
    with pytest.raises(InvalidSignature, match="mismatch"):
        verify_signature(SECRET, header, BODY, now=NOW)


def test_wrong_secret_fails() -> None:
    with pytest.raises(InvalidSignature) as info:
        verify_signature(OTHER_SECRET, sign(SECRET, BODY, NOW), BODY, now=NOW)
    assert info.value.reason == "mismatch"


def test_key_is_the_base64_decoded_secret_not_its_text() -> None:
    mac = hmac.new(SECRET.encode(), f"{NOW}.".encode() + BODY, hashlib.sha256).hexdigest()
    with pytest.raises(InvalidSignature):
        verify_signature(SECRET, f"t={NOW},v1={mac}", BODY, now=NOW)


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "   ",
        "garbage",
        f"t={NOW}",
        "v1=abcd",
        f"t=abc,v1={'0' * 64}",
        f"t=-5,v1={'0' * 64}",
        f"t={NOW},t={NOW + 1},v1={'0' * 64}",
        f"t={NOW},v1=",
    ],
)
def test_malformed_headers_fail(header: str | None) -> None:
    with pytest.raises(InvalidSignature) as info:
        verify_signature(SECRET, header, BODY, now=NOW)
    assert info.value.reason in {"missing", "malformed"}


def test_extra_parts_and_several_v1_values_are_tolerated() -> None:
    good = sign(SECRET, BODY, NOW).split("v1=")[1]
    verify_signature(SECRET, f"t={NOW}, v0=legacy, v1={'f' * 64}, v1={good}, x=y", BODY, now=NOW)
    verify_signature(SECRET, f"v1={good.upper()},t={NOW}", BODY, now=NOW)


def test_str_body_is_utf8() -> None:
    body = '{"data":{"name":"Müller"}}'
    verify_signature(SECRET, sign(SECRET, body.encode(), NOW), body, now=NOW)


def test_bad_secret_is_a_configuration_error() -> None:
    with pytest.raises(ValueError, match="base64"):
        verify_signature("not base64!!", sign(SECRET, BODY, NOW), BODY, now=NOW)
    with pytest.raises(ValueError, match="empty"):
        sign("", BODY, NOW)


def test_url_safe_unpadded_secret_is_accepted() -> None:
    raw = b"\xfb\xff\xfe-secret"
    urlsafe = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    verify_signature(urlsafe, sign(base64.b64encode(raw).decode(), BODY, NOW), BODY, now=NOW)


def test_envelope_parses() -> None:
    event = parse_event(BODY)
    assert event.event == "case.updated" and event.spec_version == "1.0"
    assert event.case_id == "3f2c8a9e" and event.reference == "Q8OAXF3W"
    assert event.data["newLifecycle"] == "Paused"
    assert event.timestamp is not None and event.timestamp.year == 2026


@pytest.mark.parametrize("key", ["type", "eventType"])
def test_envelope_event_name_alternatives(key: str) -> None:
    event = WebhookEvent.model_validate({"id": "e1", key: "payment.created", "data": {"paymentId": "p1"}})
    assert event.event == "payment.created" and event.payment_id == "p1"


def test_envelope_is_lenient() -> None:
    event = WebhookEvent.model_validate({"data": None, "links": None, "extraThing": 1})
    assert event.data == {} and event.links == {} and event.case_id is None
    assert event.model_extra == {"extraThing": 1}


@pytest.mark.parametrize("body", [b"not json", b"[1,2]", b""])
def test_parse_event_refuses_non_objects(body: bytes) -> None:
    with pytest.raises(ValueError):
        parse_event(body)


def test_non_ascii_digits_in_t_are_malformed() -> None:
    good = sign(SECRET, BODY, NOW).split("v1=")[1]
    arabic = "".join(chr(0x0660 + int(d)) for d in str(NOW))
    with pytest.raises(InvalidSignature, match="malformed"):
        verify_signature(SECRET, f"t={arabic},v1={good}", BODY, now=NOW)

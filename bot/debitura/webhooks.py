"""Debitura webhook deliveries: the signature check and the (lenient) event envelope.

Header ``X-Debitura-Signature: t=<unix seconds>,v1=<lowercase hex>``; the MAC is
HMAC-SHA256 keyed with the base64-decoded subscription secret over ``"<t>.<raw body>"``.
Deliveries whose ``t`` is more than ``tolerance`` seconds away from now (either direction) are
refused, and MACs are compared in constant time. Verify the raw bytes, before any JSON parsing.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

__all__ = [
    "DEFAULT_TOLERANCE", "SIGNATURE_HEADER", "InvalidSignature", "WebhookEvent", "decode_secret",
    "parse_event", "sign", "verify_signature",
]

SIGNATURE_HEADER = "X-Debitura-Signature"
DEFAULT_TOLERANCE = 300


class InvalidSignature(Exception):
    """The delivery is not authentic (or too old). ``reason`` is a short code for logs and metrics."""

    def __init__(self, reason: str, detail: str = "") -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"invalid webhook signature: {reason}" + (f" ({detail})" if detail else ""))


def decode_secret(secret_b64: str | bytes) -> bytes:
    """The HMAC key: the subscription secret base64-decoded (standard or URL-safe, padding optional)."""
    raw = secret_b64.encode("ascii") if isinstance(secret_b64, str) else secret_b64
    raw = raw.strip()
    if not raw:
        raise ValueError("the webhook secret is empty")
    padded = raw + b"=" * (-len(raw) % 4)
    for altchars in (None, b"-_"):
        try:
            return base64.b64decode(padded, altchars=altchars, validate=True)
        except (binascii.Error, ValueError):
            continue
    raise ValueError("the webhook secret is not valid base64 (check DEBITURA_WEBHOOK_SECRET)")


def _mac(key: bytes, t: int | str, body: bytes) -> str:
    return hmac.new(key, f"{t}.".encode("ascii") + body, hashlib.sha256).hexdigest()


def sign(secret_b64: str | bytes, body: bytes, t: int) -> str:
    """The ``X-Debitura-Signature`` header value for ``body`` at unix time ``t``."""
    return f"t={int(t)},v1={_mac(decode_secret(secret_b64), int(t), body)}"


def _parse_header(header: str) -> tuple[str, list[str]]:
    timestamps: list[str] = []
    signatures: list[str] = []
    for part in header.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep:
            continue
        key, value = key.strip().lower(), value.strip()
        if key == "t":
            timestamps.append(value)
        elif key == "v1" and value:
            signatures.append(value.lower())
    if not timestamps:
        raise InvalidSignature("malformed", "no t= part")
    if len(set(timestamps)) > 1:
        raise InvalidSignature("malformed", "several different t= parts")
    if not signatures:
        raise InvalidSignature("malformed", "no v1= part")
    return timestamps[0], signatures


def verify_signature(
    secret_b64: str | bytes,
    header: str | None,
    body: bytes | str,
    *,
    now: float | None = None,
    tolerance: int = DEFAULT_TOLERANCE,
) -> None:
    """Raise :class:`InvalidSignature` unless ``header`` signs ``body`` within ``tolerance`` seconds of now.

    Extra comma-separated parts are ignored and any of several ``v1`` values may match (as during a
    secret rotation). A secret that is not base64 raises ``ValueError``: that is a configuration
    error, not a forged delivery.
    """
    key = decode_secret(secret_b64)
    if not header or not header.strip():
        raise InvalidSignature("missing", f"no {SIGNATURE_HEADER} header")
    t_text, signatures = _parse_header(header)
    if not (t_text.isascii() and t_text.isdigit()) or len(t_text) > 12:
        raise InvalidSignature("malformed", "t is not a unix timestamp")
    t = int(t_text)
    current = time.time() if now is None else now
    if t < current - tolerance:
        raise InvalidSignature("stale", f"signed {current - t:.0f} s ago, tolerance {tolerance} s")
    if t > current + tolerance:
        raise InvalidSignature("future", f"signed {t - current:.0f} s ahead, tolerance {tolerance} s")
    raw = body.encode("utf-8") if isinstance(body, str) else body
    expected = _mac(key, t_text, raw)
    matched = False
    for candidate in signatures:
        # Compare every candidate (no early exit) so timing says nothing about which one matched.
        matched |= hmac.compare_digest(expected.encode("ascii"), candidate.encode("ascii", errors="replace"))
    if not matched:
        raise InvalidSignature("mismatch", "signature does not match the body")


def verify_any(
    secrets_b64: Sequence[str | bytes], header: str | None, body: bytes | str, *, now: float | None = None,
    tolerance: int = DEFAULT_TOLERANCE,
) -> None:
    """:func:`verify_signature` with each secret in turn (Debitura gives each subscription its own: a
    live one and a test-mode one may deliver to the same door); the first secret's error when none
    matches. Only a mismatch tries the next secret (a stale or malformed header fails with any)."""
    first: InvalidSignature | None = None
    for secret in secrets_b64:
        try:
            verify_signature(secret, header, body, now=now, tolerance=tolerance)
            return
        except InvalidSignature as exc:
            if exc.reason != "mismatch":
                raise
            first = first or exc
    raise first or InvalidSignature("mismatch", "no secret to verify with")


class WebhookEvent(BaseModel):
    """The delivery envelope ``{id, specVersion, event, timestamp, data{caseId, reference, ...}, links}``.

    Lenient: the event name is also read from ``type`` or ``eventType``; unknown fields are kept.
    """

    model_config = ConfigDict(extra="allow", populate_by_name=True, alias_generator=to_camel)

    id: str | None = None
    spec_version: str | None = None
    event: str | None = Field(default=None, validation_alias=AliasChoices("event", "type", "eventType"))
    timestamp: datetime | None = None
    data: dict[str, Any] = Field(default_factory=dict)
    links: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _nulls(cls, value: Any) -> Any:
        if isinstance(value, dict):
            value = dict(value)
            for key in ("data", "links"):
                if not isinstance(value.get(key), dict):
                    value[key] = {}
        return value

    @property
    def case_id(self) -> str | None:
        value = self.data.get("caseId") or self.data.get("case_id")
        return str(value) if value else None

    @property
    def reference(self) -> str | None:
        value = self.data.get("reference") or self.data.get("caseReference")
        return str(value) if value else None

    @property
    def payment_id(self) -> str | None:
        value = self.data.get("paymentId")
        return str(value) if value else None


def parse_event(body: bytes | str) -> WebhookEvent:
    """Parse a delivery body; ``ValueError`` if it is not a JSON object."""
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise ValueError("webhook body is not JSON") from exc
    if not isinstance(data, dict):
        raise ValueError("webhook body is not a JSON object")
    return WebhookEvent.model_validate(data)

"""Logging setup: plain text for a terminal, JSON with CASEROOM_LOG_FORMAT=json.

A filter masks every configured secret (and anything shaped like a Slack token) before a record is
written, so a secret that slips into a message or exception text still never reaches the log.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterable
from datetime import UTC, datetime

_TOKEN_RE = re.compile(r"\b(xox[abposr]-[A-Za-z0-9-]{6,}|xapp-[A-Za-z0-9-]{6,})")
MASK = "***"


class RedactSecrets(logging.Filter):
    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, MASK)
        return _TOKEN_RE.sub(MASK, text)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            formatter = logging.Formatter()
            record.exc_text = self.redact(formatter.formatException(record.exc_info))
            record.exc_info = None
        record.msg = self.redact(message)
        record.args = None
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        return True


QUIET_LOGGERS = frozenset({"slack_bolt.RequestVerification"})
"""Loggers whose INFO records carry request bodies (personal data). Bolt resets these loggers' levels
from the app's base logger, so they are filtered at the handler; bot.web logs the event without it."""


class QuietBelowWarning(logging.Filter):
    def __init__(self, names: Iterable[str]) -> None:
        super().__init__()
        self.names = frozenset(names)

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING or record.name not in self.names


class JsonFormatter(logging.Formatter):
    _STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in self._STANDARD and not key.startswith("_"):
                out[key] = value if isinstance(value, str | int | float | bool | None) else str(value)
        if record.exc_text:
            out["exc"] = record.exc_text
        return json.dumps(out, ensure_ascii=False)


NOISY_LOGGERS = ("httpx", "httpcore", "uvicorn.access", "slack_bolt.AsyncApp", "aiohttp.access")
"""Kept at WARNING (or the root level when higher)."""


def build_handler(
    handler: logging.Handler, fmt: str = "text", secrets: Iterable[str] = ()
) -> logging.Handler:
    """`handler` with Caseroom's filters (quiet loggers, secrets masked) and formatter (text or json)."""
    handler.addFilter(QuietBelowWarning(QUIET_LOGGERS))
    handler.addFilter(RedactSecrets(secrets))
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    return handler


def setup_logging(fmt: str = "text", level: str = "INFO", secrets: Iterable[str] = ()) -> None:
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    root.addHandler(build_handler(logging.StreamHandler(sys.stderr), fmt, secrets))
    root.setLevel(level.upper())
    for noisy in NOISY_LOGGERS:
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))


def add_secrets(values: Iterable[str]) -> None:
    """Mask more secrets from now on in every handler Caseroom set up (a workspace's Debitura key and
    tokens, decrypted after start-up in multi-workspace mode)."""
    fresh = [v for v in values if v and len(v) >= 4]
    if not fresh:
        return
    for handler in logging.getLogger().handlers:
        for flt in handler.filters:
            if isinstance(flt, RedactSecrets):
                known = set(flt.secrets)
                if not known.issuperset(fresh):
                    flt.secrets = sorted(known.union(fresh), key=len, reverse=True)

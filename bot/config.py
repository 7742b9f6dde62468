"""Settings, read from the environment and an optional `.env` file.

Every knob lives here; `caseroom check` and the README's configuration table are generated from this
class (see `settings_table`). Secrets are `SecretStr`: they never show in reprs, logs or errors.
"""

from __future__ import annotations

import re
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import AnyHttpUrl, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_RELAY_LIFECYCLES = ("Active", "Paused", "NeedsAdditionalDetails", "PendingVerification")
ADMIN_EVERYONE = "*"
"""CASEROOM_ADMIN_USERS=* : every user who may use Caseroom may also do the admin-only writes."""
_SLACK_USER_ID = re.compile(r"[UW][A-Z0-9]+")


MULTI_WORKSPACE_STAND_INS = {"slack_bot_token": "xoxb-multi-workspace", "debitura_api_key": "multi-workspace"}
"""What stands for SLACK_BOT_TOKEN and DEBITURA_API_KEY in multi-workspace mode (never sent anywhere)."""


class LogFormat(StrEnum):
    text = "text"
    json = "json"


def _split_list(value: Any) -> Any:
    if isinstance(value, str):
        return [part.strip() for part in value.replace(";", ",").split(",") if part.strip()]
    return value


def parse_clock(text: str) -> int | None:
    """Minutes after midnight of "HH:MM" (00:00 to 23:59); None when it is not that shape."""
    head, sep, tail = text.strip().partition(":")
    if not sep or not head.isdigit() or not tail.isdigit() or len(tail) != 2 or len(head) > 2:
        return None
    hours, minutes = int(head), int(tail)
    if hours > 23 or minutes > 59:
        return None
    return hours * 60 + minutes


def parse_span(text: str) -> tuple[int, int] | None:
    """(start, end) minutes of "HH:MM-HH:MM" (end before start wraps past midnight); None if malformed."""
    start, sep, end = text.strip().partition("-")
    first, last = parse_clock(start), parse_clock(end)
    if not sep or first is None or last is None:
        return None
    return first, last


class Settings(BaseSettings):
    """Caseroom's configuration. Field descriptions feed the README table."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    slack_bot_token: SecretStr = Field(description="Bot token of the Slack app (`xoxb-...`).")
    slack_signing_secret: SecretStr | None = Field(
        default=None, description="Signing secret (HTTP mode); verifies requests from Slack."
    )
    slack_app_token: SecretStr | None = Field(
        default=None,
        description="App-level token (`xapp-...`, scope connections:write); enables Socket Mode.",
    )
    slack_api_url: AnyHttpUrl = Field(
        default=AnyHttpUrl("https://slack.com/api/"), description="Slack Web API base URL."
    )
    debitura_api_key: SecretStr = Field(description="Debitura Collection Partner API key (header XApiKey).")
    debitura_api_url: AnyHttpUrl = Field(
        default=AnyHttpUrl("https://collectionpartner-api.debitura.com"),
        description="Debitura Collection Partner API base URL (point it at `caseroom sandbox` to try it).",
    )
    debitura_webhook_secret: SecretStr | None = Field(
        default=None, description="Base64 secret of the Debitura webhook subscription (verifies deliveries)."
    )
    redis_url: str = Field(default="redis://localhost:6379/0", description="Redis connection URL.")

    caseroom_command: str = Field(default="/case", description="The slash command's name.")
    caseroom_redis_prefix: str = Field(default="caseroom:v1", description="Prefix of every Redis key.")
    caseroom_port: int = Field(
        default=3000, ge=1, le=65535, description="HTTP port (events, webhooks, health)."
    )
    caseroom_admin_users: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Slack user ids allowed to close, activate, change fees and edit/delete payments; "
        "`*` allows everyone. With neither this nor CASEROOM_ADMIN_GROUP set, nobody may.",
    )
    caseroom_admin_group: str | None = Field(
        default=None, description="Slack user group id whose members are admins (see above)."
    )
    caseroom_relay_lifecycles: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: list(DEFAULT_RELAY_LIFECYCLES),
        description="Lifecycles (enum names) whose cases the relay watches.",
    )
    caseroom_backfill: int = Field(
        default=0, ge=0, le=100, description="Items posted from a case's history when first seen."
    )
    caseroom_channel_prefix: str = Field(default="case-", description="Prefix of per-case channel names.")
    caseroom_public_channels: bool = Field(default=False, description="Create public case channels.")
    caseroom_default_members: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Slack user ids invited to every case channel."
    )
    caseroom_archive_on_close: bool = Field(default=True, description="Archive a case's channel on close.")
    caseroom_feed_channel: str | None = Field(
        default=None, description="Channel id that gets one line per relayed event."
    )
    caseroom_max_staleness: int = Field(
        default=3600, ge=60, description="Longest wait, in seconds, between two checks of a case."
    )
    caseroom_relay_budget: Decimal = Field(
        default=Decimal("0.6"), gt=0, le=1, description="Share of each Debitura rate limit the relay may use."
    )
    caseroom_rate_per_minute: int = Field(default=2000, ge=1, description="Debitura key limit per minute.")
    caseroom_rate_per_hour: int = Field(default=20000, ge=1, description="Debitura key limit per hour.")
    caseroom_rate_per_day: int = Field(default=100000, ge=1, description="Debitura key limit per day.")
    caseroom_time_scale: int = Field(
        default=1, ge=1, le=3600,
        description="Benchmarks and demos only: the budget's minute, hour and day pass this many times "
        "faster (1 = real time).",
    )
    caseroom_log_format: LogFormat = Field(default=LogFormat.text, description="`text` or `json` logs.")
    caseroom_log_level: str = Field(default="INFO", description="Log level.")
    caseroom_relay_sweep_interval: int = Field(
        default=120, ge=1, description="Seconds between two incremental sweeps of GET /cases."
    )
    caseroom_relay_min_interval: int = Field(
        default=60, ge=1, description="Shortest wait (s) between two polls of a recently active case."
    )
    caseroom_relay_lease: int = Field(
        default=30, ge=2, description="Relay worker lease on a case or channel (s): the takeover time."
    )
    caseroom_relay_fetch_workers: int = Field(
        default=4, ge=1, le=50, description="Fetch workers per relay process."
    )
    caseroom_relay_delivery_workers: int = Field(
        default=8, ge=1, le=50, description="Slack delivery workers per relay process."
    )
    caseroom_relay_first_spread: int | None = Field(
        default=None, ge=0, description="Spread (s) of first checks of newly found cases; default: the bound."
    )
    caseroom_data_dir: str | None = Field(
        default=None,
        description="Where the embedded Redis (when `REDIS_URL` is unset and no Redis answers on "
        "localhost:6379) and the `--demo` sandbox keep their data; default `~/.local/share/caseroom`.",
    )
    caseroom_demo: bool = Field(
        default=False,
        description="Demo data: set by `caseroom run --demo` (an in-process sandbox instead of Debitura); "
        "every case card says so.",
    )
    caseroom_note_reaction: str = Field(
        default="memo",
        description="The emoji (name without colons) that turns a message in a case channel into a case "
        "note when someone reacts with it; empty turns the reaction off.",
    )
    caseroom_include_test_cases: bool = Field(
        default=False,
        description="Show Debitura test cases (`includeTestCases`) in `/case list` and lookups, and relay "
        "them; they are labelled *Test case* wherever they appear. Off: a test case is not shown.",
    )
    # --- attention (issue 13: App Home, direct messages, reminders, digests; appended) ---
    caseroom_reply_sla: int = Field(
        default=24, ge=1, le=24 * 30,
        description="Hours a creditor chat may wait for a partner reply before its assignee is reminded.",
    )
    caseroom_exclusive_days: int = Field(
        default=14, ge=1, le=365,
        description="A case whose exclusive period ends within this many days is listed as ending.",
    )
    caseroom_exclusive_reminders: Annotated[list[int], NoDecode] = Field(
        default_factory=lambda: [14, 7, 1],
        description="Days before the exclusive period ends at which the assignee is reminded.",
    )
    caseroom_activation_reminder: int = Field(
        default=48, ge=1, le=24 * 30,
        description="Hours a case may wait for activation (PendingVerification) before a reminder.",
    )
    caseroom_recent_days: int = Field(
        default=7, ge=1, le=90, description="Payments and closes of this many days are listed as recent."
    )
    caseroom_quiet_hours: str = Field(
        default="18:00-08:00",
        description="Default quiet hours (HH:MM-HH:MM in each person's time zone; empty for none): "
        "direct messages and reminders that fall inside wait for the end.",
    )
    caseroom_digest: bool = Field(default=True, description="Default: people get a morning digest DM.")
    caseroom_digest_time: str = Field(
        default="08:00", description="Default digest time (HH:MM in each person's time zone)."
    )
    caseroom_digest_weekends: bool = Field(
        default=False, description="Default: digests on Saturday and Sunday."
    )
    caseroom_digest_channel: str | None = Field(
        default=None, description="Channel id for the admins' team digest (default: a DM to each admin)."
    )
    caseroom_home_rows: int = Field(
        default=25, ge=1, le=45,
        description="Cases on one page of App Home (a page also ends at Block Kit's 100 blocks).",
    )

    caseroom_webhook_reconcile_interval: int = Field(
        default=600, ge=10,
        description="Seconds between two reconciliations of Debitura's webhook delivery log (GET "
        "/webhooks/events), which take in the events that never reached Caseroom; one also runs at start.",
    )

    debitura_webhook_test_secret: SecretStr | None = Field(
        default=None,
        description="Secret of a test-mode webhook subscription to this Caseroom (events of test cases only, "
        "for `caseroom smoke`); the webhook door accepts deliveries signed with it as well.",
    )
    # --- direct messages, reminders and digests (issue 13, part B) ---
    caseroom_attention_interval: int = Field(
        default=60, ge=1, le=3600, description="Seconds between two reminder and digest passes of the relay."
    )
    # --- many workspaces on one deployment (issue 16; appended) ---
    slack_client_id: str | None = Field(
        default=None,
        description="Slack app Client ID: with SLACK_CLIENT_SECRET and CASEROOM_SECRET_KEY, one deployment "
        "serves many workspaces installed through /slack/install (OAuth v2) instead of SLACK_BOT_TOKEN.",
    )
    slack_client_secret: SecretStr | None = Field(
        default=None, description="Slack app Client Secret (multi-workspace mode, see SLACK_CLIENT_ID)."
    )
    caseroom_secret_key: SecretStr | None = Field(
        default=None,
        description="Fernet key(s) encrypting tokens and Debitura keys at rest (multi-workspace mode); "
        "several, comma-separated, newest first, to rotate.",
    )
    slack_redirect_uri: str | None = Field(
        default=None,
        description="OAuth redirect URL registered with the Slack app (https://<host>/slack/oauth_redirect); "
        "default: the one configured in the app.",
    )
    slack_oauth_url: AnyHttpUrl | None = Field(
        default=None,
        description="Slack's authorize page (default: derived from SLACK_API_URL, "
        "https://slack.com/oauth/v2/authorize).",
    )
    redis_cluster_url: str | None = Field(
        default=None,
        description="A Redis (or Valkey) Cluster node URL, redis://host:port; also given as a "
        "redis+cluster:// REDIS_URL. Keys are hash-tagged by workspace.",
    )

    @field_validator("slack_bot_token")
    @classmethod
    def _bot_token_shape(cls, v: SecretStr) -> SecretStr:
        if not v.get_secret_value().startswith("xoxb-"):
            raise ValueError("must be a bot token starting with xoxb-")
        return v

    @field_validator("slack_app_token")
    @classmethod
    def _app_token_shape(cls, v: SecretStr | None) -> SecretStr | None:
        if v is not None and not v.get_secret_value():
            return None
        if v is not None and not v.get_secret_value().startswith("xapp-"):
            raise ValueError("must be an app-level token starting with xapp-")
        return v

    @field_validator("slack_signing_secret", "debitura_webhook_secret", "debitura_webhook_test_secret")
    @classmethod
    def _empty_is_none(cls, v: SecretStr | None) -> SecretStr | None:
        if v is not None and not v.get_secret_value().strip():
            return None
        return v

    @field_validator("debitura_api_key")
    @classmethod
    def _key_present(cls, v: SecretStr) -> SecretStr:
        if not v.get_secret_value().strip():
            raise ValueError("must not be empty")
        return v

    @field_validator("redis_url")
    @classmethod
    def _redis_url_shape(cls, v: str) -> str:
        if not v.startswith(("redis://", "rediss://", "unix://", "redis+cluster://", "rediss+cluster://")):
            raise ValueError("must be a redis:// , rediss:// , redis+cluster:// or unix:// URL")
        return v

    @field_validator("caseroom_log_level")
    @classmethod
    def _log_level_name(cls, v: str) -> str:
        level = v.strip().upper()
        if level not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
            raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        return level

    @field_validator("caseroom_command")
    @classmethod
    def _command_shape(cls, v: str) -> str:
        if not v.startswith("/") or len(v) > 32 or " " in v:
            raise ValueError("must start with / , have no spaces, and be at most 32 characters")
        return v

    @field_validator("caseroom_admin_users", "caseroom_relay_lifecycles", "caseroom_default_members",
                     mode="before")
    @classmethod
    def _lists(cls, v: Any) -> Any:
        return _split_list(v)

    @field_validator("caseroom_admin_users")
    @classmethod
    def _admin_ids(cls, v: list[str]) -> list[str]:
        if ADMIN_EVERYONE in v and len(v) > 1:
            raise ValueError(f"is either {ADMIN_EVERYONE} (everyone) or Slack user ids, not both")
        bad = [item for item in v if item != ADMIN_EVERYONE and not _SLACK_USER_ID.fullmatch(item)]
        if bad:
            shown = ", ".join(bad[:3])
            raise ValueError(f"must be Slack user ids (U0123ABCD) or {ADMIN_EVERYONE}; not {shown}")
        return v

    @field_validator("caseroom_exclusive_reminders", mode="before")
    @classmethod
    def _day_list(cls, v: Any) -> Any:
        items = _split_list(v)
        if isinstance(items, list):
            try:
                days = sorted({int(item) for item in items}, reverse=True)
            except (TypeError, ValueError):
                raise ValueError("must be whole numbers of days, such as 14,7,1") from None
            if any(day < 0 or day > 365 for day in days):
                raise ValueError("must be days between 0 and 365")
            return days
        return items

    @field_validator("caseroom_quiet_hours")
    @classmethod
    def _quiet_hours(cls, v: str) -> str:
        v = v.strip()
        if v and parse_span(v) is None:
            raise ValueError("must be HH:MM-HH:MM (such as 18:00-08:00) or empty")
        return v

    @field_validator("caseroom_digest_time")
    @classmethod
    def _digest_time(cls, v: str) -> str:
        v = v.strip()
        if parse_clock(v) is None:
            raise ValueError("must be HH:MM (such as 08:00)")
        return v

    @field_validator("caseroom_digest_channel")
    @classmethod
    def _blank_channel(cls, v: str | None) -> str | None:
        return (v or "").strip() or None

    @field_validator("caseroom_feed_channel", "caseroom_admin_group", "caseroom_data_dir")
    @classmethod
    def _blank_none(cls, v: str | None) -> str | None:
        return v or None

    @property
    def data_dir(self) -> Path:
        """CASEROOM_DATA_DIR (with ~ expanded), or ~/.local/share/caseroom."""
        if self.caseroom_data_dir:
            return Path(self.caseroom_data_dir).expanduser()
        from bot.embedded import default_data_dir

        return default_data_dir()

    @property
    def redis_url_given(self) -> bool:
        """REDIS_URL came from the environment, .env or the caller (not the default)."""
        return "redis_url" in self.model_fields_set

    @model_validator(mode="before")
    @classmethod
    def _multi_workspace_stand_ins(cls, data: Any) -> Any:
        """Multi-workspace mode (SLACK_CLIENT_ID and SLACK_CLIENT_SECRET): each workspace's bot token and
        Debitura key come from its installation, so the single-workspace ones may be absent. Stand-ins
        fill them; nothing ever calls Slack or Debitura with them (bot/tenancy.py)."""
        if not isinstance(data, dict):
            return data
        lowered = {str(k).lower(): v for k, v in data.items()}
        if lowered.get("slack_client_id") and lowered.get("slack_client_secret"):
            data = dict(data)
            for name, stand_in in MULTI_WORKSPACE_STAND_INS.items():
                if not lowered.get(name):
                    data.pop(name.upper(), None)
                    data[name] = stand_in
        return data

    @property
    def multi_workspace(self) -> bool:
        """SLACK_CLIENT_ID and SLACK_CLIENT_SECRET are set: workspaces install through OAuth."""
        return bool(self.slack_client_id) and self.slack_client_secret is not None

    @property
    def cluster_url(self) -> str | None:
        """The Redis Cluster to use (REDIS_CLUSTER_URL, or a redis+cluster:// REDIS_URL), or None."""
        if self.redis_cluster_url:
            return self.redis_cluster_url
        if "+cluster://" in self.redis_url:
            return self.redis_url.replace("+cluster://", "://", 1)
        return None

    @model_validator(mode="after")
    def _transport(self) -> Settings:
        if self.slack_app_token is None and self.slack_signing_secret is None:
            raise ValueError(TRANSPORT_MISSING)
        return self

    @property
    def socket_mode(self) -> bool:
        return self.slack_app_token is not None


ENV_HINTS = {
    "slack_bot_token": "a bot token, xoxb-...",
    "slack_signing_secret": "the app's signing secret (Basic Information page)",
    "slack_app_token": "an app-level token, xapp-... with connections:write",
    "slack_api_url": "a URL such as https://slack.com/api/",
    "debitura_api_key": "your Debitura API key (Partner Portal > API Keys)",
    "debitura_api_url": "a URL such as https://collectionpartner-api.debitura.com",
    "redis_url": "a URL such as redis://localhost:6379/0",
    "caseroom_admin_users": "comma-separated Slack user ids such as U012ABCDEF, or * for everyone",
}


class ConfigError(Exception):
    """Settings are missing or malformed. `str()` names every variable and what it should look like."""


def validation_problems(exc: ValidationError) -> list[tuple[str, str]]:
    """(field name or "" for the whole model, "ENV_NAME what is wrong (expected ...)") per error."""
    problems: list[tuple[str, str]] = []
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ()) if p != "__root__"]
        field = loc[0] if loc else ""
        env = field.upper() if field else ""
        hint = ENV_HINTS.get(field, "")
        if err.get("type") == "missing":
            what = "is missing"
        else:
            what = str(err.get("msg", "is invalid")).removeprefix("Value error, ")
        if env:
            problems.append((field, f"{env} {what}" + (f" (expected {hint})" if hint else "")))
        else:
            problems.append(("", what))
    return problems


def describe_validation_error(exc: ValidationError) -> str:
    lines = ["Caseroom cannot start: the configuration is incomplete or invalid."]
    lines += [f"  - {text}" for _, text in validation_problems(exc)]
    lines.append("Set them in the environment or in a .env file; see README.md, Configuration.")
    return "\n".join(lines)


TRANSPORT_MISSING = "SLACK_SIGNING_SECRET (HTTP mode) or SLACK_APP_TOKEN (Socket Mode, xapp-...) must be set"


class _TransportProbe(BaseSettings):
    """Reads only the two transport credentials, from the same sources as Settings.

    Settings' transport check runs only once every field is valid; the probe lets one message name a
    missing transport together with the other missing variables.
    """

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    slack_signing_secret: str | None = None
    slack_app_token: str | None = None


def load_settings(**overrides: Any) -> Settings:
    """Read settings; raise ConfigError with one message naming every bad variable."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        message = describe_validation_error(exc)
        if TRANSPORT_MISSING not in message:
            given = {k: v for k, v in overrides.items() if k in _TransportProbe.model_fields}
            probe = _TransportProbe(**given)
            if not (probe.slack_signing_secret or "").strip() and not (probe.slack_app_token or "").strip():
                head, _, tail = message.rpartition("\n")
                message = f"{head}\n  - {TRANSPORT_MISSING}\n{tail}"
        raise ConfigError(message) from None


_STAND_INS: dict[str, str] = {"slack_bot_token": "xoxb-not-set", "debitura_api_key": "not-set"}
TRANSPORT = "transport"
"""The name `load_settings_for_check` gives the missing transport (signing secret or app token)."""


def load_settings_for_check(**overrides: Any) -> tuple[Settings, dict[str, str]]:
    """Settings for `caseroom check`, which reports every part it can: each bad or missing variable
    is replaced by its default (or a stand-in) and returned as {field: "ENV_NAME what is wrong"}, so
    the checks that do not need it still run. `TRANSPORT` names a missing signing secret/app token."""
    problems: dict[str, str] = {}
    replaced: dict[str, Any] = {}
    for _ in range(3):  # the transport rule runs only once every field is valid: a second pass
        try:
            return Settings(**{**overrides, **replaced}), problems
        except ValidationError as exc:
            for field, text in validation_problems(exc):
                if field in Settings.model_fields:
                    problems.setdefault(field, text)
                    model_field = Settings.model_fields[field]
                    replaced[field] = (
                        _STAND_INS[field] if model_field.is_required()
                        else model_field.get_default(call_default_factory=True, validated_data={})
                    )
                elif TRANSPORT_MISSING in text:
                    # a malformed app token was dropped above: that line already says what to fix
                    if "slack_app_token" not in problems:
                        problems[TRANSPORT] = text
                    replaced["slack_signing_secret"] = "not-set"
                else:  # pragma: no cover - Settings has no other model-level rule
                    problems.setdefault(field, text)
    raise ConfigError("\n".join(problems.values()))  # pragma: no cover - each pass replaces a field


def settings_table() -> list[tuple[str, str, str]]:
    """(ENV_NAME, default, description) for every setting, in declaration order."""
    rows: list[tuple[str, str, str]] = []
    for name, field in Settings.model_fields.items():
        if field.is_required():
            default = "(required)"
        elif field.default_factory is not None:
            value = field.get_default(call_default_factory=True, validated_data={})
            default = ",".join(str(v) for v in value) if isinstance(value, list) else str(value)
        elif isinstance(field.default, bool):
            default = str(field.default).lower()
        else:
            default = "" if field.default is None else str(field.default)
        rows.append((name.upper(), default, field.description or ""))
    return rows


def secret_values(settings: Settings) -> list[str]:
    """Every secret in the settings, for the log filter (including a password inside REDIS_URL)."""
    values = [
        s.get_secret_value()
        for s in (
            settings.slack_bot_token,
            settings.slack_signing_secret,
            settings.slack_app_token,
            settings.debitura_api_key,
            settings.debitura_webhook_secret,
            settings.debitura_webhook_test_secret,
            settings.slack_client_secret,
            settings.caseroom_secret_key,
        )
        if s is not None
    ]
    try:
        password = urlsplit(settings.redis_url).password
    except ValueError:
        password = None
    if password:
        values.append(password)
    return values

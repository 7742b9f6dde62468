"""Block Kit validation with Slack's limits and Slack's json-pointer messages.

Slack publishes no JSON Schema for Block Kit; the limits here come from docs/slack/PLATFORM.md §3 and
docs/slack/FAKE-SLACK.md. Every function returns a list of messages shaped like Slack's
`response_metadata.messages` (without the `[ERROR] ` prefix the API adds), e.g.
`must be less than 3001 characters [json-pointer:/blocks/0/text/text]`. An empty list means valid.

Unit tests of block builders use `validate_message`/`validate_view` (or the `assert_valid_*`
helpers, which raise `BlockKitError`); the fake Web API uses the same functions, so a builder that
passes here is accepted by the fake, and the fake rejects what Slack rejects.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any, Literal

Surface = Literal["message", "modal", "home"]

MAX_BLOCKS = {"message": 50, "modal": 100, "home": 100}
MAX_MESSAGE_TEXT = 40_000
MAX_MARKDOWN_BLOCK_TOTAL = 12_000
MAX_ID = 255
MAX_VIEW_TITLE = 24
MAX_PRIVATE_METADATA = 3000


class BlockKitError(AssertionError):
    """Raised by the assert_* helpers; `errors` are the json-pointer messages."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("invalid Block Kit:\n  " + "\n  ".join(errors))
        self.errors = errors


def _ptr(pointer: str, *parts: str | int) -> str:
    return "/".join([pointer, *(str(p) for p in parts)]) if parts else pointer


def _msg(text: str, pointer: str) -> str:
    return f"{text} [json-pointer:{pointer or '/'}]"


class _Checker:
    """Collects errors while walking one surface."""

    def __init__(self, surface: Surface) -> None:
        self.surface = surface
        self.errors: list[str] = []
        self.markdown_total = 0
        self.block_ids: set[str] = set()

    def err(self, text: str, pointer: str) -> None:
        self.errors.append(_msg(text, pointer))

    # -- primitives -----------------------------------------------------------------------------

    def obj(self, value: Any, pointer: str) -> bool:
        if not isinstance(value, Mapping):
            self.err("must provide an object", pointer)
            return False
        return True

    def keys(self, value: Mapping[str, Any], allowed: Iterable[str], pointer: str) -> None:
        allowed_set = set(allowed)
        for key in value:
            if key not in allowed_set:
                self.err(f"invalid additional property: {key}", pointer)

    def required(self, value: Mapping[str, Any], key: str, pointer: str) -> bool:
        if key not in value or value[key] is None:
            self.err(f"missing required field: {key}", pointer)
            return False
        return True

    def string(self, value: Any, pointer: str, *, max_len: int | None = None, min_len: int = 0) -> bool:
        if not isinstance(value, str):
            self.err("must be a string", pointer)
            return False
        if max_len is not None and len(value) > max_len:
            self.err(f"must be less than {max_len + 1} characters", pointer)
            return False
        if len(value) < min_len:
            self.err(f"must be more than {min_len - 1} characters", pointer)
            return False
        return True

    def boolean(self, value: Any, pointer: str) -> None:
        if not isinstance(value, bool):
            self.err("must be a boolean", pointer)

    def integer(self, value: Any, pointer: str, *, lo: int, hi: int) -> None:
        if isinstance(value, bool) or not isinstance(value, int):
            self.err("must be an integer", pointer)
        elif value < lo:
            self.err(f"must be at least {lo}", pointer)
        elif value > hi:
            self.err(f"must be at most {hi}", pointer)

    def array(self, value: Any, pointer: str, *, max_items: int, min_items: int = 1) -> list[Any] | None:
        if not isinstance(value, list):
            self.err("must provide an array", pointer)
            return None
        if len(value) > max_items:
            self.err(f"no more than {max_items} items allowed", pointer)
            return None
        if len(value) < min_items:
            self.err(f"must provide at least {min_items} items", pointer)
            return None
        return value

    def enum(self, value: Any, allowed: Iterable[str], pointer: str) -> None:
        if value not in set(allowed):
            self.err("must be a valid enum value", pointer)

    def ident(self, value: Mapping[str, Any], key: str, pointer: str) -> None:
        if key in value:
            self.string(value[key], _ptr(pointer, key), max_len=MAX_ID, min_len=1)

    # -- composition objects ----------------------------------------------------------------------

    def text(
        self,
        value: Any,
        pointer: str,
        *,
        max_len: int = 3000,
        plain_only: bool = False,
        required: bool = True,
    ) -> None:
        if value is None and not required:
            return
        if not self.obj(value, pointer):
            return
        kind = value.get("type")
        if kind not in ("plain_text", "mrkdwn") or (plain_only and kind != "plain_text"):
            self.err("failed to match all allowed schemas", pointer)
            if kind == "mrkdwn" and plain_only:
                self.err("must be a valid enum value", _ptr(pointer, "type"))
            return
        allowed = {"type", "text"} | ({"emoji"} if kind == "plain_text" else {"verbatim"})
        self.keys(value, allowed, pointer)
        if self.required(value, "text", pointer):
            self.string(value["text"], _ptr(pointer, "text"), max_len=max_len, min_len=1)
        for flag in ("emoji", "verbatim"):
            if flag in value and flag in allowed:
                self.boolean(value[flag], _ptr(pointer, flag))

    def confirm(self, value: Any, pointer: str) -> None:
        if not self.obj(value, pointer):
            return
        self.keys(value, {"title", "text", "confirm", "deny", "style"}, pointer)
        for key, limit in (("title", 100), ("confirm", 30), ("deny", 30)):
            if self.required(value, key, pointer):
                self.text(value[key], _ptr(pointer, key), max_len=limit, plain_only=True)
        if self.required(value, "text", pointer):
            self.text(value["text"], _ptr(pointer, "text"), max_len=300)
        if "style" in value:
            self.enum(value["style"], ("primary", "danger"), _ptr(pointer, "style"))

    def option(self, value: Any, pointer: str, *, plain_only: bool = True, allow_url: bool = False) -> None:
        if not self.obj(value, pointer):
            return
        self.keys(value, {"text", "value", "description"} | ({"url"} if allow_url else set()), pointer)
        if self.required(value, "text", pointer):
            self.text(value["text"], _ptr(pointer, "text"), max_len=75, plain_only=plain_only)
        if self.required(value, "value", pointer):
            self.string(value["value"], _ptr(pointer, "value"), max_len=150, min_len=1)
        if "description" in value:
            self.text(value["description"], _ptr(pointer, "description"), max_len=75, plain_only=plain_only)
        if "url" in value and allow_url:
            self.string(value["url"], _ptr(pointer, "url"), max_len=3000, min_len=1)

    def options(
        self, value: Any, pointer: str, *, max_items: int, plain_only: bool = True, allow_url: bool = False
    ) -> list[Any]:
        items = self.array(value, pointer, max_items=max_items)
        for i, item in enumerate(items or []):
            self.option(item, _ptr(pointer, i), plain_only=plain_only, allow_url=allow_url)
        return items or []

    def dispatch_config(self, value: Any, pointer: str) -> None:
        if not self.obj(value, pointer):
            return
        self.keys(value, {"trigger_actions_on"}, pointer)
        triggers = self.array(
            value.get("trigger_actions_on"), _ptr(pointer, "trigger_actions_on"), max_items=2
        )
        for i, t in enumerate(triggers or []):
            self.enum(t, ("on_enter_pressed", "on_character_entered"), _ptr(pointer, "trigger_actions_on", i))

    # -- elements ---------------------------------------------------------------------------------

    def element(self, value: Any, pointer: str, *, context: str) -> None:
        """context: section (accessory), actions, input."""
        if not self.obj(value, pointer):
            return
        kind = value.get("type")
        allowed_in = ELEMENT_CONTEXTS.get(kind) if isinstance(kind, str) else None
        if allowed_in is None:
            self.err(f"unsupported type: {kind}" if kind else "missing required field: type", pointer)
            return
        if context not in allowed_in:
            self.err(f"element type {kind} is not allowed here", _ptr(pointer, "type"))
            return
        if kind in MODAL_ONLY_ELEMENTS and self.surface != "modal":
            self.err(f"element type {kind} is only allowed in modals", _ptr(pointer, "type"))
            return
        handler = getattr(self, "el_" + kind)
        self.ident(value, "action_id", pointer)
        handler(value, pointer)

    def _select_common(self, value: Mapping[str, Any], pointer: str, extra: set[str]) -> None:
        self.keys(value, {"type", "action_id", "placeholder", "confirm", "focus_on_load"} | extra, pointer)
        if "placeholder" in value:
            self.text(value["placeholder"], _ptr(pointer, "placeholder"), max_len=150, plain_only=True)
        if "confirm" in value:
            self.confirm(value["confirm"], _ptr(pointer, "confirm"))
        if "focus_on_load" in value:
            self.boolean(value["focus_on_load"], _ptr(pointer, "focus_on_load"))
        if "max_selected_items" in value:
            self.integer(value["max_selected_items"], _ptr(pointer, "max_selected_items"), lo=1, hi=100)

    def el_button(self, v: Mapping[str, Any], p: str) -> None:
        self.keys(
            v, {"type", "text", "action_id", "url", "value", "style", "confirm", "accessibility_label"}, p
        )
        if self.required(v, "text", p):
            self.text(v["text"], _ptr(p, "text"), max_len=75, plain_only=True)
        if "url" in v:
            self.string(v["url"], _ptr(p, "url"), max_len=3000, min_len=1)
        if "value" in v:
            self.string(v["value"], _ptr(p, "value"), max_len=2000, min_len=1)
        if "style" in v:
            self.enum(v["style"], ("primary", "danger"), _ptr(p, "style"))
        if "confirm" in v:
            self.confirm(v["confirm"], _ptr(p, "confirm"))
        if "accessibility_label" in v:
            self.string(v["accessibility_label"], _ptr(p, "accessibility_label"), max_len=75, min_len=1)

    def _static(self, v: Mapping[str, Any], p: str, *, multi: bool) -> None:
        extra = {"options", "option_groups"} | (
            {"initial_options", "max_selected_items"} if multi else {"initial_option"}
        )
        self._select_common(v, p, extra)
        has_options, has_groups = "options" in v, "option_groups" in v
        if has_options == has_groups:
            self.err("must provide exactly one of options or option_groups", p)
            return
        known: list[Any] = []
        if has_options:
            known = self.options(v["options"], _ptr(p, "options"), max_items=100)
        else:
            groups = self.array(v["option_groups"], _ptr(p, "option_groups"), max_items=100)
            for i, group in enumerate(groups or []):
                gp = _ptr(p, "option_groups", i)
                if not self.obj(group, gp):
                    continue
                self.keys(group, {"label", "options"}, gp)
                if self.required(group, "label", gp):
                    self.text(group["label"], _ptr(gp, "label"), max_len=75, plain_only=True)
                if self.required(group, "options", gp):
                    known += self.options(group["options"], _ptr(gp, "options"), max_items=100)
        self._initial_options(v, p, known, multi=multi)

    def _initial_options(self, v: Mapping[str, Any], p: str, known: list[Any], *, multi: bool) -> None:
        key = "initial_options" if multi else "initial_option"
        if key not in v:
            return
        initial = v[key] if multi else [v[key]]
        if not isinstance(initial, list):
            self.err("must provide an array", _ptr(p, key))
            return
        values = {o.get("value") for o in known if isinstance(o, Mapping)}
        for i, opt in enumerate(initial):
            op = _ptr(p, key, i) if multi else _ptr(p, key)
            if not isinstance(opt, Mapping) or opt.get("value") not in values:
                self.err("must match one of the provided options", op)

    def el_static_select(self, v: Mapping[str, Any], p: str) -> None:
        self._static(v, p, multi=False)

    def el_multi_static_select(self, v: Mapping[str, Any], p: str) -> None:
        self._static(v, p, multi=True)

    def el_external_select(self, v: Mapping[str, Any], p: str) -> None:
        self._select_common(v, p, {"initial_option", "min_query_length"})
        if "initial_option" in v:
            self.option(v["initial_option"], _ptr(p, "initial_option"))
        if "min_query_length" in v:
            self.integer(v["min_query_length"], _ptr(p, "min_query_length"), lo=0, hi=100)

    def el_multi_external_select(self, v: Mapping[str, Any], p: str) -> None:
        self._select_common(v, p, {"initial_options", "min_query_length", "max_selected_items"})

    def el_users_select(self, v: Mapping[str, Any], p: str) -> None:
        self._select_common(v, p, {"initial_user"})

    def el_multi_users_select(self, v: Mapping[str, Any], p: str) -> None:
        self._select_common(v, p, {"initial_users", "max_selected_items"})

    def _conv(self, v: Mapping[str, Any], p: str, initial: str, multi: bool) -> None:
        extra = {initial, "default_to_current_conversation", "filter"}
        if multi:
            extra.add("max_selected_items")
        else:
            extra.add("response_url_enabled")
        self._select_common(v, p, extra)
        if "filter" in v and self.obj(v["filter"], _ptr(p, "filter")):
            self.keys(
                v["filter"],
                {"include", "exclude_external_shared_channels", "exclude_bot_users"},
                _ptr(p, "filter"),
            )

    def el_conversations_select(self, v: Mapping[str, Any], p: str) -> None:
        self._conv(v, p, "initial_conversation", multi=False)

    def el_multi_conversations_select(self, v: Mapping[str, Any], p: str) -> None:
        self._conv(v, p, "initial_conversations", multi=True)

    def el_channels_select(self, v: Mapping[str, Any], p: str) -> None:
        self._select_common(v, p, {"initial_channel", "response_url_enabled"})

    def el_multi_channels_select(self, v: Mapping[str, Any], p: str) -> None:
        self._select_common(v, p, {"initial_channels", "max_selected_items"})

    def el_overflow(self, v: Mapping[str, Any], p: str) -> None:
        self.keys(v, {"type", "action_id", "options", "confirm"}, p)
        if self.required(v, "options", p):
            self.options(v["options"], _ptr(p, "options"), max_items=5, allow_url=True)
        if "confirm" in v:
            self.confirm(v["confirm"], _ptr(p, "confirm"))

    def el_datepicker(self, v: Mapping[str, Any], p: str) -> None:
        self._select_common(v, p, {"initial_date"})
        if "initial_date" in v:
            raw = v["initial_date"]
            ok = isinstance(raw, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw) is not None
            if ok:
                try:
                    date.fromisoformat(raw)
                except ValueError:
                    ok = False
            if not ok:
                self.err(
                    "must match regex pattern ^\\d{4}-\\d{2}-\\d{2}$ and be a valid date",
                    _ptr(p, "initial_date"),
                )

    def el_timepicker(self, v: Mapping[str, Any], p: str) -> None:
        self._select_common(v, p, {"initial_time", "timezone"})
        if "initial_time" in v:
            raw = v["initial_time"]
            if not (isinstance(raw, str) and re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", raw)):
                self.err("must match regex pattern ^([01]\\d|2[0-3]):[0-5]\\d$", _ptr(p, "initial_time"))

    def el_datetimepicker(self, v: Mapping[str, Any], p: str) -> None:
        self.keys(v, {"type", "action_id", "initial_date_time", "confirm", "focus_on_load"}, p)
        if "initial_date_time" in v:
            self.integer(v["initial_date_time"], _ptr(p, "initial_date_time"), lo=0, hi=99_999_999_999)

    def el_plain_text_input(self, v: Mapping[str, Any], p: str) -> None:
        self.keys(
            v,
            {
                "type",
                "action_id",
                "placeholder",
                "initial_value",
                "multiline",
                "min_length",
                "max_length",
                "dispatch_action_config",
                "focus_on_load",
            },
            p,
        )
        if "placeholder" in v:
            self.text(v["placeholder"], _ptr(p, "placeholder"), max_len=150, plain_only=True)
        if "initial_value" in v:
            self.string(v["initial_value"], _ptr(p, "initial_value"), max_len=3000)
        if "multiline" in v:
            self.boolean(v["multiline"], _ptr(p, "multiline"))
        if "min_length" in v:
            self.integer(v["min_length"], _ptr(p, "min_length"), lo=0, hi=3000)
        if "max_length" in v:
            self.integer(v["max_length"], _ptr(p, "max_length"), lo=1, hi=3000)
        lo, hi = v.get("min_length"), v.get("max_length")
        if isinstance(lo, int) and isinstance(hi, int) and lo > hi:
            self.err("min_length must not be greater than max_length", _ptr(p, "min_length"))
        if "dispatch_action_config" in v:
            self.dispatch_config(v["dispatch_action_config"], _ptr(p, "dispatch_action_config"))

    def el_email_text_input(self, v: Mapping[str, Any], p: str) -> None:
        self.keys(
            v,
            {"type", "action_id", "placeholder", "initial_value", "dispatch_action_config", "focus_on_load"},
            p,
        )

    el_url_text_input = el_email_text_input

    def el_rich_text_input(self, v: Mapping[str, Any], p: str) -> None:
        self.keys(
            v,
            {"type", "action_id", "placeholder", "initial_value", "dispatch_action_config", "focus_on_load"},
            p,
        )

    def el_number_input(self, v: Mapping[str, Any], p: str) -> None:
        self.keys(
            v,
            {
                "type",
                "action_id",
                "is_decimal_allowed",
                "initial_value",
                "min_value",
                "max_value",
                "placeholder",
                "dispatch_action_config",
                "focus_on_load",
            },
            p,
        )
        if self.required(v, "is_decimal_allowed", p):
            self.boolean(v["is_decimal_allowed"], _ptr(p, "is_decimal_allowed"))
        decimal_ok = v.get("is_decimal_allowed") is True
        numbers: dict[str, float] = {}
        for key in ("initial_value", "min_value", "max_value"):
            if key not in v:
                continue
            raw = v[key]
            pattern = r"-?\d+(\.\d+)?" if decimal_ok else r"-?\d+"
            if not isinstance(raw, str) or not re.fullmatch(pattern, raw):
                self.err(
                    "must be a string holding a number" + ("" if decimal_ok else " without decimals"),
                    _ptr(p, key),
                )
            else:
                numbers[key] = float(raw)
        if "min_value" in numbers and "max_value" in numbers and numbers["min_value"] > numbers["max_value"]:
            self.err("min_value must not be greater than max_value", _ptr(p, "min_value"))
        if "placeholder" in v:
            self.text(v["placeholder"], _ptr(p, "placeholder"), max_len=150, plain_only=True)

    def _choices(self, v: Mapping[str, Any], p: str, *, multi: bool) -> None:
        initial = "initial_options" if multi else "initial_option"
        self.keys(v, {"type", "action_id", "options", initial, "confirm", "focus_on_load"}, p)
        known: list[Any] = []
        if self.required(v, "options", p):
            known = self.options(v["options"], _ptr(p, "options"), max_items=10, plain_only=False)
        if "confirm" in v:
            self.confirm(v["confirm"], _ptr(p, "confirm"))
        self._initial_options(v, p, known, multi=multi)

    def el_checkboxes(self, v: Mapping[str, Any], p: str) -> None:
        self._choices(v, p, multi=True)

    def el_radio_buttons(self, v: Mapping[str, Any], p: str) -> None:
        self._choices(v, p, multi=False)

    def el_file_input(self, v: Mapping[str, Any], p: str) -> None:
        self.keys(v, {"type", "action_id", "filetypes", "max_files"}, p)
        if "max_files" in v:
            self.integer(v["max_files"], _ptr(p, "max_files"), lo=1, hi=10)
        if "filetypes" in v:
            types = v["filetypes"]
            if not isinstance(types, list) or not all(isinstance(t, str) and t for t in types):
                self.err("must provide an array of strings", _ptr(p, "filetypes"))

    def el_image(self, v: Mapping[str, Any], p: str) -> None:
        self.keys(v, {"type", "image_url", "slack_file", "alt_text"}, p)
        self._image_source(v, p)
        if self.required(v, "alt_text", p):
            self.string(v["alt_text"], _ptr(p, "alt_text"), max_len=2000, min_len=1)

    def _image_source(self, v: Mapping[str, Any], p: str) -> None:
        if ("image_url" in v) == ("slack_file" in v):
            self.err("must provide exactly one of image_url or slack_file", p)
        elif "image_url" in v:
            self.string(v["image_url"], _ptr(p, "image_url"), max_len=3000, min_len=1)

    # -- blocks -----------------------------------------------------------------------------------

    def blocks(self, value: Any, pointer: str) -> None:
        items = self.array(value, pointer, max_items=MAX_BLOCKS[self.surface], min_items=0)
        for i, block in enumerate(items or []):
            self.block(block, _ptr(pointer, i))
        if self.markdown_total > MAX_MARKDOWN_BLOCK_TOTAL:
            self.err(
                f"markdown blocks must total less than {MAX_MARKDOWN_BLOCK_TOTAL + 1} characters", pointer
            )

    def block(self, value: Any, pointer: str) -> None:
        if not self.obj(value, pointer):
            return
        kind = value.get("type")
        if not isinstance(kind, str) or kind not in BLOCK_TYPES:
            self.err(f"unsupported type: {kind}" if kind else "missing required field: type", pointer)
            return
        if "block_id" in value:
            self.ident(value, "block_id", pointer)
            bid = value["block_id"]
            if isinstance(bid, str):
                if bid in self.block_ids:
                    self.err("duplicate block_id", _ptr(pointer, "block_id"))
                self.block_ids.add(bid)
        getattr(self, "block_" + kind)(value, pointer)

    def _action_ids_unique(self, elements: list[Any], pointer: str) -> None:
        seen: set[str] = set()
        for i, el in enumerate(elements):
            if isinstance(el, Mapping) and isinstance(el.get("action_id"), str):
                if el["action_id"] in seen:
                    self.err("duplicate action_id", _ptr(pointer, i, "action_id"))
                seen.add(el["action_id"])

    def block_section(self, v: Mapping[str, Any], p: str) -> None:
        self.keys(v, {"type", "block_id", "text", "fields", "accessory", "expand"}, p)
        if "text" not in v and "fields" not in v:
            self.err("must provide either text or fields", p)
        if "text" in v:
            self.text(v["text"], _ptr(p, "text"), max_len=3000)
        if "fields" in v:
            fields = self.array(v["fields"], _ptr(p, "fields"), max_items=10)
            for i, f in enumerate(fields or []):
                self.text(f, _ptr(p, "fields", i), max_len=2000)
        if "accessory" in v:
            self.element(v["accessory"], _ptr(p, "accessory"), context="section")
        if "expand" in v:
            self.boolean(v["expand"], _ptr(p, "expand"))

    def block_header(self, v: Mapping[str, Any], p: str) -> None:
        self.keys(v, {"type", "block_id", "text"}, p)
        if self.required(v, "text", p):
            self.text(v["text"], _ptr(p, "text"), max_len=150, plain_only=True)

    def block_divider(self, v: Mapping[str, Any], p: str) -> None:
        self.keys(v, {"type", "block_id"}, p)

    def block_context(self, v: Mapping[str, Any], p: str) -> None:
        self.keys(v, {"type", "block_id", "elements"}, p)
        if not self.required(v, "elements", p):
            return
        elements = self.array(v["elements"], _ptr(p, "elements"), max_items=10)
        for i, el in enumerate(elements or []):
            ep = _ptr(p, "elements", i)
            if isinstance(el, Mapping) and el.get("type") == "image":
                self.el_image(el, ep)
            else:
                self.text(el, ep, max_len=3000)

    def block_actions(self, v: Mapping[str, Any], p: str) -> None:
        self.keys(v, {"type", "block_id", "elements"}, p)
        if not self.required(v, "elements", p):
            return
        elements = self.array(v["elements"], _ptr(p, "elements"), max_items=25)
        for i, el in enumerate(elements or []):
            self.element(el, _ptr(p, "elements", i), context="actions")
        self._action_ids_unique(elements or [], _ptr(p, "elements"))

    def block_input(self, v: Mapping[str, Any], p: str) -> None:
        self.keys(v, {"type", "block_id", "label", "element", "hint", "optional", "dispatch_action"}, p)
        if self.required(v, "label", p):
            self.text(v["label"], _ptr(p, "label"), max_len=2000, plain_only=True)
        if self.required(v, "element", p):
            self.element(v["element"], _ptr(p, "element"), context="input")
        if "hint" in v:
            self.text(v["hint"], _ptr(p, "hint"), max_len=2000, plain_only=True)
        for flag in ("optional", "dispatch_action"):
            if flag in v:
                self.boolean(v[flag], _ptr(p, flag))

    def block_image(self, v: Mapping[str, Any], p: str) -> None:
        self.keys(v, {"type", "block_id", "image_url", "slack_file", "alt_text", "title"}, p)
        self._image_source(v, p)
        if self.required(v, "alt_text", p):
            self.string(v["alt_text"], _ptr(p, "alt_text"), max_len=2000, min_len=1)
        if "title" in v:
            self.text(v["title"], _ptr(p, "title"), max_len=2000, plain_only=True)

    def block_markdown(self, v: Mapping[str, Any], p: str) -> None:
        self.keys(v, {"type", "block_id", "text"}, p)
        if self.required(v, "text", p) and self.string(v["text"], _ptr(p, "text"), min_len=1):
            self.markdown_total += len(v["text"])

    def block_rich_text(self, v: Mapping[str, Any], p: str) -> None:
        # Lenient by design: only the envelope is checked, not the rich-text element tree.
        self.keys(v, {"type", "block_id", "elements"}, p)
        if self.required(v, "elements", p):
            self.array(v["elements"], _ptr(p, "elements"), max_items=1000)


BLOCK_TYPES = {
    "section",
    "header",
    "divider",
    "context",
    "actions",
    "input",
    "image",
    "markdown",
    "rich_text",
}

_SELECTS = (
    "static_select",
    "multi_static_select",
    "external_select",
    "multi_external_select",
    "users_select",
    "multi_users_select",
    "conversations_select",
    "multi_conversations_select",
    "channels_select",
    "multi_channels_select",
)
ELEMENT_CONTEXTS: dict[str, frozenset[str]] = {
    **{s: frozenset({"section", "actions", "input"}) for s in _SELECTS},
    "button": frozenset({"section", "actions"}),
    "overflow": frozenset({"section", "actions"}),
    "datepicker": frozenset({"section", "actions", "input"}),
    "timepicker": frozenset({"section", "actions", "input"}),
    "datetimepicker": frozenset({"actions", "input"}),
    "checkboxes": frozenset({"section", "actions", "input"}),
    "radio_buttons": frozenset({"section", "actions", "input"}),
    "image": frozenset({"section"}),
    "plain_text_input": frozenset({"input"}),
    "email_text_input": frozenset({"input"}),
    "url_text_input": frozenset({"input"}),
    "rich_text_input": frozenset({"input"}),
    "number_input": frozenset({"input"}),
    "file_input": frozenset({"input"}),
}
MODAL_ONLY_ELEMENTS = {"number_input", "file_input"}


def validate_blocks(blocks: Any, surface: Surface = "message", pointer: str = "/blocks") -> list[str]:
    """Errors for a list of blocks on `surface` (limits: 50 in messages, 100 in modals/Home)."""
    checker = _Checker(surface)
    checker.blocks(blocks, pointer)
    return checker.errors


def validate_message(message: Mapping[str, Any]) -> list[str]:
    """Errors for a message payload's `blocks` (and `attachments[].blocks`), as chat.postMessage sees them.

    `text`/`blocks` presence (`no_text`) and text truncation are API rules, not Block Kit, and are
    enforced by the fake's chat methods.
    """
    checker = _Checker("message")
    if "blocks" in message and message["blocks"] is not None:
        checker.blocks(message["blocks"], "/blocks")
    attachments = message.get("attachments")
    if attachments is not None:
        items = checker.array(attachments, "/attachments", max_items=100, min_items=0)
        for i, att in enumerate(items or []):
            if checker.obj(att, f"/attachments/{i}") and "blocks" in att:
                checker.blocks(att["blocks"], f"/attachments/{i}/blocks")
    return checker.errors


def _contains_input(blocks: Any) -> bool:
    return isinstance(blocks, list) and any(
        isinstance(b, Mapping) and b.get("type") == "input" for b in blocks
    )


def validate_view(view: Any, pointer: str = "/view") -> list[str]:
    """Errors for a modal or Home tab view, as views.open/push/update/publish see them."""
    probe = _Checker("modal")
    if not probe.obj(view, pointer):
        return probe.errors
    kind = view.get("type")
    if kind not in ("modal", "home"):
        probe.err("must be a valid enum value", _ptr(pointer, "type"))
        return probe.errors
    checker = _Checker("modal" if kind == "modal" else "home")
    allowed = {"type", "blocks", "private_metadata", "callback_id", "external_id"}
    if kind == "modal":
        allowed |= {"title", "submit", "close", "clear_on_close", "notify_on_close", "submit_disabled"}
    else:
        allowed |= {"title"}
    checker.keys(view, allowed, pointer)
    if kind == "modal" and checker.required(view, "title", pointer):
        checker.text(view["title"], _ptr(pointer, "title"), max_len=MAX_VIEW_TITLE, plain_only=True)
    for key in ("submit", "close"):
        if key in view and kind == "modal":
            checker.text(view[key], _ptr(pointer, key), max_len=MAX_VIEW_TITLE, plain_only=True)
    if checker.required(view, "blocks", pointer):
        checker.blocks(view["blocks"], _ptr(pointer, "blocks"))
        if kind == "modal" and _contains_input(view["blocks"]) and "submit" not in view:
            checker.err("must provide a submit property when using input blocks", pointer)
    if "private_metadata" in view:
        checker.string(
            view["private_metadata"], _ptr(pointer, "private_metadata"), max_len=MAX_PRIVATE_METADATA
        )
    for key in ("callback_id", "external_id"):
        if key in view:
            checker.string(view[key], _ptr(pointer, key), max_len=MAX_ID)
    for flag in ("clear_on_close", "notify_on_close", "submit_disabled"):
        if flag in view:
            checker.boolean(view[flag], _ptr(pointer, flag))
    return checker.errors


def assert_valid_message(message: Mapping[str, Any]) -> None:
    """Raise BlockKitError unless Slack would accept the message's blocks."""
    errors = validate_message(message)
    if errors:
        raise BlockKitError(errors)


def assert_valid_view(view: Any) -> None:
    """Raise BlockKitError unless Slack would accept the view."""
    errors = validate_view(view)
    if errors:
        raise BlockKitError(errors)


def assert_valid_blocks(blocks: Any, surface: Surface = "message") -> None:
    errors = validate_blocks(blocks, surface)
    if errors:
        raise BlockKitError(errors)

"""Finding a case from what a person typed.

A ref is one of:
- a Debitura reference: 8 letters or digits (`Q8OAXF3W`), any case assigned to us;
- a case GUID (`3fa85f64-5717-4562-b3fc-2c963f66afa6`);
- `partner:<our reference>` (the collection-partner reference; quote it when it has spaces:
  `partner:"112179442 & 112179443"`). Free text, so only what cannot be sent is refused here:
  blank, over 128 characters, control characters (line breaks, tabs), `.` or `..` alone, and a
  `/` or `\\` together with a comma (bot.debitura.client sends a reference with `/` or `\\` as a
  query parameter, which a comma would split);
- `creditor:<creditor id>:<creditor reference>`;
- nothing, inside a case's channel (the channel's case).

`parse_ref()` is pure and raises `BadInput` with an example; `resolve_case()` calls Debitura.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from blocks.text import esc
from bot.debitura.client import MAX_CREDITOR_REFERENCE, MAX_PARTNER_REFERENCE, path_problem, text_problem
from bot.services.errors import BadInput, NotInCaseChannel

if TYPE_CHECKING:
    from bot.debitura.models import Case
    from bot.runtime import Runtime

REFERENCE_RE = re.compile(r"^[A-Za-z0-9]{8}$")
GUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
MAX_BATCH = 100

REF_HELP = (
    "A case is a Debitura reference (`Q8OAXF3W`), a case id (GUID), `partner:<your reference>` "
    "or `creditor:<creditor id>:<creditor reference>`."
)


class RefKind(StrEnum):
    REFERENCE = "reference"
    GUID = "guid"
    PARTNER = "partner"
    CREDITOR = "creditor"


@dataclass(frozen=True, slots=True)
class CaseQuery:
    kind: RefKind
    value: str
    creditor_id: str | None = None

    def __str__(self) -> str:
        if self.kind is RefKind.PARTNER:
            return f"partner:{self.value}"
        if self.kind is RefKind.CREDITOR:
            return f"creditor:{self.creditor_id}:{self.value}"
        return self.value


def _bad(text: str, why: str) -> BadInput:
    shown = text if len(text) <= 60 else text[:59] + "…"
    return BadInput(f"`{esc(shown)}` is not a case reference: {why}. {REF_HELP}")


def parse_ref(text: str) -> CaseQuery:
    """Parse one ref (already split off the command line). Raises BadInput on anything else."""
    raw = text.strip()
    if not raw:
        raise BadInput(f"No case given. {REF_HELP}")
    lowered = raw.lower()
    if lowered.startswith("partner:"):
        value = _unquote(raw[len("partner:"):].strip())
        if not value:
            raise _bad(raw, "`partner:` needs your reference after it")
        if len(value) > MAX_PARTNER_REFERENCE:
            raise _bad(raw, f"partner references are at most {MAX_PARTNER_REFERENCE} characters")
        why = _partner_problem(value)
        if why:
            raise _bad(raw, why)
        return CaseQuery(RefKind.PARTNER, value)
    if lowered.startswith("creditor:"):
        rest = raw[len("creditor:"):]
        creditor_id, sep, value = rest.partition(":")
        creditor_id = creditor_id.strip()
        value = _unquote(value.strip())
        if not sep or not GUID_RE.match(creditor_id) or not value:
            raise _bad(raw, "write `creditor:<creditor id (GUID)>:<creditor reference>`")
        if len(value) > MAX_CREDITOR_REFERENCE:
            raise _bad(raw, "the creditor reference is too long")
        if text_problem(value, max_length=MAX_CREDITOR_REFERENCE):
            raise _bad(raw, "the creditor reference contains control characters (line breaks, tabs...)")
        return CaseQuery(RefKind.CREDITOR, value, creditor_id=creditor_id.lower())
    if GUID_RE.match(raw):
        return CaseQuery(RefKind.GUID, raw.lower())
    if REFERENCE_RE.match(raw):
        return CaseQuery(RefKind.REFERENCE, raw.upper())
    if ":" in raw:
        raise _bad(raw, "only `partner:` and `creditor:` prefixes exist")
    raise _bad(raw, "Debitura references have 8 letters or digits")


def _partner_problem(value: str) -> str | None:
    """Why our reference `value` cannot be looked up (None when it can), in words for the person."""
    if text_problem(value, max_length=MAX_PARTNER_REFERENCE):
        return "references cannot contain control characters (line breaks, tabs...)"
    if value in (".", ".."):
        return "`.` and `..` cannot be references"
    if path_problem(value) and "," in value:
        return "a reference with `/` or `\\` cannot also contain a comma"
    return None


def _unquote(value: str) -> str:
    if len(value) >= 2 and (value[0], value[-1]) in {('"', '"'), ("'", "'"), ("“", "”")}:
        return value[1:-1].strip()
    return value


def split_ref(text: str) -> tuple[str, str]:
    """Split `<ref> <rest>` where a `partner:"..."` ref may contain spaces inside quotes.

    Returns (ref text, the rest, stripped). The ref is "" when text is empty.
    """
    stripped = text.strip()
    if not stripped:
        return "", ""
    lowered = stripped.lower()
    for prefix in ("partner:", "creditor:"):
        if lowered.startswith(prefix):
            body = stripped[len(prefix):]
            # creditor:<guid>:"quoted ref"
            quote_at = body.find('"') if prefix == "partner:" else _creditor_quote(body)
            if quote_at == 0 or (prefix == "creditor:" and quote_at > 0):
                end = body.find('"', quote_at + 1)
                if end == -1:
                    raise BadInput("A quoted reference has no closing `\"`. Example: `partner:\"INV 1001\"`.")
                return stripped[: len(prefix) + end + 1], stripped[len(prefix) + end + 1:].strip()
    head, _, rest = stripped.partition(" ")
    if "\n" in head:
        head, _, more = head.partition("\n")
        rest = (more + " " + rest).strip()
    return head, rest.strip()


def _creditor_quote(body: str) -> int:
    creditor_id, sep, value = body.partition(":")
    if sep and value.startswith('"'):
        return len(creditor_id) + 1
    return -1


def looks_like_ref(text: str) -> bool:
    """True when `text` parses as a ref (used to tell `/case <ref>` from an unknown subcommand)."""
    try:
        parse_ref(text)
    except BadInput:
        return False
    return True


def parse_refs(text: str) -> list[str]:
    """`/case find a,b,c`: our references, comma or newline separated, de-duplicated, ≤ 100."""
    refs: list[str] = []
    seen: set[str] = set()
    for part in re.split(r"[,\n]", text):
        ref = part.strip()
        if ref and ref not in seen:
            seen.add(ref)
            refs.append(ref)
    if not refs:
        raise BadInput("Give one or more of your references, separated by commas. "
                       "Example: `find INV-1001,INV-1002`.")
    if len(refs) > MAX_BATCH:
        raise BadInput(f"At most {MAX_BATCH} references at a time (you gave {len(refs)}).")
    too_long = [r for r in refs if len(r) > MAX_PARTNER_REFERENCE]
    if too_long:
        raise BadInput(f"References are at most {MAX_PARTNER_REFERENCE} characters.")
    if any(text_problem(r, max_length=MAX_PARTNER_REFERENCE) for r in refs):
        raise BadInput("References cannot contain control characters (tabs...).")
    return refs


async def resolve_case(runtime: Runtime, ref: str | None, *, channel_id: str | None) -> Case:
    """The case `ref` names, or the case of `channel_id` when `ref` is empty.

    Raises BadInput (malformed ref), NotInCaseChannel (no ref outside a case channel) or the
    Debitura client's errors (NotFound...).
    """
    if ref is None or not ref.strip():
        case_id = await case_id_for_channel(runtime, channel_id)
        if case_id is None:
            raise NotInCaseChannel(
                f"Which case? Add a case reference, or use this in a case's channel. {REF_HELP}")
        return await runtime.debitura.get_case(case_id)
    return await fetch_case(runtime, parse_ref(ref), ref=ref)


class HiddenTestCase(BadInput):
    """A Debitura test case, looked up while CASEROOM_INCLUDE_TEST_CASES is off."""


def shown_case(runtime: Runtime, case: Case, ref: str) -> Case:
    """`case`, unless it is a Debitura test case and the agency did not ask for test cases
    (CASEROOM_INCLUDE_TEST_CASES, the `includeTestCases` of listings): then HiddenTestCase."""
    if case.is_test_case and not runtime.settings.caseroom_include_test_cases:
        raise HiddenTestCase(
            f"`{esc(ref.strip()[:60])}` is a Debitura test case. Caseroom shows test cases only when "
            "CASEROOM_INCLUDE_TEST_CASES is on (ask whoever runs Caseroom).")
    return case


async def fetch_case(runtime: Runtime, query: CaseQuery, *, ref: str | None = None) -> Case:
    """The case `query` names, refused like /case when it is a hidden test case (`shown_case`, which
    names `ref`, the reference as typed, or the query)."""
    client = runtime.debitura
    if query.kind is RefKind.GUID:
        case = await client.get_case(query.value)
    elif query.kind is RefKind.REFERENCE:
        case = await client.get_case_by_reference(query.value)
    elif query.kind is RefKind.PARTNER:
        case = await client.get_case_by_partner_reference(query.value)
    else:
        assert query.creditor_id is not None
        case = await client.get_case_by_creditor_reference(query.value, query.creditor_id)
    return shown_case(runtime, case, ref if ref is not None else str(query))


async def case_id_for_channel(runtime: Runtime, channel_id: str | None) -> str | None:
    """The case id whose channel is `channel_id`, if any."""
    if not channel_id:
        return None
    from bot.slack.channels import case_for_channel

    return await case_for_channel(runtime, channel_id)

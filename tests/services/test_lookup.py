from __future__ import annotations

import pytest

from bot.services.errors import BadInput
from bot.services.lookup import CaseQuery, RefKind, looks_like_ref, parse_ref, parse_refs, split_ref

GUID = "3fa85f64-5717-4562-b3fc-2c963f66afa6"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Q8OAXF3W", CaseQuery(RefKind.REFERENCE, "Q8OAXF3W")),
        ("q8oaxf3w", CaseQuery(RefKind.REFERENCE, "Q8OAXF3W")),
        (GUID.upper(), CaseQuery(RefKind.GUID, GUID)),
        ("partner:INV-1001", CaseQuery(RefKind.PARTNER, "INV-1001")),
        ('partner:"112179442 & 112179443"', CaseQuery(RefKind.PARTNER, "112179442 & 112179443")),
        ("PARTNER:abc", CaseQuery(RefKind.PARTNER, "abc")),
        (f"creditor:{GUID}:INV 77", CaseQuery(RefKind.CREDITOR, "INV 77", creditor_id=GUID)),
        (f"creditor:{GUID}:a:b", CaseQuery(RefKind.CREDITOR, "a:b", creditor_id=GUID)),
    ],
)
def test_parse_ref_accepts_every_form(text: str, expected: CaseQuery) -> None:
    assert parse_ref(text) == expected


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("", "No case given"),
        ("Q8OAX", "8 letters or digits"),
        ("Q8OAXF3W9", "8 letters or digits"),
        ("Q8OAXF3!", "8 letters or digits"),
        ("partner:", "needs your reference"),
        ("partner:" + "x" * 129, "at most 128"),
        ("creditor:not-a-guid:ref", "creditor id (GUID)"),
        (f"creditor:{GUID}", "creditor id (GUID)"),
        (f"creditor:{GUID}:", "creditor id (GUID)"),
        ("debtor:someone", "only `partner:` and `creditor:`"),
        ("<!channel>", "8 letters"),
    ],
)
def test_parse_ref_explains_what_is_wrong(text: str, why: str) -> None:
    with pytest.raises(BadInput) as info:
        parse_ref(text)
    assert why in info.value.message
    assert "<!channel>" not in info.value.message


def test_str_of_a_query_is_how_to_type_it() -> None:
    assert str(parse_ref(f"creditor:{GUID}:R1")) == f"creditor:{GUID}:R1"
    assert str(parse_ref("partner:X")) == "partner:X"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", ("", "")),
        ("Q8OAXF3W", ("Q8OAXF3W", "")),
        ("Q8OAXF3W  some note text ", ("Q8OAXF3W", "some note text")),
        ('partner:"A B C" the rest', ('partner:"A B C"', "the rest")),
        (f'creditor:{GUID}:"X Y" rest', (f'creditor:{GUID}:"X Y"', "rest")),
        ("Q8OAXF3W\nline two", ("Q8OAXF3W", "line two")),
    ],
)
def test_split_ref(text: str, expected: tuple[str, str]) -> None:
    assert split_ref(text) == expected


def test_split_ref_refuses_an_unclosed_quote() -> None:
    with pytest.raises(BadInput, match="closing"):
        split_ref('partner:"A B')


def test_looks_like_ref() -> None:
    assert looks_like_ref("Q8OAXF3W") and not looks_like_ref("history")
    # 8-letter subcommands are also valid references; the command parser checks them first.
    assert looks_like_ref("timeline")


def test_parse_refs_splits_dedupes_and_limits() -> None:
    assert parse_refs(" a, b ,a,\nc ,, ") == ["a", "b", "c"]
    with pytest.raises(BadInput, match="one or more"):
        parse_refs(" , ")
    with pytest.raises(BadInput, match="At most 100"):
        parse_refs(",".join(str(i) for i in range(101)))
    with pytest.raises(BadInput, match="128"):
        parse_refs("x" * 129)


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("partner:..", "`.` and `..` cannot be references"),
        ('partner:"."', "`.` and `..` cannot be references"),
        ('partner:"a\tb"', "control characters"),
        ('partner:"a\x00b"', "control characters"),
        ('partner:"INV/1,2"', "cannot also contain a comma"),
        (f"creditor:{GUID}:\"a\tb\"", "control characters"),
    ],
)
def test_parse_ref_refuses_references_that_cannot_be_sent(text: str, why: str) -> None:
    with pytest.raises(BadInput) as info:
        parse_ref(text)
    assert why in info.value.message


@pytest.mark.parametrize("value", ["INV 2026/0042", "A\\B", "..x", "a.b", "x & <y>", "50%"])
def test_parse_ref_keeps_free_text_partner_references(value: str) -> None:
    # The client sends references with '/' or '\' as a query parameter (never as path segments).
    assert parse_ref(f'partner:"{value}"') == CaseQuery(RefKind.PARTNER, value)


def test_parse_refs_refuses_control_characters() -> None:
    with pytest.raises(BadInput, match="control characters"):
        parse_refs("INV-1,INV\t2")

from __future__ import annotations

import pytest

from blocks.metadata import (
    MAX_BUTTON_VALUE,
    MAX_PRIVATE_METADATA,
    CaseRef,
    ListPage,
    MetadataError,
    ModalContext,
    PaymentRef,
)


def test_round_trips() -> None:
    ref = CaseRef(id="3fa85f64-5717-4562-b3fc-2c963f66afa6", ref="Q8OAXF3W", ch="C1")
    assert CaseRef.decode(ref.encode_value()) == ref
    page = ListPage(st=("Active", "Paused"), page=3)
    assert ListPage.decode(page.encode_value()) == page
    pay = PaymentRef(id="c", pid="p", ref="R")
    assert PaymentRef.decode(pay.encode_value()) == pay
    ctx = ModalContext(kind="pay", case=ref, user="U1", cur="EUR", extra={"fee": "20.5"})
    assert ModalContext.decode(ctx.encode_metadata()) == ctx


def test_defaults_are_left_out_to_save_space() -> None:
    assert ListPage().encode_value() == "{}"
    assert ListPage.decode("{}") == ListPage()


@pytest.mark.parametrize("raw", ["", None, "not json", '{"id": ""}', '{"id": "a", "zzz": 1}', "[]"])
def test_decode_refuses_malformed_values(raw: str | None) -> None:
    with pytest.raises(MetadataError):
        CaseRef.decode(raw)


def test_encode_refuses_oversized_values() -> None:
    big = ModalContext(kind="x", extra={str(i): "v" * 90 for i in range(40)})
    with pytest.raises(MetadataError, match="3000"):
        big.encode_metadata()
    mid = ModalContext(kind="x", extra={str(i): "v" * 90 for i in range(25)})
    assert len(mid.encode_metadata()) <= MAX_PRIVATE_METADATA
    with pytest.raises(MetadataError, match="2000"):
        mid.encode_value()


def test_the_largest_real_button_values_fit() -> None:
    statuses = ("PendingVerification", "NeedsAdditionalDetails", "Active", "Paused", "Closed", "Leads",
                "LeadsQuoteGiven", "Merged")
    assert len(ListPage(st=statuses, page=100_000).encode_value()) < MAX_BUTTON_VALUE
    guid = "3fa85f64-5717-4562-b3fc-2c963f66afa6"
    assert len(PaymentRef(id=guid, ref="Q8OAXF3W", pid=guid, ch="C0123456789").encode_value()) < 200

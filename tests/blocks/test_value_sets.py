"""The value sets of the write forms are the client's (bot.debitura.models): one definition, labels here."""

from __future__ import annotations

from blocks import forms, parse
from bot.debitura import client, models


def test_recipients_and_commission_statuses_are_the_clients_enums() -> None:
    assert parse.Recipient is models.PaymentRecipient
    assert parse.CommissionStatus is models.CommissionPaymentStatus
    assert parse.Recipient.CREDITOR is models.PaymentRecipient.Creditor
    assert set(parse.RECIPIENT_LABELS) == set(models.PaymentRecipient)
    assert set(parse.COMMISSION_LABELS) == set(models.CommissionPaymentStatus)


def test_close_codes_are_the_settable_ones_each_with_a_label() -> None:
    assert set(parse.CLOSE_CODES) == {code.value for code in models.SETTABLE_CLOSE_CODES}
    assert set(parse.CLOSE_CODE_LABELS) == set(models.SETTABLE_CLOSE_CODES)


def test_document_types_are_the_uploads_each_with_a_label() -> None:
    assert list(parse.DOCUMENT_TYPES) == [kind.value for kind in models.UploadDocumentType]
    assert set(parse.DOCUMENT_TYPE_LABELS) == set(models.UploadDocumentType)


def test_upload_rules_are_the_clients_check() -> None:
    assert parse.UPLOAD_EXTENSIONS is models.UPLOAD_EXTENSIONS
    assert frozenset(parse.UPLOAD_EXTENSIONS) == client.ALLOWED_UPLOAD_EXTENSIONS
    assert parse.UPLOAD_MAX_BYTES == client.MAX_UPLOAD_BYTES == models.UPLOAD_MAX_BYTES
    assert f"at most {parse.UPLOAD_MAX_MB} MB" in forms.UPLOAD_HINT

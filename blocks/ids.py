"""Every Slack id Caseroom uses: commands, shortcuts, callbacks, actions, blocks.

No string id appears anywhere else; tests check these against the registered listeners and
manifest.yml. Values are stable wire identifiers: rename the member, never the value.
"""

from __future__ import annotations

from enum import StrEnum


class Shortcut(StrEnum):
    """Message and global shortcuts (manifest.yml `features.shortcuts[].callback_id`)."""

    NOTE_FROM_MESSAGE = "case_note_from_message"
    WORKSPACE_SETUP = "caseroom_workspace_setup"


class Callback(StrEnum):
    """Modal `callback_id`s (view_submission / view_closed)."""

    NOTE = "case_note_modal"
    PAYMENT = "case_payment_modal"
    PAYMENT_EDIT = "case_payment_edit_modal"
    PAYMENT_DELETE = "case_payment_delete_modal"
    CHAT = "case_chat_modal"
    UPLOAD = "case_upload_modal"
    CLOSE = "case_close_modal"
    ACTIVATE = "case_activate_modal"
    FEES = "case_fees_modal"
    FEES_CONFIRM = "case_fees_confirm_modal"
    PICK_CASE = "case_pick_modal"
    RESULT = "case_result_modal"
    HOME_SETTINGS = "case_home_settings_modal"
    WORKSPACE_SETUP = "caseroom_workspace_setup_modal"


class Action(StrEnum):
    """Button and select `action_id`s (block_actions)."""

    # case card
    OPEN_NOTE = "case_open_note"
    OPEN_PAYMENT = "case_open_payment"
    OPEN_CHAT = "case_open_chat"
    OPEN_UPLOAD = "case_open_upload"
    OPEN_CLOSE = "case_open_close"
    OPEN_ACTIVATE = "case_open_activate"
    OPEN_FEES = "case_open_fees"
    SHOW_TIMELINE = "case_show_timeline"
    SHOW_PAYMENTS = "case_show_payments"
    SHOW_FILES = "case_show_files"
    SHOW_CARD = "case_show_card"
    FOLLOW = "case_follow"
    SHARE = "case_share"
    # case list
    LIST_PAGE = "case_list_page"
    # payments view
    EDIT_PAYMENT = "case_edit_payment"
    DELETE_PAYMENT = "case_delete_payment"
    # relay messages in case channels
    REPLY = "case_reply"
    NOTE_FROM_RELAY = "case_note_from_relay"
    # the ephemeral offer under a thread reply in a case channel
    THREAD_SEND = "case_thread_send"
    THREAD_EDIT = "case_thread_edit"
    THREAD_SKIP = "case_thread_skip"
    # inputs that dispatch actions inside modals
    PAYMENT_AMOUNT_CHANGED = "case_payment_amount_changed"
    RECIPIENT_CHANGED = "case_payment_recipient_changed"
    # the chats view (`/case chats`) and the debtor-and-claim modal (twoway-read)
    CHATS_PAGE = "case_chats_page"
    SHOW_CHATS = "case_show_chats"
    SHOW_DEBTOR = "case_show_debtor"
    SHARE_CHATS = "case_share_chats"
    # App Home (issue 13)
    HOME_PAGE = "case_home_page"
    HOME_OPEN_CARD = "case_home_open_card"
    HOME_REPLY = "case_home_reply"
    HOME_ACTIVATE = "case_home_activate"
    HOME_FOLLOW = "case_home_follow"
    HOME_MUTE = "case_home_mute"
    HOME_UNMUTE = "case_home_unmute"
    HOME_SETTINGS = "case_home_settings"
    HOME_PAGE_PREVIOUS = "case_home_page_previous"
    HOME_PAGE_NEXT = "case_home_page_next"
    # multi-workspace admin setup (App Home)
    OPEN_WORKSPACE_SETUP = "caseroom_open_workspace_setup"


class Block(StrEnum):
    """`block_id`s of modal inputs (keys of view_submission state and of response_action errors)."""

    NOTE_TEXT = "note_text"
    NOTE_DATE = "note_date"
    NOTE_TIME = "note_time"
    PAY_DATE = "pay_date"
    PAY_AMOUNT = "pay_amount"
    PAY_RECIPIENT = "pay_recipient"
    PAY_COMMISSION = "pay_commission"
    PAY_PAYOUT_CREDITOR = "pay_payout_creditor"
    PAY_PAYOUT_PARTNER = "pay_payout_partner"
    PAY_OPTIONS = "pay_options"
    PAY_REOPEN = "pay_reopen"
    CHAT_TEXT = "chat_text"
    UPLOAD_FILE = "upload_file"
    UPLOAD_TYPE = "upload_type"
    UPLOAD_DESCRIPTION = "upload_description"
    CLOSE_CODE = "close_code"
    CLOSE_COMMENT = "close_comment"
    ACT_WELCOME = "act_welcome"
    ACT_REFERENCE = "act_reference"
    ACT_ASSIGNEE = "act_assignee"
    FEE_PRINCIPAL = "fee_principal"
    FEE_INTEREST = "fee_interest"
    FEE_REMINDER = "fee_reminder"
    FEE_COLLECTION = "fee_collection"
    PICK_CASE = "pick_case"
    NOTE_TEXT_2 = "note_text_2"
    NOTE_TEXT_3 = "note_text_3"
    NOTE_TEXT_4 = "note_text_4"
    PREF_DMS = "pref_dms"
    PREF_REMINDERS = "pref_reminders"
    PREF_OPTIONS = "pref_options"
    PREF_QUIET_START = "pref_quiet_start"
    PREF_QUIET_END = "pref_quiet_end"
    PREF_DIGEST_TIME = "pref_digest_time"
    SETUP_API_KEY = "setup_api_key"
    SETUP_WEBHOOK_SECRET = "setup_webhook_secret"
    SETUP_ADMINS = "setup_admins"
    SETUP_LIFECYCLES = "setup_lifecycles"


class Element(StrEnum):
    """`action_id`s of input elements inside input blocks (read from view state)."""

    VALUE = "value"
    """Every input block holds exactly one element; its action_id is always this."""

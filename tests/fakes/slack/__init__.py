"""A faithful fake Slack for tests: Web API, Socket Mode, Block Kit rules, and a driver that plays
Slack towards the bot. Module map:

    server.py       FakeSlack: the aiohttp server (/api/<method>, upload URLs, response_urls, /link/ ws)
    api/            the Web API methods, one module per area
    workspace.py    in-memory team state (users, channels, messages, views, files, triggers)
    validation.py   Block Kit and view rules (validate_message / validate_view), also for unit tests
    ratelimit.py    method tiers and chat.postMessage per channel, per workspace
    faults.py       injected errors, 429s, 500s and latency
    journal.py      what happened, for assertions, and wait_for
    socket_mode.py  hello, envelopes, acks, redelivery, disconnect
    payloads.py     what Slack sends to apps (commands, interactions, events)
    driver.py       sends those over HTTP (signed) or Socket Mode and returns the Ack
"""

from tests.fakes.slack.driver import Ack, Driver, HttpTransport, SocketTransport, sign
from tests.fakes.slack.errors import SlackError
from tests.fakes.slack.server import FakeSlack
from tests.fakes.slack.validation import (
    BlockKitError,
    assert_valid_message,
    assert_valid_view,
    validate_message,
    validate_view,
)

__all__ = [
    "Ack",
    "BlockKitError",
    "Driver",
    "FakeSlack",
    "HttpTransport",
    "SlackError",
    "SocketTransport",
    "assert_valid_message",
    "assert_valid_view",
    "sign",
    "validate_message",
    "validate_view",
]

from __future__ import annotations

import pytest

from bot.listeners.commands import ParsedCommand, UsageError, parse_command

GUID = "3fa85f64-5717-4562-b3fc-2c963f66afa6"

LIST_EXAMPLE = "list mine lifecycle:Active phase:Legal page 2"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", ParsedCommand("help")),
        ("  help ", ParsedCommand("help")),
        ("HELP", ParsedCommand("help")),
        ("Q8OAXF3W", ParsedCommand("card", "Q8OAXF3W")),
        (GUID, ParsedCommand("card", GUID)),
        ('partner:"A & B"', ParsedCommand("card", 'partner:"A & B"')),
        ("list", ParsedCommand("list")),
        ("list active paused page 3", ParsedCommand("list", statuses=("Active", "Paused"), page=3)),
        ("list More-Info-Required,Closed",
         ParsedCommand("list", statuses=("NeedsAdditionalDetails", "Closed"))),
        ("list page 2 Active", ParsedCommand("list", statuses=("Active",), page=2)),
        ("list mine", ParsedCommand("list", mine=True)),
        ("list MINE lifecycle:Active,paused phase:legal,None page 2",
         ParsedCommand("list", statuses=("Active", "Paused"), page=2, mine=True, phases=("Legal", "none"))),
        ("list phase:Pre-legal phase:prelegal", ParsedCommand("list", phases=("Pre-legal",))),
        ("chats Q8OAXF3W", ParsedCommand("chats", "Q8OAXF3W")),
        ("chats Q8OAXF3W page 3", ParsedCommand("chats", "Q8OAXF3W", page=3)),
        ("chats page 2", ParsedCommand("chats", None, page=2)),
        ("chats", ParsedCommand("chats")),
        ("debtor Q8OAXF3W", ParsedCommand("debtor", "Q8OAXF3W")),
        ("find a,b, c", ParsedCommand("find", refs=("a", "b", "c"))),
        ("timeline Q8OAXF3W", ParsedCommand("timeline", "Q8OAXF3W")),
        ("payments", ParsedCommand("payments")),
        ("Files partner:X", ParsedCommand("files", "partner:X")),
        ("period Q8OAXF3W", ParsedCommand("period", "Q8OAXF3W")),
        ("validation Q8OAXF3W", ParsedCommand("validation", "Q8OAXF3W")),
        ("follow Q8OAXF3W", ParsedCommand("follow", "Q8OAXF3W")),
        ("unfollow", ParsedCommand("unfollow")),
        ("pay Q8OAXF3W", ParsedCommand("pay", "Q8OAXF3W")),
        ("chat", ParsedCommand("chat")),
        ("close Q8OAXF3W", ParsedCommand("close", "Q8OAXF3W")),
        ("activate Q8OAXF3W", ParsedCommand("activate", "Q8OAXF3W")),
        ("fees Q8OAXF3W", ParsedCommand("fees", "Q8OAXF3W")),
        ("upload Q8OAXF3W", ParsedCommand("upload", "Q8OAXF3W")),
        ("note Q8OAXF3W", ParsedCommand("note", "Q8OAXF3W")),
        ("note", ParsedCommand("note")),
        ("note Q8OAXF3W Called <them> & left a message",
         ParsedCommand("note", "Q8OAXF3W", "Called <them> & left a message")),
        ("note called the debtor", ParsedCommand("note", None, "called the debtor")),
        ('note partner:"A B" multi\nline', ParsedCommand("note", 'partner:"A B"', "multi\nline")),
    ],
)
def test_parse_command(text: str, expected: ParsedCommand) -> None:
    assert parse_command(text) == expected


@pytest.mark.parametrize(
    ("text", "problem", "example"),
    [
        ("frobnicate Q8OAXF3W", "Unknown command `frobnicate`", "Q8OAXF3W"),
        ("<!channel>", "Unknown command `&lt;!channel&gt;`", "Q8OAXF3W"),
        ("Q8OAXF3", "not a case reference", "Q8OAXF3W"),
        ("hello", "Unknown command `hello`", "Q8OAXF3W"),
        ("Q8OAXF3WX", "not a case reference", "Q8OAXF3W"),
        ("partner:", "needs your reference", "Q8OAXF3W"),
        ("Q8OAXF3W extra", "takes only the case", "Q8OAXF3W"),
        ("timeline Q8OAX", "not a case reference", "timeline Q8OAXF3W"),
        ("timeline Q8OAXF3W extra words", "takes only a case", "timeline Q8OAXF3W"),
        ("pay partner:\"open", "closing", "pay Q8OAXF3W"),
        ("list Bogus", "`Bogus` is not a case status", LIST_EXAMPLE),
        ("list page", "page number", LIST_EXAMPLE),
        ("list page 0", "page number", LIST_EXAMPLE),
        ("list page x", "page number", LIST_EXAMPLE),
        ("find", "one or more", "find INV-1001,INV-1002"),
        ("list phase:Appeal", "Use: Pre-legal, Legal, Enforcement, none", LIST_EXAMPLE),
        ("list phase:", "`phase:` needs a phase", LIST_EXAMPLE),
        ("list lifecycle:Sleeping", "Use: PendingVerification", LIST_EXAMPLE),
        ("list assignee:me", "Filters: `mine`, `lifecycle:", LIST_EXAMPLE),
        ("chats Q8OAXF3W page", "page number", "chats Q8OAXF3W page 2"),
        ("chats Q8OAXF3W older", "takes a case and `page N`", "chats Q8OAXF3W page 2"),
        ("chats Q8OAX", "not a case reference", "chats Q8OAXF3W page 2"),
    ],
)
def test_malformed_commands_get_a_problem_and_an_example(text: str, problem: str, example: str) -> None:
    with pytest.raises(UsageError) as info:
        parse_command(text)
    assert problem in info.value.message
    assert info.value.example == example


def test_note_text_has_a_limit() -> None:
    with pytest.raises(UsageError, match="10,000"):
        parse_command("note Q8OAXF3W " + "x" * 10_001)

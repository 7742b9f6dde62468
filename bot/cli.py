"""The `caseroom` command: run | check | sandbox | relay | smoke.

Each subcommand parses its own arguments and imports its module lazily, so `caseroom --help` and a
bad configuration answer instantly and without a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from bot import __version__

if TYPE_CHECKING:
    from bot.config import Settings


def _settings_or_exit(**overrides: object) -> Settings:
    # Imported here: `caseroom sandbox` and `--help` never pay for pydantic-settings.
    from bot.config import ConfigError, load_settings

    try:
        return load_settings(**overrides)
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        raise SystemExit(2) from None


def _port(value: str) -> int:
    try:
        port = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a port number") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a port number (0-65535; 0 picks a free one)")
    return port


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="caseroom",
        description="Caseroom: Debitura collection cases in Slack.",
    )
    parser.add_argument("--version", action="version", version=f"caseroom {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = sub.add_parser("run", help="run the Slack bot (and the relay, unless --no-relay)")
    run.add_argument("--mode", choices=["socket", "http"], default=None,
                     help="socket when SLACK_APP_TOKEN is set, http otherwise")
    run.add_argument("--port", type=_port, default=None, help="HTTP port (default CASEROOM_PORT, 3000)")
    run.add_argument("--host", default="0.0.0.0", help="HTTP bind address (default 0.0.0.0)")
    run.add_argument("--no-relay", action="store_true", help="do not run the relay in this process")
    run.add_argument("--demo", action="store_true",
                     help="try Caseroom without a Debitura key: a seeded sandbox runs inside this process "
                          "and every card says 'Demo data' (only Slack's tokens are needed)")

    check = sub.add_parser("check", help="check Slack, Debitura, Redis and the settings; non-zero on failure")
    check.add_argument("--create-webhook", metavar="URL", default=None,
                       help="create the Debitura webhook subscription for URL "
                            "(https://host/debitura/webhooks) and print its secret once")
    check.add_argument("--test-mode", action="store_true",
                       help="with --create-webhook: a test-mode subscription (events of test cases only)")
    check.add_argument("--fix-webhooks", action="store_true",
                       help="re-enable webhook subscriptions Debitura disabled after failed deliveries, "
                            "once their URL answers a signed probe")

    sandbox = sub.add_parser("sandbox", help="serve a local Debitura Collection Partner API sandbox",
                             add_help=False)
    sandbox.add_argument("args", nargs=argparse.REMAINDER)

    smoke = sub.add_parser(
        "smoke", help="prove this installation end to end with a throwaway Debitura test case "
                      "(needs a running Caseroom and a test-mode webhook subscription)")
    smoke.add_argument("--user", default=None,
                       help="Slack user id or email the chat and note are written as (a Debitura team "
                            "member); default: the one id in CASEROOM_ADMIN_USERS")
    smoke.add_argument("--tag", default="caseroom-smoke",
                       help="tag of the test cases (their leftovers are deleted first; "
                            "default caseroom-smoke)")
    smoke.add_argument("--keep", action="store_true",
                       help="leave the test case and its channel for a look (the next run deletes them)")
    smoke.add_argument("--timeout", type=float, default=90.0,
                       help="seconds each wait may take (default 90)")

    relay = sub.add_parser("relay", help="run the relay alone (case channels, chats, timelines)")
    relay.add_argument("--port", type=_port, default=None, help="health/metrics port (default CASEROOM_PORT)")
    relay.add_argument("--host", default="0.0.0.0", help="health/metrics bind address")
    return parser


COMMANDS = ("run", "check", "sandbox", "relay", "smoke")


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if args_list and not args_list[0].startswith("-") and args_list[0] not in COMMANDS:
        print(
            f"caseroom: {args_list[0]!r} is not a command. Commands: {', '.join(COMMANDS)} "
            "(caseroom --help says what each does; caseroom run --help lists run's options).",
            file=sys.stderr,
        )
        return 2
    if args_list[:1] == ["sandbox"]:
        from bot.sandbox.cli import main as sandbox_main

        return sandbox_main(args_list[1:])
    args = parser.parse_args(args_list)
    if args.command is None:
        parser.print_help()
        return 2
    if args.command == "run":
        # --demo: the in-process sandbox stands in for Debitura, so no DEBITURA_API_KEY is needed
        # (bot/demo.py replaces the stand-in below with the sandbox's key).
        settings = _settings_or_exit(debitura_api_key="demo-key", caseroom_demo=True) if args.demo \
            else _settings_or_exit()
        from bot.server import run

        return run(settings, mode=args.mode, host=args.host, port=args.port, relay=not args.no_relay,
                   demo=args.demo)
    if args.command == "relay":
        settings = _settings_or_exit()
        from bot.server import run_relay

        return run_relay(settings, host=args.host, port=args.port)
    if args.command == "check":
        from bot.check import main as check_main

        return check_main(create_webhook=args.create_webhook, webhook_test_mode=args.test_mode,
                          fix_webhooks=args.fix_webhooks)
    if args.command == "smoke":
        from bot.smoke import main as smoke_main

        return smoke_main(user=args.user, tag=args.tag, keep=args.keep, timeout=args.timeout)
    parser.print_help()
    return 2


if __name__ == "__main__":
    sys.exit(main())

"""`txmon`: the terminal dashboard (and, later, sibling commands such as `txmon demo`)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

from txmon_tui import __version__
from txmon_tui.config import DEFAULT_URL, Settings, SettingsError, resolve

NO_TTY_HINT = """\
txmon: the dashboard needs an interactive terminal, but {what} is not a TTY.
  over SSH, ask for one:   ssh -t HOST txmon
  in a script or cron job, query the receiver instead:
    curl -s {url}/api/v1/summary
    curl -s '{url}/api/v1/alerts?state=open'"""

EPILOG = """\
keys: a ack, A ack all, u unack, t test alert, s silence, S silences, p pause, r refresh,
      f or / filter, o sort, enter detail, ? or F1 help, q or ctrl+c quit (docs/dashboard.md)

examples:
  txmon                                    # receiver on http://127.0.0.1:8787
  TXMON_TOKEN=... txmon --url http://monitor.internal:8787
  txmon --url http://a:8787,http://b:8787  # two receivers: follows the one that answers
  txmon --read-only --interval 2           # a wall screen nobody acts from
  ssh -t ops-host txmon                    # over SSH: -t gives it a terminal
"""


def _dashboard_options(parser: argparse.ArgumentParser, *, sub: bool = False) -> None:
    """The dashboard's options; on a subcommand they only override what was given."""
    extra = {"default": argparse.SUPPRESS} if sub else {}
    parser.add_argument(
        "--url",
        metavar="URL[,URL...]",
        help=f"receiver URL, or several of one installation separated by commas: the next is "
        f"used when the one in use stops answering (or $TXMON_URL; default {DEFAULT_URL})",
        **extra,
    )
    parser.add_argument(
        "--token", help="API token (prefer $TXMON_TOKEN: flags show in ps)", **extra
    )
    parser.add_argument(
        "--interval", type=float, metavar="SECONDS", help="refresh interval (default 1.0)", **extra
    )
    parser.add_argument(
        "--stale-after",
        type=float,
        metavar="SECONDS",
        help="call the data stale when the newest record is older (or $TXMON_STALE_AFTER; "
        "default 300)",
        **extra,
    )
    parser.add_argument(
        "--config", metavar="FILE", help="TOML config file (or $TXMON_CONFIG)", **extra
    )
    parser.add_argument("--no-mouse", action="store_true", help="do not capture the mouse", **extra)
    parser.add_argument(
        "--read-only",
        action="store_true",
        help="hide and refuse every action that changes state",
        **extra,
    )


def build_parser() -> argparse.ArgumentParser:
    """The dashboard's options at the top level; subcommands sit beside `dashboard`."""
    parser = argparse.ArgumentParser(
        prog="txmon",
        description="txmon terminal dashboard: live view of a txmon receiver, driven from the "
        "keyboard.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"txmon {__version__}")
    _dashboard_options(parser)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    dashboard = commands.add_parser(
        "dashboard",
        help="the live dashboard (what plain `txmon` runs)",
        description="Run the live dashboard.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _dashboard_options(dashboard, sub=True)
    dashboard.set_defaults(run=run_dashboard)
    from txmon_tui import demo

    demo_parser = commands.add_parser(
        "demo",
        help="receiver + traffic generator + dashboard in one terminal (what `make demo` runs)",
        description=demo.__doc__,
        epilog=demo.EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    demo.add_arguments(demo_parser)
    _dashboard_options(demo_parser, sub=True)
    demo_parser.set_defaults(run=run_demo)
    parser.set_defaults(run=run_dashboard)
    return parser


def settings_from(args: argparse.Namespace) -> Settings:
    """Settings from parsed arguments plus the environment and config file."""
    return resolve(
        url=args.url,
        token=args.token,
        interval=args.interval,
        stale_after=args.stale_after,
        config=args.config,
        no_mouse=args.no_mouse,
        read_only=args.read_only,
    )


def have_terminal() -> str | None:
    """None when stdin and stdout are terminals, else which one is not."""
    for name, stream in (("stdin", sys.stdin), ("stdout", sys.stdout)):
        try:
            if stream is None or not stream.isatty():
                return name
        except (AttributeError, ValueError):
            return name
    return None


def run_dashboard(args: argparse.Namespace) -> int:
    """Check the terminal, then run the app until the user quits."""
    settings = settings_from(args)
    missing = have_terminal()
    if missing is not None or os.environ.get("TERM") == "dumb":
        what = missing or "the terminal (TERM=dumb)"
        print(NO_TTY_HINT.format(what=what, url=settings.urls[0]), file=sys.stderr)
        return 2
    from txmon_tui.app import TxmonApp  # imported late: `txmon --help` stays fast

    app = TxmonApp(settings)
    app.run(mouse=settings.mouse)
    return app.return_code or 0


def run_demo(args: argparse.Namespace) -> int:
    """`txmon demo`: the dashboard part needs a terminal unless --headless."""
    from txmon_tui import demo

    if args.headless is None:
        missing = have_terminal()
        if missing is not None or os.environ.get("TERM") == "dumb":
            print(
                NO_TTY_HINT.format(
                    what=missing or "the terminal (TERM=dumb)", url="http://127.0.0.1:8787"
                ),
                file=sys.stderr,
            )
            print(
                "  or run the demo without the dashboard:  txmon demo --headless 60",
                file=sys.stderr,
            )
            return 2
    try:
        return demo.run(args, settings_from(args))
    except demo.DemoError as exc:
        print(f"txmon demo: {exc}", file=sys.stderr)
        return 1


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `txmon` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    run: Callable[[argparse.Namespace], int] = args.run
    try:
        return run(args)
    except SettingsError as exc:
        print(f"txmon: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())

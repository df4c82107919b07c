"""`txmon-server` command line: serve, init-db (and the tools added by later modules)."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from typing import Any

from server import __version__, store
from server.config import Config, ConfigError, load
from server.config.location import redact

log = logging.getLogger("txmon")

EPILOG_SERVE = """examples:
  txmon-server serve                         # 127.0.0.1:8787, DB under $XDG_DATA_HOME/txmon
  txmon-server serve --db /var/lib/txmon/txmon.db --config /etc/txmon/txmon.toml
  TXMON_TOKEN=$(cat /etc/txmon/token) txmon-server serve --host 0.0.0.0
"""


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="FILE", help="TOML config file (or $TXMON_CONFIG)")
    parser.add_argument("--db", metavar="PATH", help="SQLite database file (or $TXMON_DB)")
    parser.add_argument(
        "--store",
        metavar="URL",
        help="postgresql://USER@HOST:PORT/DB, sqlite:PATH or a path (or $TXMON_STORE); "
        "default: the --db file",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="txmon-server",
        description="txmon receiver: stores per-minute transaction counts in SQLite, "
        "detects anomalies and raises alerts.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="run 'txmon-server COMMAND --help' for each command's options",
    )
    parser.add_argument("--version", action="version", version=f"txmon-server {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True

    serve = commands.add_parser(
        "serve",
        help="run the HTTP receiver",
        description="Run the HTTP receiver until SIGINT/SIGTERM (queued writes are committed "
        "before it exits).",
        epilog=EPILOG_SERVE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    serve.add_argument("--host", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default 8787; 0 picks a free one)")
    _common(serve)
    serve.add_argument(
        "--token",
        help="require 'Authorization: Bearer TOKEN' (prefer $TXMON_TOKEN: flags show in ps)",
    )
    serve.add_argument(
        "--access-log",
        choices=("errors", "all", "off"),
        help="which requests to log as JSON lines on stderr (default errors)",
    )
    serve.set_defaults(run=cmd_serve)

    init = commands.add_parser(
        "init-db",
        help="create or migrate the database and print its path and schema version",
        description="Create the database (or migrate it to this version's schema) and exit.",
        epilog="example:\n  txmon-server init-db --db ./txmon.db\n"
        "  txmon-server init-db --store postgresql://txmon@db.internal:5432/txmon",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _common(init)
    init.set_defaults(run=cmd_init_db)

    _add_tool_commands(commands)
    return parser


def _add_tool_commands(commands: Any) -> None:
    """Commands whose modules carry their own arguments and `run`."""
    from server.tools import backtest, generate, importer, migrate_store

    for name, module, summary, epilog in (
        (
            "migrate-store",
            migrate_store,
            "copy a whole store, SQLite to PostgreSQL or back (receivers stopped)",
            migrate_store.EPILOG,
        ),
        (
            "backtest",
            backtest,
            "replay a CSV through the detector, no server needed",
            getattr(backtest, "EPILOG", None),
        ),
        (
            "import",
            importer,
            "load a CloudWalk-format CSV into a receiver or a DB",
            importer.EPILOG,
        ),
        (
            "generate",
            generate,
            "send realistic traffic with injected incidents to a receiver",
            generate.EPILOG,
        ),
    ):
        sub = commands.add_parser(
            name,
            help=summary,
            description=module.__doc__,
            epilog=epilog,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        module.add_arguments(sub)
        sub.set_defaults(run=module.run)


def setup_logging(level: int = logging.INFO) -> None:
    """Plain lines on stderr; the access log lines are JSON already."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    root = logging.getLogger("txmon")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False


def resolve_config(args: argparse.Namespace, **flags: Any) -> Config:
    flags["db"] = getattr(args, "db", None)
    flags["store"] = getattr(args, "store", None)
    return load(flags=flags, path=getattr(args, "config", None))


def cmd_init_db(args: argparse.Namespace) -> int:
    config = resolve_config(args)
    location = config.location
    conn = store.open_store(location)
    try:
        before, after = store.migrate_from(conn)
    finally:
        conn.close()
    change = "created" if before == 0 else ("migrated" if after != before else "up to date")
    print(f"{location.shown}: schema version {after} ({change})")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from server.api.server import TxmonHTTPServer, is_loopback
    from server.core.receiver import Receiver

    config = resolve_config(
        args, host=args.host, port=args.port, token=args.token, access_log=args.access_log
    )
    if not is_loopback(config.host) and config.token is None:
        raise ConfigError(
            f"refusing to listen on {config.host} without a token: set TXMON_TOKEN "
            "(or [server] token in the config file), or bind 127.0.0.1"
        )
    receiver = Receiver(config)
    try:
        httpd = TxmonHTTPServer(config, receiver)
    except OSError as exc:
        receiver.close()
        raise ConfigError(f"cannot listen on {config.host}:{config.port}: {exc.strerror}") from None
    stop = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        if not stop.is_set():
            stop.set()
            threading.Thread(target=httpd.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    log.info(
        '{"event":"listening","url":"%s","store":"%s","db":"%s","schema":%d,"auth":%s}',
        httpd.url,
        receiver.store_kind,
        config.location.shown.replace('"', '\\"'),
        receiver.schema_version,
        "true" if config.token else "false",
    )
    try:
        httpd.serve_forever(poll_interval=0.25)
    finally:
        httpd.server_close()
        idle = httpd.wait_idle(timeout=10)
        receiver.close()
        log.info('{"event":"stopped","clean":%s}', "true" if idle else "false")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    setup_logging()
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except ConfigError as exc:
        print(f"txmon-server: {exc}", file=sys.stderr)
        return 2
    except (store.StoreError, *store.database_errors()) as exc:
        print(f"txmon-server: database error: {redact(str(exc))}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


__all__ = ["build_parser", "main"]

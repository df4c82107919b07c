"""The `txmon` command line: settings from flags, environment and TOML; no-terminal hint."""

from __future__ import annotations

import os
import pty
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import free_port
from txmon_tui.cli import build_parser, main, settings_from
from txmon_tui.config import DEFAULT_URL, SettingsError, default_user, resolve

REPO = Path(__file__).resolve().parents[2]


def test_defaults() -> None:
    settings = resolve(env={"USER": "ana"})
    assert (settings.url, settings.token, settings.interval) == (DEFAULT_URL, None, 1.0)
    assert settings.mouse and not settings.read_only
    assert settings.user.startswith("ana@")


def test_flags_beat_environment_beat_toml(tmp_path: Path) -> None:
    config = tmp_path / "txmon.toml"
    config.write_text(
        '[server]\nport = 9000\n[dashboard]\nurl = "http://toml:1"\ntoken = "t-toml"\n'
        "interval = 2.5\n"
    )
    env = {"TXMON_CONFIG": str(config)}
    from_toml = resolve(env=env)
    assert (from_toml.url, from_toml.token, from_toml.interval) == ("http://toml:1", "t-toml", 2.5)
    env |= {"TXMON_URL": "http://env:2/", "TXMON_TOKEN": "t-env"}
    from_env = resolve(env=env)
    assert (from_env.url, from_env.token) == ("http://env:2", "t-env")
    flags = resolve(url="http://flag:3", token="t-flag", interval=0.5, env=env)
    assert (flags.url, flags.token, flags.interval) == ("http://flag:3", "t-flag", 0.5)
    assert "t-flag" not in repr(flags)


def test_options_parse_before_or_after_the_dashboard_command() -> None:
    parser = build_parser()
    args = parser.parse_args(["--url", "http://a:1", "--read-only", "--no-mouse"])
    settings = settings_from(args)
    assert settings.url == "http://a:1" and settings.read_only and not settings.mouse
    args = parser.parse_args(["--url", "http://a:1", "dashboard", "--interval", "2"])
    assert (args.url, args.interval, args.command) == ("http://a:1", 2.0, "dashboard")


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        (
            "[dashboard]\nurl = 'http://x:1'\nrefresh = 1\n",
            "unknown key(s) in [dashboard]: refresh",
        ),
        ("[dashboard]\ninterval = 0\n", "interval must be between"),
        ("[dashboard]\nurl = 5\n", "url must be a string"),
        ("[dashboard]\nurl = 'ftp://x'\n", "must start with http"),
        ("[dashboard\n", "not valid TOML"),
    ],
)
def test_bad_config_is_refused_with_a_reason(tmp_path: Path, toml: str, message: str) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(toml)
    with pytest.raises(SettingsError, match=re.escape(message)):
        resolve(config=str(config), env={})


def test_bad_settings_exit_2_with_the_reason(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--interval", "-1"]) == 2
    assert "interval must be between" in capsys.readouterr().err
    assert main(["--config", "/nonexistent/txmon.toml"]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_default_user_is_user_at_host() -> None:
    assert default_user({"USER": "bob"}).startswith("bob@")


def test_without_a_terminal_it_prints_a_hint_not_a_traceback() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "txmon_tui.cli", "--url", "http://127.0.0.1:1"],
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "ssh -t" in done.stderr and "not a TTY" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout


def test_stale_after_comes_from_flag_environment_or_toml(tmp_path: Path) -> None:
    config = tmp_path / "txmon.toml"
    config.write_text("[dashboard]\nstale_after = 120\n")
    assert resolve(env={}).stale_after == 300.0
    assert resolve(env={"TXMON_CONFIG": str(config)}).stale_after == 120.0
    env = {"TXMON_CONFIG": str(config), "TXMON_STALE_AFTER": "600"}
    assert resolve(env=env).stale_after == 600.0
    assert resolve(stale_after=45, env=env).stale_after == 45.0
    args = build_parser().parse_args(["--stale-after", "90"])
    assert settings_from(args).stale_after == 90.0


@pytest.mark.parametrize("value", ["1", "abc", "100000"])
def test_a_bad_stale_after_is_refused_with_the_range(value: str) -> None:
    with pytest.raises(SettingsError, match="stale_after must be"):
        resolve(env={"TXMON_STALE_AFTER": value})


def test_a_terminal_that_hangs_up_without_sighup_ends_the_dashboard() -> None:
    """`make demo` in a closed tmux pane or SSH session: make gets the SIGHUP, not txmon."""
    master, terminal = pty.openpty()
    os.set_blocking(master, False)
    proc = subprocess.Popen(
        [sys.executable, "-m", "txmon_tui.cli", "--url", f"http://127.0.0.1:{free_port()}"],
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
        cwd=REPO,
        start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN),
        env={**os.environ, "TERM": "xterm"},
    )
    os.close(terminal)
    try:
        drawn = b""
        deadline = time.monotonic() + 30
        while b"disconnected" not in drawn and time.monotonic() < deadline:
            if select.select([master], [], [], 0.2)[0]:
                drawn += os.read(master, 65536)
        assert b"disconnected" in drawn  # the dashboard is up and drawing
        os.close(master)  # the terminal goes away; no signal is sent
        assert proc.wait(timeout=10) == 129
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_several_receivers_come_from_flag_environment_or_toml(tmp_path: Path) -> None:
    two = ("http://a:8787", "http://b:8787")
    assert resolve(url="http://a:8787, http://b:8787/", env={}).urls == two
    assert resolve(env={"TXMON_URL": "http://a:8787,http://b:8787"}).urls == two
    config = tmp_path / "txmon.toml"
    config.write_text('[dashboard]\nurl = ["http://a:8787", "http://b:8787"]\n')
    assert resolve(env={"TXMON_CONFIG": str(config)}).urls == two
    config.write_text('[dashboard]\nurl = "http://a:8787,http://b:8787"\n')
    assert resolve(env={"TXMON_CONFIG": str(config)}).urls == two
    one = resolve(url="http://a:8787", env={})
    assert (one.url, one.urls) == ("http://a:8787", ("http://a:8787",))


@pytest.mark.parametrize(
    ("urls", "message"),
    [
        ("http://a:8787,,http://b:8787", "--url: url entry 2 of 3 is empty"),
        ("http://a:8787,", "--url: url entry 2 of 2 is empty"),
        ("http://a:8787,b:8787", "url entry 2 of 2 must start with http:// or https://"),
        ("http://a:8787,http://b:99999", "url entry 2 of 2 'http://b:99999' has an invalid port"),
        ("http://a:port", "url 'http://a:port' has an invalid port"),
        ("http://a:8787,http://:8787", "'http://:8787' has no host"),
        ("http://a:8787,http://a:8787/", "url entry 2 of 2 'http://a:8787' is listed twice"),
        ("http://a:8787 http://b:8787", "contains a space"),
        ("http://[::1", "url 'http://[::1' is not a valid URL (Invalid IPv6 URL)"),
    ],
)
def test_a_bad_receiver_list_exits_2_naming_the_entry(
    capsys: pytest.CaptureFixture[str], urls: str, message: str
) -> None:
    assert main(["--url", urls]) == 2
    err = capsys.readouterr().err
    assert err.startswith("txmon: ") and message in err, err


def test_a_bad_receiver_list_in_the_environment_names_it() -> None:
    with pytest.raises(SettingsError, match=re.escape("TXMON_URL: url entry 1 of 2 must start")):
        resolve(env={"TXMON_URL": "ftp://a,http://b:8787"})


def test_a_bad_receiver_list_is_a_message_not_a_traceback() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "txmon_tui.cli", "--url", "http://127.0.0.1:1,,http://x:2"],
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "url entry 2 of 3 is empty" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout

"""`[notify]` settings: table and environment, validation, secrets, the channel factory, docs."""

from __future__ import annotations

import re

import pytest

from server.config import NotifyConfig
from server.notify.base import Channel
from server.notify.build import build_channels
from server.notify.smtp import EmailChannel
from server.notify.telegram import TelegramChannel
from server.notify.webhook import WebhookChannel
from tests.conftest import REPO

TOKEN = "123456:TEST-token"
PASSWORD = "TEST-smtp-password"
HOOK_SECRET = "TEST-hook-secret"
HOOK_URL = "https://hooks.example.com/services/T0/B0/TESTsecretPATH"

FULL_ENV = {
    "TXMON_TELEGRAM_TOKEN": TOKEN,
    "TXMON_TELEGRAM_CHAT_ID": "42, -1001234",
    "TXMON_SMTP_HOST": "smtp.example.com",
    "TXMON_SMTP_USER": "txmon",
    "TXMON_SMTP_PASSWORD": PASSWORD,
    "TXMON_EMAIL_FROM": "txmon@example.com",
    "TXMON_EMAIL_TO": "a@example.com,b@example.com",
    "TXMON_WEBHOOK_URL": HOOK_URL,
    "TXMON_WEBHOOK_SECRET": HOOK_SECRET,
}


def test_defaults_and_no_channels() -> None:
    config = NotifyConfig.load({}, {})
    assert config == NotifyConfig()
    assert config.repeat_interval == 3600
    assert config.group_wait == 30
    assert config.max_attempts == 30
    assert (config.backoff_base, config.backoff_max) == (2.0, 300.0)
    assert config.notify_severities == ("high",)
    assert config.telegram_api == "https://api.telegram.org"
    assert build_channels(config) == []
    assert config.describe() == []
    assert not config.any_channel


def test_table_values_and_environment_wins() -> None:
    table = {
        "telegram_token": "999:FILE-token",
        "telegram_chat_id": [42, "-100"],
        "telegram_api": "http://127.0.0.1:9999/",
        "smtp_port": 2525,
        "repeat_interval": 600,
        "notify_severities": ["medium", "high"],
    }
    config = NotifyConfig.load(table, {"TXMON_TELEGRAM_TOKEN": TOKEN, "TXMON_SMTP_PORT": "587"})
    assert config.telegram_token == TOKEN
    assert config.telegram_chat_id == ("42", "-100")
    assert config.telegram_api == "http://127.0.0.1:9999"  # trailing slash dropped
    assert config.smtp_port == 587
    assert config.repeat_interval == 600.0
    assert config.notify_severities == ("medium", "high")
    assert config.sources["telegram_token"] == "environment TXMON_TELEGRAM_TOKEN"
    assert config.sources["repeat_interval"] == "[notify] repeat_interval"


def test_empty_environment_variable_means_unset() -> None:
    config = NotifyConfig.load({"webhook_url": HOOK_URL}, {"TXMON_WEBHOOK_URL": ""})
    assert config.webhook_url is None


def test_full_configuration_builds_every_channel() -> None:
    config = NotifyConfig.load({}, FULL_ENV)
    channels = build_channels(config)
    assert [c.name for c in channels] == ["telegram:42", "telegram:-1001234", "email", "webhook"]
    assert all(isinstance(c, Channel) for c in channels)
    assert isinstance(channels[0], TelegramChannel)
    assert isinstance(channels[2], EmailChannel)
    assert channels[2].port == 587 and channels[2].security == "starttls"
    assert channels[2].recipients == ["a@example.com", "b@example.com"]
    assert isinstance(channels[3], WebhookChannel)
    assert [c.min_interval for c in channels] == [1.0, 3.0, 0.0, 0.0]


@pytest.mark.parametrize(("security", "port"), [("starttls", 587), ("ssl", 465), ("none", 25)])
def test_smtp_port_defaults_by_security(security: str, port: int) -> None:
    config = NotifyConfig.load({}, {**FULL_ENV, "TXMON_SMTP_SECURITY": security.upper()})
    assert config.effective_smtp_port == port


def test_secrets_never_show() -> None:
    config = NotifyConfig.load({}, FULL_ENV)
    shown = repr(config) + str(config) + repr(config.describe()) + repr(build_channels(config))
    for secret in (TOKEN, PASSWORD, HOOK_SECRET, "TESTsecretPATH"):
        assert secret not in shown
    assert "***" in repr(config)


def test_describe_gives_non_secret_details() -> None:
    described = NotifyConfig.load({}, FULL_ENV).describe()
    assert described == [
        {"name": "telegram:42", "type": "telegram", "chat_id": "42", "api": "api.telegram.org"},
        {
            "name": "telegram:-1001234",
            "type": "telegram",
            "chat_id": "-1001234",
            "api": "api.telegram.org",
        },
        {
            "name": "email",
            "type": "email",
            "server": "smtp.example.com:587",
            "security": "starttls",
            "login": True,
            "from": "txmon@example.com",
            "to": ["a@example.com", "b@example.com"],
        },
        {"name": "webhook", "type": "webhook", "host": "hooks.example.com", "signed": True},
    ]


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"TXMON_TELEGRAM_TOKEN": TOKEN}, "telegram_chat_id is missing"),
        ({"TXMON_TELEGRAM_CHAT_ID": "42"}, "telegram_token is missing"),
        ({"TXMON_SMTP_HOST": "smtp.example.com"}, "email_from, email_to missing"),
        (
            {"TXMON_EMAIL_TO": "a@example.com", "TXMON_EMAIL_FROM": "t@example.com"},
            "smtp_host missing",
        ),
        ({"TXMON_WEBHOOK_SECRET": HOOK_SECRET}, "webhook_url is missing"),
        ({**FULL_ENV, "TXMON_SMTP_USER": ""}, "smtp_password is set but smtp_user is missing"),
        ({**FULL_ENV, "TXMON_TELEGRAM_CHAT_ID": "42,42"}, "same chat twice"),
        ({**FULL_ENV, "TXMON_TELEGRAM_CHAT_ID": "my chat"}, "not a number or @channelname"),
        ({**FULL_ENV, "TXMON_EMAIL_TO": "nobody"}, "'nobody' is not an email address"),
        ({"TXMON_BACKOFF_MAX": "1"}, "backoff_max must be at least backoff_base"),
        ({"TXMON_MAX_ATTEMPTS": "0"}, "max_attempts must be at least 1"),
        ({"TXMON_MAX_ATTEMPTS": "5000"}, "max_attempts must be at most 1000"),
        ({"TXMON_GROUP_WAIT": "30000"}, "group_wait must be at most 600"),
        ({"TXMON_SMTP_TIMEOUT": "900"}, "smtp_timeout must be at most 300"),
        ({"TXMON_BACKOFF_MAX": "86400"}, "backoff_max must be at most 3600"),
        ({"TXMON_NOTIFY_SEVERITIES": "high,urgent"}, "'urgent' is not one of"),
    ],
)
def test_incomplete_or_bad_settings_say_what_is_wrong(env: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        NotifyConfig.load({}, env)


def test_build_channels_refuses_an_incomplete_config_built_by_hand() -> None:
    with pytest.raises(ValueError, match="telegram_chat_id is missing"):
        build_channels(NotifyConfig(telegram_token=TOKEN))


@pytest.mark.parametrize(
    ("table", "env", "key"),
    [
        ({"telegram_tokn": "x"}, {}, "telegram_tokn"),
        ({"smtp_port": "587"}, {}, "smtp_port"),
        ({"smtp_port": True}, {}, "smtp_port"),
        ({}, {"TXMON_SMTP_PORT": "five"}, "smtp_port"),
        ({}, {"TXMON_GROUP_WAIT": "nan"}, "group_wait"),
        ({"smtp_security": "tls"}, {}, "smtp_security"),
        ({"webhook_url": "hooks.example.com/x"}, {}, "webhook_url"),
        ({"webhook_url": "http://[::1/x"}, {}, "webhook_url"),
        ({"telegram_api": "http://127.0.0.1:99999"}, {}, "telegram_api"),
        ({"telegram_token": 123}, {}, "telegram_token"),
        ({"email_to": {"a": 1}}, {}, "email_to"),
        ({}, {"TXMON_MAX_ATTEMPTS": "2.5"}, "max_attempts"),
    ],
)
def test_unknown_keys_and_bad_values_name_the_key(
    table: dict[str, object], env: dict[str, str], key: str
) -> None:
    with pytest.raises(ValueError, match=key):
        NotifyConfig.load(table, env)


@pytest.mark.parametrize(
    ("env", "secret"),
    [
        ({"TXMON_TELEGRAM_TOKEN": "123:has space-TESTSECRET"}, "TESTSECRET"),
        ({"TXMON_TELEGRAM_TOKEN": "not/a/token-TESTSECRET", "TXMON_TELEGRAM_CHAT_ID": "1"}, "TEST"),
        ({"TXMON_WEBHOOK_URL": "ftp://TESTSECRET@host/x"}, "TESTSECRET"),
    ],
)
def test_errors_never_echo_a_secret(env: dict[str, str], secret: str) -> None:
    with pytest.raises(ValueError) as caught:
        NotifyConfig.load({}, env)
    assert secret not in str(caught.value)


def test_settings_doc_covers_every_field() -> None:
    rows = NotifyConfig.settings_doc()
    keys = [row[0] for row in rows]
    assert keys == [f for f in NotifyConfig.__dataclass_fields__ if f != "sources"]
    assert all(env == "TXMON_" + key.upper() for key, env, _d, _m in rows)
    assert dict((r[0], r[2]) for r in rows)["repeat_interval"] == "3600"


def test_docs_table_lists_every_setting() -> None:
    text = (REPO / "docs" / "alerts.md").read_text()
    missing = [
        key
        for key, env, default, _meaning in NotifyConfig.settings_doc()
        if not re.search(rf"\| `{key}` \| `{env}` \| `?{re.escape(default)}`? \|", text)
    ]
    assert missing == []

"""The only module that names every channel: builds them from the `[notify]` settings."""

from __future__ import annotations

from server.config import NotifyConfig
from server.notify.base import Channel
from server.notify.smtp import EmailChannel
from server.notify.telegram import TelegramChannel
from server.notify.webhook import WebhookChannel


def build_channels(config: NotifyConfig) -> list[Channel]:
    """One channel per Telegram chat, one email channel, one webhook; ValueError if incomplete."""
    config.validate()
    channels: list[Channel] = []
    if config.telegram_token:
        for chat in config.telegram_chat_id:
            channels.append(
                TelegramChannel(
                    config.telegram_token, chat, config.telegram_api, config.telegram_timeout
                )
            )
    if config.smtp_host and config.email_from and config.email_to:
        channels.append(
            EmailChannel(
                config.smtp_host,
                config.effective_smtp_port,
                config.smtp_user,
                config.smtp_password,
                config.smtp_security,
                config.email_from,
                list(config.email_to),
                config.smtp_timeout,
            )
        )
    if config.webhook_url:
        channels.append(
            WebhookChannel(config.webhook_url, config.webhook_secret, config.webhook_timeout)
        )
    return channels

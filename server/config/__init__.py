"""The receiver's settings: flags > `TXMON_*` > TOML > defaults (docs/configuration.md)."""

from server.config.receiver import SETTINGS, Config, ConfigError, Setting, default_db_path, load

__all__ = ["SETTINGS", "Config", "ConfigError", "Setting", "default_db_path", "load"]

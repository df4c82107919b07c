"""The receiver's settings: flags > `TXMON_*` > TOML > defaults (docs/configuration.md).

`receiver.py` declares the `[server]` and `[store]` settings, `notify.py` the `[notify]`
ones; the `[detect]` table is handed to `server.detect.stats` as it is.
"""

from server.config.notify import NotifyConfig
from server.config.receiver import SETTINGS, Config, Setting, default_db_path, load
from server.errors import ConfigError

__all__ = [
    "SETTINGS",
    "Config",
    "ConfigError",
    "NotifyConfig",
    "Setting",
    "default_db_path",
    "load",
]

"""Settings of one gateway pod, read once from the environment.

Holds: the frozen settings dataclasses (`settings`), `load_settings(environ)` with its
one-line errors (`load`, `errors`), the archiver's settings (`archive`), and `Secret`,
whose `repr` hides it. The only reader of `os.environ`. May import: the standard library.
"""

from config.errors import SettingsError
from config.load import load_settings
from config.secret import Secret
from config.settings import (
    AdapterRouting,
    AuthSettings,
    ConsumerSettings,
    QueueSettings,
    RecoverySettings,
    RedisSettings,
    Role,
    ServerSettings,
    Settings,
    ThrottleRule,
)

__all__ = [
    "AdapterRouting",
    "AuthSettings",
    "ConsumerSettings",
    "QueueSettings",
    "RecoverySettings",
    "RedisSettings",
    "Role",
    "Secret",
    "ServerSettings",
    "Settings",
    "SettingsError",
    "ThrottleRule",
    "load_settings",
]

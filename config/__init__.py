"""Settings of one gateway pod, read once from the environment."""

from config.errors import SettingsError
from config.load import load_settings
from config.secret import Secret
from config.settings import (
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

"""The archiver's settings: defaults, one error naming the variable, the password hidden."""

import pytest

from config import SettingsError
from config.archive import ArchiveSettings, DatabaseSettings, load_archive_settings
from config.secret import Secret
from config.settings import RedisSettings

URL = "postgresql://archiver@db.internal:5432/audit"


def test_defaults_are_the_documented_ones() -> None:
    settings = load_archive_settings({"ARCHIVE_DATABASE_URL": URL})
    assert settings == ArchiveSettings(database=DatabaseSettings(URL))
    assert settings.queues == ("critical-events", "general-events")
    assert settings.prefix == "bull"
    assert (settings.interval_seconds, settings.min_age_seconds, settings.batch) == (60, 300, 1000)
    assert settings.redis == RedisSettings()
    assert settings.hold_after_commit_lock is None
    assert settings.apply_migrations is True


def test_the_gateway_settings_it_shares_are_read_the_gateway_way() -> None:
    settings = load_archive_settings({
        "ARCHIVE_DATABASE_URL": URL,
        "GATEWAY_QUEUES": "a=1,b=2",
        "QUEUE_PREFIX": "{app-main}",
        "REDIS_URL": "redis://cache:6380/2",
        "REDIS_PASSWORD": "redis-pw",
        "ARCHIVE_INTERVAL_SECONDS": "15",
        "ARCHIVE_MIN_AGE_SECONDS": "0",
        "ARCHIVE_BATCH": "250",
        "ARCHIVE_METRICS_PORT": "0",
        "ARCHIVE_APPLY_MIGRATIONS": "false",
        "LOG_LEVEL": "debug",
    })
    assert settings.queues == ("a", "b")
    assert settings.prefix == "{app-main}"
    assert settings.redis.url == "redis://cache:6380/2"
    assert settings.redis.password == Secret("redis-pw")
    assert (settings.interval_seconds, settings.min_age_seconds) == (15, 0)
    assert (settings.batch, settings.metrics_port) == (250, 0)
    assert settings.apply_migrations is False
    assert settings.log_level == "DEBUG"


def test_the_password_comes_from_the_environment_and_never_shows() -> None:
    settings = load_archive_settings(
        {"ARCHIVE_DATABASE_URL": URL, "ARCHIVE_DATABASE_PASSWORD": "s3cr3t-pw"}
    )
    assert settings.database.password is not None
    assert settings.database.password.reveal() == "s3cr3t-pw"
    assert "s3cr3t-pw" not in repr(settings)
    assert "s3cr3t-pw" not in str(settings)


def test_a_password_in_the_url_is_moved_out_of_it() -> None:
    settings = load_archive_settings(
        {"ARCHIVE_DATABASE_URL": "postgresql://archiver:p%40ss%3Aword@db:5433/audit?sslmode=require"}
    )
    assert settings.database.url == "postgresql://archiver@db:5433/audit?sslmode=require"
    assert settings.database.password == Secret("p@ss:word")
    assert "p@ss" not in repr(settings) and "p%40ss" not in repr(settings)


@pytest.mark.parametrize(
    ("environ", "variable", "problem"),
    [
        ({}, "ARCHIVE_DATABASE_URL", "required"),
        ({"ARCHIVE_DATABASE_URL": "mysql://db/audit"}, "ARCHIVE_DATABASE_URL", "postgresql://"),
        ({"ARCHIVE_DATABASE_URL": "postgresql:///audit"}, "ARCHIVE_DATABASE_URL", "host"),
        ({"ARCHIVE_DATABASE_URL": "postgresql://db"}, "ARCHIVE_DATABASE_URL", "database name"),
        ({"ARCHIVE_DATABASE_URL": "postgresql://db:99999/a"}, "ARCHIVE_DATABASE_URL", "port"),
        ({"ARCHIVE_DATABASE_URL": "postgresql://db/a?sslmode=maybe"}, "ARCHIVE_DATABASE_URL",
         "sslmode"),
        ({"ARCHIVE_DATABASE_URL": "postgresql://db/a?password=x"}, "ARCHIVE_DATABASE_URL",
         "ARCHIVE_DATABASE_PASSWORD"),
        ({"ARCHIVE_DATABASE_URL": "postgresql://u:x@db/a", "ARCHIVE_DATABASE_PASSWORD": "y"},
         "ARCHIVE_DATABASE_PASSWORD", "once"),
        ({"ARCHIVE_BATCH": "0"}, "ARCHIVE_BATCH", "positive integer"),
        ({"ARCHIVE_BATCH": "100001"}, "ARCHIVE_BATCH", "at most"),
        ({"ARCHIVE_INTERVAL_SECONDS": "0"}, "ARCHIVE_INTERVAL_SECONDS", "positive"),
        ({"ARCHIVE_MIN_AGE_SECONDS": "-1"}, "ARCHIVE_MIN_AGE_SECONDS", "positive"),
        ({"ARCHIVE_METRICS_PORT": "70000"}, "ARCHIVE_METRICS_PORT", "port"),
        ({"ARCHIVE_APPLY_MIGRATIONS": "perhaps"}, "ARCHIVE_APPLY_MIGRATIONS", "true or false"),
        ({"ARCHIVE_HOLD_AFTER_COMMIT_LOCK": "x"}, "ARCHIVE_HOLD_AFTER_COMMIT_LOCK", "integer"),
        ({"GATEWAY_QUEUES": "bad queue"}, "GATEWAY_QUEUES", "queue=concurrency"),
        ({"QUEUE_PREFIX": "a:b"}, "QUEUE_PREFIX", "':'"),
        ({"REDIS_CLUSTER_NODES": "rc:6379", "QUEUE_PREFIX": "{app}"}, "REDIS_CLUSTER_NODES",
         "Redis Cluster"),
    ],
)
def test_a_bad_setting_names_its_variable(
    environ: dict[str, str], variable: str, problem: str
) -> None:
    environ = {"ARCHIVE_DATABASE_URL": URL, **environ} if environ else {}
    with pytest.raises(SettingsError) as raised:
        load_archive_settings(environ)
    assert raised.value.variable == variable
    assert problem in raised.value.problem
    assert "\n" not in str(raised.value)

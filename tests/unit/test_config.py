import pytest

from config import AdapterRouting, QueueSettings, Secret, SettingsError, ThrottleRule, load_settings

BASE = {"JWT_SECRET": "s" * 40}
TAG = {"QUEUE_PREFIX": "{app-main}"}


def test_defaults_match_the_contract() -> None:
    settings = load_settings(BASE)
    assert settings.redis.url == "redis://127.0.0.1:6379/0"
    assert settings.redis.sentinel_master == "mymaster"
    assert (settings.server.host, settings.server.port) == ("0.0.0.0", 8080)
    assert settings.server.namespaces == ("/data_owner",)
    assert settings.consumers.queues == (
        QueueSettings("critical-events", 32),
        QueueSettings("general-events", 8),
    )
    assert settings.consumers.prefix == "bull"
    assert settings.throttle_rules == (ThrottleRule("records:updated", 5.0),)
    assert settings.auth.algorithms == ("HS256",)
    assert (settings.auth.user_claim, settings.auth.department_claim) == ("sub", "department")
    assert settings.server.cors_allowed_origins == ()
    assert settings.consumers.max_payload_bytes == 16384
    assert settings.server.drain_seconds == 25
    assert settings.server.websocket_compression is False


def test_lists_are_parsed() -> None:
    settings = load_settings(
        {
            **BASE,
            "GATEWAY_QUEUES": "a=1, b=20",
            "GATEWAY_NAMESPACES": "/one,/two",
            "THROTTLE_RULES": "records:updated=2.5,x=1",
            "REDIS_SENTINELS": "10.0.0.1:26379,s2:26380",
            "CORS_ALLOWED_ORIGINS": "https://app.example.com",
            "QUEUE_PREFIX": "{app-main}",
        }
    )
    assert settings.consumers.queues == (QueueSettings("a", 1), QueueSettings("b", 20))
    assert settings.server.namespaces == ("/one", "/two")
    assert settings.throttle_rules == (ThrottleRule("records:updated", 2.5), ThrottleRule("x", 1))
    assert settings.redis.sentinels == (("10.0.0.1", 26379), ("s2", 26380))
    assert settings.server.cors_allowed_origins == ("https://app.example.com",)
    assert settings.consumers.prefix == "{app-main}"


def test_empty_throttle_rules_means_none() -> None:
    assert load_settings({**BASE, "THROTTLE_RULES": ""}).throttle_rules == ()


def test_secrets_never_show_in_repr() -> None:
    settings = load_settings({**BASE, "REDIS_PASSWORD": "hunter2"})
    assert "hunter2" not in repr(settings) and "s" * 40 not in repr(settings)
    assert settings.redis.password == Secret("hunter2")


def test_sentinels_use_the_redis_password_unless_told_otherwise() -> None:
    same = load_settings({**BASE, "REDIS_PASSWORD": "pw"}).redis
    assert same.password_for_sentinels == Secret("pw")
    own = load_settings({**BASE, "REDIS_PASSWORD": "pw", "REDIS_SENTINEL_PASSWORD": "s"}).redis
    assert own.password_for_sentinels == Secret("s")
    # Set but empty: the Sentinels are open while the master has a password.
    open_sentinels = load_settings(
        {**BASE, "REDIS_PASSWORD": "pw", "REDIS_SENTINEL_PASSWORD": ""}
    ).redis
    assert open_sentinels.password_for_sentinels is None
    assert open_sentinels.password == Secret("pw")


def test_client_limits_can_be_set_and_the_cap_switched_off() -> None:
    server = load_settings(
        {
            **BASE,
            "GATEWAY_MAX_CONNECTIONS": "0",
            "GATEWAY_CLIENT_MESSAGE_RATE": "2.5",
            "GATEWAY_CLIENT_MESSAGE_BURST": "7",
            "GATEWAY_HANDSHAKE_TIMEOUT": "3",
        }
    ).server
    assert (server.max_connections, server.client_message_rate) == (0, 2.5)
    assert (server.client_message_burst, server.handshake_timeout_seconds) == (7, 3.0)


def test_noeviction_is_only_required_when_asked() -> None:
    assert load_settings(BASE).redis.require_noeviction is False
    assert load_settings({**BASE, "REDIS_REQUIRE_NOEVICTION": "true"}).redis.require_noeviction


@pytest.mark.parametrize(
    ("environ", "variable"),
    [
        ({}, "JWT_SECRET"),
        ({**BASE, "GATEWAY_QUEUES": "a=1,a=2"}, "GATEWAY_QUEUES"),
        ({**BASE, "GATEWAY_QUEUES": "a=0"}, "GATEWAY_QUEUES"),
        ({**BASE, "GATEWAY_NAMESPACES": "/ok,bad"}, "GATEWAY_NAMESPACES"),
        ({**BASE, "JWT_ALGORITHMS": "HS256,None"}, "JWT_ALGORITHMS"),
        ({**BASE, "JWT_PUBLIC_KEY": "/no/such/file.pem"}, "JWT_PUBLIC_KEY"),
        ({**BASE, "CORS_ALLOWED_ORIGINS": "example.com"}, "CORS_ALLOWED_ORIGINS"),
        ({**BASE, "GATEWAY_PORT": "70000"}, "GATEWAY_PORT"),
        ({**BASE, "QUEUE_PREFIX": "a:b"}, "QUEUE_PREFIX"),
        ({**BASE, "THROTTLE_RULES": "a=0"}, "THROTTLE_RULES"),
        ({**BASE, "GATEWAY_WEBSOCKET_COMPRESSION": "maybe"}, "GATEWAY_WEBSOCKET_COMPRESSION"),
        ({**BASE, "REDIS_REQUIRE_NOEVICTION": "sure"}, "REDIS_REQUIRE_NOEVICTION"),
        ({**BASE, "GATEWAY_MAX_CONNECTIONS": "-1"}, "GATEWAY_MAX_CONNECTIONS"),
        ({**BASE, "GATEWAY_CLIENT_MESSAGE_RATE": "0"}, "GATEWAY_CLIENT_MESSAGE_RATE"),
        ({**BASE, "GATEWAY_HANDSHAKE_TIMEOUT": "soon"}, "GATEWAY_HANDSHAKE_TIMEOUT"),
        ({**BASE, "REDIS_CLUSTER_NODES": "127.0.0.1:7000"}, "QUEUE_PREFIX"),
        ({**BASE, "REDIS_CLUSTER_NODES": "h:1", "QUEUE_PREFIX": "{}app"}, "QUEUE_PREFIX"),
        (
            {**BASE, "REDIS_CLUSTER_NODES": "h:1", **TAG, "REDIS_SENTINELS": "h:2"},
            "REDIS_SENTINELS",
        ),
        ({**BASE, "REDIS_CLUSTER_NODES": "h:1", **TAG, "REDIS_URL": "redis://h:2"}, "REDIS_URL"),
        ({**BASE, "REDIS_CLUSTER_NODES": "h"}, "REDIS_CLUSTER_NODES"),
        ({**BASE, "GATEWAY_ADAPTER_ROUTING": "fanout"}, "GATEWAY_ADAPTER_ROUTING"),
        ({**BASE, "GATEWAY_ADAPTER_ROUTING": "room", "REDIS_URL": "unix:///run/redis.sock"},
         "GATEWAY_ADAPTER_ROUTING"),
        ({**BASE, "GATEWAY_ADAPTER_ROUTING": "room", "REDIS_URL": "rediss://r:6380/0"},
         "GATEWAY_ADAPTER_ROUTING"),
    ],
)
def test_bad_settings_name_their_variable(environ: dict[str, str], variable: str) -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings(environ)
    assert raised.value.variable == variable
    assert str(raised.value).startswith(f"{variable}: ")
    assert "\n" not in str(raised.value)


def test_a_cluster_routes_by_room_unless_told_and_one_redis_by_one_channel() -> None:
    cluster = {**BASE, **TAG, "REDIS_CLUSTER_NODES": "10.0.0.1:7000,[::1]:7001"}
    settings = load_settings(cluster)
    assert settings.redis.cluster_nodes == (("10.0.0.1", 7000), ("::1", 7001))
    assert settings.redis.routing is AdapterRouting.ROOM
    told = load_settings({**cluster, "GATEWAY_ADAPTER_ROUTING": "channel"})
    assert told.redis.routing is AdapterRouting.CHANNEL
    assert load_settings(BASE).redis.routing is AdapterRouting.CHANNEL
    assert load_settings({**BASE, "GATEWAY_ADAPTER_ROUTING": "ROOM"}).redis.routing is (
        AdapterRouting.ROOM
    )
    # The tag may sit anywhere in the prefix; Redis hashes the first non-empty one.
    assert load_settings({**cluster, "QUEUE_PREFIX": "app{main}"}).consumers.prefix == "app{main}"

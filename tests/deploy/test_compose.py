"""The local HA compose file and the recommended redis.conf: consistent with the settings
and accepted by a real redis-server."""

import re
from pathlib import Path
from typing import Any

from tests.deploy.paths import ROOT, load_yaml
from tests.deploy.test_chart_settings import names_in_config_source
from tests.support.redis_proc import RedisProcess

COMPOSE = ROOT / "deploy" / "docker-compose.ha.yml"
REDIS_CONF = ROOT / "deploy" / "redis" / "redis.conf"


def services() -> dict[str, Any]:
    compose = load_yaml(COMPOSE)
    assert isinstance(compose, dict)
    found = compose["services"]
    assert isinstance(found, dict)
    return found


def test_compose_has_a_master_two_replicas_three_sentinels_and_gateways() -> None:
    found = services()
    replicas = [name for name, spec in found.items() if "--replicaof redis-master" in
                str(spec.get("command", ""))]
    sentinels = [name for name, spec in found.items() if "--sentinel" in str(spec.get("command"))]
    gateways = [name for name in found if name.startswith("gateway")]
    assert "redis-master" in found
    assert len(replicas) == 2 and len(sentinels) == 3 and len(gateways) >= 2


def test_gateway_settings_are_ones_config_reads_and_name_the_sentinels() -> None:
    found = services()
    known = names_in_config_source()
    sentinel_command = str(found["sentinel-1"]["command"])
    monitored = re.search(r"sentinel monitor (\S+) redis-master 6379 2", sentinel_command)
    assert monitored is not None
    for name in (name for name in found if name.startswith("gateway")):
        environment = found[name]["environment"]
        assert set(environment) <= known, set(environment) - known
        sentinels = environment["REDIS_SENTINELS"].split(",")
        assert sorted(sentinels) == sorted(
            f"{service}:26379" for service in found if service.startswith("sentinel-")
        )
        assert environment["REDIS_SENTINEL_MASTER"] == monitored.group(1)
        # Secrets come from the caller's environment, never from the file.
        assert environment["JWT_SECRET"].startswith("${JWT_SECRET")
        assert environment["REDIS_PASSWORD"].startswith("${REDIS_PASSWORD")


def test_the_recommended_redis_conf_runs_and_never_evicts(tmp_path: Path) -> None:
    redis = RedisProcess(tmp_path, config=REDIS_CONF)
    redis.extra = (
        "--port", str(redis.port), "--bind", "127.0.0.1", "--dir", str(tmp_path),
        "--logfile", str(tmp_path / "redis.log"),
    )
    redis.start()
    try:
        with redis.client() as client:
            config = client.config_get("*")
    finally:
        redis.stop()
    assert config["maxmemory-policy"] == "noeviction"
    assert config["appendonly"] == "yes" and config["appendfsync"] == "everysec"
    assert config["save"], "RDB snapshots are part of the recommendation"

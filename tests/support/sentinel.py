"""A Sentinel-managed master set on loopback: one master, replicas and Sentinels, each a
private `redis-server` process (`--sentinel` mode where `redis-sentinel` is absent)."""

import time
from pathlib import Path

import redis

from tests.support.ports import free_port
from tests.support.redis_proc import RedisProcess

MASTER_SET = "mymaster"


class SentinelCluster:
    def __init__(
        self, directory: Path, replicas: int = 2, sentinels: int = 3, password: str = "pw"
    ) -> None:
        self.directory = directory
        self.password = password
        auth = ("--requirepass", password, "--masterauth", password)
        self.master = RedisProcess(directory / "master", *auth)
        self.replicas = [
            RedisProcess(
                directory / f"replica-{n}", *auth, "--replicaof", "127.0.0.1",
                str(self.master.port),
            )
            for n in range(replicas)
        ]
        self.sentinel_ports = [free_port() for _ in range(sentinels)]
        self.sentinels: list[RedisProcess] = []

    @property
    def servers(self) -> list[RedisProcess]:
        return [self.master, *self.replicas]

    @property
    def sentinels_setting(self) -> str:
        """The value of `REDIS_SENTINELS`."""
        return ",".join(f"127.0.0.1:{port}" for port in self.sentinel_ports)

    def start(self) -> "SentinelCluster":
        for server in self.servers:
            server.start()
        for n, port in enumerate(self.sentinel_ports):
            directory = self.directory / f"sentinel-{n}"
            directory.mkdir(parents=True, exist_ok=True)
            conf = directory / "sentinel.conf"
            conf.write_text(
                f"port {port}\n"
                "bind 127.0.0.1\n"
                f"dir {directory}\n"
                f"logfile {directory / 'redis.log'}\n"
                f"requirepass {self.password}\n"
                f"sentinel monitor {MASTER_SET} 127.0.0.1 {self.master.port} 2\n"
                f"sentinel auth-pass {MASTER_SET} {self.password}\n"
                f"sentinel down-after-milliseconds {MASTER_SET} 1000\n"
                f"sentinel failover-timeout {MASTER_SET} 5000\n"
                f"sentinel parallel-syncs {MASTER_SET} 2\n"
                # Named up front: otherwise Sentinels learn replicas from INFO every 10 s.
                + "".join(
                    f"sentinel known-replica {MASTER_SET} 127.0.0.1 {replica.port}\n"
                    for replica in self.replicas
                )
            )
            sentinel = RedisProcess(directory, port=port, config=conf, sentinel=True)
            self.sentinels.append(sentinel.start())
        self.wait_replicas_online(len(self.replicas))
        return self

    def client(self, port: int) -> "redis.Redis":
        return redis.Redis(port=port, password=self.password, decode_responses=True)

    def master_port(self) -> int:
        """The master the Sentinels agree on now (asks the first one that answers)."""
        for port in self.sentinel_ports:
            try:
                with self.client(port) as sentinel:
                    host_port = sentinel.execute_command(
                        "SENTINEL", "GET-MASTER-ADDR-BY-NAME", MASTER_SET
                    )
                    return int(host_port[1])
            except redis.exceptions.RedisError:
                continue
        raise RuntimeError("no Sentinel answers")

    def wait_replicas_online(self, count: int, timeout: float = 20.0) -> None:
        """Until the master has `count` replicas online and every Sentinel knows them."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                if self._replicas_known(count):
                    return
            except redis.exceptions.RedisError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"replication not set up: {self.master.log_tail()}")
            time.sleep(0.05)  # polling external state, bounded by the deadline

    def _replicas_known(self, count: int) -> bool:
        with self.client(self.master_port()) as master:
            info = master.info("replication")
            online = [
                value for key, value in info.items()
                if key.startswith("slave") and isinstance(value, dict)
                and value.get("state") == "online"
            ]
            if len(online) < count:
                return False
        for port in self.sentinel_ports:
            with self.client(port) as sentinel:
                known = sentinel.execute_command("SENTINEL", "REPLICAS", MASTER_SET)
                if len(known) < count:
                    return False
        return True

    def wait_failover(self, old_port: int, timeout: float = 30.0) -> int:
        """Until the Sentinels name a new master; returns its port."""
        deadline = time.monotonic() + timeout
        while True:
            port = self.master_port()
            if port != old_port:
                with self.client(port) as master:
                    if master.info("replication")["role"] == "master":
                        return port
            if time.monotonic() > deadline:
                raise TimeoutError("no failover")
            time.sleep(0.05)  # polling external state, bounded by the deadline

    def server(self, port: int) -> RedisProcess:
        return next(server for server in self.servers if server.port == port)

    def stop(self) -> None:
        for process in [*self.sentinels, *self.servers]:
            process.stop()

"""A real Redis Cluster on loopback: `masters` masters with one replica each, every node a
private `redis-server --cluster-enabled yes` on free ports, joined by
`redis-cli --cluster create --cluster-replicas 1 --cluster-yes`, started and stopped by PID.

Ready means every node says `cluster_state:ok`, agrees on who serves each slot, and every
replica's link to its master is up (polled, bounded by a deadline; no fixed sleep). With
`cluster-node-timeout` at 1 s a SIGKILLed master's replica is promoted in about 2 s.
"""

import subprocess
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import redis
from redis.crc import key_slot

from tests.support.ports import free_port
from tests.support.redis_proc import RedisProcess

REDIS_CLI = "redis-cli"
HASH_SLOTS = 16384


def _free_ports(count: int) -> list[int]:
    """Distinct free ports (a node needs two: clients and the cluster bus)."""
    ports: set[int] = set()
    while len(ports) < count:
        ports.add(free_port())
    return sorted(ports)


@dataclass(frozen=True)
class Shard:
    """One master and its replicas as the cluster sees them now."""

    master: int
    replicas: tuple[int, ...]
    slots: tuple[tuple[int, int], ...]

    def holds(self, slot: int) -> bool:
        return any(start <= slot <= end for start, end in self.slots)


class RedisCluster:
    def __init__(
        self,
        directory: Path,
        masters: int = 3,
        node_timeout_ms: int = 1000,
        password: str | None = None,
    ) -> None:
        self.directory = directory
        self.password = password
        ports = _free_ports(masters * 4)
        auth = ("--requirepass", password, "--masterauth", password) if password else ()
        self.nodes = [
            RedisProcess(
                directory / f"node-{port}",
                "--cluster-enabled", "yes",
                "--cluster-config-file", "nodes.conf",
                "--cluster-port", str(bus),
                "--cluster-node-timeout", str(node_timeout_ms),
                # A replica takes over however far behind it is (tests kill masters at will).
                "--cluster-replica-validity-factor", "0",
                # A replica syncs at once (the default waits 5 s for more replicas).
                "--repl-diskless-sync-delay", "0",
                *auth,
                port=port,
            )
            for port, bus in zip(ports[0::2], ports[1::2], strict=True)
        ]

    @property
    def ports(self) -> list[int]:
        return [node.port for node in self.nodes]

    @property
    def startup_nodes(self) -> str:
        """The value of `REDIS_CLUSTER_NODES`: every node, `host:port,...`."""
        return ",".join(f"127.0.0.1:{port}" for port in self.ports)

    def start(self, timeout: float = 20.0) -> "RedisCluster":
        for node in self.nodes:
            node.start()
        command = [
            REDIS_CLI, "--cluster", "create",
            *(f"127.0.0.1:{port}" for port in self.ports),
            "--cluster-replicas", "1", "--cluster-yes",
        ]
        if self.password:
            command += ["-a", self.password, "--no-auth-warning"]
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        if result.returncode != 0:
            self.stop()
            raise RuntimeError(f"redis-cli --cluster create failed: {result.stdout[-2000:]}")
        self.wait_ok(timeout)
        return self

    def client(self, port: int) -> "redis.Redis":
        return redis.Redis(
            port=port, password=self.password, decode_responses=True, socket_timeout=2
        )

    def living(self) -> list[RedisProcess]:
        return [
            node for node in self.nodes
            if node.process is not None and node.process.poll() is None
        ]

    def node(self, port: int) -> RedisProcess:
        return next(node for node in self.nodes if node.port == port)

    def shards(self, port: int | None = None) -> list[Shard]:
        """The shards as one living node (the first, unless named) sees them: CLUSTER SHARDS."""
        asked = port if port is not None else self.living()[0].port
        with self.client(asked) as client:
            reply = client.execute_command("CLUSTER", "SHARDS")
        shards = []
        for entry in reply:
            info = _pairs(entry)
            slots = info["slots"]
            nodes = [_pairs(node) for node in info["nodes"]]
            master = [n["port"] for n in nodes if n["role"] == "master" and n["health"] == "online"]
            if not master or not slots:
                continue
            shards.append(Shard(
                int(master[0]),
                tuple(int(n["port"]) for n in nodes if n["role"] == "replica"),
                tuple((int(slots[i]), int(slots[i + 1])) for i in range(0, len(slots), 2)),
            ))
        return sorted(shards, key=lambda shard: shard.slots)

    def masters(self) -> list[int]:
        return [shard.master for shard in self.shards()]

    def master_of(self, key: str | bytes) -> int:
        """The port of the master serving `key`'s (or a channel's) slot."""
        slot = key_slot(key.encode() if isinstance(key, str) else key)
        return next(shard.master for shard in self.shards() if shard.holds(slot))

    def wait_ok(self, timeout: float = 20.0) -> None:
        """Until every living node says `cluster_state:ok`, all agree on the masters of the
        16384 slots, and every replica's link is up."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                if self._settled():
                    return
            except (redis.exceptions.RedisError, OSError):
                pass  # a node still starting, or one that just died
            if time.monotonic() > deadline:
                raise TimeoutError(f"cluster not ok: {self._states()}")
            time.sleep(0.05)  # polling external state, bounded by the deadline

    def _settled(self) -> bool:
        views = []
        for node in self.living():
            with self.client(node.port) as client:
                if client.cluster("info")["cluster_state"] != "ok":
                    return False
                if client.info("replication")["role"] == "slave":
                    if client.info("replication").get("master_link_status") != "up":
                        return False
            views.append([(shard.master, shard.slots) for shard in self.shards(node.port)])
        if any(view != views[0] for view in views):
            return False
        covered = sum(end - start + 1 for _, slots in views[0] for start, end in slots)
        return covered == HASH_SLOTS

    def _states(self) -> dict[int, str]:
        states = {}
        for node in self.living():
            try:
                with self.client(node.port) as client:
                    states[node.port] = client.cluster("info")["cluster_state"]
            except (redis.exceptions.RedisError, OSError) as error:
                states[node.port] = repr(error)
        return states

    def kill(self, port: int) -> None:
        """SIGKILL one node (by its PID)."""
        self.node(port).kill()

    def replicas_of(self, master: int) -> list[int]:
        return list(self._replicas_of(master))

    def _replicas_of(self, master: int) -> Iterable[int]:
        for node in self.living():
            with self.client(node.port) as client:
                info = client.info("replication")
            if info["role"] == "slave" and int(info["master_port"]) == master:
                yield node.port

    def kill_master(self, port: int, timeout: float = 20.0) -> int:
        """SIGKILL master `port` and wait for its replica's promotion; the new master."""
        replicas = list(self._replicas_of(port))
        if not replicas:
            raise RuntimeError(f"{port} has no replica to promote")
        self.kill(port)
        return self.wait_promotion(port, replicas, timeout)

    def wait_promotion(self, old: int, replicas: list[int], timeout: float = 20.0) -> int:
        """Until one of `replicas` (those of the dead master `old`) serves its slots and the
        living nodes agree on it all (`wait_ok`'s conditions); its port."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                promoted = [shard.master for shard in self.shards() if shard.master in replicas]
                if promoted and self._settled():
                    return promoted[0]
            except (redis.exceptions.RedisError, OSError):
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"no replica of {old} promoted: {self._states()}")
            time.sleep(0.05)  # polling external state, bounded by the deadline

    def restart(self, port: int, timeout: float = 20.0) -> None:
        """Start a killed node again (it rejoins from its nodes.conf, as a replica if it
        was failed over) and wait until the cluster is settled."""
        self.node(port).start()
        self.wait_ok(timeout)

    def node_id(self, port: int) -> str:
        with self.client(port) as client:
            return str(client.execute_command("CLUSTER", "MYID"))

    def move_slot(self, slot: int, to_port: int, timeout: float = 20.0) -> None:
        """Migrate one slot, with its keys, to master `to_port` (as `redis-cli --cluster
        reshard` does: IMPORTING, MIGRATING, MIGRATE each key, SETSLOT NODE everywhere)."""
        source = next(shard.master for shard in self.shards() if shard.holds(slot))
        if source == to_port:
            return
        source_id, target_id = self.node_id(source), self.node_id(to_port)
        with self.client(to_port) as target, self.client(source) as origin:
            target.execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING", source_id)
            origin.execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING", target_id)
            while keys := origin.execute_command("CLUSTER", "GETKEYSINSLOT", slot, 100):
                auth = ["AUTH", self.password] if self.password else []
                origin.execute_command(
                    "MIGRATE", "127.0.0.1", to_port, "", 0, 5000, *auth, "KEYS", *keys
                )
            target.execute_command("CLUSTER", "SETSLOT", slot, "NODE", target_id)
            origin.execute_command("CLUSTER", "SETSLOT", slot, "NODE", target_id)
        for port in self.masters():
            if port not in (source, to_port):
                with self.client(port) as other:
                    other.execute_command("CLUSTER", "SETSLOT", slot, "NODE", target_id)
        self.wait_ok(timeout)

    def flushall(self) -> None:
        for port in self.masters():
            with self.client(port) as client:
                client.flushall()

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()


def _pairs(flat: list[object] | dict[str, object]) -> dict[str, object]:
    """CLUSTER SHARDS answers flat [name, value, ...] lists (RESP2)."""
    if isinstance(flat, dict):
        return flat
    return {str(flat[i]): flat[i + 1] for i in range(0, len(flat), 2)}

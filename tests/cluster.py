"""A throwaway local Redis Cluster (3 masters, no replicas) on free loopback ports."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time

import redis
from redis.cluster import ClusterNode, RedisCluster

from core.infra.embedded import RedisDidNotStart, launch_redis
from tests.support.redis_server import redis_cli_binary


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def cluster_ports(n: int) -> list[int]:
    """n ports whose cluster bus ports (+10000) are free as well."""
    ports: list[int] = []
    while len(ports) < n:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            p = s.getsockname()[1]
        if p + 10000 < 65536 and p not in ports and _port_free(p + 10000):
            ports.append(p)
    return ports


class RedisClusterProcess:
    """Three cluster-enabled redis-servers in a temp dir, joined by `redis-cli --cluster create`."""

    def __init__(self, masters: int = 3) -> None:
        self.masters = masters
        self.ports: list[int] = []
        self.dir = tempfile.mkdtemp(prefix="th-redis-cluster-")
        self.procs: list[subprocess.Popen[bytes]] = []

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.ports[0]}/0"

    @property
    def startup_nodes(self) -> list[ClusterNode]:
        return [ClusterNode("127.0.0.1", p) for p in self.ports]

    def client(self, **kw: object) -> RedisCluster:
        return RedisCluster(startup_nodes=self.startup_nodes, **kw)  # type: ignore[arg-type]

    def start(self, timeout: float = 20.0) -> RedisClusterProcess:
        for _attempt in range(3):  # a port taken between the check and the bind: try others
            self.ports = cluster_ports(self.masters)
            try:
                self._start(timeout)
                return self
            except _PortLost:
                self.kill()
        raise RuntimeError("could not start a Redis Cluster")

    def _start(self, timeout: float) -> None:
        deadline = time.time() + timeout
        for p in self.ports:
            options = {"port": str(p), "bind": "127.0.0.1", "dir": self.dir, "cluster-enabled": "yes",
                       "cluster-config-file": f"nodes-{p}.conf", "cluster-node-timeout": "2000",
                       "appendonly": "no", "save": ""}
            try:
                proc = launch_redis(options, redis.Redis(port=p, socket_timeout=0.2),
                                    timeout_s=max(0.1, deadline - time.time()))
            except RedisDidNotStart as e:
                if e.exited:
                    raise _PortLost(p) from e
                raise RuntimeError(f"redis-server on {p} did not start") from e
            assert proc is not None
            self.procs.append(proc)
        subprocess.run(
            [redis_cli_binary(), "--cluster", "create", *(f"127.0.0.1:{p}" for p in self.ports),
             "--cluster-replicas", "0", "--cluster-yes"],
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=timeout,
        )
        while not self.healthy():
            if time.time() > deadline:
                raise RuntimeError("Redis Cluster did not reach cluster_state:ok")
            time.sleep(0.05)

    def healthy(self) -> bool:
        """cluster_state:ok and every master known, as seen from each node."""
        for p in self.ports:
            try:
                info = redis.Redis(port=p, socket_timeout=0.5).cluster("INFO")
            except redis.RedisError:
                return False
            if info.get("cluster_state") != "ok" or int(info.get("cluster_known_nodes", 0)) != self.masters:
                return False
        return True

    def kill(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(5)
        self.procs = []

    def __enter__(self) -> RedisClusterProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


class _PortLost(RuntimeError):
    pass

"""A Ray cluster of several nodes on this machine, started the way real nodes are started.

Each node is its own `ray start --block` process (a head, then workers joining it with
`--address 127.0.0.1:PORT`), with its own raylet, object store, agents, temp dir, ports
and `--num-cpus` share: what a real multi-machine cluster runs on each machine (KubeRay
runs exactly `ray start --block` in each pod), minus the network between them.
`ray.cluster_utils.Cluster` would start the same daemons, but from inside a Ray session of
the test process, which the driver under test (`--ray ADDRESS`) must not share.

`--block` keeps each node's daemons children of a process we own: they are descendants of
the test process (where tests/timing.py's noise probe looks), and the node goes away with
that process (a SIGTERM handler stops its daemons; Ray's reaper kills their process group
if it dies; PR_SET_PDEATHSIG ends it if the test process itself is killed). `ray stop`
is never used: it stops every Ray process on the machine, other people's too.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from agentload.replay.distributed.connect import LOCAL_SYSTEM_CONFIG

__all__ = ["LocalCluster", "RayNode", "local_cluster", "ray_cli"]

NODE_START_TIMEOUT_S = 150.0  # `ray start` on a busy 2-core host: 10-40 s seen
STOP_TIMEOUT_S = 20.0
OBJECT_STORE_BYTES = 100 * 1024 * 1024
STARTED = "Ray runtime started."
PR_SET_PDEATHSIG = 1
WORKER_PORTS = 200  # per node: actor and task worker processes listen on these


def ray_cli() -> str:
    """The `ray` script of this interpreter's environment."""
    return str(Path(sys.executable).with_name("ray"))


@dataclass
class RayNode:
    name: str
    proc: subprocess.Popen[bytes]
    temp_dir: Path
    log: Path
    manager_port: int
    node_id: str = ""  # Ray's hex node id, once the node registered with the head

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def processes(self, title: bytes) -> list[int]:
        """Pids of this node's processes (descendants of its `ray start`) whose command
        line starts with `title`: Ray retitles a worker `ray::ClassName` as it becomes
        that actor."""
        children: dict[int, list[int]] = {}
        for name in filter(str.isdigit, os.listdir("/proc")):
            with contextlib.suppress(OSError, IndexError, ValueError):
                stat = Path(f"/proc/{name}/stat").read_text()
                children.setdefault(int(stat.rsplit(")", 1)[1].split()[1]), []).append(int(name))
        found, todo = [], [self.proc.pid]
        while todo:
            pid = todo.pop()
            with contextlib.suppress(OSError):
                if Path(f"/proc/{pid}/cmdline").read_bytes().startswith(title):
                    found.append(pid)
            todo += children.get(pid, [])
        return found


@dataclass
class LocalCluster:
    address: str  # "127.0.0.1:PORT", what `--ray` and `ray start --address` take
    nodes: list[RayNode]

    def node_name(self, node_id: str) -> str:
        return next(n.name for n in self.nodes if n.node_id == node_id)


def _free_ports(count: int) -> list[int]:
    """Ports free now (bound together, so distinct); a race with other processes is
    possible but rare, and shows as a node failing to start."""
    socks = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _worker_port_range(used: set[int]) -> tuple[int, int]:
    """A block of WORKER_PORTS consecutive ports that are free now and meet no port given
    out before: between Ray's default worker range (10002-19999, which other Ray instances
    on the machine use) and Linux's ephemeral ports (from 32768, where `_free_ports`
    finds the rest)."""
    for start in range(20000, 32768 - WORKER_PORTS, WORKER_PORTS):
        block = range(start, start + WORKER_PORTS)
        if any(port in used for port in block):
            continue
        with contextlib.ExitStack() as stack:
            try:
                for port in block[::20]:  # a sample suffices
                    s = stack.enter_context(socket.socket())
                    s.bind(("127.0.0.1", port))
            except OSError:
                continue
        used.update(block)
        return block[0], block[-1]
    raise RuntimeError("no free port range for Ray workers")


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when the test process dies, however it dies."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _node_args(cpus: int, temp_dir: Path, used: set[int]) -> tuple[list[str], int]:
    """`ray start` options of one node and its node manager's port (which names it)."""
    ports = _free_ports(6)
    used.update(ports)
    low, high = _worker_port_range(used)
    names = (
        "--node-manager-port",
        "--object-manager-port",
        "--dashboard-agent-listen-port",
        "--dashboard-agent-grpc-port",
        "--runtime-env-agent-port",
        "--metrics-export-port",
    )
    args = [arg for pair in zip(names, map(str, ports), strict=True) for arg in pair]
    options = [
        "--block",
        "--node-ip-address=127.0.0.1",
        f"--num-cpus={cpus}",
        f"--object-store-memory={OBJECT_STORE_BYTES}",
        f"--temp-dir={temp_dir}",
        f"--min-worker-port={low}",
        f"--max-worker-port={high}",
        "--disable-usage-stats",
        "--log-style=record",
        *args,
    ]
    return options, ports[0]


def cluster_env() -> dict[str, str]:
    """The environment of this cluster's nodes and of every driver started against it.

    Token authentication off, said on both sides: `ray.init(address="local")` (the other
    distributed tests' fixture, in this same process) sets RAY_AUTH_MODE=token in our
    environment and writes ~/.ray/auth_token, and Ray 2.60's daemons turn token auth on
    when that file exists; a driver and a cluster that disagree fail as "InvalidAuthToken"
    or as actors that die while being placed."""
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    return env | {"RAY_AUTH_MODE": "disabled"}


def _start_node(name: str, args: tuple[list[str], int], root: Path) -> RayNode:
    log = root / f"{name}.log"
    # No draining on SIGTERM: nothing of ours needs it, and it delays the teardown.
    env = cluster_env() | {"RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S": "0"}
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [ray_cli(), "start", *args[0]],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            preexec_fn=_die_with_parent,
            start_new_session=True,  # its own process group: the node, killed as one
        )
    return RayNode(name, proc, root / name, log, args[1])


def _listening(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
        return True
    return False


def _started(node: RayNode) -> bool:
    return STARTED in node.output()


def _wait_for(node: RayNode, ready: Callable[[], bool], what: str, deadline: float) -> None:
    """Poll `ready` until true; fail at once when the node exits, or at the deadline."""
    while not ready():
        if node.proc.poll() is not None:
            raise RuntimeError(f"ray node {node.name} exited: {node.output()[-3000:]}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"ray node {node.name}: {what}: {node.output()[-3000:]}")
        time.sleep(0.2)


def _wait_registered(cluster: LocalCluster, deadline: float) -> None:
    """Until the head lists every node alive with its CPUs; sets their node ids. (`ray
    start` returns before a worker node's raylet is usable by a driver.)"""
    from ray._raylet import GcsClient  # type: ignore[attr-defined]  # Cython, no stubs

    by_port = {n.manager_port: n for n in cluster.nodes}
    client, error = None, ""
    while True:
        alive = {}
        try:  # a client made just after the head started can fail (seen: "InvalidAuthToken")
            client = client or GcsClient(address=cluster.address)
            infos = client.get_all_node_info(timeout=5).values()
            alive = {
                info.node_manager_port: info
                for info in infos
                if info.state == 0 and info.resources_total.get("CPU", 0) > 0  # ALIVE
            }
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
        if set(alive) >= set(by_port):
            for port, node in by_port.items():
                node.node_id = alive[port].node_id.hex()
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"ray nodes not registered: {sorted(alive)}, {by_port}; {error}")
        time.sleep(0.5)


def stop_node(node: RayNode) -> None:
    """SIGTERM the node's `ray start --block` (its handler stops the node's daemons), then
    SIGKILL its process group, which holds every process the node started."""
    proc = node.proc
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(STOP_TIMEOUT_S)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        # `ray start` leads its own process group (start_new_session), so the group is the
        # node and everything it started; our own group is never this one.
        if proc.pid != os.getpgrp():
            os.killpg(proc.pid, signal.SIGKILL)
    if proc.poll() is None:
        proc.kill()
    proc.wait(STOP_TIMEOUT_S)


@contextlib.contextmanager
def local_cluster(nodes: int = 2, cpus_per_node: int = 1) -> Iterator[LocalCluster]:
    """A head and `nodes - 1` worker nodes on 127.0.0.1; every process stopped on exit."""
    # Short root: Ray puts Unix sockets under the temp dir (108-byte path limit).
    root = Path(tempfile.mkdtemp(prefix="alray-", dir="/tmp"))
    started: list[RayNode] = []
    used: set[int] = set()
    try:
        gcs_port, dashboard_port = _free_ports(2)
        head_options, head_port = _node_args(cpus_per_node, root / "head", used)
        head_args = [
            "--head",
            f"--port={gcs_port}",
            "--include-dashboard=false",
            f"--dashboard-port={dashboard_port}",  # its headless API process still binds it
            # Ray's agent/worker registration deadlines, for a busy host: the cluster's
            # config is the head's, which the worker nodes fetch from it.
            f"--system-config={json.dumps(LOCAL_SYSTEM_CONFIG)}",
            *head_options,
        ]
        deadline = time.monotonic() + NODE_START_TIMEOUT_S
        started.append(_start_node("head", (head_args, head_port), root))
        # Worker nodes join once the head's GCS answers, while the head still starts its
        # own raylet and agents (as on real machines, nothing orders them further): on a
        # busy host this saves the ~20 s of one node's start.
        _wait_for(
            started[0], lambda: _listening(gcs_port), f"nothing listens on {gcs_port}", deadline
        )
        address = f"127.0.0.1:{gcs_port}"
        for k in range(1, nodes):
            options, port = _node_args(cpus_per_node, root / f"w{k}", used)
            started.append(_start_node(f"w{k}", ([f"--address={address}", *options], port), root))
        for node in started:
            _wait_for(node, partial(_started, node), "not started", deadline)
        cluster = LocalCluster(address, started)
        _wait_registered(cluster, time.monotonic() + NODE_START_TIMEOUT_S)
        yield cluster
    finally:
        for node in reversed(started):
            stop_node(node)
        shutil.rmtree(root, ignore_errors=True)

"""The network a multi-instance job's hosts share, and nothing else: a private link.

SageMaker runs each instance of a training job as its own host (algo-1, algo-2, ...), able to reach the others
for distributed training; with ``EnableNetworkIsolation`` they reach nothing else (SageMaker Developer Guide,
"Run Training and Inference Containers in Internet-Free Mode": "inter-container traffic ... is allowed" while
outbound calls are not). Here a link is one network namespace holding a bridge; each host's own namespace joins
it by a veth pair, with the address its host name resolves to. The link's namespace has no route anywhere else.
"""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass

SUBNET = "10.41.0"  # a /24 of the private range, used only inside the link's namespaces
HOST_INTERFACE = "eth0"  # the name SageMaker's resourceconfig.json gives the instance's interface


@dataclass(frozen=True)
class Host:
    """One instance of a job: its host name and the address the others reach it at."""

    name: str
    address: str


def hosts(count: int, *, linked: bool) -> list[Host]:
    """algo-1..algo-N, as SageMaker names them (sorted: algo-1 is the leader). Linked hosts get addresses on the
    private link; others share the machine's loopback, each at an address of its own."""
    return [Host(f"algo-{i}", f"{SUBNET}.{i}" if linked else f"127.0.1.{i}") for i in range(1, count + 1)]


def hosts_file(members: list[Host]) -> str:
    """/etc/hosts of every host of the job: each name resolves to its host's address, as SageMaker's DNS does."""
    return "127.0.0.1 localhost\n::1 localhost\n" + "".join(f"{h.address} {h.name}\n" for h in members)


def user_namespace() -> list[str]:
    """unshare's options for a namespace this process may own: none as root, else a user namespace in which the
    caller is root."""
    return [] if os.geteuid() == 0 else ["--user", "--map-root-user"]


class PrivateLink:
    """A bridge in a namespace of its own, held by a sleeping process until :meth:`close`."""

    def __init__(self) -> None:
        self._holder = subprocess.Popen(
            ["unshare", *user_namespace(), "--net", "--", "sh", "-c", "echo ready && exec sleep infinity"],
            stdout=subprocess.PIPE,
            text=True,
        )
        # Until it says so, the holder may still be in the machine's namespace: nothing may be added before.
        assert self._holder.stdout is not None and self._holder.stdout.readline() == "ready\n", "unshare failed"
        self._ip("link", "add", "br0", "type", "bridge")
        self._ip("link", "set", "br0", "up")

    def enter(self) -> list[str]:
        """The prefix that starts a host's process inside the link's user namespace (where it may own a network)."""
        return [] if os.geteuid() == 0 else ["nsenter", "--target", str(self._holder.pid), "--user", "--"]

    def join(self, pid: int, index: int) -> None:
        """Plug the host whose network namespace ``pid`` is in into the bridge; the host configures its end."""
        _await_own_network(pid)
        veth = f"veth{index}"
        self._ip("link", "add", veth, "type", "veth", "peer", "name", HOST_INTERFACE, "netns", str(pid))
        self._ip("link", "set", veth, "master", "br0", "up")

    def close(self) -> None:
        self._holder.kill()
        self._holder.wait()

    def _ip(self, *args: str) -> None:
        user = ["--user"] if os.geteuid() != 0 else []
        result = subprocess.run(
            ["nsenter", "--target", str(self._holder.pid), *user, "--net", "--", "ip", *args],
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise RuntimeError(f"ip {' '.join(args)} in the private link failed: {result.stderr.strip()}")


def _await_own_network(pid: int, timeout_s: float = 20.0) -> None:
    """Wait until process ``pid`` has left this machine's network namespace for its own.

    A host's process is started before its ``unshare --net`` has run; until then its namespace is the machine's,
    and a veth end sent there would land beside the machine's own eth0 (or fail on it).
    """
    machine = os.readlink("/proc/self/ns/net")
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if os.readlink(f"/proc/{pid}/ns/net") != machine:
                return
        except FileNotFoundError:
            raise RuntimeError(f"host process {pid} ended before it had a network of its own") from None
        if time.monotonic() > deadline:
            raise RuntimeError(f"host process {pid} had no network of its own after {timeout_s:.0f} s")
        time.sleep(0.01)


def interface_setup(host: Host) -> str:
    """Shell run first in a linked host: wait for its end of the link, then bring it up at the host's address."""
    return (
        "n=0; "
        f"while ! ip link show {HOST_INTERFACE} >/dev/null 2>&1; do n=$((n+1)); "
        '[ $n -gt 400 ] && { echo "no private link after 20 s" >&2; exit 97; }; sleep 0.05; done && '
        f"ip addr add {host.address}/24 dev {HOST_INTERFACE} && ip link set {HOST_INTERFACE} up && "
    )

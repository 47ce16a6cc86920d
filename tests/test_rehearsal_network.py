"""The private link of a multi-instance job (rehearsal/sagemaker/network.py).

The defect CI found: a host's process is started before its ``unshare --net`` has run, and the link sent the host's
end of the veth pair to whatever namespace the process was in at that moment, the machine's own (where an eth0
already exists, so ``ip`` refused it; on a machine without one it would have landed there).
"""

from __future__ import annotations

import os
import subprocess

import pytest

from rehearsal.sagemaker.containers import namespaces_available
from rehearsal.sagemaker.network import HOST_INTERFACE, PrivateLink, user_namespace

pytestmark = [
    pytest.mark.skipif(not namespaces_available(), reason="no namespaces here: no link can be made"),
    pytest.mark.workload,
]


def interfaces(pid: int | None = None) -> set[str]:
    prefix = [] if pid is None else ["nsenter", "--target", str(pid), "--net", "--"]
    listing = subprocess.run([*prefix, "ip", "-o", "link", "show"], capture_output=True, text=True, check=True)
    return {line.split(":")[1].strip().split("@")[0] for line in listing.stdout.splitlines()}


@pytest.mark.skipif(os.geteuid() != 0, reason="the host's namespace is entered from the machine's only as root")
def test_a_host_slow_to_leave_the_machines_network_gets_its_end_of_the_link_in_its_own():
    link = PrivateLink()
    before = interfaces()
    # Half a second in the machine's namespace before it takes its own, as a loaded machine's unshare may be.
    host = subprocess.Popen(
        ["sh", "-c", f"sleep 0.5; exec unshare {' '.join(user_namespace())} --net -- sleep 30"],
        start_new_session=True,
    )
    try:
        link.join(host.pid, 1)
        assert HOST_INTERFACE in interfaces(host.pid)
        assert interfaces() == before
    finally:
        host.kill()
        host.wait()
        link.close()


def test_a_host_that_ends_before_taking_a_network_is_named_in_the_error():
    link = PrivateLink()
    host = subprocess.Popen(["true"])
    host.wait()
    try:
        with pytest.raises(RuntimeError, match=f"host process {host.pid} ended before it had a network of its own"):
            link.join(host.pid, 1)
    finally:
        link.close()

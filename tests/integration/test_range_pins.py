"""The address ranges a server pins (service range local, pod range blackholed) are recorded in its data dir, so
a killed server's are removed by `kybernetes killall` and by the next start on that dir."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from kybernetes.cli.killall import stop_all_containers
from kybernetes.cli.routes import PINS_FILE, RangePins

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or shutil.which("ip") is None,
                                reason="pinning routes needs root and iproute2")

SERVICE, CLUSTER = "198.19.252.0/24", "198.19.244.0/22"  # inside 198.18.0.0/15, used by no other test


def pinned() -> list[str]:
    local = subprocess.run(["ip", "route", "show", "table", "local", "type", "local", SERVICE],
                           capture_output=True, text=True).stdout
    blackhole = subprocess.run(["ip", "route", "show", "type", "blackhole", CLUSTER],
                               capture_output=True, text=True).stdout
    return [name for name, out in (("service", local), ("cluster", blackhole)) if out.strip()]


@pytest.fixture
def clean_routes():
    yield
    subprocess.run(["ip", "route", "del", "table", "local", "local", SERVICE, "dev", "lo"], capture_output=True)
    subprocess.run(["ip", "route", "del", "blackhole", CLUSTER], capture_output=True)


async def test_killall_removes_the_ranges_a_killed_server_pinned(tmp_path, clean_routes):
    await RangePins(SERVICE, CLUSTER, record_dir=str(tmp_path)).pin()  # then the server dies: no unpin()
    assert pinned() == ["service", "cluster"]
    assert (tmp_path / PINS_FILE).exists()
    await stop_all_containers(str(tmp_path / "kubelet" / "runtime"))  # what `kybernetes killall` runs
    assert pinned() == []
    assert not (tmp_path / PINS_FILE).exists()


async def test_a_restart_takes_over_the_ranges_its_killed_predecessor_pinned(tmp_path, clean_routes):
    await RangePins(SERVICE, CLUSTER, record_dir=str(tmp_path)).pin()  # killed
    again = RangePins(SERVICE, CLUSTER, record_dir=str(tmp_path))
    await again.pin()
    assert len(again.pinned) == 2  # its own now, not "pinned by another cluster"
    await again.unpin()  # a clean stop removes them all
    assert pinned() == []
    assert not (tmp_path / PINS_FILE).exists()


async def test_ranges_another_cluster_pinned_are_left_to_it(tmp_path, clean_routes):
    other = RangePins(SERVICE, CLUSTER, record_dir=str(tmp_path / "other"))
    os.makedirs(other.record_dir)
    await other.pin()
    mine = RangePins(SERVICE, CLUSTER, record_dir=str(tmp_path / "mine"))
    os.makedirs(mine.record_dir)
    await mine.pin()
    assert mine.pinned == [] and not (tmp_path / "mine" / PINS_FILE).exists()
    await stop_all_containers(str(tmp_path / "mine" / "kubelet" / "runtime"))
    assert pinned() == ["service", "cluster"]
    await other.unpin()
    assert pinned() == []

"""Cgroup files written for limits and read for OOM kills and usage, on fake v1/v2 directories."""

from __future__ import annotations

import pytest

from kybernetes.kubelet.runtime.process.cgroups import CgroupSet, _rel


def fake_set(tmp_path, version):
    if version == 1:
        dirs = {c: tmp_path / c for c in ("memory", "cpu", "cpuacct")}
    else:
        dirs = {"unified": tmp_path / "unified"}
    for d in dirs.values():
        d.mkdir()
    return CgroupSet(version, {k: str(v) for k, v in dirs.items()}), dirs


@pytest.mark.parametrize(
    "version,kwargs,files",
    [
        (1, dict(memory_limit=1 << 26, cpu_quota=50000, cpu_period=100000, cpu_shares=512),
         {("memory", "memory.limit_in_bytes"): "67108864", ("cpu", "cpu.cfs_quota_us"): "50000",
          ("cpu", "cpu.cfs_period_us"): "100000", ("cpu", "cpu.shares"): "512"}),
        (1, dict(), {("memory", "memory.limit_in_bytes"): "-1", ("cpu", "cpu.cfs_quota_us"): "-1"}),
        (2, dict(memory_limit=1 << 26, cpu_quota=50000, cpu_period=100000, cpu_shares=1024),
         {("unified", "memory.max"): "67108864", ("unified", "cpu.max"): "50000 100000",
          ("unified", "cpu.weight"): "39"}),
        (2, dict(), {("unified", "memory.max"): "max", ("unified", "cpu.max"): "max 100000"}),
    ],
    ids=["v1-limits", "v1-unlimited", "v2-limits", "v2-unlimited"],
)
def test_set_resources_writes_files(tmp_path, version, kwargs, files):
    cg, dirs = fake_set(tmp_path, version)
    cg.set_resources(**kwargs)
    assert {k: (dirs[k[0]] / k[1]).read_text() for k in files} == files


@pytest.mark.parametrize(
    "version,name,text,kills",
    [
        (1, "memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n", 2),
        (1, "memory.oom_control", "oom_kill_disable 0\nunder_oom 0\n", 0),
        (2, "memory.events", "low 0\nhigh 0\nmax 5\noom 1\noom_kill 1\n", 1),
    ],
    ids=["v1", "v1-old-kernel", "v2"],
)
def test_oom_kills(tmp_path, version, name, text, kills):
    cg, dirs = fake_set(tmp_path, version)
    (dirs["memory" if version == 1 else "unified"] / name).write_text(text)
    assert cg.oom_kills() == kills


def test_usage_v1(tmp_path):
    cg, dirs = fake_set(tmp_path, 1)
    (dirs["cpuacct"] / "cpuacct.usage").write_text("123456\n")
    (dirs["memory"] / "memory.usage_in_bytes").write_text("1000\n")
    (dirs["memory"] / "memory.stat").write_text("total_inactive_file 300\ntotal_rss 600\n")
    assert cg.usage() == (123456, 700, 600)


@pytest.mark.parametrize("own,root,rel", [("/a/b", "/", "a/b"), ("/", "/", ""), ("/x/a", "/x", "a")],
                         ids=["nested", "root", "mount-root"])
def test_rel(own, root, rel):
    assert _rel(own, root) == rel


def test_json_round_trip(tmp_path):
    cg, _ = fake_set(tmp_path, 1)
    assert CgroupSet.from_json(cg.to_json()) == cg and CgroupSet.from_json(None) is None

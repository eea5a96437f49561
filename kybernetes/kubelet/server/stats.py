"""The /stats/summary document (upstream's stats/v1alpha1 Summary): node usage from /proc, pods from the runtime."""

from __future__ import annotations

import os
import time
from typing import Any

from kybernetes.kubelet.runtime.interface import (
    LABEL_CONTAINER_NAME,
    LABEL_POD_NAME,
    LABEL_POD_NAMESPACE,
    LABEL_POD_UID,
    ContainerFilter,
    ContainerState,
)


def _rfc3339(ns: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ns / 1e9))


def _meminfo() -> dict[str, int]:
    out: dict[str, int] = {}
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                key, _, rest = line.partition(":")
                out[key] = int(rest.split()[0]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return out


def _cpu_ns() -> int:
    """Cumulative busy CPU time of the machine in ns (user+nice+system+irq+softirq+steal from /proc/stat)."""
    try:
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return 0
    busy = sum(fields[i] for i in (0, 1, 2, 5, 6, 7) if i < len(fields))
    return busy * 1_000_000_000 // os.sysconf("SC_CLK_TCK")


def _fs(path: str, now: str) -> dict[str, Any]:
    try:
        st = os.statvfs(path)
    except OSError:
        return {"time": now}
    return {"time": now, "availableBytes": st.f_bavail * st.f_frsize, "capacityBytes": st.f_blocks * st.f_frsize,
            "usedBytes": (st.f_blocks - st.f_bfree) * st.f_frsize, "inodesFree": st.f_favail,
            "inodes": st.f_files, "inodesUsed": st.f_files - st.f_ffree}


class SummaryProvider:
    """Builds Summary documents; keeps the previous CPU samples to report usageNanoCores."""

    def __init__(self, node_name: str, root_dir: str = "/") -> None:
        self.node_name = node_name
        self.root_dir = root_dir
        self.start_time = _rfc3339(time.time_ns())
        self._last: dict[str, tuple[int, int]] = {}  # key -> (time ns, cumulative cpu ns)

    def _cpu(self, key: str, now_ns: int, cumulative: int) -> dict[str, Any]:
        prev = self._last.get(key)
        self._last[key] = (now_ns, cumulative)
        out: dict[str, Any] = {"time": _rfc3339(now_ns), "usageCoreNanoSeconds": cumulative}
        if prev and now_ns > prev[0]:
            out["usageNanoCores"] = max(0, (cumulative - prev[1]) * 1_000_000_000 // (now_ns - prev[0]))
        return out

    def node(self, now_ns: int) -> dict[str, Any]:
        mem = _meminfo()
        total, available = mem.get("MemTotal", 0), mem.get("MemAvailable", 0)
        now = _rfc3339(now_ns)
        return {
            "nodeName": self.node_name, "startTime": self.start_time,
            "cpu": self._cpu("", now_ns, _cpu_ns()),
            "memory": {"time": now, "availableBytes": available, "usageBytes": total - mem.get("MemFree", 0),
                       "workingSetBytes": total - available, "rssBytes": total - available,
                       "pageFaults": 0, "majorPageFaults": 0},
            "fs": _fs(self.root_dir, now),
            "runtime": {"imageFs": _fs(self.root_dir, now), "containerFs": _fs(self.root_dir, now)},
            "rlimit": {"time": now},
        }

    async def summary(self, runtime: Any) -> dict[str, Any]:
        now_ns = time.time_ns()
        pods: dict[str, dict[str, Any]] = {}
        containers = await runtime.list_containers(ContainerFilter(state=ContainerState.CONTAINER_RUNNING))
        for c in containers:
            uid = c.labels.get(LABEL_POD_UID)
            if not uid:
                continue
            try:
                st = await runtime.container_stats(c.id)
            except Exception:  # noqa: BLE001 - a container that just went away
                continue
            pod = pods.setdefault(uid, {
                "podRef": {"name": c.labels.get(LABEL_POD_NAME, ""), "namespace": c.labels.get(LABEL_POD_NAMESPACE, ""),
                           "uid": uid},
                "startTime": _rfc3339(c.created_at), "containers": [],
                "cpu": {"time": _rfc3339(now_ns), "usageCoreNanoSeconds": 0},
                "memory": {"time": _rfc3339(now_ns), "workingSetBytes": 0, "rssBytes": 0, "usageBytes": 0},
            })
            cpu = self._cpu(c.id, st.timestamp or now_ns, st.cpu_usage_core_nano_seconds)
            pod["containers"].append({
                "name": c.labels.get(LABEL_CONTAINER_NAME, c.metadata.name), "startTime": _rfc3339(c.created_at),
                "cpu": cpu,
                "memory": {"time": cpu["time"], "workingSetBytes": st.memory_working_set_bytes,
                           "rssBytes": st.memory_rss_bytes, "usageBytes": st.memory_working_set_bytes},
                "logs": {"time": cpu["time"]}, "rootfs": {"time": cpu["time"], "usedBytes": st.writable_layer_used_bytes},
            })
            pod["cpu"]["usageCoreNanoSeconds"] += st.cpu_usage_core_nano_seconds
            if "usageNanoCores" in cpu:
                pod["cpu"]["usageNanoCores"] = pod["cpu"].get("usageNanoCores", 0) + cpu["usageNanoCores"]
            for k in ("workingSetBytes", "rssBytes", "usageBytes"):
                pod["memory"][k] += pod["containers"][-1]["memory"][k]
        return {"node": self.node(now_ns), "pods": list(pods.values())}


"""Per-container cgroups for the process runtime: memory and CPU limits, OOM-kill counts, usage; v1 or v2.

Container cgroups live under `<own cgroup>/<parent>/<pod>/<container>` in each hierarchy, where `<own cgroup>`
is the cgroup of the process that creates them (the kubelet): so containers stay inside whatever limits the
kubelet itself runs under. Everything degrades to "no cgroup" when the hierarchy is missing or not writable
(running without root): limits are then not enforced and OOMKilled is not reported.

Standard library only (imported by the shim).
"""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass, field

V1_CONTROLLERS = ("memory", "cpu", "cpuacct")


@dataclass
class CgroupSet:
    """The directories of one container's cgroup, by controller (v1) or under the key "unified" (v2)."""

    version: int
    dirs: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict:
        return {"version": self.version, "dirs": self.dirs}

    @classmethod
    def from_json(cls, data: dict | None) -> "CgroupSet | None":
        return cls(data["version"], dict(data["dirs"])) if data else None

    def _dir(self, controller: str) -> str | None:
        return self.dirs.get("unified") if self.version == 2 else self.dirs.get(controller)

    # --- the shim's side
    def join(self, pid: int) -> None:
        for d in set(self.dirs.values()):
            _write(os.path.join(d, "cgroup.procs"), str(pid))

    def current_dirs(self) -> dict[str, str]:
        """The cgroup directories of the calling process in this set's hierarchies (where to return after a
        join): {key of self.dirs: directory}."""
        mounts, own = _cgroup_mounts(), _own_cgroups()
        out = {}
        for key in self.dirs:
            ctl = "" if key == "unified" else key
            if ctl in mounts:
                out[key] = _own_dir(mounts, own, ctl)
        return out

    def leave(self, dirs: dict[str, str]) -> None:
        """Move the calling process back into `dirs` (from current_dirs)."""
        for d in set(dirs.values()):
            _write(os.path.join(d, "cgroup.procs"), str(os.getpid()))

    def oom_kills(self) -> int:
        """OOM kills inside the cgroup (v1: memory.oom_control `oom_kill`, v2: memory.events)."""
        d = self._dir("memory")
        if not d:
            return 0
        name = "memory.events" if self.version == 2 else "memory.oom_control"
        for line in _read(os.path.join(d, name)).splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill":
                return int(value)
        return 0

    def memory_failcnt(self) -> int:
        d = self._dir("memory")
        if not d or self.version == 2:
            return 0
        return int(_read(os.path.join(d, "memory.failcnt")) or 0)

    def pids(self) -> list[int]:
        out: set[int] = set()
        for d in set(self.dirs.values()):
            out.update(int(p) for p in _read(os.path.join(d, "cgroup.procs")).split())
        return sorted(out)

    def kill_all(self, timeout: float = 2.0) -> None:
        """SIGKILL every process left in the cgroup, until it is empty or `timeout` passes."""
        deadline = time.monotonic() + timeout
        while True:
            pids = self.pids()
            if not pids or time.monotonic() > deadline:
                return
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.01)

    # --- the kubelet's side
    def set_resources(
        self, *, memory_limit: int = 0, cpu_quota: int = 0, cpu_period: int = 0, cpu_shares: int = 0,
        fresh: bool = False,
    ) -> None:
        """Write the limits; `fresh` (a cgroup just made, with the kernel's defaults) skips writing "no limit"."""
        mem = self._dir("memory")
        cpu = self._dir("cpu")
        if self.version == 1:
            if mem and (memory_limit > 0 or not fresh):
                _write(os.path.join(mem, "memory.limit_in_bytes"), str(memory_limit if memory_limit > 0 else -1))
            if cpu:
                if cpu_period > 0:
                    _write(os.path.join(cpu, "cpu.cfs_period_us"), str(cpu_period))
                if cpu_quota > 0 or not fresh:
                    _write(os.path.join(cpu, "cpu.cfs_quota_us"), str(cpu_quota if cpu_quota > 0 else -1))
                if cpu_shares > 0:
                    _write(os.path.join(cpu, "cpu.shares"), str(cpu_shares))
        else:
            if mem:
                if memory_limit > 0 or not fresh:
                    _write(os.path.join(mem, "memory.max"), str(memory_limit) if memory_limit > 0 else "max")
                _write(os.path.join(mem, "memory.swap.max"), "0", missing_ok=True)
            if cpu and (cpu_quota > 0 or cpu_period > 0 or not fresh):
                period = cpu_period or 100000
                _write(os.path.join(cpu, "cpu.max"), f"{cpu_quota if cpu_quota > 0 else 'max'} {period}")
                if cpu_shares > 0:
                    weight = 1 + ((max(2, cpu_shares) - 2) * 9999) // 262142
                    _write(os.path.join(cpu, "cpu.weight"), str(weight))

    def usage(self) -> tuple[int, int, int] | None:
        """(cpu ns, memory working set bytes, rss bytes), or None without the controllers."""
        mem = self._dir("memory")
        acct = self._dir("cpuacct") if self.version == 1 else self._dir("cpu")
        if not mem or not acct:
            return None
        if self.version == 1:
            cpu_ns = int(_read(os.path.join(acct, "cpuacct.usage")) or 0)
            usage = int(_read(os.path.join(mem, "memory.usage_in_bytes")) or 0)
            stat = _kv(_read(os.path.join(mem, "memory.stat")))
            inactive = stat.get("total_inactive_file", 0)
            rss = stat.get("total_rss", 0)
        else:
            cpu_ns = _kv(_read(os.path.join(acct, "cpu.stat"))).get("usage_usec", 0) * 1000
            usage = int(_read(os.path.join(mem, "memory.current")) or 0)
            stat = _kv(_read(os.path.join(mem, "memory.stat")))
            inactive = stat.get("inactive_file", 0)
            rss = stat.get("anon", 0)
        return cpu_ns, max(0, usage - inactive), rss

    def remove(self) -> None:
        """rmdir the container's cgroups (best effort), then their empty parents up to the runtime's base."""
        for d in set(self.dirs.values()):
            for path in (d, os.path.dirname(d), os.path.dirname(os.path.dirname(d))):
                try:
                    os.rmdir(path)
                except OSError:
                    break


class CgroupManager:
    """Finds the hierarchies once and creates container cgroups under `<own cgroup>/<parent>`."""

    def __init__(self, parent: str = "kybernetes", enabled: bool | None = None) -> None:
        self.parent = parent.strip("/")
        self.version = 0
        self.bases: dict[str, str] = {}
        if enabled is False:
            return
        self._discover()

    @property
    def available(self) -> bool:
        return bool(self.bases)

    def _discover(self) -> None:
        mounts = _cgroup_mounts()
        own = _own_cgroups()
        if "" in mounts and "memory" not in mounts:  # pure v2
            base = os.path.join(_own_dir(mounts, own, ""), self.parent)
            if _writable(os.path.dirname(base)):
                self.version = 2
                self.bases = {"unified": base}
            return
        for ctl in V1_CONTROLLERS:
            if ctl not in mounts:
                continue
            base = os.path.join(_own_dir(mounts, own, ctl), self.parent)
            if _writable(os.path.dirname(base)):
                self.bases[ctl] = base
        if self.bases:
            self.version = 1

    def create(self, pod: str, container: str) -> CgroupSet | None:
        if not self.bases:
            return None
        dirs = {}
        for key, base in self.bases.items():
            d = os.path.join(base, pod, container)
            if not _try_makedirs(d):
                continue
            if self.version == 2:
                _enable_v2_controllers([os.path.dirname(base), base, os.path.dirname(d)])
                if not os.path.exists(os.path.join(d, "memory.max")):
                    os.rmdir(d)
                    continue
            dirs[key] = d
        return CgroupSet(self.version, dirs) if dirs else None


def _own_dir(mounts: dict[str, tuple[str, str]], own: dict[str, str], ctl: str) -> str:
    """The calling process's cgroup directory in the hierarchy of `ctl` ("" for cgroup2)."""
    mnt, root = mounts[ctl]
    return os.path.join(mnt, _rel(own.get(ctl, "/"), root))


def _rel(own: str, root: str) -> str:
    own = own.rstrip("/") or "/"
    if root != "/" and own.startswith(root):
        own = own[len(root) :] or "/"
    return own.lstrip("/")


def _cgroup_mounts() -> dict[str, tuple[str, str]]:
    """controller -> (mount point, root of the mount); "" for the cgroup2 hierarchy."""
    out: dict[str, tuple[str, str]] = {}
    for line in _read("/proc/self/mountinfo").splitlines():
        pre, _, post = line.partition(" - ")
        fields, post_fields = pre.split(), post.split()
        if len(post_fields) < 3:
            continue
        fstype, options = post_fields[0], post_fields[2].split(",")
        if fstype == "cgroup2":
            out.setdefault("", (fields[4], fields[3]))
        elif fstype == "cgroup":
            for opt in options:
                if opt in V1_CONTROLLERS:
                    out.setdefault(opt, (fields[4], fields[3]))
    return out


def _own_cgroups() -> dict[str, str]:
    out = {}
    for line in _read("/proc/self/cgroup").splitlines():
        parts = line.split(":", 2)
        if len(parts) == 3:
            for ctl in parts[1].split(",") if parts[1] else [""]:
                out[ctl] = parts[2]
    return out


def _enable_v2_controllers(dirs: list[str]) -> None:
    """Turn on memory and cpu for the children of each of `dirs`, top-down (best effort: a cgroup that holds
    processes itself cannot delegate controllers, the "no internal processes" rule of cgroup v2)."""
    for d in dirs:
        try:
            _write(os.path.join(d, "cgroup.subtree_control"), "+memory +cpu")
        except OSError:
            pass


def _writable(path: str) -> bool:
    """Can we create cgroups below `path`? (created lazily, so that an idle runtime leaves nothing behind)"""
    return os.access(path, os.W_OK) and os.path.exists(os.path.join(path, "cgroup.procs"))


def _try_makedirs(path: str) -> bool:
    try:
        os.makedirs(path, exist_ok=True)
        return os.access(os.path.join(path, "cgroup.procs"), os.W_OK)
    except OSError:
        return False


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def _write(path: str, value: str, missing_ok: bool = False) -> None:
    try:
        with open(path, "w") as f:
            f.write(value)
    except FileNotFoundError:
        if not missing_ok:
            raise


def _kv(text: str) -> dict[str, int]:
    out = {}
    for line in text.splitlines():
        k, _, v = line.partition(" ")
        if v.strip().lstrip("-").isdigit():
            out[k] = int(v)
    return out

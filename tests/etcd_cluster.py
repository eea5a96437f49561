"""A throwaway 3-member etcd cluster (Debian's etcd-server) on loopback ports, for tests; members stopped by PID."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request

from tests.etcd_server import _free_port


class EtcdMember:
    """One member: its name, ports, data dir and process."""

    def __init__(self, name: str, base_dir: str) -> None:
        self.name = name
        self.client_port = _free_port()
        self.peer_port = _free_port()
        self.data_dir = os.path.join(base_dir, name)
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.client_port}"

    @property
    def peer_url(self) -> str:
        return f"http://127.0.0.1:{self.peer_port}"

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """kill -9."""
        if self.alive():
            assert self.proc is not None
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)


class EtcdCluster:
    """Members started together with a static --initial-cluster; stop() ends each by its PID."""

    def __init__(self, binary: str, size: int = 3) -> None:
        self.binary = binary
        self.base_dir = tempfile.mkdtemp(prefix="kyb-etcd-cluster-")
        self.members = [EtcdMember(f"m{i}", self.base_dir) for i in range(size)]

    def start(self, timeout: float = 30.0) -> None:
        initial = ",".join(f"{m.name}={m.peer_url}" for m in self.members)
        for m in self.members:
            client = f"http://{m.endpoint}"
            log = open(os.path.join(self.base_dir, f"{m.name}.log"), "wb")
            m.proc = subprocess.Popen(
                [self.binary, "--name", m.name, "--data-dir", m.data_dir,
                 "--listen-client-urls", client, "--advertise-client-urls", client,
                 "--listen-peer-urls", m.peer_url, "--initial-advertise-peer-urls", m.peer_url,
                 "--initial-cluster", initial, "--initial-cluster-state", "new",
                 "--initial-cluster-token", os.path.basename(self.base_dir),
                 "--heartbeat-interval", "100", "--election-timeout", "1000",
                 "--unsafe-no-fsync", "--log-level", "error"],
                stdout=log, stderr=subprocess.STDOUT)
            log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for m in self.members:
                if not m.alive():
                    raise RuntimeError(f"etcd member {m.name} exited; log in {self.base_dir}/{m.name}.log")
            if all(self._healthy(m) for m in self.members):
                return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("the etcd cluster did not become healthy in time")

    @staticmethod
    def _healthy(m: EtcdMember) -> bool:
        try:
            with urllib.request.urlopen(f"http://{m.endpoint}/health", timeout=1) as r:
                return b'"true"' in r.read()
        except OSError:
            return False

    @staticmethod
    def _status(m: EtcdMember) -> dict:
        req = urllib.request.Request(f"http://{m.endpoint}/v3/maintenance/status", data=b"{}", method="POST")
        with urllib.request.urlopen(req, timeout=2) as r:
            return json.loads(r.read())

    def leader(self) -> EtcdMember:
        """The member that is raft leader now (by etcd's own status)."""
        for m in self.members:
            if not m.alive():
                continue
            status = self._status(m)
            if status.get("leader") == status["header"]["member_id"]:
                return m
        raise RuntimeError("no etcd leader")

    def url(self, first: EtcdMember | None = None) -> str:
        """etcd://... over every member, `first` listed first (clients connect to the first one that answers)."""
        order = ([first] if first else []) + [m for m in self.members if m is not first]
        return "etcd://" + ",".join(m.endpoint for m in order)

    def stop(self) -> None:
        for m in self.members:
            if m.alive():
                assert m.proc is not None
                os.kill(m.proc.pid, signal.SIGTERM)
                try:
                    m.proc.wait(10)
                except subprocess.TimeoutExpired:
                    os.kill(m.proc.pid, signal.SIGKILL)
                    m.proc.wait()
        shutil.rmtree(self.base_dir, ignore_errors=True)

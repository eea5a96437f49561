"""A throwaway network of namespaces for nftables tests: a node routing between a client and two backends.

Every address is in 198.18.0.0/15: client 198.18.250.2 (node side .1), backends 198.18.201.2 and 198.18.202.2.
Everything created here is removed by `destroy` (deleting a namespace deletes its links, routes and tables).
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
from dataclasses import dataclass, field

PROGS = os.path.join(os.path.dirname(__file__), "netprogs.py")


def nftables_skip_reason() -> str:
    if os.geteuid() != 0:
        return "nftables tests need root"
    for tool in ("nft", "ip"):
        if shutil.which(tool) is None:
            return f"the {tool} tool is missing (Debian packages nftables, iproute2)"
    probe = f"kybprobe{secrets.token_hex(3)}"
    r = subprocess.run(["ip", "netns", "add", probe], capture_output=True)
    if r.returncode != 0:
        return f"cannot create network namespaces: {r.stderr.decode().strip()}"
    try:
        r = subprocess.run(["ip", "netns", "exec", probe, "nft", "list", "tables"], capture_output=True)
        if r.returncode != 0:
            return f"nft does not work in a namespace: {r.stderr.decode().strip()}"
    finally:
        subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return ""


def sh(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    r = subprocess.run(list(args), capture_output=True, text=True)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}: {r.stderr.strip()}")
    return r


@dataclass
class NetLab:
    suffix: str = field(default_factory=lambda: secrets.token_hex(3))
    namespaces: list[str] = field(default_factory=list)
    procs: list[subprocess.Popen] = field(default_factory=list)

    def ns(self, role: str) -> str:
        return f"kyb{role}-{self.suffix}"

    @property
    def node(self) -> str:
        return self.ns("node")

    @property
    def client(self) -> str:
        return self.ns("cli")

    def create(self) -> NetLab:
        for role in ("node", "cli", "be1", "be2"):
            name = self.ns(role)
            sh("ip", "netns", "add", name)
            self.namespaces.append(name)
            sh("ip", "-n", name, "link", "set", "lo", "up")
        sh("ip", "netns", "exec", self.node, "sysctl", "-qw", "net.ipv4.ip_forward=1")
        for role, net in (("cli", 250), ("be1", 201), ("be2", 202)):
            a, b = f"k{role}{self.suffix}n", f"k{role}{self.suffix}l"
            sh("ip", "link", "add", a, "netns", self.node, "type", "veth", "peer", "name", b, "netns", self.ns(role))
            sh("ip", "-n", self.node, "addr", "add", f"198.18.{net}.1/24", "dev", a)
            sh("ip", "-n", self.node, "link", "set", a, "up")
            sh("ip", "-n", self.ns(role), "addr", "add", f"198.18.{net}.2/24", "dev", b)
            sh("ip", "-n", self.ns(role), "link", "set", b, "up")
            sh("ip", "-n", self.ns(role), "route", "add", "default", "via", f"198.18.{net}.1")
        return self

    def start_backend(self, role: str, name: str, port: int) -> None:
        p = subprocess.Popen(["ip", "netns", "exec", self.ns(role), sys.executable, PROGS, "serve", name, str(port)],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.procs.append(p)
        assert p.stdout is not None and p.stdout.readline().strip() == "ready"

    def run_client(self, ns: str, *args: str) -> dict:
        import json

        r = sh("ip", "netns", "exec", ns, sys.executable, PROGS, *args)
        return json.loads(r.stdout)

    def destroy(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait(5)
        for name in self.namespaces:
            sh("ip", "netns", "del", name, check=False)
        self.namespaces.clear()

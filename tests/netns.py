"""Test-made "machines": a bridge on the host and, per node, a network namespace with a veth into it (root only)."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass, field


def sh(*argv: str, check: bool = True) -> str:
    res = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    if check and res.returncode != 0:
        raise AssertionError(f"{' '.join(argv)}: {res.stderr}")
    return res.stdout


@dataclass
class NodeNetworks:
    """The bridge `<prefix><tag>` holding host_ip/24, and a namespace per node whose eth0 has the node's address."""

    prefix: str
    host_ip: str
    nodes: dict[str, str]  # node name -> its address in host_ip's /24
    tag: str = field(default_factory=lambda: os.urandom(2).hex())

    @property
    def bridge(self) -> str:
        return f"{self.prefix}{self.tag}"

    def netns(self, node: str) -> str:
        return f"{self.prefix}-{self.tag}-{list(self.nodes).index(node)}"

    def make(self) -> None:
        sh("ip", "link", "add", self.bridge, "type", "bridge")
        sh("ip", "addr", "add", f"{self.host_ip}/24", "dev", self.bridge)
        sh("ip", "link", "set", self.bridge, "up")
        for i, (node, ip) in enumerate(self.nodes.items()):
            ns, host_end = self.netns(node), f"{self.prefix}{self.tag}h{i}"
            sh("ip", "netns", "add", ns)
            sh("ip", "link", "add", host_end, "type", "veth", "peer", "name", "eth0", "netns", ns)
            sh("ip", "link", "set", host_end, "master", self.bridge, "up")
            sh("ip", "-n", ns, "addr", "add", f"{ip}/24", "dev", "eth0")
            sh("ip", "-n", ns, "link", "set", "eth0", "up")
            sh("ip", "-n", ns, "link", "set", "lo", "up")

    def remove(self) -> None:
        for node in self.nodes:
            sh("ip", "netns", "del", self.netns(node), check=False)  # its links, nft tables and routes go with it
        sh("ip", "link", "del", self.bridge, check=False)

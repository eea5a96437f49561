"""Host-local IPAM: pod addresses from the node's podCIDR, one reservation file per address under a directory.

A reservation is the file `<dir>/<ip>` holding the owner (the pod UID), created with O_EXCL, so an address is
never handed out twice, even by two kubelets racing on one root_dir. Reservations survive kubelet and machine
restarts; `release` frees them, and the owner of the network (bridge.py) releases those of pods that no longer
have a sandbox. Allocation continues round-robin after the last address handed out, so a freed address is not
reused at once.
"""

from __future__ import annotations

import ipaddress
import os

LAST_RESERVED = "last_reserved_ip"


class IPAMExhausted(Exception):
    """Every address of the range is reserved."""


class IPAM:
    def __init__(self, directory: str, cidr: str) -> None:
        self.dir = directory
        self.network = ipaddress.ip_network(cidr, strict=False)
        self.gateway = str(self.network.network_address + 1)
        os.makedirs(directory, exist_ok=True)

    def _candidates(self) -> list[str]:
        """Usable pod addresses: the range without its network, gateway (.1) and broadcast addresses."""
        return [str(ip) for ip in self.network.hosts() if str(ip) != self.gateway]

    def reservations(self) -> dict[str, str]:
        """{ip: owner} of every reservation (inside this range or not)."""
        out = {}
        for name in os.listdir(self.dir):
            if name == LAST_RESERVED or name.endswith(".tmp"):
                continue
            try:
                with open(os.path.join(self.dir, name)) as f:
                    out[name] = f.read().strip()
            except FileNotFoundError:
                continue
        return out

    def get(self, owner: str) -> str | None:
        """The address reserved for `owner` in this range, if any."""
        for ip, who in self.reservations().items():
            if who == owner and ipaddress.ip_address(ip) in self.network:
                return ip
        return None

    def allocate(self, owner: str) -> str:
        """The owner's address: its existing reservation, else the next free one (idempotent)."""
        existing = self.get(owner)
        if existing:
            return existing
        candidates = self._candidates()
        start = 0
        try:
            with open(os.path.join(self.dir, LAST_RESERVED)) as f:
                start = candidates.index(f.read().strip()) + 1
        except (FileNotFoundError, ValueError):
            pass
        for i in range(len(candidates)):
            ip = candidates[(start + i) % len(candidates)]
            try:
                fd = os.open(os.path.join(self.dir, ip), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                continue
            with os.fdopen(fd, "w") as f:
                f.write(owner)
            tmp = os.path.join(self.dir, LAST_RESERVED + ".tmp")
            with open(tmp, "w") as f:
                f.write(ip)
            os.replace(tmp, os.path.join(self.dir, LAST_RESERVED))
            return ip
        raise IPAMExhausted(f"no free address in {self.network}")

    def release(self, owner: str) -> list[str]:
        """Free every reservation of `owner`; the addresses freed."""
        freed = []
        for ip, who in self.reservations().items():
            if who == owner:
                try:
                    os.unlink(os.path.join(self.dir, ip))
                    freed.append(ip)
                except FileNotFoundError:
                    pass
        return freed

"""Thin async wrappers over the system tools the nftables mode drives: nft, ip (routes) and conntrack."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import subprocess

log = logging.getLogger(__name__)


class CommandError(Exception):
    """A tool exited non-zero; `stderr` says why."""

    def __init__(self, cmd: list[str], code: int, stderr: str) -> None:
        super().__init__(f"{' '.join(cmd[:4])}... exited {code}: {stderr.strip()[:2000]}")
        self.code = code
        self.stderr = stderr


class Tools:
    """Runs nft/ip/conntrack, optionally inside a named network namespace (`ip netns exec NAME`)."""

    def __init__(self, netns: str = "") -> None:
        self.netns = netns

    def _prefix(self) -> list[str]:
        return ["ip", "netns", "exec", self.netns] if self.netns else []

    async def run(self, *args: str, stdin: str | None = None, check: bool = True) -> tuple[int, str, str]:
        cmd = [*self._prefix(), *args]
        proc = await asyncio.create_subprocess_exec(
            *cmd, stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await proc.communicate(stdin.encode() if stdin is not None else None)
        code = proc.returncode or 0
        if check and code != 0:
            raise CommandError(cmd, code, err.decode(errors="replace"))
        return code, out.decode(errors="replace"), err.decode(errors="replace")

    async def nft(self, script: str) -> None:
        """Apply `script` as one atomic nft transaction."""
        await self.run("nft", "-f", "-", stdin=script)

    async def nft_list(self, table: str) -> str:
        code, out, _ = await self.run("nft", "list", "table", table, check=False)
        return out if code == 0 else ""

    async def pin_local_route(self, cidr: str) -> None:
        """Deliver every address of `cidr` locally, so no packet for it leaves this machine un-DNATed."""
        await self.run("ip", "route", "replace", "table", "local", "local", cidr, "dev", "lo", "proto", "static")

    async def unpin_local_route(self, cidr: str) -> None:
        await self.run("ip", "route", "del", "table", "local", "local", cidr, "dev", "lo", check=False)

    async def conntrack_delete(self, *filters: str) -> None:
        """`conntrack -D <filters>`; no matching entry is not an error."""
        if not has_conntrack():
            return
        code, _, err = await self.run("conntrack", "-D", *filters, check=False)
        if code not in (0, 1):
            log.warning("conntrack -D %s failed: %s", " ".join(filters), err.strip())


def has_nft() -> bool:
    return shutil.which("nft") is not None


def has_conntrack() -> bool:
    return shutil.which("conntrack") is not None


def nftables_usable() -> tuple[bool, str]:
    """Whether mode nftables can work here, and why not when it cannot."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return False, "not running as root"
    if not has_nft():
        return False, "the nft tool is not installed (Debian package nftables)"
    if shutil.which("ip") is None:
        return False, "the ip tool is not installed (Debian package iproute2)"
    try:
        res = subprocess.run(["nft", "list", "tables"], capture_output=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired) as e:
        return False, f"nft does not run: {e}"
    if res.returncode != 0:
        return False, f"nft cannot read the ruleset: {res.stderr.decode(errors='replace').strip()}"
    return True, ""

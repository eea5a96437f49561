"""Running iproute2 (`ip`) and nftables (`nft`) from asyncio: one subprocess per call or per batch."""

from __future__ import annotations

import asyncio


class CommandError(Exception):
    """A command exited non-zero; the message carries its stderr."""


async def run(*argv: str, stdin: str | None = None, check: bool = True) -> str:
    """Run argv, feeding `stdin`; its stdout. CommandError when it fails and `check` is set."""
    proc = await asyncio.create_subprocess_exec(
        *argv, stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate(stdin.encode() if stdin is not None else None)
    if check and proc.returncode:
        raise CommandError(f"{' '.join(argv[:6])}: {err.decode(errors='replace').strip()}")
    return out.decode(errors="replace")


async def ip(*args: str, check: bool = True) -> str:
    return await run("ip", *args, check=check)


async def ip_batch(commands: list[str], *, netns: str = "") -> None:
    """Several `ip` commands in one process (`ip [-n NETNS] -batch -`); stops at the first failing one."""
    await run("ip", *(["-n", netns] if netns else []), "-batch", "-", stdin="\n".join(commands) + "\n")


async def nft(script: str, check: bool = True) -> str:
    return await run("nft", "-f", "-", stdin=script, check=check)

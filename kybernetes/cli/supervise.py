"""Run the all-in-one server's components as child processes: start, restart with back-off, stop."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

MAX_BACKOFF = 30.0
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In the child, before exec: get SIGTERM when the server dies, even by kill -9 (Linux prctl)."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


@dataclass
class Component:
    """One child process: `python -m kybernetes <args>`, its output prefixed into ours."""

    name: str
    args: list[str]
    proc: asyncio.subprocess.Process | None = None
    restarts: int = 0
    task: asyncio.Task[None] | None = None
    env: dict[str, str] = field(default_factory=dict)
    restart_requested: bool = False


class Supervisor:
    """Keeps each component running until stop(); a crashed component is restarted with exponential back-off."""

    def __init__(self) -> None:
        self.components: list[Component] = []
        self._stopping = False
        self._started = False
        self._helpers: list[asyncio.Task[None]] = []

    def add(self, name: str, args: list[str], env: dict[str, str] | None = None) -> None:
        """Add a component; one added after start() starts at once."""
        c = Component(name, args, env=env or {})
        self.components.append(c)
        if self._started and not self._stopping:
            c.task = asyncio.create_task(self._keep_running(c), name=f"supervise-{c.name}")

    def spawn(self, coro) -> None:  # noqa: ANN001 - a coroutine that may add() once what it waits for exists
        """Run `coro` beside the components (cancelled by stop())."""
        self._helpers.append(asyncio.create_task(coro))

    async def start(self) -> None:
        self._started = True
        for c in self.components:
            c.task = asyncio.create_task(self._keep_running(c), name=f"supervise-{c.name}")

    async def _keep_running(self, c: Component) -> None:
        backoff = 1.0
        while not self._stopping:
            env = dict(os.environ, **c.env)
            c.proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "kybernetes", *c.args, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT, env=env, start_new_session=True, preexec_fn=_die_with_parent)
            log.info("started %s (pid %d)", c.name, c.proc.pid)
            started = asyncio.get_running_loop().time()
            await self._relay(c)
            code = await c.proc.wait()
            if self._stopping:
                return
            if c.restart_requested:  # restart(): at once, not a crash
                c.restart_requested = False
                log.info("restarting %s", c.name)
                continue
            if asyncio.get_running_loop().time() - started > 60:
                backoff = 1.0
            c.restarts += 1
            log.warning("%s exited with %s; restarting in %.0fs", c.name, code, backoff)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF)

    def restart(self, name: str) -> None:
        """Stop the component `name` (SIGTERM to its process group); it is started again at once."""
        for c in self.components:
            if c.name == name and c.proc is not None and c.proc.returncode is None:
                c.restart_requested = True
                try:
                    os.killpg(c.proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass

    async def _relay(self, c: Component) -> None:
        assert c.proc is not None and c.proc.stdout is not None
        while True:
            line = await c.proc.stdout.readline()
            if not line:
                return
            sys.stderr.write(f"[{c.name}] {line.decode(errors='replace')}")
            sys.stderr.flush()

    async def stop(self, timeout: float = 10.0) -> None:
        self._stopping = True
        for t in self._helpers:
            t.cancel()
        await asyncio.gather(*self._helpers, return_exceptions=True)
        procs = [c.proc for c in self.components if c.proc and c.proc.returncode is None]
        for p in procs:
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        try:
            await asyncio.wait_for(asyncio.gather(*(p.wait() for p in procs)), timeout)
        except asyncio.TimeoutError:
            for p in procs:
                if p.returncode is None:
                    try:
                        os.killpg(p.pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
        for c in self.components:
            if c.task:
                c.task.cancel()
        await asyncio.gather(*(c.task for c in self.components if c.task), return_exceptions=True)

"""The `process` runtime backend: every container is a supervised host process (see docs/process-runtime.md)."""

from __future__ import annotations

from typing import Any

__all__ = ["ProcessRuntime"]


def __getattr__(name: str) -> Any:
    # Lazy, so that `python -m ...process.shim` starts without importing asyncio and the runtime.
    if name == "ProcessRuntime":
        from kybernetes.kubelet.runtime.process.runtime import ProcessRuntime

        return ProcessRuntime
    raise AttributeError(name)

"""Cluster DNS: the records of CoreDNS's kubernetes plugin served over UDP and TCP (`kybernetes dns`)."""

from __future__ import annotations

from typing import Any

__all__ = ["RR", "Answer", "ClusterDNS", "ClusterRecords", "run_dns"]


def __getattr__(name: str) -> Any:  # lazy: `kybernetes --help` need not import the DNS and HTTP stacks
    if name in ("ClusterDNS", "run_dns"):
        from kybernetes.dns import app

        return getattr(app, name)
    if name in ("RR", "Answer", "ClusterRecords"):
        from kybernetes.dns import records

        return getattr(records, name)
    raise AttributeError(name)

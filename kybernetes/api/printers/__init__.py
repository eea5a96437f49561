"""Server-side printers: per resource, upstream's table columns and how each object's cells are computed."""

from __future__ import annotations

from kybernetes.api.printers import cluster, core, workloads
from kybernetes.api.printers.common import Column, Printer, human_duration
from kybernetes.api.printers.custom import DEFAULT, crd_printer
from kybernetes.api.registry import ResourceInfo

BUILTIN: dict[tuple[str, str], Printer] = {
    **{("", plural): p for plural, p in core.PRINTERS.items()},
    ("events.k8s.io", "events"): core.EVENT_V1,
    **workloads.PRINTERS,
    **cluster.PRINTERS,
}


def printer_for(info: ResourceInfo) -> Printer:
    """The resource's printer: its CRD columns, its built-in printer, else upstream's default table."""
    if info.crd:
        return crd_printer(info.extra.get("printer_columns"))
    return BUILTIN.get((info.group, info.plural), DEFAULT)


__all__ = ["BUILTIN", "Column", "DEFAULT", "Printer", "crd_printer", "human_duration", "printer_for"]

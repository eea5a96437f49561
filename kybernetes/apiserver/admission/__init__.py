"""Admission: the chain of plugins run on every write, mutating ones first, then validating ones (the façade
the generic store calls)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

import orjson

from kybernetes.api.registry import ResourceInfo
from kybernetes.apiserver.admission.interfaces import (
    CONNECT, CREATE, DELETE, UPDATE, Attributes, MutationInterface, PluginContext, Rollback, ValidationInterface)
from kybernetes.apiserver.admission.namespacelifecycle import IMMORTAL_NAMESPACES, NamespaceLifecycle
from kybernetes.apiserver.admission.plugins import ALL_PLUGINS, enabled_plugins, new_plugin
from kybernetes.apiserver.admission.serviceallocation import ServiceAllocation
from kybernetes.apiserver.allocators import IPAllocator, PortAllocator
from kybernetes.apiserver.audit import add_annotations as add_audit_annotations

if TYPE_CHECKING:
    from kybernetes.apiserver.watchcache import WatchCache

__all__ = ["Admission", "Attributes", "CREATE", "UPDATE", "DELETE", "CONNECT", "ALL_PLUGINS", "enabled_plugins",
           "IMMORTAL_NAMESPACES", "MutationInterface", "ValidationInterface", "PluginContext", "Rollback"]

Revalidate = Callable[[dict[str, Any]], None]
SERVICES_KEY_PREFIX = "/registry/core/services/"


def _noop() -> None:
    return None


class Admission:
    """Runs the enabled plugins on every write before it is stored; also allocates Service IPs and ports."""

    def __init__(self, cache: WatchCache, ips: IPAllocator, ports: PortAllocator, *,
                 plugins: list[str] | None = None, registry: Any = None) -> None:
        self.cache = cache
        self.ips = ips
        self.ports = ports
        self.services = ServiceAllocation(ips, ports)
        self.context = PluginContext(cache, {"registry": registry})
        names = enabled_plugins() if plugins is None else list(plugins)
        self.plugins = [new_plugin(n, self.context) for n in names]
        self.mutating = [p for p in self.plugins if hasattr(p, "admit")]
        self.validating = [p for p in self.plugins if hasattr(p, "validate")]
        self._lifecycle = next((p for p in self.plugins if isinstance(p, NamespaceLifecycle)), None)

    @property
    def plugin_names(self) -> list[str]:
        return [p.name for p in self.plugins]

    def sync_allocators(self) -> None:
        """Rebuild the allocators' in-use sets from the cached Services."""
        self.services.sync(list(self.context.objects(SERVICES_KEY_PREFIX).values()))

    # NamespaceLifecycle's early checks (before defaulting, as the store has always called them)

    def check_namespace(self, info: ResourceInfo, namespace: str, name: str) -> None:
        if self._lifecycle is not None:
            self._lifecycle.check_namespace(info, namespace, name)

    def check_namespace_delete(self, info: ResourceInfo, name: str) -> None:
        if self._lifecycle is not None:
            self._lifecycle.check_namespace_delete(info, name)

    # the chain

    async def run(self, a: Attributes, revalidate: Revalidate | None = None) -> None:
        """Mutating plugins in order, then validating ones; a refusal raises StatusError after rolling back."""
        try:
            for p in self.mutating:
                if not p.handles(a.operation):
                    continue
                webhook = p.name == "MutatingAdmissionWebhook" and a.obj is not None and bool(p.matching(a))
                before = orjson.dumps(a.obj) if webhook else b""
                await p.admit(a)
                if webhook and revalidate is not None and orjson.dumps(a.obj) != before:
                    revalidate(a.obj)  # type: ignore[arg-type]
            if a.is_("", "services") and a.obj is not None and a.operation in (CREATE, UPDATE):  # subresource ""
                a.on_rollback(await self.services.allocate(a.obj, a.old if a.operation == UPDATE else None,
                                                           dry_run=a.dry_run))
            for p in self.validating:
                if p.handles(a.operation):
                    await p.validate(a)
        except BaseException:
            a.rollback()
            raise

    async def admit_create(self, info: ResourceInfo, obj: dict[str, Any], ctx: Any = None, *,
                           revalidate: Revalidate | None = None) -> Rollback:
        md = obj.get("metadata") or {}
        a = self._attributes(info, CREATE, md.get("namespace", ""), md.get("name", ""), obj, None, "", ctx)
        try:
            await self.run(a, revalidate)
        finally:
            self._report(a, ctx)
        return a.rollback

    async def admit_update(self, info: ResourceInfo, obj: dict[str, Any], old: dict[str, Any], subresource: str,
                           ctx: Any = None, *, revalidate: Revalidate | None = None) -> Rollback:
        md = old.get("metadata") or {}
        a = self._attributes(info, UPDATE, md.get("namespace", ""), md.get("name", ""), obj, old, subresource, ctx)
        try:
            await self.run(a, revalidate)
        finally:
            self._report(a, ctx)
        return a.rollback

    async def admit_delete(self, info: ResourceInfo, old: dict[str, Any], ctx: Any = None) -> None:
        md = old.get("metadata") or {}
        a = self._attributes(info, DELETE, md.get("namespace", ""), md.get("name", ""), None, old, "", ctx)
        try:
            await self.run(a)
        finally:
            self._report(a, ctx)

    async def released(self, info: ResourceInfo, obj: dict[str, Any]) -> None:
        """An object left storage: give back what it held, in storage before the delete is answered (upstream
        releases in the delete's own call, so the address can be requested again at once, on any apiserver)."""
        if (info.group, info.plural) == ("", "services"):
            self.services.release(obj)
            await self.services.flush()

    async def close(self) -> None:
        for p in self.plugins:
            close = getattr(p, "close", None)
            if close is not None:
                await close()

    @staticmethod
    def _attributes(info: ResourceInfo, op: str, namespace: str, name: str, obj: dict[str, Any] | None,
                    old: dict[str, Any] | None, subresource: str, ctx: Any) -> Attributes:
        return Attributes(info=info, operation=op, namespace=namespace if info.namespaced else "", name=name,
                          obj=obj, old=old, subresource=subresource, user=getattr(ctx, "user", "") or "",
                          groups=list(getattr(ctx, "groups", None) or []),
                          dry_run=bool(getattr(ctx, "dry_run", False)))

    @staticmethod
    def _report(a: Attributes, ctx: Any) -> None:
        warnings = getattr(ctx, "warnings", None)
        if warnings is not None:
            for w in a.warnings:
                if w not in warnings:
                    warnings.append(w)
        audit = getattr(ctx, "audit_annotations", None)
        if isinstance(audit, dict):
            audit.update(a.audit_annotations)
        if a.audit_annotations:
            add_audit_annotations(a.audit_annotations, a.audit_annotation_levels)


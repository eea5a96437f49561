"""The nftables backend: keeps its table (`ip kybernetes`, or one per service range: ruleset.table_name) equal to
the Services, rewriting only what changed."""

from __future__ import annotations

import logging

from kybernetes.proxy.metrics import ProxyMetrics
from kybernetes.proxy.nftables.nft import Tools
from kybernetes.proxy.nftables.ruleset import (FAMILY, RenderContext, ServiceObjects, render_base, render_deletes,
                                               render_service, render_transaction, table_name)
from kybernetes.proxy.proxier import SyncState
from kybernetes.proxy.types import ServicePortName

log = logging.getLogger(__name__)


class NFTablesProxier:
    """ProxyBackend for mode `nftables`.

    The first sync rebuilds the table in one transaction; later syncs re-render only the Services the
    change trackers report and send nft just the difference, in one `nft -f -` run that neither lists nor
    flushes the table. `self.loaded` is the record of what is programmed: an nft transaction is atomic, so it
    matches the kernel after a sync returns. Chains and sets a change leaves unused are flushed at once and
    deleted by the next full sync (or once STALE_LIMIT of them pile up).
    """

    mode = "nftables"
    STALE_LIMIT = 1000

    def __init__(self, *, service_cidr: str = "", cluster_cidr: str = "", nodeport_ips: list[str] | None = None,
                 tools: Tools | None = None, metrics: ProxyMetrics | None = None,
                 pin_route: bool = True, cleanup_on_exit: bool = False, table: str = "") -> None:
        self.ctx = RenderContext(service_cidr=service_cidr, cluster_cidr=cluster_cidr,
                                 nodeport_ips=tuple(nodeport_ips or ()), table=table or table_name(service_cidr))
        self.tools = tools or Tools()
        log.info("nftables mode: table %s %s", FAMILY, self.ctx.table)
        self.metrics = metrics or ProxyMetrics()
        self.pin_route = pin_route
        self.cleanup_on_exit = cleanup_on_exit
        self.loaded: dict[ServicePortName, ServiceObjects] = {}
        self._initialized = False
        self.last_script = ""
        self._pending_stale: set[str] = set()
        self.stale: set[str] = set()  # flushed chains and sets ("set:NAME") still to delete

    def script_for(self, state: SyncState) -> tuple[list[str], dict[ServicePortName, ServiceObjects | None]]:
        """The nft commands for this sync and the objects they leave loaded per Service port."""
        full = state.full or not self._initialized
        if full:
            spns = set(self.loaded) | set(state.service_map)
        else:
            changed = {(n.namespace, n.name) for n in state.result.updated_services}
            spns = {s for s in (*self.loaded, *state.service_map) if (s[0], s[1]) in changed}
        new: dict[ServicePortName, ServiceObjects | None] = {}
        for spn in sorted(spns):
            svc = state.service_map.get(spn)
            new[spn] = render_service(svc, state.endpoints_map.get(spn, []), self.ctx) if svc else None
        base = render_base(self.ctx) if full else None
        if not self._initialized:
            self.stale.clear()
        stale = set(self.stale)
        lines = render_transaction(self.loaded, new, base=base, reset=not self._initialized, stale=stale,
                                   table=self.ctx.table)
        for objs in new.values():  # re-created under the same name: live again
            if objs is not None:
                stale.difference_update(objs.chains)
                stale.difference_update(f"set:{n}" for n in objs.sets)
        if full or len(stale) >= self.STALE_LIMIT:
            chains = sorted(n for n in stale if not n.startswith("set:"))
            lines += render_deletes(chains, sorted(n[4:] for n in stale if n.startswith("set:")), table=self.ctx.table)
            stale = set()
        self._pending_stale = stale
        return lines, new

    async def sync(self, state: SyncState) -> None:
        if state.full and self.pin_route and self.ctx.service_cidr:
            await self.tools.pin_local_route(self.ctx.service_cidr)
        lines, new = self.script_for(state)
        if lines:
            self.last_script = "\n".join(lines) + "\n"
            await self.tools.nft(self.last_script)
        self._initialized = True
        self.stale = self._pending_stale
        for spn, objs in new.items():
            if objs is None:
                self.loaded.pop(spn, None)
            else:
                self.loaded[spn] = objs
        self.metrics.nftables_chains.set(sum(len(o.chains) for o in self.loaded.values()))
        self.metrics.nftables_rules.set(sum(o.rule_count() for o in self.loaded.values()))
        await self._flush_conntrack(state)

    async def _flush_conntrack(self, state: SyncState) -> None:
        """Forget UDP conntrack entries that would keep sending to endpoints that are gone (or to the reject)."""
        r = state.result
        for ip in sorted(r.deleted_udp_cluster_ips):
            await self.tools.conntrack_delete("-p", "udp", "--orig-dst", ip)
        for spn, ep in r.stale_udp_endpoints:
            svc = state.service_map.get(spn)
            if svc is None:
                continue
            await self.tools.conntrack_delete("-p", "udp", "--orig-dst", svc.cluster_ip, "--dst-nat", ep.ip)
            if svc.node_port:
                await self.tools.conntrack_delete("-p", "udp", "--orig-port-dst", str(svc.node_port),
                                                  "--dst-nat", ep.ip)
        for spn in sorted(r.newly_active_udp_services):
            svc = state.service_map.get(spn)
            if svc is None:
                continue
            await self.tools.conntrack_delete("-p", "udp", "--orig-dst", svc.cluster_ip,
                                              "--orig-port-dst", str(svc.port))
            if svc.node_port:
                await self.tools.conntrack_delete("-p", "udp", "--orig-port-dst", str(svc.node_port))

    async def delete_all(self) -> None:
        """Remove the table and the pinned route (`kybernetes proxy --cleanup`, tests, cleanup-on-exit)."""
        await self.tools.run("nft", "delete", "table", FAMILY, self.ctx.table, check=False)
        if self.ctx.service_cidr:
            await self.tools.unpin_local_route(self.ctx.service_cidr)
        self.loaded.clear()
        self.stale.clear()
        self._initialized = False

    async def cleanup(self) -> None:
        if self.cleanup_on_exit:
            await self.delete_all()

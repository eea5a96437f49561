"""Render the proxy's nftables table (`ip kybernetes`, see table_name): fixed base chains and maps, plus
per-Service-port chains and elements.

Rendering is pure (no I/O): `render_service` turns one Service port and its endpoints into named chains,
affinity sets and map elements; `render_transaction` diffs that against what is loaded and writes the
`nft -f -` input that changes only what differs, in an order nft accepts within one atomic transaction.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field

from kybernetes.proxy.topology import categorize_endpoints
from kybernetes.proxy.types import EndpointInfo, ServicePortInfo, ServicePortName

TABLE = "kybernetes"
FAMILY = "ip"
DEFAULT_SERVICE_CIDR = "198.19.0.0/16"
MASQ_MARK = "0x4000"

SERVICE_IPS = "service-ips"
SERVICE_NODEPORTS = "service-nodeports"
NO_ENDPOINT_SERVICES = "no-endpoint-services"
NO_ENDPOINT_NODEPORTS = "no-endpoint-nodeports"
NODEPORT_IPS = "nodeport-ips"


def table_name(service_cidr: str) -> str:
    """The proxy's table: `kybernetes` for the default service range, `kybernetes-<6 hex digits of the range>`
    for any other, so clusters with their own ranges on one machine (test suites start several) never touch
    each other's rules."""
    if not service_cidr or service_cidr == DEFAULT_SERVICE_CIDR:
        return TABLE
    return f"{TABLE}-{hashlib.sha256(service_cidr.encode()).hexdigest()[:6]}"


@dataclass(frozen=True)
class RenderContext:
    """Node-wide settings the rules depend on."""

    service_cidr: str = ""  # traffic still addressed to it after DNAT is rejected
    cluster_cidr: str = ""  # pod range: ClusterIP traffic from outside it is masqueraded
    nodeport_ips: tuple[str, ...] = ()  # () = every local address but loopback
    table: str = TABLE


@dataclass
class ServiceObjects:
    """What one Service port owns in the table."""

    chains: dict[str, tuple[str, ...]] = field(default_factory=dict)
    sets: dict[str, str] = field(default_factory=dict)  # name -> declaration body
    elements: dict[tuple[str, str], str] = field(default_factory=dict)  # (map, key) -> verdict

    def rule_count(self) -> int:
        """Rules in this Service port's chains."""
        return sum(len(r) for r in self.chains.values())


def _hash(s: str) -> str:
    return base64.b32encode(hashlib.sha256(s.encode()).digest())[:8].decode()


def chain_base(spn: ServicePortName) -> str:
    return f"{spn.namespace}/{spn.name}/{spn.protocol.lower()}/{spn.port}"


def service_chain(prefix: str, spn: ServicePortName) -> str:
    base = chain_base(spn)
    return f"{prefix}-{_hash(prefix + base)}-{base}"


def endpoint_chain(spn: ServicePortName, ep: EndpointInfo) -> str:
    base = f"{chain_base(spn)}__{ep.ip}/{ep.port}"
    return f"endpoint-{_hash(base)}-{base}"


def affinity_set(spn: ServicePortName, ep: EndpointInfo, timeout: int) -> str:
    base = f"{chain_base(spn)}__{ep.ip}/{ep.port}"
    return f"affinity-{_hash(f'{base}/{timeout}')}-{base}"


def _balance(endpoints: list[EndpointInfo], svc: ServicePortInfo) -> list[str]:
    """Affinity lookups, then a uniform random pick as a cascade of `numgen` rules.

    Rule i matches with probability 1/(n-i), so each of the n endpoints gets 1/n. No map is used: an
    anonymous `vmap { ... }` makes the kernel scan all the table's sets to name it (quadratic loads), and a
    named map per Service makes every later `nft` run fetch 10,000 sets into its cache (slow incremental syncs).
    """
    rules = []
    if svc.session_affinity_timeout:
        for e in endpoints:
            rules.append(f"ip saddr @{affinity_set(svc.name, e, svc.session_affinity_timeout)} "
                         f"goto {endpoint_chain(svc.name, e)}")
    n = len(endpoints)
    for i, e in enumerate(endpoints[:-1]):
        rules.append(f"numgen random mod {n - i} 0 goto {endpoint_chain(svc.name, e)}")
    rules.append(f"goto {endpoint_chain(svc.name, endpoints[-1])}")
    return rules


def render_service(svc: ServicePortInfo, endpoints: list[EndpointInfo], ctx: RenderContext) -> ServiceObjects:
    """The chains, affinity sets and map elements of one Service port (upstream's nftables proxier layout)."""
    out = ServiceObjects()
    spn, proto = svc.name, svc.protocol.lower()
    cat = categorize_endpoints(endpoints, svc)
    cluster_chain = service_chain("service", spn)
    local_chain = service_chain("local", spn)
    ext_chain = service_chain("external", spn)
    no_eps = "goto reject-chain" if not cat.has_any else "drop"

    if cat.cluster:
        masq = (f"ip daddr {svc.cluster_ip} {proto} dport {svc.port} ip saddr != {ctx.cluster_cidr} "
                if ctx.cluster_cidr else "fib saddr type local ")
        out.chains[cluster_chain] = (masq + "jump mark-for-masquerade",
                                     *_balance(cat.cluster, svc))
    if cat.local:
        out.chains[local_chain] = tuple(_balance(cat.local, svc))
    for e in cat.all_reachable:
        rules = [f"ip saddr {e.ip} jump mark-for-masquerade"]
        if svc.session_affinity_timeout:
            aset = affinity_set(spn, e, svc.session_affinity_timeout)
            out.sets[aset] = f"type ipv4_addr; flags dynamic,timeout; timeout {svc.session_affinity_timeout}s;"
            rules.append(f"update @{aset} {{ ip saddr }}")
        rules.append(f"meta l4proto {proto} dnat to {e.ip}:{e.port}")
        out.chains[endpoint_chain(spn, e)] = tuple(rules)

    internal = local_chain if svc.internal_policy_local else cluster_chain
    external = local_chain if svc.external_policy_local else cluster_chain
    has_internal, has_external = internal in out.chains, external in out.chains
    if has_external and svc.externally_accessible:
        if svc.external_policy_local:
            rules = ["fib saddr type local jump mark-for-masquerade"]
            if cluster_chain in out.chains:
                rules.append(f"fib saddr type local goto {cluster_chain}")
            rules.append(f"goto {local_chain}")
        else:
            rules = ["jump mark-for-masquerade", f"goto {cluster_chain}"]
        out.chains[ext_chain] = tuple(rules)

    key = f"{svc.cluster_ip} . {proto} . {svc.port}"
    if has_internal:
        out.elements[(SERVICE_IPS, key)] = f"goto {internal}"
    else:
        out.elements[(NO_ENDPOINT_SERVICES, key)] = no_eps
    for ip in sorted(set(svc.external_ips) | set(svc.load_balancer_ips)):
        k = f"{ip} . {proto} . {svc.port}"
        if has_external:
            out.elements[(SERVICE_IPS, k)] = f"goto {ext_chain}"
        else:
            out.elements[(NO_ENDPOINT_SERVICES, k)] = no_eps
    if svc.node_port:
        k = f"{proto} . {svc.node_port}"
        if has_external:
            out.elements[(SERVICE_NODEPORTS, k)] = f"goto {ext_chain}"
        else:
            out.elements[(NO_ENDPOINT_NODEPORTS, k)] = no_eps
    return out


def render_base(ctx: RenderContext) -> list[str]:
    """Commands creating the fixed part of the table (idempotent `add`s, and flushes of the fixed chains)."""
    t = f"{FAMILY} {ctx.table}"
    nodeport_match = (f"ip daddr @{NODEPORT_IPS}" if ctx.nodeport_ips
                      else "fib daddr type local ip daddr != 127.0.0.0/8")
    lines = [
        f'add table {t} {{ comment "rules for kybernetes proxy"; }}',
        f"add map {t} {SERVICE_IPS} {{ type ipv4_addr . inet_proto . inet_service : verdict; }}",
        f"add map {t} {SERVICE_NODEPORTS} {{ type inet_proto . inet_service : verdict; }}",
        f"add map {t} {NO_ENDPOINT_SERVICES} {{ type ipv4_addr . inet_proto . inet_service : verdict; }}",
        f"add map {t} {NO_ENDPOINT_NODEPORTS} {{ type inet_proto . inet_service : verdict; }}",
        f"add set {t} {NODEPORT_IPS} {{ type ipv4_addr; }}",
        f"flush set {t} {NODEPORT_IPS}",
    ]
    if ctx.nodeport_ips:
        lines.append(f"add element {t} {NODEPORT_IPS} {{ {', '.join(ctx.nodeport_ips)} }}")
    chains: list[tuple[str, str, list[str]]] = [
        ("mark-for-masquerade", "", [f"meta mark set meta mark or {MASQ_MARK}"]),
        ("masquerading", "", [f"meta mark & {MASQ_MARK} == 0 return", f"meta mark set meta mark xor {MASQ_MARK}",
                              "masquerade fully-random"]),
        ("services", "", [f"ip daddr . meta l4proto . th dport vmap @{SERVICE_IPS}",
                          f"{nodeport_match} meta l4proto . th dport vmap @{SERVICE_NODEPORTS}"]),
        ("reject-chain", "", ["meta l4proto tcp reject with tcp reset", "reject"]),
        ("endpoints-check", "", [f"ip daddr . meta l4proto . th dport vmap @{NO_ENDPOINT_SERVICES}",
                                 f"{nodeport_match} meta l4proto . th dport vmap @{NO_ENDPOINT_NODEPORTS}"]),
        ("nat-prerouting", "type nat hook prerouting priority dstnat; policy accept;", ["jump services"]),
        ("nat-output", "type nat hook output priority -100; policy accept;", ["jump services"]),
        ("nat-postrouting", "type nat hook postrouting priority srcnat; policy accept;", ["jump masquerading"]),
        ("filter-input", "type filter hook input priority -110; policy accept;",
         ["ct state new jump endpoints-check"] + ([f"ct state new ip daddr {ctx.service_cidr} jump reject-chain"]
                                                 if ctx.service_cidr else [])),
        ("filter-forward", "type filter hook forward priority -110; policy accept;",
         ["ct state new jump endpoints-check"] + ([f"ct state new ip daddr {ctx.service_cidr} drop"]
                                                 if ctx.service_cidr else [])),
        ("filter-output", "type filter hook output priority -110; policy accept;",
         ["ct state new jump endpoints-check"]),
    ]
    for name, hook, rules in chains:
        lines.append(f"add chain {t} {name}" + (f" {{ {hook} }}" if hook else ""))
        lines.append(f"flush chain {t} {name}")
        lines += [f"add rule {t} {name} {r}" for r in rules]
    return lines


def render_transaction(old: dict[ServicePortName, ServiceObjects], new: dict[ServicePortName, ServiceObjects | None],
                       *, base: list[str] | None = None, reset: bool = False,
                       stale: set[str] | None = None, table: str = TABLE) -> list[str]:
    """nft commands taking the Service ports in `new` from their `old` objects (None in `new` = removed).

    With `reset` the table is deleted and rebuilt from `base` (the first sync). Order matters: stale map
    elements go first, then new sets and chains are declared, changed chains rewritten, new elements added,
    and finally the chains and sets nothing refers to any more are deleted.

    With `stale` given, chains and sets no longer needed are only flushed (emptied, so unreferenced) and
    their names added to `stale` instead of deleted: `delete chain`/`delete set` make nft read the table's
    rules into its cache, which is what makes a one-Service change slow in a big table. `render_deletes`
    removes them later, in a sync that is slow anyway.
    """
    t = f"{FAMILY} {table}"
    empty = ServiceObjects()
    lines: list[str] = []
    if reset:
        lines += [f"add table {t}", f"delete table {t}"]
    lines += base or []
    del_elems: dict[str, list[str]] = {}
    add_elems: dict[str, list[str]] = {}
    add_sets: list[str] = []
    add_chains: list[str] = []
    rules: list[str] = []
    flush_sets: list[str] = []
    gone_chains: list[str] = []
    gone_sets: list[str] = []
    for spn, objs in new.items():
        before = empty if reset else old.get(spn, empty)
        after = objs or empty
        for (m, k), v in before.elements.items():
            if after.elements.get((m, k)) != v:
                del_elems.setdefault(m, []).append(k)
        for (m, k), v in after.elements.items():
            if before.elements.get((m, k)) != v:
                add_elems.setdefault(m, []).append(f"{k} : {v}")
        for name, decl in after.sets.items():
            if name not in before.sets:
                add_sets.append(f"add set {t} {name} {{ {decl} }}")
        gone_sets += [name for name in before.sets if name not in after.sets]
        for name, body in after.chains.items():
            prev = before.chains.get(name)
            if prev == body:
                continue
            if prev is None:
                add_chains.append(f"add chain {t} {name}")
            else:
                rules.append(f"flush chain {t} {name}")
            rules += [f"add rule {t} {name} {r}" for r in body]
        for name in before.chains:
            if name not in after.chains:
                rules.append(f"flush chain {t} {name}")
                gone_chains.append(name)
    if stale is None:
        deletes = render_deletes(gone_chains, gone_sets, table=table)
    else:
        flush_sets = [f"flush set {t} {name}" for name in gone_sets]
        stale.update(gone_chains)
        stale.update(f"set:{name}" for name in gone_sets)
        deletes = []
    # one command per map: nft handles a batch of elements far faster than as many commands
    dels = [f"delete element {t} {m} {{ {', '.join(ks)} }}" for m, ks in sorted(del_elems.items())]
    adds = [f"add element {t} {m} {{ {', '.join(es)} }}" for m, es in sorted(add_elems.items())]
    return lines + dels + add_sets + add_chains + rules + adds + flush_sets + deletes


def render_deletes(chains: list[str], sets: list[str], *, table: str = TABLE) -> list[str]:
    """Delete empty, unreferenced chains and then sets (both must already be flushed or unused)."""
    t = f"{FAMILY} {table}"
    return [f"delete chain {t} {c}" for c in chains] + [f"delete set {t} {s}" for s in sets]

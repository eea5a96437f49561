"""Create or reconcile the default RBAC policy at apiserver start (upstream's storage_rbac post-start hook)."""

from __future__ import annotations

import asyncio
import copy
import logging
from typing import TYPE_CHECKING, Any

from kybernetes.api import errors
from kybernetes.apiserver.authz import bootstrappolicy as policy
from kybernetes.apiserver.authz.aggregation import aggregated_rules
from kybernetes.apiserver.rest import RequestContext

if TYPE_CHECKING:
    from kybernetes.apiserver.server import APIServer

log = logging.getLogger(__name__)
Obj = dict[str, Any]


def _ctx() -> RequestContext:
    return RequestContext(field_manager="kube-apiserver", user="system:apiserver", groups=["system:masters"])


def _merged_metadata(existing: Obj, expected: Obj) -> Obj | None:
    """A copy of existing with expected's labels and annotations added; None when autoupdate is off."""
    md = existing.get("metadata") or {}
    if (md.get("annotations") or {}).get(policy.AUTOUPDATE) == "false":
        return None
    out = copy.deepcopy(existing)
    omd = out.setdefault("metadata", {})
    emd = expected["metadata"]
    omd["labels"] = {**(omd.get("labels") or {}), **emd.get("labels", {})}
    omd["annotations"] = {**emd.get("annotations", {}), **(omd.get("annotations") or {})}
    return out


def _add_missing(out: Obj, expected: Obj, field: str) -> None:
    """Append expected's items of a list field that out lacks (reconciliation only ever adds)."""
    items = list(out.get(field) or [])
    items.extend(x for x in expected.get(field) or () if x not in items)
    out[field] = items


def reconcile_role(existing: Obj, expected: Obj) -> Obj | None:
    """The updated role when autoupdate allows and something expected is missing (rules, labels,
    annotations, aggregationRule are only ever added to); None when nothing changes."""
    out = _merged_metadata(existing, expected)
    if out is None:
        return None
    _add_missing(out, expected, "rules")
    if "aggregationRule" in expected:
        agg = copy.deepcopy(out.get("aggregationRule") or {"clusterRoleSelectors": []})
        _add_missing(agg, expected["aggregationRule"], "clusterRoleSelectors")
        out["aggregationRule"] = agg
    return out if out != existing else None


def reconcile_binding(existing: Obj, expected: Obj) -> Obj | None:
    """Adds missing subjects (and labels/annotations); None when nothing changes or autoupdate is off."""
    out = _merged_metadata(existing, expected)
    if out is None:
        return None
    _add_missing(out, expected, "subjects")
    return out if out != existing else None


async def _apply(server: APIServer, plural: str, expected: Obj, reconcile: Any) -> None:
    info = server.registry.get(policy.RBAC_GROUP, "v1", plural)
    assert info is not None
    md = expected["metadata"]
    ns, name = md.get("namespace", ""), md["name"]
    existing = server.cache.cache_for(info.storage_prefix).objects.get(info.key(ns, name))
    if existing is None:
        try:
            await server.rest.create(info, ns, copy.deepcopy(expected), _ctx())
        except errors.StatusError as e:
            if e.code != 409:
                raise
        return
    if plural.endswith("bindings") and existing.get("roleRef") != expected.get("roleRef"):
        if (existing["metadata"].get("annotations") or {}).get(policy.AUTOUPDATE) != "false":
            await server.rest.delete(info, ns, name, {}, _ctx())
            await server.rest.create(info, ns, copy.deepcopy(expected), _ctx())
        return
    updated = reconcile(existing, expected)
    if updated is not None:
        try:
            await server.rest.update(info, ns, name, updated, _ctx())
        except errors.StatusError as e:
            if e.code != 409:
                raise


async def _fill_aggregated(server: APIServer) -> None:
    """Aggregated roles get their rules now, so a lone apiserver serves usable admin/edit/view; the
    clusterrole-aggregation controller keeps them current afterwards."""
    info = server.registry.get(policy.RBAC_GROUP, "v1", "clusterroles")
    assert info is not None
    objects = server.cache.cache_for(info.storage_prefix).objects
    for _ in range(3):  # aggregated roles may select other aggregated roles (admin <- edit <- view)
        changed = False
        roles = list(objects.values())
        for role in roles:
            rules = aggregated_rules(role, roles)
            if rules is None or rules == (role.get("rules") or []):
                continue
            updated = copy.deepcopy(role)
            updated["rules"] = rules
            try:
                await server.rest.update(info, "", role["metadata"]["name"], updated, _ctx())
                changed = True
            except errors.StatusError as e:
                if e.code != 409:
                    raise
        if not changed:
            return


async def ensure_bootstrap_policy(server: APIServer) -> None:
    """Create every default role and binding that is missing; add what is missing to the autoupdated ones."""
    await asyncio.gather(
        *(_apply(server, "clusterroles", r, reconcile_role) for r in policy.all_cluster_roles()),
        *(_apply(server, "clusterrolebindings", b, reconcile_binding) for b in policy.all_cluster_role_bindings()),
        *(_apply(server, "roles", r, reconcile_role) for r in policy.namespace_roles()),
        *(_apply(server, "rolebindings", b, reconcile_binding) for b in policy.namespace_role_bindings()))
    await _fill_aggregated(server)

"""Resource discovery for the garbage collector and namespace controller: preferred versions from /api and /apis."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from kybernetes.client import RESTClient


@dataclass(frozen=True)
class APIResource:
    """One resource (no subresources) at its group's preferred version."""

    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool
    verbs: frozenset[str] = field(default_factory=frozenset)

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def group_resource(self) -> str:
        """'pods' or 'deployments.apps', as upstream prints it."""
        return f"{self.plural}.{self.group}" if self.group else self.plural


@dataclass
class Discovery:
    """What one discovery pass found; `failed` maps 'group/version' to the error text of versions that failed."""

    resources: list[APIResource]
    failed: dict[str, str]


def parse_resource_list(group: str, version: str, body: dict[str, Any]) -> list[APIResource]:
    """The APIResources of one APIResourceList, subresources left out."""
    out = []
    for r in body.get("resources") or []:
        name = r.get("name", "")
        if not name or "/" in name:
            continue
        out.append(APIResource(group, version, name, r.get("kind", ""), bool(r.get("namespaced")),
                               frozenset(r.get("verbs") or ())))
    return out


async def discover(client: RESTClient) -> Discovery:
    """Every resource of every group at its preferred version (upstream's ServerPreferredResources)."""
    versions: list[tuple[str, str]] = [("", "v1")]
    groups = await client.get("/apis")
    for g in groups.get("groups") or []:
        pref = (g.get("preferredVersion") or {}).get("version") or ((g.get("versions") or [{}])[0].get("version"))
        if pref:
            versions.append((g.get("name", ""), pref))

    async def fetch(group: str, version: str) -> list[APIResource] | Exception:
        path = f"/apis/{group}/{version}" if group else f"/api/{version}"
        try:
            return parse_resource_list(group, version, await client.get(path))
        except Exception as e:  # noqa: BLE001 -- reported per group version
            return e

    results = await asyncio.gather(*(fetch(g, v) for g, v in versions))
    resources: list[APIResource] = []
    failed: dict[str, str] = {}
    for (g, v), res in zip(versions, results):
        if isinstance(res, Exception):
            failed[f"{g}/{v}" if g else v] = str(res)
        else:
            resources.extend(res)
    return Discovery(resources, failed)


def deletable_namespaced(resources: list[APIResource]) -> list[APIResource]:
    """Namespaced resources the namespace controller must empty (listable and deletable)."""
    return [r for r in resources if r.namespaced and {"list", "deletecollection", "delete"} & r.verbs
            and "list" in r.verbs]


def gc_resources(resources: list[APIResource]) -> list[APIResource]:
    """Resources the garbage collector tracks: listable, watchable and deletable (upstream's GetDeletableResources)."""
    skip = {("", "events"), ("events.k8s.io", "events")}
    return [r for r in resources if {"list", "watch", "delete"} <= r.verbs and (r.group, r.plural) not in skip]

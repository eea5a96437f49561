"""ControllerRevisions as upstream's pkg/controller/history: hashing, naming, ordering and creating the
snapshots of a DaemonSet's or StatefulSet's pod template, shared by both controllers."""

from __future__ import annotations

import copy
from typing import Any

import orjson

from kybernetes.api.selectors import LabelSelector
from kybernetes.client import ApiError, RESTClient, resource_path
from kybernetes.controllers.controller_utils import ControllerRefManager, is_being_deleted, new_controller_ref
from kybernetes.controllers.deployment.util import fnv32a, safe_encode_string

Obj = dict[str, Any]

CONTROLLER_REVISION_HASH_LABEL = "controller-revision-hash"
_MAX_PREFIX = 223


def _normalize(value: Any) -> Any:
    if isinstance(value, dict):
        out = {k: _normalize(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v is not None and v != {} and v != []}
    if isinstance(value, list):
        return [_normalize(v) for v in value]
    return value


def canonical(data: Any) -> bytes:
    return orjson.dumps(_normalize(data), option=orjson.OPT_SORT_KEYS)


def hash_controller_revision(data: Obj, collision_count: int | None) -> str:
    """HashControllerRevision: fnv32a of the revision's data (plus the collision count), safe-encoded."""
    raw = canonical(data)
    if collision_count:
        raw += str(collision_count).encode()
    return safe_encode_string(str(fnv32a(raw)))


def controller_revision_name(prefix: str, hash_: str) -> str:
    return f"{prefix[:_MAX_PREFIX]}-{hash_}"


def template_patch(template: Obj | None) -> Obj:
    """The data a DaemonSet or StatefulSet stores in a revision: its pod template, replacing the whole."""
    return {"spec": {"template": {**copy.deepcopy(template or {}), "$patch": "replace"}}}


def template_of_revision(revision: Obj) -> Obj:
    """The pod template a revision snapshots (the inverse of template_patch)."""
    t = copy.deepcopy(((revision.get("data") or {}).get("spec") or {}).get("template") or {})
    t.pop("$patch", None)
    return t


def new_controller_revision(parent: Obj, *, api_version: str, kind: str, data: Obj, revision: int,
                            collision_count: int | None) -> Obj:
    """NewControllerRevision: named <parent>-<hash>, labelled like the parent's template, controlled by it."""
    md = parent["metadata"]
    labels = dict((((parent.get("spec") or {}).get("template") or {}).get("metadata") or {}).get("labels") or {})
    hash_ = hash_controller_revision(data, collision_count)
    labels[CONTROLLER_REVISION_HASH_LABEL] = hash_
    return {"apiVersion": "apps/v1", "kind": "ControllerRevision",
            "metadata": {"name": controller_revision_name(md["name"], hash_), "namespace": md["namespace"],
                         "labels": labels,
                         "ownerReferences": [new_controller_ref(parent, api_version=api_version, kind=kind)]},
            "data": data, "revision": revision}


def equal_revision(a: Obj | None, b: Obj | None) -> bool:
    """EqualRevision: same data (the hash label is only a shortcut upstream; data decides)."""
    if a is None or b is None:
        return a is b
    return canonical(a.get("data")) == canonical(b.get("data"))


def find_equal_revisions(revisions: list[Obj], needle: Obj) -> list[Obj]:
    return [r for r in revisions if equal_revision(r, needle)]


def sort_revisions(revisions: list[Obj]) -> list[Obj]:
    """Oldest first: by revision number, then creation time, then name."""
    return sorted(revisions, key=lambda r: (int(r.get("revision") or 0), r["metadata"].get("creationTimestamp", ""),
                                            r["metadata"]["name"]))


def next_revision(revisions: list[Obj]) -> int:
    return max((int(r.get("revision") or 0) for r in revisions), default=0) + 1


def revisions_path(namespace: str, name: str | None = None) -> str:
    return resource_path("apps", "v1", "controllerrevisions", namespace, name)


async def claim_revisions(client: RESTClient, parent: Obj, selector: LabelSelector, revisions: list[Obj], *,
                          api_version: str, kind: str, parent_path: str) -> list[Obj]:
    """Adopt orphan revisions matching the parent's selector and release ones that stopped matching."""
    async def can_adopt() -> bool:
        try:
            fresh = await client.get(parent_path)
        except ApiError as e:
            if e.not_found:
                return False
            raise
        return fresh["metadata"].get("uid") == parent["metadata"]["uid"] and not is_being_deleted(fresh)

    mgr = ControllerRefManager(client, parent, selector, api_version=api_version, kind=kind,
                               path_of=lambda r: revisions_path(r["metadata"]["namespace"], r["metadata"]["name"]),
                               can_adopt=can_adopt)
    return await mgr.claim(revisions)


async def create_controller_revision(client: RESTClient, parent: Obj, revision: Obj,
                                     collision_count: int) -> tuple[Obj, int]:
    """Create `revision` (built with collision_count 0); on a hash collision with different data, bump the
    collision count and retry. Returns (the stored revision, the collision count used)."""
    ns = parent["metadata"]["namespace"]
    while True:
        candidate = copy.deepcopy(revision)
        hash_ = hash_controller_revision(candidate["data"], collision_count)
        candidate["metadata"]["name"] = controller_revision_name(parent["metadata"]["name"], hash_)
        candidate["metadata"].setdefault("labels", {})[CONTROLLER_REVISION_HASH_LABEL] = hash_
        try:
            return await client.create(revisions_path(ns), candidate), collision_count
        except ApiError as e:
            if e.code != 409:
                raise
        existing = await client.get(revisions_path(ns, candidate["metadata"]["name"]))
        owner = next((r for r in existing["metadata"].get("ownerReferences") or () if r.get("controller")), None)
        if equal_revision(existing, candidate) and owner is not None and \
                owner.get("uid") == parent["metadata"]["uid"]:
            return existing, collision_count
        collision_count += 1


async def update_revision_number(client: RESTClient, revision: Obj, number: int) -> Obj:
    if int(revision.get("revision") or 0) == number:
        return revision
    md = revision["metadata"]
    return await client.patch(revisions_path(md["namespace"], md["name"]), {"revision": number}, "merge")


async def delete_revision(client: RESTClient, revision: Obj) -> None:
    md = revision["metadata"]
    try:
        await client.delete(revisions_path(md["namespace"], md["name"]), body={"preconditions": {"uid": md["uid"]}})
    except ApiError as e:
        if not (e.not_found or e.conflict):
            raise


async def ensure_update_revision(client: RESTClient, parent: Obj, revisions: list[Obj], *, api_version: str,
                                 kind: str, collision_count: int) -> tuple[Obj, int]:
    """The revision of the parent's current template (getStatefulSetRevisions / constructHistory): the newest
    equal revision if it is the latest one; an older equal one renumbered past the latest (a roll back); or a
    new revision. Duplicates of equal data are deleted. Returns (revision, collision count)."""
    data = template_patch((parent.get("spec") or {}).get("template"))
    ordered = sort_revisions(revisions)
    number = next_revision(ordered)
    equal = [r for r in ordered if canonical(r.get("data")) == canonical(data)]
    for dup in equal[:-1]:
        await delete_revision(client, dup)
    if equal and ordered and equal[-1]["metadata"]["name"] == ordered[-1]["metadata"]["name"]:
        return equal[-1], collision_count
    if equal:
        return await update_revision_number(client, equal[-1], number), collision_count
    rev = new_controller_revision(parent, api_version=api_version, kind=kind, data=data, revision=number,
                                  collision_count=collision_count)
    return await create_controller_revision(client, parent, rev, collision_count)

"""Static pods from a manifest directory (upstream pkg/kubelet/config/file.go) and their mirror pods in the API.

Each YAML file holds one Pod. The kubelet names it <name>-<node>, gives it a uid hashed from the file's content,
the file name and the node name, and the annotations kubernetes.io/config.{hash,source,seen}. Its mirror pod
(annotation kubernetes.io/config.mirror = the hash) makes it visible in the API.
"""

from __future__ import annotations

import copy
import hashlib
import logging
import os
from typing import Any

import orjson
import yaml

from kybernetes.api.defaults.core import set_defaults_pod
from kybernetes.client.rest import ApiError, RESTClient, resource_path

log = logging.getLogger(__name__)
Obj = dict[str, Any]

ANNOTATION_HASH = "kubernetes.io/config.hash"
ANNOTATION_SOURCE = "kubernetes.io/config.source"
ANNOTATION_SEEN = "kubernetes.io/config.seen"
ANNOTATION_MIRROR = "kubernetes.io/config.mirror"


def read_manifests(path: str, node_name: str) -> list[Obj]:
    """Every valid pod of the directory (or single file); invalid files are logged and skipped."""
    if not path or not os.path.exists(path):
        return []
    files = [path] if os.path.isfile(path) else sorted(
        os.path.join(path, f) for f in os.listdir(path) if not f.startswith(".") and os.path.isfile(os.path.join(path, f)))
    pods = []
    for f in files:
        try:
            with open(f) as fh:
                doc = yaml.safe_load(fh)
        except (OSError, yaml.YAMLError) as e:
            log.warning("static pod %s: %s", f, e)
            continue
        if not isinstance(doc, dict) or doc.get("kind", "Pod") != "Pod" or not (doc.get("metadata") or {}).get("name"):
            log.warning("static pod %s: not a Pod with a name", f)
            continue
        pods.append(static_pod(doc, f, node_name))
    return pods


def static_pod(doc: Obj, source: str, node_name: str) -> Obj:
    pod = copy.deepcopy(doc)
    pod["apiVersion"], pod["kind"] = "v1", "Pod"
    md = pod.setdefault("metadata", {})
    md.setdefault("namespace", "default")
    digest = hashlib.md5(orjson.dumps(doc, option=orjson.OPT_SORT_KEYS) + source.encode() + node_name.encode(),
                         usedforsecurity=False).hexdigest()
    md["uid"] = digest
    md["name"] = f"{md['name']}-{node_name}"
    md["annotations"] = {**(md.get("annotations") or {}), ANNOTATION_HASH: digest, ANNOTATION_SOURCE: "file",
                         ANNOTATION_SEEN: "2000-01-01T00:00:00Z"}
    spec = pod.setdefault("spec", {})
    spec["nodeName"] = node_name
    tolerations = spec.setdefault("tolerations", [])
    if not any(t.get("operator") == "Exists" and not t.get("key") for t in tolerations):
        tolerations.append({"operator": "Exists", "effect": "NoExecute"})
    set_defaults_pod(pod)
    pod.setdefault("status", {})
    return pod


def mirror_pod(pod: Obj, node_uid: str) -> Obj:
    mirror = copy.deepcopy(pod)
    md = mirror["metadata"]
    md.pop("uid", None)
    md["annotations"][ANNOTATION_MIRROR] = md["annotations"][ANNOTATION_HASH]
    if node_uid:
        md["ownerReferences"] = [{"apiVersion": "v1", "kind": "Node", "name": pod["spec"]["nodeName"],
                                  "uid": node_uid, "controller": True}]
    mirror.pop("status", None)
    return mirror


async def sync_mirror(client: RESTClient, pod: Obj, existing: Obj | None, node_uid: str) -> None:
    """Create the mirror pod, or replace one that is stale (another hash) or being deleted."""
    md = pod["metadata"]
    path = resource_path("", "v1", "pods", md["namespace"])
    if existing is not None:
        emd = existing["metadata"]
        if (emd.get("annotations") or {}).get(ANNOTATION_MIRROR) == md["annotations"][ANNOTATION_HASH] \
                and not emd.get("deletionTimestamp"):
            return
        try:
            await client.delete(f"{path}/{md['name']}", body={"gracePeriodSeconds": 0,
                                                             "preconditions": {"uid": emd["uid"]}})
        except ApiError as e:
            if not (e.not_found or e.conflict):
                raise
    try:
        await client.create(path, mirror_pod(pod, node_uid))
    except ApiError as e:
        if not e.conflict:
            log.warning("mirror pod %s: %s", md["name"], e)


async def delete_mirror(client: RESTClient, mirror: Obj) -> None:
    md = mirror["metadata"]
    try:
        await client.delete(resource_path("", "v1", "pods", md.get("namespace"), md["name"]),
                            body={"gracePeriodSeconds": 0, "preconditions": {"uid": md["uid"]}})
    except ApiError as e:
        if not (e.not_found or e.conflict):
            raise

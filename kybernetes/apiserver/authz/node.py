"""The Node authorizer: a kubelet (system:node:<name> in system:nodes) reaches only what its pods use.

A graph kept from the watch cache links each pod bound to a node to the secrets, configmaps, persistent volume
claims and service accounts it references; a claim leads on to its bound volume. Read or token requests for
those types are allowed only along a path to the requesting node. Everything else a node does is checked
against the system:node rules, narrowed to its own Node, Lease and pods.
"""

from __future__ import annotations

import collections
from typing import TYPE_CHECKING, Any, Iterator

from kybernetes.apiserver.authn import UserInfo
from kybernetes.apiserver.authz import Attributes, Decision
from kybernetes.apiserver.authz.bootstrappolicy import node_rules
from kybernetes.apiserver.authz.rbac import rules_allow

if TYPE_CHECKING:
    from kybernetes.apiserver.watchcache import CacheWatcher, WatchCache

NODES_GROUP = "system:nodes"
NODE_USER_PREFIX = "system:node:"
NODE_LEASE_NAMESPACE = "kube-node-lease"
PODS_PREFIX = "/registry/core/pods/"
PVCS_PREFIX = "/registry/core/persistentvolumeclaims/"

Ref = tuple[str, str, str]  # (vertex type, namespace, name)


def node_identity(user: UserInfo) -> tuple[bool, str]:
    """(is a node, node name): upstream's NodeIdentifier wants both the group and the user-name prefix."""
    if NODES_GROUP not in user.groups or not user.name.startswith(NODE_USER_PREFIX):
        return False, ""
    return True, user.name[len(NODE_USER_PREFIX):]


def _containers(spec: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for key in ("initContainers", "containers", "ephemeralContainers"):
        for c in spec.get(key) or ():
            if isinstance(c, dict):
                yield c


def pod_references(pod: dict[str, Any]) -> set[Ref]:
    """The secrets, configmaps, claims and service account a pod uses (upstream's graph_populator)."""
    md, spec = pod.get("metadata") or {}, pod.get("spec") or {}
    ns = md.get("namespace", "")
    refs: set[Ref] = {("pod", ns, md.get("name", ""))}
    sa = spec.get("serviceAccountName") or spec.get("serviceAccount")
    if sa:
        refs.add(("serviceaccount", ns, sa))
    for s in spec.get("imagePullSecrets") or ():
        if isinstance(s, dict) and s.get("name"):
            refs.add(("secret", ns, s["name"]))
    for c in _containers(spec):
        for e in c.get("envFrom") or ():
            if (e.get("secretRef") or {}).get("name"):
                refs.add(("secret", ns, e["secretRef"]["name"]))
            if (e.get("configMapRef") or {}).get("name"):
                refs.add(("configmap", ns, e["configMapRef"]["name"]))
        for e in c.get("env") or ():
            vf = e.get("valueFrom") or {}
            if (vf.get("secretKeyRef") or {}).get("name"):
                refs.add(("secret", ns, vf["secretKeyRef"]["name"]))
            if (vf.get("configMapKeyRef") or {}).get("name"):
                refs.add(("configmap", ns, vf["configMapKeyRef"]["name"]))
    for v in spec.get("volumes") or ():
        if not isinstance(v, dict):
            continue
        if (v.get("secret") or {}).get("secretName"):
            refs.add(("secret", ns, v["secret"]["secretName"]))
        if (v.get("configMap") or {}).get("name"):
            refs.add(("configmap", ns, v["configMap"]["name"]))
        if (v.get("persistentVolumeClaim") or {}).get("claimName"):
            refs.add(("pvc", ns, v["persistentVolumeClaim"]["claimName"]))
        if isinstance(v.get("ephemeral"), dict):
            refs.add(("pvc", ns, f"{md.get('name', '')}-{v.get('name', '')}"))
        for src in (v.get("projected") or {}).get("sources") or ():
            if (src.get("secret") or {}).get("name"):
                refs.add(("secret", ns, src["secret"]["name"]))
            if (src.get("configMap") or {}).get("name"):
                refs.add(("configmap", ns, src["configMap"]["name"]))
        for typ in v.values():
            if isinstance(typ, dict):
                for key in ("secretRef", "nodePublishSecretRef"):
                    ref = typ.get(key)
                    if isinstance(ref, dict) and ref.get("name"):
                        refs.add(("secret", ref.get("namespace") or ns, ref["name"]))
    return refs


class NodeGraph:
    """Which node each referenced object is reachable from, kept current from the cache's pod events.

    `sync()` drains the pod watcher's queue, so a decision always sees every pod the cache holds.
    """

    def __init__(self, cache: WatchCache) -> None:
        self.cache = cache
        self._watcher: CacheWatcher | None = None
        self.pods: dict[str, tuple[str, set[Ref]]] = {}  # pod key -> (node, refs)
        self.by_node: dict[str, collections.Counter[Ref]] = {}

    def _rebuild(self) -> None:
        if self._watcher is not None:
            self.cache.unwatch(self._watcher)
        self.pods.clear()
        self.by_node.clear()
        # no await between the snapshot and the watch: nothing is missed
        for key, pod in list(self.cache.cache_for(PODS_PREFIX).objects.items()):
            self._set(key, pod)
        self._watcher = self.cache.watch(PODS_PREFIX, lambda _obj: True)

    def _set(self, key: str, pod: dict[str, Any] | None) -> None:
        old = self.pods.pop(key, None)
        if old is not None:
            counts = self.by_node.get(old[0])
            if counts is not None:
                counts.subtract(old[1])
                for ref in old[1]:
                    if counts[ref] <= 0:
                        del counts[ref]
        node = ((pod or {}).get("spec") or {}).get("nodeName")
        if pod is None or not node:
            return
        refs = pod_references(pod)
        self.pods[key] = (node, refs)
        self.by_node.setdefault(node, collections.Counter()).update(refs)

    def sync(self) -> None:
        w = self._watcher
        if w is None or w.closed:
            self._rebuild()
            return
        while w.queue:
            ev = w.queue.popleft()
            self._set(ev.key, None if ev.type == "DELETED" else ev.obj)

    def has_path(self, node: str, vertex: str, namespace: str, name: str) -> bool:
        self.sync()
        refs = self.by_node.get(node) or {}
        if vertex == "pv":
            return any(self._pv_of(ns, claim) == name for typ, ns, claim in refs if typ == "pvc")
        return (vertex, namespace, name) in refs

    def _pv_of(self, namespace: str, claim: str) -> str:
        pvc = self.cache.cache_for(PVCS_PREFIX).objects.get(f"{PVCS_PREFIX}{namespace}/{claim}")
        return ((pvc or {}).get("spec") or {}).get("volumeName") or ""


def _field_value(selector: str, field: str) -> str | None:
    for term in selector.split(","):
        k, sep, v = term.partition("=")
        k = k.strip().rstrip("=")
        if sep and not k.endswith("!") and k == field:
            return v.lstrip("=").strip()
    return None


class NodeAuthorizer:
    """Upstream's NodeAuthorizer: no opinion on anyone but nodes; for nodes, graph-scoped reads."""

    def __init__(self, graph: NodeGraph) -> None:
        self.graph = graph
        self.rules = node_rules()

    @classmethod
    def from_cache(cls, cache: WatchCache) -> NodeAuthorizer:
        return cls(NodeGraph(cache))

    async def authorize(self, attrs: Attributes) -> tuple[Decision, str]:
        return self.decide(attrs)

    def decide(self, attrs: Attributes) -> tuple[Decision, str]:
        is_node, node = node_identity(attrs.user)
        if not is_node:
            return Decision.NO_OPINION, ""
        if not node:
            return Decision.NO_OPINION, "unknown node"
        if attrs.is_resource_request:
            handler = {("", "secrets"): self._read_namespaced, ("", "configmaps"): self._read_namespaced,
                       ("", "persistentvolumeclaims"): self._pvc, ("", "persistentvolumes"): self._get,
                       ("", "serviceaccounts"): self._token, ("coordination.k8s.io", "leases"): self._lease,
                       ("", "pods"): self._pod, ("", "nodes"): self._node,
                       }.get((attrs.api_group, attrs.resource))
            if handler is not None:
                return handler(node, attrs)
        return self._rules(attrs)

    def _rules(self, attrs: Attributes) -> tuple[Decision, str]:
        return (Decision.ALLOW, "") if rules_allow(attrs, self.rules) else (Decision.NO_OPINION, "")

    def _path(self, node: str, vertex: str, attrs: Attributes) -> tuple[Decision, str]:
        if not attrs.name:
            return Decision.NO_OPINION, "No Object name found"
        if self.graph.has_path(node, vertex, attrs.namespace, attrs.name):
            return Decision.ALLOW, ""
        return Decision.NO_OPINION, f"no relationship found between node '{node}' and this object"

    def _read_namespaced(self, node: str, attrs: Attributes) -> tuple[Decision, str]:
        if attrs.verb not in ("get", "list", "watch"):
            return Decision.NO_OPINION, "can only read resources of this type"
        if attrs.subresource:
            return Decision.NO_OPINION, "cannot read subresource"
        if not attrs.namespace:
            return Decision.NO_OPINION, "can only read namespaced object of this type"
        return self._path(node, "secret" if attrs.resource == "secrets" else "configmap", attrs)

    def _get(self, node: str, attrs: Attributes) -> tuple[Decision, str]:
        if attrs.verb != "get":
            return Decision.NO_OPINION, "can only get individual resources of this type"
        if attrs.subresource:
            return Decision.NO_OPINION, "cannot get subresource"
        return self._path(node, "pv" if attrs.resource == "persistentvolumes" else "pvc", attrs)

    def _pvc(self, node: str, attrs: Attributes) -> tuple[Decision, str]:
        if attrs.subresource == "status":
            if attrs.verb not in ("get", "update", "patch"):
                return Decision.NO_OPINION, "can only get/update/patch this type"
            return self._path(node, "pvc", attrs)
        return self._get(node, attrs)

    def _token(self, node: str, attrs: Attributes) -> tuple[Decision, str]:
        if attrs.verb != "create" or not attrs.name or attrs.subresource != "token":
            return Decision.NO_OPINION, "can only create tokens for individual service accounts"
        return self._path(node, "serviceaccount", attrs)

    def _lease(self, node: str, attrs: Attributes) -> tuple[Decision, str]:
        if attrs.verb not in ("get", "create", "update", "patch", "delete"):
            return Decision.NO_OPINION, "can only get, create, update, patch, or delete a node lease"
        if attrs.namespace != NODE_LEASE_NAMESPACE:
            return Decision.NO_OPINION, f'can only access leases in the "{NODE_LEASE_NAMESPACE}" system namespace'
        if attrs.verb != "create" and attrs.name != node:
            return Decision.NO_OPINION, "can only access node lease with the same name as the requesting node"
        return Decision.ALLOW, ""

    def _pod(self, node: str, attrs: Attributes) -> tuple[Decision, str]:
        verb, sub = attrs.verb, attrs.subresource
        if verb in ("list", "watch") and not sub:
            if _field_value(attrs.field_selector, "spec.nodeName") == node:
                return Decision.ALLOW, ""
            return Decision.NO_OPINION, "can only list/watch pods with spec.nodeName field selector"
        if (verb == "get" and not sub) or (sub == "status" and verb in ("update", "patch")) or \
                (verb == "delete" and not sub):
            return self._path(node, "pod", attrs)
        return self._rules(attrs)

    def _node(self, node: str, attrs: Attributes) -> tuple[Decision, str]:
        if attrs.verb in ("get", "list", "watch") and not attrs.subresource:
            if attrs.name == node:
                return Decision.ALLOW, ""
            return Decision.NO_OPINION, f"node '{node}' cannot read '{attrs.name}', only its own Node object"
        if attrs.verb in ("update", "patch", "delete") and attrs.name != node:
            return Decision.NO_OPINION, f"node '{node}' cannot modify node '{attrs.name}'"
        return self._rules(attrs)

"""NodeRestriction: a kubelet (system:node:<name>) may only create mirror pods bound to itself, change its
own Node (not its restricted labels), the status of its own pods, and request tokens for its own pods."""

from __future__ import annotations

from typing import Any

from kybernetes.apiserver.admission.interfaces import CREATE, DELETE, UPDATE, Attributes, PluginContext

PLUGIN_NAME = "NodeRestriction"
NODE_USER_PREFIX = "system:node:"
NODES_GROUP = "system:nodes"
MIRROR_ANNOTATION = "kubernetes.io/config.mirror"
PODS_KEY_PREFIX = "/registry/core/pods/"
# labels a kubelet may set on its own Node (upstream's kubelet-settable labels)
ALLOWED_LABELS = frozenset({"kubernetes.io/hostname", "kubernetes.io/arch", "kubernetes.io/os",
                            "beta.kubernetes.io/arch", "beta.kubernetes.io/os", "beta.kubernetes.io/instance-type",
                            "node.kubernetes.io/instance-type", "failure-domain.beta.kubernetes.io/region",
                            "failure-domain.beta.kubernetes.io/zone", "topology.kubernetes.io/region",
                            "topology.kubernetes.io/zone"})
ALLOWED_SUFFIXES = ("kubelet.kubernetes.io", "node.kubernetes.io")


def node_name_of(user: str, groups: list[str]) -> str | None:
    """The node a request comes from, or None when the user is not a kubelet."""
    if user.startswith(NODE_USER_PREFIX) and NODES_GROUP in groups:
        return user[len(NODE_USER_PREFIX):]
    return None


def label_restricted(key: str) -> bool:
    """Whether a kubelet may not set or change a label with this key."""
    if key in ALLOWED_LABELS:
        return False
    domain = key.split("/", 1)[0] if "/" in key else ""
    if domain == "node-restriction.kubernetes.io" or domain.endswith(".node-restriction.kubernetes.io"):
        return True
    if any(domain == s or domain.endswith("." + s) for s in ALLOWED_SUFFIXES):
        return False
    return domain in ("kubernetes.io", "k8s.io") or domain.endswith((".kubernetes.io", ".k8s.io"))


def changed_restricted_labels(new: dict[str, str], old: dict[str, str]) -> list[str]:
    keys = {k for k in set(new) | set(old) if new.get(k) != old.get(k)}
    return sorted(k for k in keys if label_restricted(k))


class NodeRestriction:
    """Validating: limits what a node identity may write."""

    name = PLUGIN_NAME

    def __init__(self, ctx: PluginContext) -> None:
        self.ctx = ctx

    def handles(self, operation: str) -> bool:
        return operation in (CREATE, UPDATE, DELETE)

    async def validate(self, a: Attributes) -> None:
        node = node_name_of(a.user, a.groups)
        if node is None:
            return
        if a.is_("", "pods", a.subresource):
            self._pod(a, node)
        elif a.resource == ("", "nodes"):
            self._node(a, node)
        elif a.is_("", "serviceaccounts", "token"):
            self._token(a, node)

    def _pod(self, a: Attributes, node: str) -> None:
        if a.operation == CREATE and a.subresource == "":
            pod = a.obj or {}
            if MIRROR_ANNOTATION not in ((pod.get("metadata") or {}).get("annotations") or {}):
                raise a.forbidden(f'pod does not have "{MIRROR_ANNOTATION}" annotation, node "{node}" can only create mirror pods')
            if (pod.get("spec") or {}).get("nodeName") != node:
                raise a.forbidden(f'node "{node}" can only create pods with spec.nodeName set to itself')
            return
        if a.operation == CREATE and a.subresource == "eviction":
            return self._own_pod(a, node, "evict")
        if a.subresource == "status" or a.operation == DELETE:
            return self._own_pod(a, node, "update" if a.operation == UPDATE else "delete")
        raise a.forbidden(f'node "{node}" can only update pod status')

    def _own_pod(self, a: Attributes, node: str, verb: str) -> None:
        pod = a.old or self.ctx.get(PODS_KEY_PREFIX, f"{a.namespace}/{a.name}")
        if pod is None:
            raise a.forbidden("not found")
        if (pod.get("spec") or {}).get("nodeName") != node:
            raise a.forbidden(f'node "{node}" can only {verb} pods with spec.nodeName set to itself')

    def _node(self, a: Attributes, node: str) -> None:
        if a.name != node:
            raise a.forbidden(f'node "{node}" is not allowed to modify node "{a.name}"')
        if a.operation == DELETE or a.obj is None:
            return
        new_labels = (a.obj.get("metadata") or {}).get("labels") or {}
        old_labels = ((a.old or {}).get("metadata") or {}).get("labels") or {}
        bad = changed_restricted_labels(new_labels, old_labels)
        if bad:
            if a.operation == CREATE:
                raise a.forbidden(f"is not allowed to set the following labels: {', '.join(bad)}")
            raise a.forbidden(f"is not allowed to modify labels: {', '.join(bad)}")
        if a.operation == UPDATE and a.old is not None:
            if (a.obj.get("spec") or {}).get("configSource") != (a.old.get("spec") or {}).get("configSource"):
                raise a.forbidden("is not allowed to modify node.spec.configSource")

    def _token(self, a: Attributes, node: str) -> None:
        ref: dict[str, Any] = ((a.obj or {}).get("spec") or {}).get("boundObjectRef") or {}
        if ref.get("kind") != "Pod":
            raise a.forbidden(f'node "{node}" can only create tokens for individual service accounts '
                              "bound to a pod")
        pod = self.ctx.get(PODS_KEY_PREFIX, f"{a.namespace}/{ref.get('name', '')}")
        if pod is None or (pod.get("spec") or {}).get("nodeName") != node:
            raise a.forbidden('node requested token bound to a pod scheduled on a different node')

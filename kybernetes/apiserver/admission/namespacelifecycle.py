"""NamespaceLifecycle: no new content in a missing or terminating namespace; the system namespaces stay."""

from __future__ import annotations

from kybernetes.api import errors
from kybernetes.api.registry import ResourceInfo
from kybernetes.apiserver.admission.interfaces import CREATE, DELETE, Attributes, PluginContext

PLUGIN_NAME = "NamespaceLifecycle"
IMMORTAL_NAMESPACES = ("default", "kube-system", "kube-public")
NAMESPACES_KEY_PREFIX = "/registry/core/namespaces/"


class NamespaceLifecycle:
    """Validating: refuses creates in a namespace that is gone or being deleted, and deletes of system ones."""

    name = PLUGIN_NAME

    def __init__(self, ctx: PluginContext) -> None:
        self.ctx = ctx

    def handles(self, operation: str) -> bool:
        return operation in (CREATE, DELETE)

    async def validate(self, a: Attributes) -> None:
        if a.operation == CREATE and a.subresource == "":
            self.check_namespace(a.info, a.namespace, a.name)
        elif a.operation == DELETE:
            self.check_namespace_delete(a.info, a.name)

    def check_namespace(self, info: ResourceInfo, namespace: str, name: str) -> None:
        if not info.namespaced or (info.group, info.plural) == ("", "namespaces"):
            return
        ns = self.ctx.get(NAMESPACES_KEY_PREFIX, namespace)
        if ns is None:
            raise errors.not_found("", "namespaces", namespace)
        if ns.get("metadata", {}).get("deletionTimestamp") or ns.get("status", {}).get("phase") == "Terminating":
            q = f"{info.plural}.{info.group}" if info.group else info.plural
            raise errors.StatusError(
                403, "Forbidden",
                f'{q} "{name}" is forbidden: unable to create new content in namespace {namespace} '
                "because it is being terminated",
                details={"name": name, "group": info.group, "kind": info.plural,
                         "causes": [{"reason": "NamespaceTerminating",
                                     "message": f"namespace {namespace} is being terminated",
                                     "field": "metadata.namespace"}]})

    @staticmethod
    def check_namespace_delete(info: ResourceInfo, name: str) -> None:
        if (info.group, info.plural) == ("", "namespaces") and name in IMMORTAL_NAMESPACES:
            raise errors.StatusError(403, "Forbidden", f'namespaces "{name}" is forbidden: this namespace may not be deleted',
                                     details={"name": name, "kind": "namespaces"})

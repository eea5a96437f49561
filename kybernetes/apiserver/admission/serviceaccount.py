"""ServiceAccount admission: a pod without a service account gets the namespace's "default"."""

from __future__ import annotations

from typing import Any

from kybernetes.apiserver.admission.interfaces import CREATE, Attributes, PluginContext

PLUGIN_NAME = "ServiceAccount"


def default_service_account(pod: dict[str, Any]) -> None:
    spec = pod.setdefault("spec", {})
    sa = spec.get("serviceAccountName") or spec.get("serviceAccount") or "default"
    spec["serviceAccountName"] = sa
    spec["serviceAccount"] = sa


class ServiceAccount:
    """Mutating: sets spec.serviceAccountName (and the deprecated spec.serviceAccount) on new pods."""

    name = PLUGIN_NAME

    def __init__(self, ctx: PluginContext) -> None:
        self.ctx = ctx

    def handles(self, operation: str) -> bool:
        return operation == CREATE

    async def admit(self, a: Attributes) -> None:
        if a.is_("", "pods") and a.obj is not None:
            default_service_account(a.obj)

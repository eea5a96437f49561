"""DefaultTolerationSeconds: pods tolerate not-ready and unreachable nodes for 300 s unless they say otherwise."""

from __future__ import annotations

from typing import Any

from kybernetes.apiserver.admission.interfaces import CREATE, Attributes, PluginContext

PLUGIN_NAME = "DefaultTolerationSeconds"
DEFAULT_TOLERATION_SECONDS = 300


def default_toleration_seconds(pod: dict[str, Any], seconds: int = DEFAULT_TOLERATION_SECONDS) -> None:
    spec = pod.setdefault("spec", {})
    tolerations = spec.get("tolerations")
    if not isinstance(tolerations, list):
        tolerations = []
    keys = {(t.get("key"), t.get("effect")) for t in tolerations if isinstance(t, dict)}
    has_any = any(isinstance(t, dict) and t.get("operator") == "Exists" and not t.get("key") for t in tolerations)
    if has_any:
        return
    for key in ("node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"):
        if (key, "NoExecute") not in keys and (key, None) not in keys and (key, "") not in keys:
            tolerations.append({"key": key, "operator": "Exists", "effect": "NoExecute",
                                "tolerationSeconds": seconds})
    spec["tolerations"] = tolerations


class DefaultTolerationSeconds:
    """Mutating: adds the two NoExecute tolerations to new pods."""

    name = PLUGIN_NAME

    def __init__(self, ctx: PluginContext) -> None:
        self.ctx = ctx

    def handles(self, operation: str) -> bool:
        return operation == CREATE

    async def admit(self, a: Attributes) -> None:
        if a.is_("", "pods") and a.obj is not None:
            default_toleration_seconds(a.obj)

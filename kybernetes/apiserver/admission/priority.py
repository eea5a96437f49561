"""Priority admission: a pod's spec.priority from its PriorityClass, the global default, or 0."""

from __future__ import annotations

from kybernetes.apiserver.admission.interfaces import CREATE, Attributes, PluginContext

PLUGIN_NAME = "Priority"
PRIORITY_CLASSES_KEY_PREFIX = "/registry/scheduling.k8s.io/priorityclasses/"


class Priority:
    """Mutating: resolves priorityClassName to spec.priority (and preemptionPolicy) on new pods."""

    name = PLUGIN_NAME

    def __init__(self, ctx: PluginContext) -> None:
        self.ctx = ctx

    def handles(self, operation: str) -> bool:
        return operation == CREATE

    async def admit(self, a: Attributes) -> None:
        if not a.is_("", "pods") or a.obj is None:
            return
        from kybernetes.api.defaults import set_pod_priority

        spec = a.obj.setdefault("spec", {})
        classes = self.ctx.objects(PRIORITY_CLASSES_KEY_PREFIX)
        name = spec.get("priorityClassName")
        pc = None
        if name:
            pc = classes.get(PRIORITY_CLASSES_KEY_PREFIX + name)
            if pc is None:
                raise a.forbidden(f"no PriorityClass with name {name} was found")
        else:
            defaults = [c for c in classes.values() if c.get("globalDefault")]
            if defaults:
                pc = min(defaults, key=lambda c: c.get("value", 0))
                spec["priorityClassName"] = pc["metadata"]["name"]
        set_pod_priority(a.obj, pc)

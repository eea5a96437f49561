"""ResourceQuota admission: refuse a create that would take a namespace past a ResourceQuota's hard limits."""

from __future__ import annotations

from fractions import Fraction
from typing import Any, Iterable

from kybernetes.api import quota
from kybernetes.apiserver.admission.interfaces import CREATE, Attributes, PluginContext

PLUGIN_NAME = "ResourceQuota"
QUOTAS_KEY_PREFIX = "/registry/core/resourcequotas/"
# pod compute names that need every container to state the matching request or limit
REQUIRED_FOR_PODS = {"requests.cpu": ("requests", "cpu"), "cpu": ("requests", "cpu"),
                     "requests.memory": ("requests", "memory"), "memory": ("requests", "memory"),
                     "limits.cpu": ("limits", "cpu"), "limits.memory": ("limits", "memory")}


def missing_requirements(pod: dict[str, Any], hard: Iterable[str]) -> list[str]:
    """Upstream's pod Constraints: 'limits.cpu for: c1,c2' for each required name some container lacks."""
    spec = pod.get("spec") or {}
    containers = list(spec.get("containers") or []) + list(spec.get("initContainers") or [])
    out = []
    for name in sorted(set(hard) & set(REQUIRED_FOR_PODS)):
        kind, res = REQUIRED_FOR_PODS[name]
        lacking = [c.get("name", "") for c in containers if res not in ((c.get("resources") or {}).get(kind) or {})]
        if lacking:
            out.append(f"{name} for: {','.join(lacking)}")
    return out


def exceeded(hard: dict[str, Any], used: dict[str, Fraction], requested: dict[str, Fraction]) -> list[str]:
    """The names whose hard limit used + requested passes (only names the request adds to)."""
    return sorted(n for n, v in requested.items()
                  if v > 0 and n in hard and used.get(n, Fraction(0)) + v > quota.quantity(hard[n]))


def exceeded_message(quota_name: str, names: list[str], hard: dict[str, Any], used: dict[str, Fraction],
                     requested: dict[str, Fraction]) -> str:
    return (f"exceeded quota: {quota_name}, requested: {quota.pretty({n: requested[n] for n in names})}, "
            f"used: {quota.pretty({n: used.get(n, Fraction(0)) for n in names})}, "
            f"limited: {quota.pretty({n: quota.quantity(hard[n]) for n in names})}")


class ResourceQuota:
    """Validating: charges the new object against every quota of its namespace, with usage from the cache."""

    name = PLUGIN_NAME

    def __init__(self, ctx: PluginContext) -> None:
        self.ctx = ctx

    def handles(self, operation: str) -> bool:
        return operation == CREATE

    def _lister(self, namespace: str) -> quota.Lister:
        registry = self.ctx.extra.get("registry")

        def list_objects(group: str, plural: str) -> Iterable[dict[str, Any]]:
            info = next((i for i in registry or () if (i.group, i.plural) == (group, plural)), None)
            if info is None:
                return []
            prefix = info.storage_prefix + namespace + "/"
            return [o for k, o in self.ctx.objects(info.storage_prefix).items() if k.startswith(prefix)]
        return list_objects

    async def validate(self, a: Attributes) -> None:
        if a.subresource or not a.info.namespaced or a.obj is None:
            return
        quotas = [q for k, q in self.ctx.objects(QUOTAS_KEY_PREFIX).items()
                  if k.startswith(f"{QUOTAS_KEY_PREFIX}{a.namespace}/")]
        for q in sorted(quotas, key=lambda q: q["metadata"]["name"]):
            hard = (q.get("spec") or {}).get("hard") or {}
            qname = q["metadata"]["name"]
            if a.is_("", "pods") and not quota.pod_is_terminal(a.obj):
                missing = missing_requirements(a.obj, hard)
                if missing:
                    raise a.forbidden(f"failed quota: {qname}: must specify {'; '.join(missing)}")
            requested = quota.usage_of(a.info.group, a.info.plural, a.obj, hard)
            if not requested:
                continue
            used = quota.namespace_usage({n: hard[n] for n in requested}, self._lister(a.namespace))
            over = exceeded(hard, used, requested)
            if over:
                raise a.forbidden(exceeded_message(qname, over, hard, used, requested))

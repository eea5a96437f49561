"""The PodSecurity admission plugin: levels from namespace labels; enforce refuses pods, warn adds warnings,
audit is recorded as annotations; workload templates only get warnings."""

from __future__ import annotations

from typing import Any

from kybernetes.apiserver.admission.interfaces import CREATE, UPDATE, Attributes, PluginContext
from kybernetes.apiserver.admission.podsecurity.policy import LEVELS, PRIVILEGED, describe, evaluate

PLUGIN_NAME = "PodSecurity"
LABEL_PREFIX = "pod-security.kubernetes.io/"
# audit annotations (upstream's api.AuditAnnotationPrefix + EnforcedPolicyAnnotationKey / AuditViolationsAnnotationKey)
ENFORCE_POLICY_ANNOTATION = "pod-security.kubernetes.io/enforce-policy"
AUDIT_VIOLATIONS_ANNOTATION = "pod-security.kubernetes.io/audit-violations"
NAMESPACES_KEY_PREFIX = "/registry/core/namespaces/"

# (group, plural) -> path from the object to its pod template
TEMPLATES: dict[tuple[str, str], tuple[str, ...]] = {
    ("apps", "deployments"): ("spec", "template"), ("apps", "replicasets"): ("spec", "template"),
    ("apps", "statefulsets"): ("spec", "template"), ("apps", "daemonsets"): ("spec", "template"),
    ("batch", "jobs"): ("spec", "template"), ("batch", "cronjobs"): ("spec", "jobTemplate", "spec", "template"),
    ("", "replicationcontrollers"): ("spec", "template"), ("", "podtemplates"): ("template",),
}


def namespace_policy(labels: dict[str, str] | None, mode: str) -> tuple[str, str]:
    """(level, version) a namespace sets for mode (enforce, audit, warn); privileged:latest when unset."""
    labels = labels or {}
    level = labels.get(LABEL_PREFIX + mode, PRIVILEGED)
    if level not in LEVELS:
        level = PRIVILEGED
    return level, labels.get(f"{LABEL_PREFIX}{mode}-version", "latest") or "latest"


def template_of(obj: dict[str, Any], path: tuple[str, ...]) -> dict[str, Any] | None:
    cur: Any = obj
    for key in path:
        cur = cur.get(key) if isinstance(cur, dict) else None
    return cur if isinstance(cur, dict) else None


class PodSecurity:
    """Validating: checks pods (and workloads' templates) against their namespace's Pod Security levels."""

    name = PLUGIN_NAME

    def __init__(self, ctx: PluginContext) -> None:
        self.ctx = ctx

    def handles(self, operation: str) -> bool:
        return operation in (CREATE, UPDATE)

    def _pod_target(self, a: Attributes) -> tuple[dict[str, Any], dict[str, Any], bool] | None:
        """(metadata, spec, is_a_pod) to check, or None when this request is not checked."""
        if a.obj is None:
            return None
        if a.is_("", "pods"):
            if a.operation == UPDATE:
                return None  # pod specs are immutable apart from images; upstream re-checks only those
            return a.obj.get("metadata") or {}, a.obj.get("spec") or {}, True
        path = TEMPLATES.get(a.resource)
        if path is None or a.subresource:
            return None
        tpl = template_of(a.obj, path)
        if tpl is None:
            return None
        if a.operation == UPDATE and a.old is not None and template_of(a.old, path) == tpl:
            return None
        return tpl.get("metadata") or {}, tpl.get("spec") or {}, False

    async def validate(self, a: Attributes) -> None:
        target = self._pod_target(a)
        if target is None or not a.namespace:
            return
        md, spec, is_pod = target
        ns = self.ctx.get(NAMESPACES_KEY_PREFIX, a.namespace) or {}
        labels = (ns.get("metadata") or {}).get("labels") or {}
        enforce = namespace_policy(labels, "enforce")
        warn = namespace_policy(labels, "warn")
        audit = namespace_policy(labels, "audit")
        if is_pod:  # the policy a pod was checked against, allowed or not
            a.add_audit_annotation(ENFORCE_POLICY_ANNOTATION, f"{enforce[0]}:{enforce[1]}")
        audit_violations = evaluate(audit[0], md, spec)
        if audit_violations:
            a.add_audit_annotation(AUDIT_VIOLATIONS_ANNOTATION,
                                   f'would violate PodSecurity "{audit[0]}:{audit[1]}": {describe(audit_violations)}')
        enforce_violations = evaluate(enforce[0], md, spec)
        if enforce_violations:
            text = f'PodSecurity "{enforce[0]}:{enforce[1]}": {describe(enforce_violations)}'
            if is_pod:
                raise a.forbidden(f"violates {text}")
            a.warnings.append(f"would violate {text}")
        if warn != enforce:
            violations = evaluate(warn[0], md, spec)
            if violations:
                a.warnings.append(f'would violate PodSecurity "{warn[0]}:{warn[1]}": {describe(violations)}')

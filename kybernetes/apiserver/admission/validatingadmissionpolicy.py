"""ValidatingAdmissionPolicy: policies of CEL validations, applied through bindings, evaluated with cel-python
(the CEL standard library; Kubernetes' CEL extension libraries and cost budgets are not available)."""

from __future__ import annotations

import functools
import logging
from typing import Any

from kybernetes.api import errors
from kybernetes.apiserver.admission.interfaces import Attributes, PluginContext
from kybernetes.apiserver.admission.webhook.rules import namespace_selector_matches, object_selector_matches, \
    rule_matches

try:
    import celpy
except ImportError:  # pragma: no cover - depends on the environment
    celpy = None

log = logging.getLogger(__name__)

Obj = dict[str, Any]
PLUGIN_NAME = "ValidatingAdmissionPolicy"
GROUP_PREFIX = "/registry/admissionregistration.k8s.io/"
POLICIES_KEY_PREFIX = GROUP_PREFIX + "validatingadmissionpolicies/"
BINDINGS_KEY_PREFIX = GROUP_PREFIX + "validatingadmissionpolicybindings/"
NAMESPACES_KEY_PREFIX = "/registry/core/namespaces/"
REASON_CODES = {"Unauthorized": 401, "Forbidden": 403, "Invalid": 422, "RequestEntityTooLarge": 413}


@functools.lru_cache(maxsize=1024)
def program(expression: str) -> Any:
    env = celpy.Environment()
    return env.program(env.compile(expression))


def evaluate(expression: str, activation: dict[str, Any]) -> Any:
    """The CEL value of expression (raises on compile or evaluation errors)."""
    result = program(expression).evaluate(activation)
    if isinstance(result, Exception):
        raise result
    return result


def _rule_matches_named(rule: Obj, a: Attributes) -> bool:
    names = rule.get("resourceNames") or []
    return rule_matches(rule, a) and (not names or a.name in names)


def resources_match(match: Obj | None, a: Attributes, namespace: Obj | None) -> bool:
    """MatchResources: resourceRules minus excludeResourceRules, and both selectors."""
    if not match:
        return True
    if match.get("resourceRules") is not None and not any(_rule_matches_named(r, a) for r in match["resourceRules"]):
        return False
    if any(_rule_matches_named(r, a) for r in match.get("excludeResourceRules") or []):
        return False
    return namespace_selector_matches(match, a, namespace) and object_selector_matches(match, a)


def activation(a: Attributes, namespace: Obj | None) -> dict[str, Any]:
    request = {"operation": a.operation, "name": a.name, "namespace": a.namespace,
               "kind": {"group": a.info.group, "version": a.info.version, "kind": a.info.kind},
               "resource": {"group": a.info.group, "version": a.info.version, "resource": a.info.plural},
               "subResource": a.subresource, "userInfo": {"username": a.user, "groups": list(a.groups)},
               "dryRun": a.dry_run}
    return {"object": celpy.json_to_cel(a.obj), "oldObject": celpy.json_to_cel(a.old),
            "request": celpy.json_to_cel(request), "params": celpy.json_to_cel(None),
            "namespaceObject": celpy.json_to_cel(namespace)}


class ValidatingAdmissionPolicy:
    """Validating: each binding's policy, when it matches, evaluates its validations; Deny, Warn or Audit."""

    name = PLUGIN_NAME

    def __init__(self, ctx: PluginContext) -> None:
        self.ctx = ctx

    def handles(self, operation: str) -> bool:
        return operation in ("CREATE", "UPDATE", "DELETE", "CONNECT")

    async def validate(self, a: Attributes) -> None:
        if celpy is None:
            return
        bindings = sorted(self.ctx.objects(BINDINGS_KEY_PREFIX).items())
        if not bindings:
            return
        namespace = self.ctx.get(NAMESPACES_KEY_PREFIX, a.namespace) if a.namespace else None
        for _, binding in bindings:
            spec = binding.get("spec") or {}
            policy = self.ctx.get(POLICIES_KEY_PREFIX, spec.get("policyName", ""))
            if policy is None:
                continue
            pspec = policy.get("spec") or {}
            if not resources_match(pspec.get("matchConstraints"), a, namespace):
                continue
            if not resources_match(spec.get("matchResources"), a, namespace):
                continue
            self._run(a, policy, binding, activation(a, namespace))

    def _run(self, a: Attributes, policy: Obj, binding: Obj, act: dict[str, Any]) -> None:
        pspec = policy.get("spec") or {}
        pname, bname = policy["metadata"]["name"], binding["metadata"]["name"]
        actions = (binding.get("spec") or {}).get("validationActions") or ["Deny"]
        fail_open = pspec.get("failurePolicy", "Fail") == "Ignore"
        try:
            variables: dict[str, Any] = {}
            act = dict(act, variables=celpy.json_to_cel({}))
            for v in pspec.get("variables") or []:
                variables[v["name"]] = evaluate(v["expression"], act)
                act["variables"] = celpy.celtypes.MapType({celpy.celtypes.StringType(k): x for k, x in variables.items()})
            for cond in pspec.get("matchConditions") or []:
                if not bool(evaluate(cond["expression"], act)):
                    return
        except Exception as e:  # noqa: BLE001 - CEL errors follow failurePolicy
            if not fail_open:
                self._act(a, actions, pname, bname, f"expression resulted in error: {e}", "Invalid")
            return
        for check in pspec.get("validations") or []:
            expr = check.get("expression", "")
            try:
                ok = bool(evaluate(expr, act))
            except Exception as e:  # noqa: BLE001
                if not fail_open:
                    self._act(a, actions, pname, bname, f"expression '{expr}' resulted in error: {e}",
                              check.get("reason") or "Invalid")
                continue
            if not ok:
                self._act(a, actions, pname, bname, self._message(check, act), check.get("reason") or "Invalid")

    @staticmethod
    def _message(check: Obj, act: dict[str, Any]) -> str:
        if check.get("messageExpression"):
            try:
                msg = evaluate(check["messageExpression"], act)
                if isinstance(msg, str) and msg.strip():
                    return str(msg)
            except Exception as e:  # noqa: BLE001 - falls back to message
                log.debug("messageExpression failed: %s", e)
        return check.get("message") or f"failed expression: {check.get('expression', '')}"

    @staticmethod
    def _act(a: Attributes, actions: list[str], policy: str, binding: str, message: str, reason: str) -> None:
        if "Warn" in actions:
            a.warnings.append(f"Validation failed for ValidatingAdmissionPolicy '{policy}' with binding "
                              f"'{binding}': {message}")
        if "Audit" in actions:
            a.audit_annotations["validation.policy.admission.k8s.io/validation_failure"] = (
                f'[{{"message":"{message}","policy":"{policy}","binding":"{binding}"}}]')
        if "Deny" in actions:
            raise errors.StatusError(REASON_CODES.get(reason, 422), reason,
                                     f"ValidatingAdmissionPolicy '{policy}' with binding '{binding}' denied request: "
                                     f"{message}")

"""ValidatingAdmissionPolicy: policies of CEL validations, applied through bindings, evaluated with cel-python
(the CEL standard library; Kubernetes' CEL extension libraries and cost budgets are not available)."""

from __future__ import annotations

import functools
import logging
from typing import Any

import orjson

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
VALIDATION_FAILURE_ANNOTATION = "validation.policy.admission.k8s.io/validation_failure"
MAX_AUDIT_ANNOTATION_VALUE = 10 * 1024  # upstream's maxAuditAnnotationValueLength


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
    """Validating: each binding's policy, when it matches, evaluates its validations (Deny, Warn or Audit) and
    its auditAnnotations; every policy is evaluated before the first denial, if any, refuses the request."""

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
        denials: list[errors.StatusError] = []
        annotations: dict[str, dict[str, list[str]]] = {}  # policy -> key -> distinct values (in binding order)
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
            collected = annotations.setdefault(policy["metadata"]["name"], {})
            self._run(a, policy, binding, activation(a, namespace), denials, collected)
        for policy_name, keys in annotations.items():  # upstream's auditAnnotationCollector.publish
            for key, values in keys.items():
                a.add_audit_annotation(f"{policy_name}/{key}", ", ".join(values))
        if denials:
            raise denials[0]

    def _run(self, a: Attributes, policy: Obj, binding: Obj, act: dict[str, Any], denials: list[errors.StatusError],
             annotations: dict[str, list[str]]) -> None:
        pspec = policy.get("spec") or {}
        pname, bname = policy["metadata"]["name"], binding["metadata"]["name"]
        actions = (binding.get("spec") or {}).get("validationActions") or ["Deny"]
        fail_open = pspec.get("failurePolicy", "Fail") == "Ignore"

        def act_on(message: str, reason: str, index: int) -> None:
            denial = self._act(a, actions, pname, bname, message, reason, index)
            if denial is not None:
                denials.append(denial)

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
                act_on(f"expression resulted in error: {e}", "Invalid", 0)
            return
        for index, check in enumerate(pspec.get("validations") or []):
            expr = check.get("expression", "")
            try:
                ok = bool(evaluate(expr, act))
            except Exception as e:  # noqa: BLE001
                if not fail_open:
                    act_on(f"expression '{expr}' resulted in error: {e}", check.get("reason") or "Invalid", index)
                continue
            if not ok:
                act_on(self._message(check, act), check.get("reason") or "Invalid", index)
        for item in pspec.get("auditAnnotations") or []:
            value = self._audit_value(item, act, fail_open, pname, bname, denials)
            if value is not None and value not in annotations.setdefault(item.get("key", ""), []):
                annotations[item.get("key", "")].append(value[:MAX_AUDIT_ANNOTATION_VALUE])

    @staticmethod
    def _audit_value(item: Obj, act: dict[str, Any], fail_open: bool, policy: str, binding: str,
                     denials: list[errors.StatusError]) -> str | None:
        """An auditAnnotation's value: a string, None when the expression gives null (or fails open)."""
        expr = item.get("valueExpression", "")
        try:
            value = evaluate(expr, act)
            if value is None:
                return None
            if not isinstance(value, str):
                raise TypeError(f"valueExpression '{expr}' resulted in unsupported return type: "
                                f"{type(value).__name__}. Must evaluate to either a string or null")
            return str(value)
        except Exception as e:  # noqa: BLE001 - with failurePolicy Fail, a broken annotation denies
            if not fail_open:
                message = str(e) if isinstance(e, TypeError) else f"valueExpression '{expr}' resulted in error: {e}"
                denials.append(errors.StatusError(422, "Invalid", f"ValidatingAdmissionPolicy '{policy}' with "
                                                                  f"binding '{binding}' denied request: {message}"))
            return None

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
    def _act(a: Attributes, actions: list[str], policy: str, binding: str, message: str, reason: str,
             index: int = 0) -> errors.StatusError | None:
        """Warn and Audit now; the denial (for Deny) is returned, raised once every policy was evaluated."""
        if "Warn" in actions:
            a.warnings.append(f"Validation failed for ValidatingAdmissionPolicy '{policy}' with binding "
                              f"'{binding}': {message}")
        if "Audit" in actions:  # upstream's ValidationFailureValue list; the first failure's annotation stays
            a.add_audit_annotation(VALIDATION_FAILURE_ANNOTATION, orjson.dumps([{
                "message": message, "policy": policy, "binding": binding, "expressionIndex": index,
                "validationActions": list(actions)}]).decode())
        if "Deny" in actions:
            return errors.StatusError(REASON_CODES.get(reason, 422), reason,
                                      f"ValidatingAdmissionPolicy '{policy}' with binding '{binding}' denied request: "
                                      f"{message}")
        return None

"""The two webhook plugins: configurations read from the watch cache, matching webhooks called in name order;
mutating ones patch the object (JSONPatch), validating ones run in parallel; failurePolicy on call errors."""

from __future__ import annotations

import asyncio
import base64
import logging
import uuid
from typing import Any

import aiohttp
import orjson

from kybernetes.api import errors
from kybernetes.api.patch.json_patch import apply_json_patch
from kybernetes.apiserver.admission.interfaces import Attributes, PluginContext
from kybernetes.apiserver.admission.webhook.client import CallError, call, review_request
from kybernetes.apiserver.admission.webhook.rules import webhook_matches

log = logging.getLogger(__name__)

Obj = dict[str, Any]
GROUP_PREFIX = "/registry/admissionregistration.k8s.io/"
MUTATING_KEY_PREFIX = GROUP_PREFIX + "mutatingwebhookconfigurations/"
VALIDATING_KEY_PREFIX = GROUP_PREFIX + "validatingwebhookconfigurations/"
NAMESPACES_KEY_PREFIX = "/registry/core/namespaces/"
SERVICES_KEY_PREFIX = "/registry/core/services/"
ENDPOINTS_KEY_PREFIX = "/registry/core/endpoints/"
# audit annotations, keyed <prefix>round_<r>_index_<i> as upstream's webhook annotator keys them
MUTATION_ANNOTATION_PREFIX = "mutation.webhook.admission.k8s.io/"
PATCH_ANNOTATION_PREFIX = "patch.webhook.admission.k8s.io/"
MUTATING_FAILED_OPEN_PREFIX = "failed-open." + MUTATION_ANNOTATION_PREFIX
VALIDATING_FAILED_OPEN_PREFIX = "failed-open.validating.webhook.admission.k8s.io/"


def annotation_key(prefix: str, round_: int, index: int) -> str:
    return f"{prefix}round_{round_}_index_{index}"


def denied(name: str, response: Obj) -> errors.StatusError:
    """Upstream's ToStatusErr: 'admission webhook "x" denied the request: <message>'."""
    status = response.get("status") or {}
    code = int(status.get("code") or 0)
    code = code if code >= 400 else 400
    by = f'admission webhook "{name}" denied the request'
    if status.get("message"):
        message = f"{by}: {status['message']}"
    elif status.get("reason"):
        message = f"{by}: {status['reason']}"
    else:
        message = f"{by} without explanation"
    return errors.StatusError(code, status.get("reason") or "", message, details=status.get("details"))


def call_failed(name: str, err: CallError) -> errors.StatusError:
    return errors.StatusError(500, "InternalError", f'Internal error occurred: failed calling webhook "{name}": {err}',
                              details={"causes": [{"message": f'failed calling webhook "{name}": {err}'}]})


class WebhookDispatcher:
    """Shared by both plugins: finds matching webhooks and calls them through one HTTP session."""

    name = ""
    key_prefix = ""

    def __init__(self, ctx: PluginContext) -> None:
        self.ctx = ctx
        self._session: aiohttp.ClientSession | None = None

    def handles(self, operation: str) -> bool:
        return operation in ("CREATE", "UPDATE", "DELETE", "CONNECT")

    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    def matching(self, a: Attributes) -> list[Obj]:
        if a.resource[0] == "admissionregistration.k8s.io":
            return []  # upstream never calls webhooks for webhook configurations
        configs = sorted(self.ctx.objects(self.key_prefix).items())
        if not configs:
            return []
        namespace = self.ctx.get(NAMESPACES_KEY_PREFIX, a.namespace) if a.namespace else None
        return [w for _, cfg in configs for w in cfg.get("webhooks") or []
                if isinstance(w, dict) and webhook_matches(w, a, namespace)]

    def matching_indexed(self, a: Attributes) -> list[tuple[str, int, Obj]]:
        """(configuration name, index among all webhooks in name order, webhook) of the matching ones."""
        wanted = {id(w) for w in self.matching(a)}
        if not wanted:
            return []
        hooks = [(cfg.get("metadata", {}).get("name", ""), w) for _, cfg in sorted(self.ctx.objects(
            self.key_prefix).items()) for w in cfg.get("webhooks") or [] if isinstance(w, dict)]
        return [(config, i, w) for i, (config, w) in enumerate(hooks) if id(w) in wanted]

    def resolve(self, namespace: str, name: str, port: int) -> tuple[str, int] | None:
        """A ready endpoint address and target port of a Service port."""
        svc = self.ctx.get(SERVICES_KEY_PREFIX, f"{namespace}/{name}")
        if svc is None:
            return None
        sport = next((p for p in (svc.get("spec") or {}).get("ports") or [] if p.get("port") == port), None)
        if sport is None:
            return None
        ep = self.ctx.get(ENDPOINTS_KEY_PREFIX, f"{namespace}/{name}") or {}
        for subset in ep.get("subsets") or []:
            addrs = subset.get("addresses") or []
            ports = subset.get("ports") or []
            p = next((x for x in ports if x.get("name", "") == sport.get("name", "")), ports[0] if len(ports) == 1 else None)
            if addrs and p:
                return addrs[0]["ip"], int(p["port"])
        return None

    async def invoke(self, webhook: Obj, a: Attributes, failed_open_key: str = "") -> Obj | None:
        """The webhook's response, or None when it failed and failurePolicy is Ignore (then its name is the
        audit annotation failed_open_key)."""
        name = webhook.get("name", "")
        if a.dry_run and webhook.get("sideEffects") not in ("None", "NoneOnDryRun"):
            raise errors.bad_request(f'admission webhook "{name}" does not support dry run')
        try:
            response = await call(self.session(), webhook, review_request(a, str(uuid.uuid4())), self.resolve)
        except CallError as e:
            if webhook.get("failurePolicy", "Fail") == "Ignore":
                log.warning("failed calling webhook %s, failing open: %s", name, e)
                if failed_open_key:
                    a.add_audit_annotation(failed_open_key, name)
                return None
            raise call_failed(name, e) from e
        a.warnings.extend(str(w) for w in response.get("warnings") or [])
        for k, v in (response.get("auditAnnotations") or {}).items():
            a.add_audit_annotation(f"{name}/{k}", str(v))
        if not response.get("allowed"):
            raise denied(name, response)
        return response


class MutatingAdmissionWebhook(WebhookDispatcher):
    """Mutating: each matching webhook in turn, its JSONPatch applied before the next is called."""

    name = "MutatingAdmissionWebhook"
    key_prefix = MUTATING_KEY_PREFIX

    async def admit(self, a: Attributes) -> None:
        webhooks = self.matching_indexed(a)
        if not webhooks:
            return
        changed_after: dict[str, bool] = {}
        for config, index, w in webhooks:
            changed = await self._call_and_patch(w, a, config, 0, index)
            for k in changed_after:
                changed_after[k] = changed_after[k] or changed
            changed_after[w.get("name", "")] = False
        # reinvocationPolicy IfNeeded: once more for webhooks whose input was changed after they ran
        for config, index, w in webhooks:
            if w.get("reinvocationPolicy") == "IfNeeded" and changed_after.get(w.get("name", "")):
                await self._call_and_patch(w, a, config, 1, index)

    async def _call_and_patch(self, webhook: Obj, a: Attributes, config: str = "", round_: int = 0,
                              index: int = 0) -> bool:
        """Call, apply its JSONPatch; annotate the audit event with whether it mutated (and, at level Request,
        the patch), as upstream's webhook annotator."""
        name = webhook.get("name", "")
        changed = False
        try:
            response = await self.invoke(webhook, a, annotation_key(MUTATING_FAILED_OPEN_PREFIX, round_, index))
            if response is None or not response.get("patch") or a.obj is None:
                return False
            if response.get("patchType", "JSONPatch") != "JSONPatch":
                raise call_failed(name, CallError(f"unsupported patch type {response.get('patchType')!r}"))
            try:
                raw = base64.b64decode(response["patch"])
                patched = apply_json_patch(a.obj, raw)
            except Exception as e:  # noqa: BLE001 - any bad patch is the webhook's failure
                raise call_failed(name, CallError(f"JSON patch failed: {e}")) from e
            a.add_audit_annotation(annotation_key(PATCH_ANNOTATION_PREFIX, round_, index), orjson.dumps({
                "configuration": config, "webhook": name, "patch": orjson.loads(raw),
                "patchType": "JSONPatch"}).decode(), level="Request")
            if patched == a.obj:
                return False
            a.obj.clear()
            a.obj.update(patched)
            changed = True
            return True
        finally:
            a.add_audit_annotation(annotation_key(MUTATION_ANNOTATION_PREFIX, round_, index), orjson.dumps({
                "configuration": config, "webhook": name, "mutated": changed}).decode())


class ValidatingAdmissionWebhook(WebhookDispatcher):
    """Validating: every matching webhook called in parallel; any denial refuses the request."""

    name = "ValidatingAdmissionWebhook"
    key_prefix = VALIDATING_KEY_PREFIX

    async def validate(self, a: Attributes) -> None:
        webhooks = self.matching_indexed(a)
        if not webhooks:
            return
        results = await asyncio.gather(*(self.invoke(w, a, annotation_key(VALIDATING_FAILED_OPEN_PREFIX, 0, i))
                                         for _, i, w in webhooks), return_exceptions=True)
        for r in results:
            if isinstance(r, BaseException):
                raise r

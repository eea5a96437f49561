"""Subresources that are not plain views of the object: scale, binding, eviction."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from kybernetes.api import errors, meta
from kybernetes.api.registry import ResourceInfo
from kybernetes.api.selectors import label_selector_from_dict, label_selector_from_dict_or_everything
from kybernetes.apiserver import negotiation as neg
from kybernetes.apiserver.handlers import request_context, respond_with
from kybernetes.apiserver.requestinfo import RequestInfo
from kybernetes.apiserver.rest import deep_copy, guaranteed_update

if TYPE_CHECKING:
    from kybernetes.apiserver.server import APIServer

SCALE_API_VERSION = "autoscaling/v1"


def _selector_string(info: ResourceInfo, obj: dict[str, Any]) -> str:
    sel = (obj.get("spec") or {}).get("selector")
    if (info.group, info.plural) == ("", "replicationcontrollers"):
        sel = {"matchLabels": sel or {}}
    if not isinstance(sel, dict):
        return ""
    return str(label_selector_from_dict(sel))


def to_scale(info: ResourceInfo, obj: dict[str, Any]) -> dict[str, Any]:
    """The autoscaling/v1 Scale of a workload or a custom resource with a scale subresource."""
    md = obj["metadata"]
    scale_md = {k: md[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp") if k in md}
    if info.crd:
        from kybernetes.api.crd import scale_from_custom_resource

        scale = scale_from_custom_resource(info, obj)
        scale["metadata"] = scale_md
        return scale
    return {
        "kind": "Scale", "apiVersion": SCALE_API_VERSION, "metadata": scale_md,
        "spec": {"replicas": (obj.get("spec") or {}).get("replicas", 0)},
        "status": {"replicas": (obj.get("status") or {}).get("replicas", 0),
                   "selector": _selector_string(info, obj)},
    }


class Subresources:
    """HTTP handlers for scale, binding and eviction."""

    def __init__(self, server: APIServer) -> None:
        self.server = server

    async def scale(self, request: web.Request, ri: RequestInfo, info: ResourceInfo, accept: neg.Accept) -> web.Response:
        rest = self.server.rest
        if request.method == "GET":
            obj = await rest.get(info, ri.namespace, ri.name, request.query.get("resourceVersion", ""))
            return neg.respond(to_scale(info, obj), accept)
        ctx = request_context(request)
        body = await neg.read_body(request)
        current = await rest.get(info, ri.namespace, ri.name)
        scale = to_scale(info, current)
        if request.method == "PUT":
            new_scale = neg.decode_object(body, request.headers.get("Content-Type", ""))
            if not isinstance(new_scale, dict):
                raise errors.bad_request("the body is not a Scale object")
        else:
            from kybernetes.apiserver import typehooks

            ptype = neg.patch_type(request.headers.get("Content-Type", ""))
            if ptype == "apply":
                raise errors.StatusError(415, "UnsupportedMediaType", "apply patches are not supported on scale")
            scale_info = ResourceInfo("autoscaling", "v1", "Scale", "scale", "scale", True,
                                      definition="io.k8s.api.autoscaling.v1.Scale")
            new_scale = typehooks.apply_patch(scale_info, ptype, deep_copy(scale), body)
        replicas = (new_scale.get("spec") or {}).get("replicas")
        if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
            raise errors.invalid_object("autoscaling", "Scale", ri.name, [errors.invalid(
                "spec.replicas", replicas, "must be greater than or equal to 0")])
        want_rv = (new_scale.get("metadata") or {}).get("resourceVersion") or ""
        if request.method == "PATCH" and want_rv == scale["metadata"].get("resourceVersion"):
            want_rv = ""
        updated = deep_copy(current)
        if info.crd:
            from kybernetes.api.crd import apply_scale_to_custom_resource

            apply_scale_to_custom_resource(info, updated, new_scale)
        else:
            updated.setdefault("spec", {})["replicas"] = replicas
        updated["metadata"]["resourceVersion"] = want_rv
        out, _ = await rest.update(info, ri.namespace, ri.name, updated, ctx)
        return respond_with(ctx, to_scale(info, out), accept)

    async def binding(self, request: web.Request, ri: RequestInfo, info: ResourceInfo, accept: neg.Accept,
                      pod_name: str) -> web.Response:
        """POST pods/NAME/binding or bindings: assign the pod to a node, once."""
        ctx = request_context(request)
        body = neg.decode_object(await neg.read_body(request), request.headers.get("Content-Type", ""))
        if not isinstance(body, dict):
            raise errors.bad_request("the body is not a Binding object")
        name = (body.get("metadata") or {}).get("name") or pod_name
        if pod_name and name != pod_name:
            raise errors.bad_request(f"the name of the object ({name}) does not match the name on the URL ({pod_name})")
        target = body.get("target") or {}
        node = target.get("name")
        if not node:
            raise errors.invalid_object("", "Binding", name, [errors.required("target.name")])
        if target.get("kind") not in (None, "", "Node"):
            raise errors.invalid_object("", "Binding", name, [errors.not_supported("target.kind", target.get("kind"), ["Node"])])
        pods = self.server.registry.get("", "v1", "pods")
        assert pods is not None
        want_uid = (body.get("metadata") or {}).get("uid")
        annotations = (body.get("metadata") or {}).get("annotations") or {}

        def assign(pod: dict[str, Any]) -> dict[str, Any]:
            md = pod["metadata"]
            if want_uid and md.get("uid") != want_uid:
                raise errors.conflict("", "pods/binding", name,
                                      f"Precondition failed: UID in precondition: {want_uid}, UID in object meta: {md.get('uid')}")
            if md.get("deletionTimestamp"):
                raise errors.conflict("", "pods/binding", name, f"pod {name} is being deleted, cannot be assigned to a host")
            spec = pod.setdefault("spec", {})
            if spec.get("nodeName"):
                raise errors.conflict("", "pods/binding", name,
                                      f'pod {name} is already assigned to node "{spec["nodeName"]}"')
            spec["nodeName"] = node
            if annotations:
                md.setdefault("annotations", {}).update(annotations)
            status = pod.setdefault("status", {})
            conds = [c for c in status.get("conditions") or [] if c.get("type") != "PodScheduled"]
            conds.append({"type": "PodScheduled", "status": "True", "lastProbeTime": None,
                          "lastTransitionTime": meta.now_rfc3339()})
            status["conditions"] = conds
            return pod

        await guaranteed_update(self.server.rest, pods, ri.namespace, name, assign, ctx)
        return respond_with(ctx, neg.success_status(), accept, 201)

    async def eviction(self, request: web.Request, ri: RequestInfo, info: ResourceInfo, accept: neg.Accept) -> web.Response:
        """POST pods/NAME/eviction: delete the pod unless a PodDisruptionBudget forbids it (429)."""
        ctx = request_context(request)
        body = neg.decode_object(await neg.read_body(request), request.headers.get("Content-Type", ""))
        if not isinstance(body, dict):
            raise errors.bad_request("the body is not an Eviction object")
        name = (body.get("metadata") or {}).get("name") or ri.name
        if name != ri.name:
            raise errors.bad_request(f"name in URL does not match name in Eviction object")
        pod = await self.server.rest.get(info, ri.namespace, ri.name)
        phase = (pod.get("status") or {}).get("phase")
        options = dict(body.get("deleteOptions") or {})
        if options.get("dryRun"):
            ctx.dry_run = True
        if phase not in ("Succeeded", "Failed", "Pending") and not pod["metadata"].get("deletionTimestamp"):
            self._check_disruption_budgets(pod, ri.namespace)
        await self.server.rest.delete(info, ri.namespace, ri.name, options, ctx)
        return respond_with(ctx, neg.success_status(), accept, 201)

    def _check_disruption_budgets(self, pod: dict[str, Any], namespace: str) -> None:
        pdb_cache = self.server.cache.caches.get("/registry/policy/poddisruptionbudgets/")
        if pdb_cache is None:
            return
        labels = meta.labels_of(pod)
        for pdb in pdb_cache.list(f"/registry/policy/poddisruptionbudgets/{namespace}/"):
            sel = (pdb.get("spec") or {}).get("selector")
            if sel is None or not label_selector_from_dict_or_everything(sel).matches(labels):
                continue
            status = pdb.get("status") or {}
            if status.get("observedGeneration", 0) < pdb["metadata"].get("generation", 1) or \
                    status.get("disruptionsAllowed", 0) < 1:
                why = ("The disruption budget %s needs %s healthy pods and has %s currently" % (
                    pdb["metadata"]["name"], status.get("desiredHealthy", 0), status.get("currentHealthy", 0)))
                raise errors.StatusError(
                    429, "TooManyRequests", "Cannot evict pod as it would violate the pod's disruption budget.",
                    details={"causes": [{"reason": "DisruptionBudget", "message": why}]})


__all__ = ["Subresources", "to_scale"]

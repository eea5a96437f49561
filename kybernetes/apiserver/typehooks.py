"""The seam between the generic store and type knowledge: defaults, validation, patches, apply, deletion rules."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson
import yaml

from kybernetes.api import errors, meta
from kybernetes.api.registry import ResourceInfo

if TYPE_CHECKING:
    from kybernetes.apiserver.rest import RequestContext

DEFAULT_POD_GRACE = 30


# defaults and validation


def apply_defaults(info: ResourceInfo, obj: dict[str, Any]) -> None:
    from kybernetes.api.defaults import apply_defaults as builtin_defaults

    builtin_defaults(info, obj)
    if (info.group, info.plural) == ("apiextensions.k8s.io", "customresourcedefinitions"):
        from kybernetes.api.crd import apply_crd_defaults

        apply_crd_defaults(obj)


def validate(info: ResourceInfo, obj: dict[str, Any], old: dict[str, Any] | None, *,
             subresource: str = "") -> list[errors.FieldError]:
    if (info.group, info.plural) == ("apiextensions.k8s.io", "customresourcedefinitions"):
        from kybernetes.api.crd import validate_crd
        from kybernetes.api.validation import validate_metadata

        errs = list(validate_metadata(info, obj, old)) if subresource == "" else []
        return errs + (validate_crd(obj, old) if subresource == "" else [])
    from kybernetes.api.validation import validate as builtin_validate

    return builtin_validate(info, obj, old, subresource=subresource)


def prune_custom_resource(info: ResourceInfo, obj: dict[str, Any]) -> list[str]:
    from kybernetes.api.crd import prune_custom_resource as prune

    return prune(info, obj)


def default_custom_resource(info: ResourceInfo, obj: dict[str, Any]) -> None:
    from kybernetes.api.crd import default_custom_resource as default

    default(info, obj)


def validate_custom_resource(info: ResourceInfo, obj: dict[str, Any], old: dict[str, Any] | None) -> list[errors.FieldError]:
    from kybernetes.api.crd import validate_custom_resource as validate_cr

    return validate_cr(info, obj, old)


# type-specific create/update/delete rules


def prepare_for_create(info: ResourceInfo, obj: dict[str, Any], ctx: RequestContext) -> None:
    gp = (info.group, info.plural)
    if info.group == "rbac.authorization.k8s.io":
        from kybernetes.apiserver.authz.escalation import check_rbac_write

        check_rbac_write(info.plural, obj, None, ctx)
    if gp == ("certificates.k8s.io", "certificatesigningrequests"):
        from kybernetes.apiserver import csrstrategy

        csrstrategy.prepare_for_create(obj, user=ctx.user, groups=list(ctx.groups))
    elif gp == ("apiextensions.k8s.io", "customresourcedefinitions"):
        obj.pop("status", None)
    elif gp == ("batch", "jobs"):
        from kybernetes.api.defaults import generate_job_selector

        generate_job_selector(obj)


def prepare_for_update(info: ResourceInfo, new: dict[str, Any], old: dict[str, Any], subresource: str,
                       ctx: RequestContext) -> None:
    gp = (info.group, info.plural)
    if info.group == "rbac.authorization.k8s.io" and not subresource:
        from kybernetes.apiserver.authz.escalation import check_rbac_write

        check_rbac_write(info.plural, new, old, ctx)
    if gp == ("", "namespaces"):
        if subresource == "finalize":
            # only spec.finalizers may change through /finalize
            spec_finalizers = (new.get("spec") or {}).get("finalizers")
            kept = orjson.loads(orjson.dumps(old))
            kept["metadata"] = new["metadata"]
            kept.setdefault("spec", {})["finalizers"] = spec_finalizers or []
            new.clear()
            new.update(kept)
        else:
            new["spec"] = orjson.loads(orjson.dumps(old.get("spec") or {}))
    if gp == ("", "services") and subresource == "":
        _patch_allocated_values(new, old)
        _drop_type_dependent_fields(new, old)
    if gp == ("certificates.k8s.io", "certificatesigningrequests"):
        from kybernetes.apiserver import csrstrategy

        csrstrategy.prepare_for_update(new, old, subresource)


def _service_spec(svc: dict[str, Any]) -> dict[str, Any]:
    spec = svc.get("spec")
    return spec if isinstance(spec, dict) else {}


def _needs_cluster_ip(svc: dict[str, Any]) -> bool:
    return _service_spec(svc).get("type", "ClusterIP") in ("ClusterIP", "NodePort", "LoadBalancer")


def _needs_node_port(svc: dict[str, Any]) -> bool:
    return _service_spec(svc).get("type") in ("NodePort", "LoadBalancer")


def _needs_hc_node_port(svc: dict[str, Any]) -> bool:
    spec = _service_spec(svc)
    return spec.get("type") == "LoadBalancer" and spec.get("externalTrafficPolicy") == "Local"


def _ports(svc: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in _service_spec(svc).get("ports") or [] if isinstance(p, dict)]


def _patch_allocated_values(new: dict[str, Any], old: dict[str, Any]) -> None:
    """An update that leaves out allocated values keeps them (upstream's patchAllocatedValues, before validation)."""
    spec, old_spec = new.setdefault("spec", {}), _service_spec(old)
    if _needs_cluster_ip(old) and _needs_cluster_ip(new):
        if not spec.get("clusterIP") and old_spec.get("clusterIP"):
            spec["clusterIP"] = old_spec["clusterIP"]
        if not spec.get("clusterIPs") and old_spec.get("clusterIPs"):
            spec["clusterIPs"] = list(old_spec["clusterIPs"])
    if _needs_node_port(old) and _needs_node_port(new):
        used = {p.get("nodePort") for p in _ports(old)} & {p.get("nodePort") for p in _ports(new)}
        by_name = {p.get("name", ""): p.get("nodePort") for p in _ports(old)}
        for p in _ports(new):
            previous = by_name.get(p.get("name", ""))
            if not p.get("nodePort") and previous and previous not in used:
                p["nodePort"] = previous
    if _needs_hc_node_port(old) and _needs_hc_node_port(new) and not spec.get("healthCheckNodePort"):
        if old_spec.get("healthCheckNodePort"):
            spec["healthCheckNodePort"] = old_spec["healthCheckNodePort"]


def _drop_type_dependent_fields(new: dict[str, Any], old: dict[str, Any]) -> None:
    """A type change wipes what no longer applies, when the user left it as it was (upstream's strategy)."""
    spec, old_spec = new.setdefault("spec", {}), _service_spec(old)
    if _needs_cluster_ip(old) and not _needs_cluster_ip(new):
        for k in ("clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"):
            if spec.get(k) == old_spec.get(k):
                spec.pop(k, None)
    if _needs_node_port(old) and not _needs_node_port(new):
        if [p.get("nodePort") for p in _ports(new)] == [p.get("nodePort") for p in _ports(old)]:
            for p in _ports(new):
                p.pop("nodePort", None)
    if _needs_hc_node_port(old) and not _needs_hc_node_port(new):
        if spec.get("healthCheckNodePort") == old_spec.get("healthCheckNodePort"):
            spec.pop("healthCheckNodePort", None)
    if old_spec.get("type") == "LoadBalancer" and spec.get("type") != "LoadBalancer":
        for k in ("allocateLoadBalancerNodePorts", "loadBalancerClass"):
            if k in spec and spec.get(k) == old_spec.get(k):
                spec.pop(k)
    externally_accessible = ("NodePort", "LoadBalancer")
    if old_spec.get("type") in externally_accessible and spec.get("type") not in externally_accessible:
        if spec.get("externalTrafficPolicy") == old_spec.get("externalTrafficPolicy"):
            spec.pop("externalTrafficPolicy", None)


def grace_period(info: ResourceInfo, obj: dict[str, Any], options: dict[str, Any]) -> int | None:
    """Seconds of graceful deletion: pods bound to a node wait for their kubelet; everything else goes now."""
    requested = options.get("gracePeriodSeconds")
    if (info.group, info.plural) != ("", "pods"):
        return 0 if requested is None else int(requested)
    spec = obj.get("spec") or {}
    phase = (obj.get("status") or {}).get("phase")
    if not spec.get("nodeName") or phase in ("Succeeded", "Failed"):
        return 0
    if requested is None:
        requested = spec.get("terminationGracePeriodSeconds", DEFAULT_POD_GRACE)
    requested = int(requested)
    return 1 if requested == 0 and not options.get("gracePeriodSeconds") == 0 else max(requested, 0)


def blocks_final_deletion(info: ResourceInfo, obj: dict[str, Any]) -> bool:
    """Namespaces stay until spec.finalizers is empty (the namespace controller empties them)."""
    if (info.group, info.plural) == ("", "namespaces"):
        return bool((obj.get("spec") or {}).get("finalizers"))
    return False


def prepare_for_delete(info: ResourceInfo, obj: dict[str, Any]) -> None:
    if (info.group, info.plural) == ("", "namespaces"):
        obj.setdefault("status", {})["phase"] = "Terminating"


# patches and apply


def decode_patch(body: bytes) -> tuple[Any, bool]:
    """A patch body, JSON or else YAML, and whether it was JSON (then it holds JSON values only)."""
    try:
        return orjson.loads(body), True
    except orjson.JSONDecodeError as e:
        try:
            return yaml.safe_load(body), False
        except yaml.YAMLError:
            raise errors.bad_request(f"error decoding patch: {e}") from None


def apply_patch(info: ResourceInfo, patch_type: str, obj: dict[str, Any], body: bytes, *,
                decoded: Any = None) -> Any:
    """obj patched with body (or with `decoded`, the body's decode_patch, which the patch then owns). Merge and
    strategic patches change obj itself, which must be the caller's own copy; a JSON patch copies it."""
    patch = decode_patch(body)[0] if decoded is None else decoded
    if patch_type == "json":
        from kybernetes.api.patch.json_patch import apply_json_patch

        return apply_json_patch(obj, patch)
    if not isinstance(patch, dict):
        raise errors.bad_request("the patch is not a JSON object")
    if patch_type == "merge":
        from kybernetes.api.patch.merge_patch import apply_merge_patch

        # no copies: obj is the caller's copy, the patch was decoded just now
        return apply_merge_patch(obj, patch, copy_inputs=False)
    if patch_type == "strategic":
        if info.crd or not info.definition:
            raise errors.StatusError(
                415, "UnsupportedMediaType",
                "strategic merge patch is not supported for custom resources; use a merge or JSON patch")
        from kybernetes.api import schema as schemas
        from kybernetes.api.patch.strategic import apply_strategic_merge_patch

        return apply_strategic_merge_patch(obj, patch, schemas.definition(info.definition) or {}, copy_inputs=False)
    raise errors.StatusError(415, "UnsupportedMediaType", f"unsupported patch type {patch_type!r}")


def decode_apply_body(body: bytes) -> dict[str, Any]:
    try:
        obj = yaml.safe_load(body)
    except yaml.YAMLError as e:
        raise errors.bad_request(f"error decoding YAML: {e}") from None
    if not isinstance(obj, dict):
        raise errors.bad_request("the apply configuration is not an object")
    return obj


def _schema_for(info: ResourceInfo) -> dict[str, Any] | None:
    from kybernetes.apiserver.rest import type_schema

    return type_schema(info)


def server_side_apply(info: ResourceInfo, live: dict[str, Any] | None, applied: dict[str, Any],
                      ctx: RequestContext, *, force: bool, subresource: str = "") -> dict[str, Any]:
    from kybernetes.api.apply import ApplyConflictError
    from kybernetes.api.apply import server_side_apply as ssa

    if not ctx.field_manager:
        raise errors.bad_request("PATCH, application/apply-patch+yaml: fieldManager must be set")
    try:
        return ssa(live, applied, schema=_schema_for(info), manager=ctx.field_manager, force=force,
                   api_version=info.group_version, now=meta.now_rfc3339(), subresource=subresource)
    except ApplyConflictError as e:
        raise e.status(info.group, info.plural, meta.name_of(live or applied)) from None


def track_managed_fields(info: ResourceInfo, old: dict[str, Any] | None, new: dict[str, Any], ctx: RequestContext,
                         *, subresource: str = "") -> None:
    from kybernetes.api.apply import update_managed_fields

    update_managed_fields(old, new, schema=_schema_for(info), manager=ctx.manager(), api_version=info.group_version,
                          now=meta.now_rfc3339(), subresource=subresource)

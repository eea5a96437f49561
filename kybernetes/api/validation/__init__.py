"""Validation of built-in objects as kube-apiserver 1.32 does it: validate(info, obj, old) -> [FieldError].

Call it after defaulting (upstream validates defaulted objects: a missing default such as
`spec.dnsPolicy` is reported as `Required value`). old=None validates a create, else an update.
CRDs (apiextensions.k8s.io) are validated elsewhere; custom resources get ObjectMeta checks only.
"""

from __future__ import annotations

from typing import Callable

from kybernetes.api.errors import FieldError
from kybernetes.api.registry import ResourceInfo
from kybernetes.api.validation import apps, batch, certificates, core, others
from kybernetes.api.validation import meta as m
from kybernetes.api.validation.quantity import parse_quantity

__all__ = ["validate", "parse_quantity"]

Validator = Callable[[dict, "dict | None"], list[FieldError]]

VALIDATORS: dict[tuple[str, str], Validator] = {
    ("", "Pod"): core.validate_pod,
    ("", "PodTemplate"): core.validate_pod_template,
    ("", "Binding"): core.validate_binding,
    ("", "ReplicationController"): core.validate_replication_controller,
    ("", "Service"): core.validate_service,
    ("", "ConfigMap"): core.validate_config_map,
    ("", "Secret"): core.validate_secret,
    ("", "Namespace"): core.validate_namespace,
    ("", "Node"): core.validate_node,
    ("", "Endpoints"): core.validate_endpoints,
    ("", "PersistentVolumeClaim"): core.validate_pvc,
    ("", "PersistentVolume"): core.validate_persistent_volume,
    ("", "ServiceAccount"): core.validate_service_account,
    ("apps", "Deployment"): apps.validate_deployment,
    ("apps", "ReplicaSet"): apps.validate_replica_set,
    ("apps", "StatefulSet"): apps.validate_stateful_set,
    ("apps", "DaemonSet"): apps.validate_daemon_set,
    ("apps", "ControllerRevision"): apps.validate_controller_revision,
    ("batch", "Job"): batch.validate_job,
    ("batch", "CronJob"): batch.validate_cron_job,
    ("coordination.k8s.io", "Lease"): others.validate_lease,
    ("discovery.k8s.io", "EndpointSlice"): others.validate_endpoint_slice,
    ("policy", "PodDisruptionBudget"): others.validate_pdb,
    ("scheduling.k8s.io", "PriorityClass"): others.validate_priority_class,
    ("rbac.authorization.k8s.io", "Role"): lambda o, old: others.validate_role(o, old, True),
    ("rbac.authorization.k8s.io", "ClusterRole"): lambda o, old: others.validate_role(o, old, False),
    ("rbac.authorization.k8s.io", "RoleBinding"): lambda o, old: others.validate_role_binding(o, old, True),
    ("rbac.authorization.k8s.io", "ClusterRoleBinding"): lambda o, old: others.validate_role_binding(o, old, False),
    ("storage.k8s.io", "StorageClass"): others.validate_storage_class,
    ("certificates.k8s.io", "CertificateSigningRequest"): certificates.validate_csr,
}

# names that are not RFC 1123 subdomains (everything else is)
NAME_FUNCS: dict[tuple[str, str], m.NameFn] = {
    ("", "Namespace"): m.name_is_dns_label,
    ("", "Service"): m.name_is_dns1035_label,
    ("", "PersistentVolume"): m.name_is_path_segment,
    ("", "PersistentVolumeClaim"): m.name_is_path_segment,
    ("certificates.k8s.io", "CertificateSigningRequest"): m.name_anything,
    ("rbac.authorization.k8s.io", "Role"): m.name_is_path_segment,
    ("rbac.authorization.k8s.io", "ClusterRole"): m.name_is_path_segment,
    ("rbac.authorization.k8s.io", "RoleBinding"): m.name_is_path_segment,
    ("rbac.authorization.k8s.io", "ClusterRoleBinding"): m.name_is_path_segment,
}


def name_func(info: ResourceInfo) -> m.NameFn:
    """The name rule for a resource's objects (RFC 1123 subdomain unless upstream says otherwise)."""
    return NAME_FUNCS.get((info.group, info.kind), m.name_is_dns_subdomain)


def validate_metadata(info: ResourceInfo, obj: dict, old: dict | None = None) -> list[FieldError]:
    """ObjectMeta checks alone: what every resource without its own validator gets."""
    if old is None:
        return m.validate_object_meta(obj.get("metadata"), info.namespaced, name_func(info))
    return m.validate_object_meta_update(obj.get("metadata"), old.get("metadata"))


def _validate_status(info: ResourceInfo, obj: dict, old: dict) -> list[FieldError]:
    if (info.group, info.kind) == ("", "Pod"):
        return core.validate_pod_status_update(obj, old)
    return m.validate_object_meta_update(obj.get("metadata"), old.get("metadata"))


def _validate_scale(obj: dict, old: dict | None) -> list[FieldError]:
    errs = m.validate_nonnegative((obj.get("spec") or {}).get("replicas", 0), "spec.replicas")
    if old is not None:
        errs.extend(m.validate_object_meta_update(obj.get("metadata"), old.get("metadata")))
    return errs


def validate(info: ResourceInfo, obj: dict, old: dict | None = None, *, subresource: str = "") -> list[FieldError]:
    """Field errors for a create (old is None) or an update of obj, with upstream's paths and wording."""
    if info.group == "apiextensions.k8s.io":
        return []
    if (info.group, info.kind) == ("certificates.k8s.io", "CertificateSigningRequest") and old is not None:
        if subresource == "status":
            return certificates.validate_csr_status_update(obj, old)
        if subresource == "approval":
            return certificates.validate_csr_approval_update(obj, old)
    if subresource == "status" and old is not None:
        return _validate_status(info, obj, old)
    if subresource == "scale":
        return _validate_scale(obj, old)
    if subresource:
        return []
    validator = None if info.crd else VALIDATORS.get((info.group, info.kind))
    if validator is None:
        return validate_metadata(info, obj, old)
    return validator(obj, old)

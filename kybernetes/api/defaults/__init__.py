"""Defaulting of built-in objects as kube-apiserver 1.32 does it on decode: apply_defaults(info, obj).

Defaults fill only absent fields. Things the apiserver decides itself (clusterIP and nodePort
allocation, a Job's selector from its uid: see generate_job_selector) are not done here.
"""

from __future__ import annotations

from typing import Callable

from kybernetes.api.defaults import apps, batch, core, others
from kybernetes.api.defaults.batch import generate_job_selector, job_selector_labels
from kybernetes.api.defaults.core import set_pod_priority
from kybernetes.api.registry import ResourceInfo

__all__ = ["apply_defaults", "job_selector_labels", "generate_job_selector", "set_pod_priority"]

DEFAULTERS: dict[tuple[str, str], Callable[[dict], None]] = {
    ("", "Pod"): core.set_defaults_pod,
    ("", "PodTemplate"): core.set_defaults_pod_template,
    ("", "ReplicationController"): core.set_defaults_replication_controller,
    ("", "Service"): core.set_defaults_service,
    ("", "Endpoints"): core.set_defaults_endpoints,
    ("", "Namespace"): core.set_defaults_namespace,
    ("", "Secret"): core.set_defaults_secret,
    ("", "PersistentVolumeClaim"): core.set_defaults_pvc,
    ("", "PersistentVolume"): core.set_defaults_pv,
    ("", "Node"): core.set_defaults_node,
    ("", "LimitRange"): core.set_defaults_limit_range,
    ("apps", "Deployment"): apps.set_defaults_deployment,
    ("apps", "ReplicaSet"): apps.set_defaults_replica_set,
    ("apps", "DaemonSet"): apps.set_defaults_daemon_set,
    ("apps", "StatefulSet"): apps.set_defaults_stateful_set,
    ("batch", "Job"): batch.set_defaults_job,
    ("batch", "CronJob"): batch.set_defaults_cron_job,
    ("discovery.k8s.io", "EndpointSlice"): others.set_defaults_endpoint_slice,
    ("scheduling.k8s.io", "PriorityClass"): others.set_defaults_priority_class,
    ("storage.k8s.io", "StorageClass"): others.set_defaults_storage_class,
    ("rbac.authorization.k8s.io", "RoleBinding"): others.set_defaults_binding,
    ("rbac.authorization.k8s.io", "ClusterRoleBinding"): others.set_defaults_binding,
    ("apiextensions.k8s.io", "CustomResourceDefinition"): others.set_defaults_crd,
}


def apply_defaults(info: ResourceInfo, obj: dict) -> None:
    """Mutate obj with upstream's defaults for its kind (SetDefaults_* of pkg/apis/*/v1)."""
    if info.crd or not isinstance(obj, dict):
        return
    defaulter = DEFAULTERS.get((info.group, info.kind))
    if defaulter is not None:
        defaulter(obj)

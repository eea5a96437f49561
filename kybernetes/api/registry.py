"""The resource registry: every served resource's group, version, kind, plural, scope and names."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Iterator

READ_VERBS = ("get", "list", "watch")
WRITE_VERBS = ("create", "update", "patch", "delete", "deletecollection")
ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


@dataclass(frozen=True)
class ResourceInfo:
    """One resource as served at /api/v1 or /apis/<group>/<version>."""

    group: str
    version: str
    kind: str
    plural: str
    singular: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    subresources: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ALL_VERBS
    definition: str | None = None  # OpenAPI definition name, e.g. io.k8s.api.core.v1.Pod
    crd: bool = False
    # the resource whose storage this one shares (same key space), e.g. a CRD's other versions
    storage_plural: str | None = None
    extra: dict = field(default_factory=dict, compare=False, hash=False)
    # the group whose key space stores this resource, when another group's (events.k8s.io events are core events)
    storage_group: str | None = None

    @property
    def group_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    api_version = group_version

    @property
    def list_kind(self) -> str:
        return self.kind + "List"

    @property
    def gvr(self) -> tuple[str, str, str]:
        return (self.group, self.version, self.plural)

    @property
    def storage_prefix(self) -> str:
        """Key prefix of every object of this resource, ending in '/'."""
        group = self.group if self.storage_group is None else self.storage_group
        return f"/registry/{group or 'core'}/{self.storage_plural or self.plural}/"

    def key(self, namespace: str | None, name: str) -> str:
        if self.namespaced:
            return f"{self.storage_prefix}{namespace}/{name}"
        return f"{self.storage_prefix}{name}"

    def list_prefix(self, namespace: str | None) -> str:
        if self.namespaced and namespace:
            return f"{self.storage_prefix}{namespace}/"
        return self.storage_prefix

    def has_subresource(self, name: str) -> bool:
        return name in self.subresources


def _core(kind: str, plural: str, namespaced: bool = True, short: tuple[str, ...] = (),
          cats: tuple[str, ...] = (), sub: tuple[str, ...] = (), verbs: tuple[str, ...] = ALL_VERBS,
          singular: str | None = None) -> ResourceInfo:
    return ResourceInfo("", "v1", kind, plural, singular or kind.lower(), namespaced, short, cats, sub,
                        verbs, f"io.k8s.api.core.v1.{kind}")


def _grp(group: str, version: str, pkg: str, kind: str, plural: str, namespaced: bool = True,
         short: tuple[str, ...] = (), cats: tuple[str, ...] = (), sub: tuple[str, ...] = (),
         verbs: tuple[str, ...] = ALL_VERBS) -> ResourceInfo:
    return ResourceInfo(group, version, kind, plural, kind.lower(), namespaced, short, cats, sub, verbs,
                        f"{pkg}.{version}.{kind}")


_ALL = ("all",)
_CREATE_ONLY = ("create",)

BUILTIN_RESOURCES: tuple[ResourceInfo, ...] = (
    # core/v1
    _core("Binding", "bindings", verbs=_CREATE_ONLY),
    _core("ComponentStatus", "componentstatuses", False, ("cs",), verbs=("get", "list")),
    _core("ConfigMap", "configmaps", short=("cm",)),
    _core("Endpoints", "endpoints", short=("ep",), singular="endpoints"),
    _core("Event", "events", short=("ev",)),
    _core("LimitRange", "limitranges", short=("limits",)),
    _core("Namespace", "namespaces", False, ("ns",), sub=("finalize", "status"),
          verbs=("create", "delete", "get", "list", "patch", "update", "watch")),
    _core("Node", "nodes", False, ("no",), sub=("proxy", "status")),
    _core("PersistentVolumeClaim", "persistentvolumeclaims", short=("pvc",), sub=("status",)),
    _core("PersistentVolume", "persistentvolumes", False, ("pv",), sub=("status",)),
    _core("Pod", "pods", short=("po",), cats=_ALL,
          sub=("attach", "binding", "ephemeralcontainers", "eviction", "exec", "log", "portforward",
               "proxy", "resize", "status")),
    _core("PodTemplate", "podtemplates"),
    _core("ReplicationController", "replicationcontrollers", short=("rc",), cats=_ALL, sub=("scale", "status")),
    _core("ResourceQuota", "resourcequotas", short=("quota",), sub=("status",)),
    _core("Secret", "secrets"),
    _core("ServiceAccount", "serviceaccounts", short=("sa",), sub=("token",)),
    _core("Service", "services", short=("svc",), cats=_ALL, sub=("proxy", "status"),
          verbs=("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")),
    # admissionregistration.k8s.io/v1
    _grp("admissionregistration.k8s.io", "v1", "io.k8s.api.admissionregistration", "MutatingWebhookConfiguration",
         "mutatingwebhookconfigurations", False, cats=("api-extensions",)),
    _grp("admissionregistration.k8s.io", "v1", "io.k8s.api.admissionregistration", "ValidatingAdmissionPolicy",
         "validatingadmissionpolicies", False, cats=("api-extensions",), sub=("status",)),
    _grp("admissionregistration.k8s.io", "v1", "io.k8s.api.admissionregistration",
         "ValidatingAdmissionPolicyBinding", "validatingadmissionpolicybindings", False, cats=("api-extensions",)),
    _grp("admissionregistration.k8s.io", "v1", "io.k8s.api.admissionregistration", "ValidatingWebhookConfiguration",
         "validatingwebhookconfigurations", False, cats=("api-extensions",)),
    # apiextensions.k8s.io/v1
    ResourceInfo("apiextensions.k8s.io", "v1", "CustomResourceDefinition", "customresourcedefinitions",
                 "customresourcedefinition", False, ("crd", "crds"), ("api-extensions",), ("status",),
                 ALL_VERBS, "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinition"),
    # apps/v1
    _grp("apps", "v1", "io.k8s.api.apps", "ControllerRevision", "controllerrevisions"),
    _grp("apps", "v1", "io.k8s.api.apps", "DaemonSet", "daemonsets", short=("ds",), cats=_ALL, sub=("status",)),
    _grp("apps", "v1", "io.k8s.api.apps", "Deployment", "deployments", short=("deploy",), cats=_ALL,
         sub=("scale", "status")),
    _grp("apps", "v1", "io.k8s.api.apps", "ReplicaSet", "replicasets", short=("rs",), cats=_ALL,
         sub=("scale", "status")),
    _grp("apps", "v1", "io.k8s.api.apps", "StatefulSet", "statefulsets", short=("sts",), cats=_ALL,
         sub=("scale", "status")),
    # authentication.k8s.io/v1 (virtual: answered by kybernetes.apiserver.virtual, never stored)
    _grp("authentication.k8s.io", "v1", "io.k8s.api.authentication", "SelfSubjectReview", "selfsubjectreviews",
         False, verbs=_CREATE_ONLY),
    _grp("authentication.k8s.io", "v1", "io.k8s.api.authentication", "TokenReview", "tokenreviews", False,
         verbs=_CREATE_ONLY),
    # authorization.k8s.io/v1 (virtual: answered by kybernetes.apiserver.authz.reviews, never stored)
    _grp("authorization.k8s.io", "v1", "io.k8s.api.authorization", "LocalSubjectAccessReview",
         "localsubjectaccessreviews", verbs=_CREATE_ONLY),
    _grp("authorization.k8s.io", "v1", "io.k8s.api.authorization", "SelfSubjectAccessReview",
         "selfsubjectaccessreviews", False, verbs=_CREATE_ONLY),
    _grp("authorization.k8s.io", "v1", "io.k8s.api.authorization", "SelfSubjectRulesReview",
         "selfsubjectrulesreviews", False, verbs=_CREATE_ONLY),
    _grp("authorization.k8s.io", "v1", "io.k8s.api.authorization", "SubjectAccessReview", "subjectaccessreviews",
         False, verbs=_CREATE_ONLY),
    # batch/v1
    _grp("batch", "v1", "io.k8s.api.batch", "CronJob", "cronjobs", short=("cj",), cats=_ALL, sub=("status",)),
    _grp("batch", "v1", "io.k8s.api.batch", "Job", "jobs", cats=_ALL, sub=("status",)),
    # certificates.k8s.io/v1
    _grp("certificates.k8s.io", "v1", "io.k8s.api.certificates", "CertificateSigningRequest",
         "certificatesigningrequests", False, ("csr",), sub=("approval", "status")),
    # coordination.k8s.io/v1
    _grp("coordination.k8s.io", "v1", "io.k8s.api.coordination", "Lease", "leases"),
    # discovery.k8s.io/v1
    _grp("discovery.k8s.io", "v1", "io.k8s.api.discovery", "EndpointSlice", "endpointslices"),
    # events.k8s.io/v1
    ResourceInfo("events.k8s.io", "v1", "Event", "events", "event", True, ("ev",), definition="io.k8s.api.events.v1.Event",
                 storage_group=""),
    # policy/v1
    _grp("policy", "v1", "io.k8s.api.policy", "PodDisruptionBudget", "poddisruptionbudgets", short=("pdb",),
         sub=("status",)),
    # rbac.authorization.k8s.io/v1
    _grp("rbac.authorization.k8s.io", "v1", "io.k8s.api.rbac", "ClusterRoleBinding", "clusterrolebindings", False),
    _grp("rbac.authorization.k8s.io", "v1", "io.k8s.api.rbac", "ClusterRole", "clusterroles", False),
    _grp("rbac.authorization.k8s.io", "v1", "io.k8s.api.rbac", "RoleBinding", "rolebindings"),
    _grp("rbac.authorization.k8s.io", "v1", "io.k8s.api.rbac", "Role", "roles"),
    # scheduling.k8s.io/v1
    _grp("scheduling.k8s.io", "v1", "io.k8s.api.scheduling", "PriorityClass", "priorityclasses", False, ("pc",)),
    # storage.k8s.io/v1
    _grp("storage.k8s.io", "v1", "io.k8s.api.storage", "StorageClass", "storageclasses", False, ("sc",)),
)

# the order groups are listed in by /apis, as upstream orders them
GROUP_ORDER = (
    "", "apiregistration.k8s.io", "apps", "events.k8s.io", "authentication.k8s.io", "authorization.k8s.io",
    "autoscaling", "batch", "certificates.k8s.io", "networking.k8s.io", "policy", "rbac.authorization.k8s.io",
    "storage.k8s.io", "admissionregistration.k8s.io", "apiextensions.k8s.io", "scheduling.k8s.io",
    "coordination.k8s.io", "node.k8s.io", "discovery.k8s.io", "flowcontrol.apiserver.k8s.io",
)


class Registry:
    """The set of served resources; CRDs add and remove theirs at run time."""

    def __init__(self, resources: Iterable[ResourceInfo] = BUILTIN_RESOURCES) -> None:
        self._by_gvr: dict[tuple[str, str, str], ResourceInfo] = {}
        self._generation = 0
        for info in resources:
            self.register(info)

    @property
    def generation(self) -> int:
        """Bumped on every change, so discovery caches know when to rebuild."""
        return self._generation

    def register(self, info: ResourceInfo) -> None:
        self._by_gvr[info.gvr] = info
        self._generation += 1

    def unregister(self, group: str, version: str, plural: str) -> None:
        if self._by_gvr.pop((group, version, plural), None) is not None:
            self._generation += 1

    def get(self, group: str, version: str, plural: str) -> ResourceInfo | None:
        return self._by_gvr.get((group, version, plural))

    def by_kind(self, group: str, version: str, kind: str) -> ResourceInfo | None:
        for info in self._by_gvr.values():
            if info.group == group and info.version == version and info.kind == kind:
                return info
        return None

    def by_api_version_kind(self, api_version: str, kind: str) -> ResourceInfo | None:
        group, _, version = api_version.rpartition("/")
        return self.by_kind(group, version, kind)

    def __iter__(self) -> Iterator[ResourceInfo]:
        return iter(list(self._by_gvr.values()))

    def resources(self, group: str, version: str) -> list[ResourceInfo]:
        return sorted((i for i in self._by_gvr.values() if i.group == group and i.version == version),
                      key=lambda i: i.plural)

    def groups(self) -> dict[str, list[str]]:
        """Group name -> served versions, preferred first; groups in upstream's order, then by name."""
        found: dict[str, set[str]] = {}
        for info in self._by_gvr.values():
            found.setdefault(info.group, set()).add(info.version)
        order = {g: i for i, g in enumerate(GROUP_ORDER)}
        names = sorted(found, key=lambda g: (order.get(g, len(order)), g))
        return {g: sorted(found[g], key=version_priority_key) for g in names}


def version_priority_key(version: str) -> tuple[int, int, int, str]:
    """Sort key giving Kubernetes version priority: GA > beta > alpha, higher numbers first."""
    import re

    m = re.fullmatch(r"v(\d+)(?:(alpha|beta)(\d+))?", version)
    if not m:
        return (3, 0, 0, version)
    major = int(m.group(1))
    stage = {"": 0, None: 0, "beta": 1, "alpha": 2}[m.group(2)]
    minor = int(m.group(3) or 0)
    return (stage, -major, -minor, version)

"""Upstream's default RBAC policy (bootstrappolicy): ClusterRoles, bindings and namespaced roles every cluster has."""

from __future__ import annotations

from typing import Any

Rule = dict[str, Any]
Obj = dict[str, Any]

RBAC_GROUP = "rbac.authorization.k8s.io"
RBAC_API_VERSION = f"{RBAC_GROUP}/v1"
AUTOUPDATE = "rbac.authorization.kubernetes.io/autoupdate"
BOOTSTRAP_LABEL = {"kubernetes.io/bootstrapping": "rbac-defaults"}
AGGREGATE_TO = "rbac.authorization.k8s.io/aggregate-to-"
CONTROLLER_ROLE_PREFIX = "system:controller:"
# With --use-service-account-credentials (the default of `kybernetes server`) each controller runs as the
# kube-system ServiceAccount its system:controller:<name> role is bound to, and the controller-manager's own
# identity keeps only system:kube-controller-manager. Without it every controller uses that one credential, which
# then needs every controller role (upstream leaves this to the operator): this aggregated ClusterRole gathers
# them, and `kybernetes server` binds it to system:kube-controller-manager only while the flag is off.
CONTROLLER_MANAGER_CONTROLLERS = "kybernetes:kube-controller-manager:controllers"
AGGREGATE_TO_CONTROLLER_MANAGER = "kybernetes.io/aggregate-to-kube-controller-manager"
SCHEDULER_EXTRA = "kybernetes:kube-scheduler"
# The apiserver's client certificate towards kubelets (kybernetes.pki.kubelet) and its binding to upstream's
# system:kubelet-api-admin, which kubelets check through SubjectAccessReviews (k3s names it the same way).
APISERVER_KUBELET_CLIENT_USER = "kube-apiserver-kubelet-client"
KUBELET_API_ADMIN_BINDING = "kube-apiserver-kubelet-admin"

READ = ("get", "list", "watch")
READ_WRITE = ("get", "list", "watch", "create", "update", "patch", "delete", "deletecollection")
WRITE = ("create", "delete", "deletecollection", "patch", "update")

LEGACY, APPS, AUTHN, AUTHZ, AUTOSCALING, BATCH = ("", "apps", "authentication.k8s.io", "authorization.k8s.io",
                                                  "autoscaling", "batch")
CERTS, COORD, DISCOVERY, EVENTS, EXTENSIONS = ("certificates.k8s.io", "coordination.k8s.io", "discovery.k8s.io",
                                               "events.k8s.io", "extensions")
NETWORKING, POLICY, STORAGE, NODE = "networking.k8s.io", "policy", "storage.k8s.io", "node.k8s.io"
ADMISSIONREG = "admissionregistration.k8s.io"


def rule(verbs: tuple[str, ...] | str, groups: tuple[str, ...] | str, resources: tuple[str, ...] | str,
         names: tuple[str, ...] = ()) -> Rule:
    """A resource PolicyRule (rbacv1helpers.NewRule(...).Groups(...).Resources(...).Names(...))."""
    as_list = lambda v: [v] if isinstance(v, str) else list(v)  # noqa: E731
    out: Rule = {"apiGroups": as_list(groups), "resources": as_list(resources), "verbs": as_list(verbs)}
    if names:
        out["resourceNames"] = list(names)
    return out


def url_rule(verbs: tuple[str, ...] | str, *urls: str) -> Rule:
    return {"nonResourceURLs": list(urls), "verbs": [verbs] if isinstance(verbs, str) else list(verbs)}


def events_rule() -> Rule:
    return rule(("create", "update", "patch"), (LEGACY, EVENTS), "events")


def _meta(name: str, labels: dict[str, str] | None = None, namespace: str = "") -> Obj:
    md: Obj = {"name": name, "labels": {**BOOTSTRAP_LABEL, **(labels or {})}, "annotations": {AUTOUPDATE: "true"}}
    if namespace:
        md["namespace"] = namespace
    return md


def cluster_role(name: str, rules: list[Rule], *, labels: dict[str, str] | None = None,
                 aggregate_from: str = "") -> Obj:
    out: Obj = {"apiVersion": RBAC_API_VERSION, "kind": "ClusterRole", "metadata": _meta(name, labels), "rules": rules}
    if aggregate_from:
        out["aggregationRule"] = {"clusterRoleSelectors": [{"matchLabels": {aggregate_from: "true"}}]}
    return out


def role(namespace: str, name: str, rules: list[Rule]) -> Obj:
    return {"apiVersion": RBAC_API_VERSION, "kind": "Role", "metadata": _meta(name, namespace=namespace),
            "rules": rules}


def user(name: str) -> Obj:
    return {"apiGroup": RBAC_GROUP, "kind": "User", "name": name}


def group(name: str) -> Obj:
    return {"apiGroup": RBAC_GROUP, "kind": "Group", "name": name}


def service_account(namespace: str, name: str) -> Obj:
    return {"apiGroup": "", "kind": "ServiceAccount", "name": name, "namespace": namespace}


def cluster_role_binding(role_name: str, subjects: list[Obj], name: str = "") -> Obj:
    return {"apiVersion": RBAC_API_VERSION, "kind": "ClusterRoleBinding", "metadata": _meta(name or role_name),
            "roleRef": {"apiGroup": RBAC_GROUP, "kind": "ClusterRole", "name": role_name}, "subjects": subjects}


def role_binding(namespace: str, role_name: str, subjects: list[Obj], name: str = "") -> Obj:
    return {"apiVersion": RBAC_API_VERSION, "kind": "RoleBinding",
            "metadata": _meta(name or role_name, namespace=namespace),
            "roleRef": {"apiGroup": RBAC_GROUP, "kind": "Role", "name": role_name}, "subjects": subjects}


# cluster roles


def node_rules() -> list[Rule]:
    """What a kubelet may do (the system:node role; the Node authorizer applies these rules itself)."""
    return [
        rule("create", AUTHN, "tokenreviews"),
        rule("create", AUTHZ, ("subjectaccessreviews", "localsubjectaccessreviews")),
        rule(READ, LEGACY, "services"),
        rule(("create", "get", "list", "watch"), LEGACY, "nodes"),
        rule(("update", "patch"), LEGACY, "nodes/status"),
        rule(("update", "patch"), LEGACY, "nodes"),
        rule(("create", "update", "patch"), LEGACY, "events"),
        rule(READ, LEGACY, "pods"),
        rule(("create", "delete"), LEGACY, "pods"),
        rule(("update", "patch"), LEGACY, "pods/status"),
        rule("create", LEGACY, "pods/eviction"),
        rule(READ, LEGACY, ("secrets", "configmaps")),
        rule("get", LEGACY, ("persistentvolumeclaims", "persistentvolumes")),
        rule("get", LEGACY, "endpoints"),
        rule(("create", "get", "list", "watch"), CERTS, "certificatesigningrequests"),
        rule(("get", "create", "update", "patch", "delete"), COORD, "leases"),
        rule("get", STORAGE, "volumeattachments"),
        rule("create", LEGACY, "serviceaccounts/token"),
        rule(("get", "update", "patch"), LEGACY, "persistentvolumeclaims/status"),
        rule(READ, STORAGE, "csidrivers"),
        rule(("get", "create", "update", "patch", "delete"), STORAGE, "csinodes"),
        rule(READ, NODE, "runtimeclasses"),
    ]


def _aggregate_to_view() -> list[Rule]:
    return [
        rule(READ, LEGACY, ("pods", "replicationcontrollers", "replicationcontrollers/scale", "serviceaccounts",
                            "services", "services/status", "endpoints", "persistentvolumeclaims",
                            "persistentvolumeclaims/status", "configmaps")),
        rule(READ, LEGACY, ("limitranges", "resourcequotas", "bindings", "events", "pods/status",
                            "resourcequotas/status", "namespaces/status", "replicationcontrollers/status",
                            "pods/log")),
        rule(READ, LEGACY, "namespaces"),
        rule(READ, DISCOVERY, "endpointslices"),
        rule(READ, APPS, ("controllerrevisions", "statefulsets", "statefulsets/scale", "statefulsets/status",
                          "daemonsets", "daemonsets/status", "deployments", "deployments/scale",
                          "deployments/status", "replicasets", "replicasets/scale", "replicasets/status")),
        rule(READ, AUTOSCALING, ("horizontalpodautoscalers", "horizontalpodautoscalers/status")),
        rule(READ, BATCH, ("cronjobs", "cronjobs/status", "jobs", "jobs/status")),
        rule(READ, EXTENSIONS, ("daemonsets", "daemonsets/status", "deployments", "deployments/scale",
                                "deployments/status", "ingresses", "ingresses/status", "replicasets",
                                "replicasets/scale", "replicasets/status", "replicationcontrollers/scale",
                                "networkpolicies")),
        rule(READ, POLICY, ("poddisruptionbudgets", "poddisruptionbudgets/status")),
        rule(READ, NETWORKING, ("ingresses", "ingresses/status", "networkpolicies")),
    ]


def _aggregate_to_edit() -> list[Rule]:
    return [
        rule(READ, LEGACY, ("pods/attach", "pods/proxy", "pods/exec", "pods/portforward", "secrets",
                            "services/proxy")),
        rule("impersonate", LEGACY, "serviceaccounts"),
        rule(WRITE, LEGACY, ("pods", "pods/attach", "pods/proxy", "pods/exec", "pods/portforward")),
        rule("create", LEGACY, "pods/eviction"),
        rule(WRITE, LEGACY, ("replicationcontrollers", "replicationcontrollers/scale", "serviceaccounts",
                             "services", "services/proxy", "persistentvolumeclaims", "configmaps", "secrets",
                             "events")),
        rule("create", LEGACY, "serviceaccounts/token"),
        rule(WRITE, APPS, ("statefulsets", "statefulsets/scale", "daemonsets", "deployments", "deployments/scale",
                           "deployments/rollback", "replicasets", "replicasets/scale")),
        rule(WRITE, AUTOSCALING, "horizontalpodautoscalers"),
        rule(WRITE, BATCH, ("jobs", "cronjobs")),
        rule(WRITE, EXTENSIONS, ("daemonsets", "deployments", "deployments/scale", "deployments/rollback",
                                 "ingresses", "replicasets", "replicasets/scale", "replicationcontrollers/scale",
                                 "networkpolicies")),
        rule(WRITE, POLICY, "poddisruptionbudgets"),
        rule(WRITE, NETWORKING, ("ingresses", "networkpolicies")),
        rule(READ_WRITE, COORD, "leases"),
    ]


def _aggregate_to_admin() -> list[Rule]:
    return [rule("create", AUTHZ, "localsubjectaccessreviews"),
            rule(READ_WRITE, RBAC_GROUP, ("roles", "rolebindings"))]


def _approver(signer: str) -> list[Rule]:
    return [rule("approve", CERTS, "signers", (signer,))]


def cluster_roles() -> list[Obj]:
    """Upstream's ClusterRoles (admin, edit and view are aggregated from the system:aggregate-to-* roles)."""
    agg = lambda to: {AGGREGATE_TO + to: "true"}  # noqa: E731
    return [
        cluster_role("cluster-admin", [rule("*", "*", "*"), url_rule("*", "*")]),
        cluster_role("system:discovery", [url_rule("get", "/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez",
                                                   "/openapi", "/openapi/*", "/readyz", "/version", "/version/")]),
        cluster_role("system:monitoring", [url_rule("get", "/healthz", "/healthz/*", "/livez", "/livez/*",
                                                    "/metrics", "/metrics/slis", "/readyz", "/readyz/*")]),
        cluster_role("system:basic-user", [rule("create", AUTHZ, ("selfsubjectaccessreviews",
                                                                  "selfsubjectrulesreviews")),
                                           rule("create", AUTHN, "selfsubjectreviews")]),
        cluster_role("system:public-info-viewer", [url_rule("get", "/healthz", "/livez", "/readyz", "/version",
                                                            "/version/")]),
        cluster_role("admin", [], aggregate_from=AGGREGATE_TO + "admin"),
        cluster_role("edit", [], labels=agg("admin"), aggregate_from=AGGREGATE_TO + "edit"),
        cluster_role("view", [], labels=agg("edit"), aggregate_from=AGGREGATE_TO + "view"),
        cluster_role("system:aggregate-to-admin", _aggregate_to_admin(), labels=agg("admin")),
        cluster_role("system:aggregate-to-edit", _aggregate_to_edit(), labels=agg("edit")),
        cluster_role("system:aggregate-to-view", _aggregate_to_view(), labels=agg("view")),
        cluster_role("system:heapster", [rule(READ, LEGACY, ("events", "pods", "nodes", "namespaces")),
                                         rule(READ, EXTENSIONS, "deployments")]),
        cluster_role("system:node", node_rules()),
        cluster_role("system:node-problem-detector", [rule("get", LEGACY, "nodes"),
                                                      rule("patch", LEGACY, "nodes/status"), events_rule()]),
        cluster_role("system:kubelet-api-admin", [rule(READ, LEGACY, "nodes"), rule("proxy", LEGACY, "nodes"),
                                                  rule("*", LEGACY, ("nodes/proxy", "nodes/metrics", "nodes/stats",
                                                                     "nodes/log"))]),
        cluster_role("system:node-bootstrapper", [rule(("create", "get", "list", "watch"), CERTS,
                                                       "certificatesigningrequests")]),
        cluster_role("system:auth-delegator", [rule("create", AUTHN, "tokenreviews"),
                                               rule("create", AUTHZ, "subjectaccessreviews")]),
        cluster_role("system:kube-aggregator", [rule(READ, LEGACY, ("services", "endpoints"))]),
        cluster_role("system:kube-controller-manager", [
            events_rule(),
            rule("create", COORD, "leases"),
            rule(("get", "update"), COORD, "leases", ("kube-controller-manager",)),
            rule("create", LEGACY, ("secrets", "serviceaccounts")),
            rule("delete", LEGACY, "secrets"),
            rule("get", LEGACY, ("namespaces", "secrets", "serviceaccounts", "configmaps")),
            rule("update", LEGACY, ("secrets", "serviceaccounts")),
            rule("create", AUTHN, "tokenreviews"),
            rule("create", AUTHZ, "subjectaccessreviews"),
            rule(("list", "watch"), "*", "*"),
            rule("create", LEGACY, "serviceaccounts/token"),
        ]),
        cluster_role("system:kube-dns", [rule(("list", "watch"), LEGACY, ("endpoints", "services"))]),
        cluster_role("system:kube-scheduler", [
            events_rule(),
            rule("create", COORD, "leases"),
            rule(("get", "update"), COORD, "leases", ("kube-scheduler",)),
            rule(READ, LEGACY, "nodes"),
            rule(("get", "list", "watch", "delete"), LEGACY, "pods"),
            rule("create", LEGACY, ("pods/binding", "bindings")),
            rule(("patch", "update"), LEGACY, "pods/status"),
            rule(READ, LEGACY, ("replicationcontrollers", "services")),
            rule(READ, (APPS, EXTENSIONS), "replicasets"),
            rule(READ, APPS, "statefulsets"),
            rule(READ, POLICY, "poddisruptionbudgets"),
            rule(READ, LEGACY, ("persistentvolumeclaims", "persistentvolumes")),
            rule("create", AUTHN, "tokenreviews"),
            rule("create", AUTHZ, "subjectaccessreviews"),
            rule(READ, STORAGE, "csinodes"),
            rule(READ, LEGACY, "namespaces"),
            rule(READ, STORAGE, "csidrivers"),
            rule(READ, STORAGE, "csistoragecapacities"),
        ]),
        cluster_role("system:persistent-volume-provisioner", [
            rule(("get", "list", "watch", "create", "delete"), LEGACY, "persistentvolumes"),
            rule(("get", "list", "watch", "update"), LEGACY, "persistentvolumeclaims"),
            rule(READ, STORAGE, "storageclasses"),
            rule("watch", LEGACY, "events"),
            events_rule(),
        ]),
        cluster_role("system:volume-scheduler", [
            rule(("get", "list", "watch", "patch", "update"), LEGACY, "persistentvolumes"),
            rule(READ, STORAGE, "storageclasses"),
            rule(("get", "list", "watch", "patch", "update"), LEGACY, "persistentvolumeclaims"),
        ]),
        cluster_role("system:node-proxier", [
            rule(("list", "watch"), LEGACY, ("services", "endpoints")),
            rule(READ, LEGACY, "nodes"),
            events_rule(),
            rule(("list", "watch"), DISCOVERY, "endpointslices"),
        ]),
        cluster_role("system:service-account-issuer-discovery",
                     [url_rule("get", "/.well-known/openid-configuration", "/openid/v1/jwks")]),
        cluster_role("system:certificates.k8s.io:certificatesigningrequests:nodeclient",
                     [rule("create", CERTS, "certificatesigningrequests/nodeclient")]),
        cluster_role("system:certificates.k8s.io:certificatesigningrequests:selfnodeclient",
                     [rule("create", CERTS, "certificatesigningrequests/selfnodeclient")]),
        cluster_role("system:certificates.k8s.io:kube-apiserver-client-approver",
                     _approver("kubernetes.io/kube-apiserver-client")),
        cluster_role("system:certificates.k8s.io:kube-apiserver-client-kubelet-approver",
                     _approver("kubernetes.io/kube-apiserver-client-kubelet")),
        cluster_role("system:certificates.k8s.io:kubelet-serving-approver",
                     _approver("kubernetes.io/kubelet-serving")),
        cluster_role("system:certificates.k8s.io:legacy-unknown-approver",
                     _approver("kubernetes.io/legacy-unknown")),
        cluster_role(CONTROLLER_MANAGER_CONTROLLERS, [], aggregate_from=AGGREGATE_TO_CONTROLLER_MANAGER),
        # reads our scheduler does beyond upstream's (its informers include PriorityClasses)
        cluster_role(SCHEDULER_EXTRA, [rule(READ, "scheduling.k8s.io", "priorityclasses")]),
    ]


def cluster_role_bindings() -> list[Obj]:
    authenticated, unauthenticated = group("system:authenticated"), group("system:unauthenticated")
    return [
        cluster_role_binding("cluster-admin", [group("system:masters")]),
        cluster_role_binding("system:monitoring", [group("system:monitoring")]),
        cluster_role_binding("system:discovery", [authenticated]),
        cluster_role_binding("system:basic-user", [authenticated]),
        cluster_role_binding("system:public-info-viewer", [authenticated, unauthenticated]),
        cluster_role_binding("system:node-proxier", [user("system:kube-proxy")]),
        cluster_role_binding("system:kube-controller-manager", [user("system:kube-controller-manager")]),
        cluster_role_binding("system:kube-dns", [service_account("kube-system", "kube-dns")]),
        cluster_role_binding("system:kube-scheduler", [user("system:kube-scheduler")]),
        cluster_role_binding("system:volume-scheduler", [user("system:kube-scheduler")]),
        cluster_role_binding("system:node", []),
        cluster_role_binding("system:service-account-issuer-discovery", [group("system:serviceaccounts")]),
        cluster_role_binding("system:kubelet-api-admin", [user(APISERVER_KUBELET_CLIENT_USER)],
                             name=KUBELET_API_ADMIN_BINDING),
        cluster_role_binding(SCHEDULER_EXTRA, [user("system:kube-scheduler")]),
    ]


# controller roles: system:controller:<name>, each bound to the kube-system/<name> service account


def _controller_policies() -> dict[str, list[Rule]]:
    ev = events_rule()
    return {
        "attachdetach-controller": [
            rule(("list", "watch"), LEGACY, ("persistentvolumes", "persistentvolumeclaims")),
            rule(READ, LEGACY, "nodes"), rule(("patch", "update"), LEGACY, "nodes/status"),
            rule(("list", "watch"), LEGACY, "pods"), ev,
            rule(("get", "create", "delete", "list", "watch"), STORAGE, "volumeattachments"),
            rule(READ, STORAGE, "csidrivers"), rule(READ, STORAGE, "csinodes")],
        "clusterrole-aggregation-controller": [
            rule(("escalate", "get", "list", "watch", "update", "patch"), RBAC_GROUP, "clusterroles")],
        "cronjob-controller": [
            rule(("get", "list", "watch", "update"), BATCH, "cronjobs"),
            rule(("get", "list", "watch", "create", "update", "delete", "patch"), BATCH, "jobs"),
            rule("update", BATCH, "cronjobs/status"), rule("update", BATCH, "cronjobs/finalizers"),
            rule(("list", "watch", "delete"), LEGACY, "pods"), ev],
        "daemon-set-controller": [
            rule(READ, (EXTENSIONS, APPS), "daemonsets"), rule("update", (EXTENSIONS, APPS), "daemonsets/status"),
            rule("update", (EXTENSIONS, APPS), "daemonsets/finalizers"), rule(("list", "watch"), LEGACY, "nodes"),
            rule(("list", "watch", "create", "delete", "patch"), LEGACY, "pods"),
            rule("create", LEGACY, "pods/binding"),
            rule(("get", "list", "watch", "create", "delete", "update", "patch"), APPS, "controllerrevisions"), ev],
        "deployment-controller": [
            rule(("get", "list", "watch", "update"), (EXTENSIONS, APPS), "deployments"),
            rule("update", (EXTENSIONS, APPS), "deployments/status"),
            rule("update", (EXTENSIONS, APPS), "deployments/finalizers"),
            rule(("get", "list", "watch", "create", "update", "patch", "delete"), (APPS, EXTENSIONS), "replicasets"),
            rule(("get", "list", "watch", "update"), LEGACY, "pods"), ev],
        "disruption-controller": [
            rule(READ, (EXTENSIONS, APPS), "deployments"), rule(READ, (APPS, EXTENSIONS), "replicasets"),
            rule(READ, LEGACY, "replicationcontrollers"), rule(READ, POLICY, "poddisruptionbudgets"),
            rule(READ, APPS, "statefulsets"), rule("update", POLICY, "poddisruptionbudgets/status"),
            rule(("patch", "update"), LEGACY, "pods/status"), rule("get", "*", "*/scale"), ev],
        "endpoint-controller": [
            rule(READ, LEGACY, ("services", "pods")),
            rule(("get", "list", "watch", "create", "update", "delete"), LEGACY, "endpoints"),
            rule("create", LEGACY, "endpoints/restricted"), ev],
        "endpointslice-controller": [
            rule(READ, LEGACY, ("services", "pods", "nodes")), rule("update", LEGACY, "services/finalizers"),
            rule(("get", "list", "watch", "create", "update", "delete"), DISCOVERY, "endpointslices"), ev],
        "endpointslicemirroring-controller": [
            rule(READ, LEGACY, ("services", "endpoints")), rule("update", LEGACY, "services/finalizers"),
            rule("update", LEGACY, "endpoints/finalizers"),
            rule(("get", "list", "watch", "create", "update", "delete"), DISCOVERY, "endpointslices"), ev],
        "expand-controller": [
            rule(("get", "list", "watch", "update", "patch"), LEGACY, "persistentvolumes"),
            rule(("update", "patch"), LEGACY, "persistentvolumeclaims/status"),
            rule(READ, LEGACY, "persistentvolumeclaims"), ev, rule("get", LEGACY, "services")],
        "ephemeral-volume-controller": [
            rule(READ, LEGACY, "pods"), rule("update", LEGACY, "pods/finalizers"),
            rule(("get", "list", "watch", "create"), LEGACY, "persistentvolumeclaims"), ev],
        "generic-garbage-collector": [rule(("get", "list", "watch", "patch", "update", "delete"), "*", "*"), ev],
        "horizontal-pod-autoscaler": [
            rule(READ, AUTOSCALING, "horizontalpodautoscalers"),
            rule("update", AUTOSCALING, "horizontalpodautoscalers/status"),
            rule(("get", "update"), "*", "*/scale"), rule(("list", "watch"), LEGACY, "pods"),
            rule(("list", "watch"), "metrics.k8s.io", "pods"), rule(READ, "custom.metrics.k8s.io", "*"),
            rule(READ, "external.metrics.k8s.io", "*"), ev],
        "job-controller": [
            rule(("get", "list", "watch", "update", "patch"), BATCH, "jobs"), rule("update", BATCH, "jobs/status"),
            rule("update", BATCH, "jobs/finalizers"),
            rule(("list", "watch", "create", "delete", "patch"), LEGACY, "pods"), ev],
        "namespace-controller": [
            rule(("get", "list", "watch", "delete"), LEGACY, "namespaces"),
            rule("update", LEGACY, ("namespaces/finalize", "namespaces/status")),
            rule(("get", "list", "watch", "delete", "deletecollection"), "*", "*")],
        "node-controller": [
            rule(("get", "list", "watch", "update", "delete", "patch"), LEGACY, "nodes"),
            rule(("patch", "update"), LEGACY, "nodes/status"), rule(("patch", "update"), LEGACY, "pods/status"),
            rule(("list", "watch", "get", "delete"), LEGACY, "pods"), ev],
        "persistent-volume-binder": [
            rule(("get", "list", "watch", "update", "create", "delete"), LEGACY, "persistentvolumes"),
            rule("update", LEGACY, "persistentvolumes/status"),
            rule(("get", "list", "watch", "update"), LEGACY, "persistentvolumeclaims"),
            rule("update", LEGACY, "persistentvolumeclaims/status"),
            rule(("list", "watch", "get", "create", "delete"), LEGACY, "pods"),
            rule(READ, STORAGE, "storageclasses"), rule(("list", "watch"), LEGACY, "nodes"), ev,
            rule("watch", LEGACY, "events"), rule("get", LEGACY, "services")],
        "pod-garbage-collector": [
            rule(("list", "watch", "delete"), LEGACY, "pods"), rule(READ, LEGACY, "nodes"),
            rule("patch", LEGACY, "pods/status")],
        "replicaset-controller": [
            rule(("get", "list", "watch", "update"), (APPS, EXTENSIONS), "replicasets"),
            rule("update", (APPS, EXTENSIONS), "replicasets/status"),
            rule("update", (APPS, EXTENSIONS), "replicasets/finalizers"),
            rule(("list", "watch", "patch", "create", "delete"), LEGACY, "pods"), ev],
        "replication-controller": [
            rule(("get", "list", "watch", "update"), LEGACY, "replicationcontrollers"),
            rule("update", LEGACY, "replicationcontrollers/status"),
            rule("update", LEGACY, "replicationcontrollers/finalizers"),
            rule(("list", "watch", "patch", "create", "delete"), LEGACY, "pods"), ev],
        "resourcequota-controller": [rule(("list", "watch"), "*", "*"),
                                     rule("update", LEGACY, "resourcequotas/status"), ev],
        "route-controller": [rule(("list", "watch"), LEGACY, "nodes"), rule("patch", LEGACY, "nodes/status"), ev],
        "service-account-controller": [rule("create", LEGACY, "serviceaccounts"), ev],
        "service-controller": [rule(READ, LEGACY, "services"), rule(("patch", "update"), LEGACY, "services/status"),
                               rule(("list", "watch"), LEGACY, "nodes"), ev],
        "statefulset-controller": [
            rule(("list", "watch"), LEGACY, "pods"), rule(READ, APPS, "statefulsets"),
            rule("update", APPS, "statefulsets/status"), rule("update", APPS, "statefulsets/finalizers"),
            rule(("get", "create", "delete", "update", "patch"), LEGACY, "pods"),
            rule(("get", "create", "delete", "update", "patch", "list", "watch"), APPS, "controllerrevisions"),
            rule(("get", "create", "list", "watch"), LEGACY, "persistentvolumeclaims"),
            rule(("update", "delete"), LEGACY, "persistentvolumeclaims"), rule("update", LEGACY, "pods/finalizers"),
            ev],
        "ttl-controller": [rule(("update", "patch", "list", "watch"), LEGACY, "nodes"), ev],
        "certificate-controller": [
            rule(("get", "list", "watch", "delete"), CERTS, "certificatesigningrequests"),
            rule("update", CERTS, ("certificatesigningrequests/status", "certificatesigningrequests/approval")),
            rule("approve", CERTS, "signers", ("kubernetes.io/kube-apiserver-client-kubelet",)),
            rule("sign", CERTS, "signers", ("kubernetes.io/legacy-unknown", "kubernetes.io/kube-apiserver-client",
                                            "kubernetes.io/kube-apiserver-client-kubelet",
                                            "kubernetes.io/kubelet-serving")),
            rule("create", AUTHZ, "subjectaccessreviews"), ev],
        "pvc-protection-controller": [rule(("get", "list", "watch", "update"), LEGACY, "persistentvolumeclaims"),
                                      rule(READ, LEGACY, "pods"), ev],
        "pv-protection-controller": [rule(("get", "list", "watch", "update"), LEGACY, "persistentvolumes"), ev],
        "ttl-after-finished-controller": [rule(("get", "list", "watch", "delete"), BATCH, "jobs"), ev],
        "root-ca-cert-publisher": [rule(("create", "update"), LEGACY, "configmaps"), ev],
        "validatingadmissionpolicy-status-controller": [
            rule(READ, ADMISSIONREG, "validatingadmissionpolicies"),
            rule(("get", "patch", "update"), ADMISSIONREG, "validatingadmissionpolicies/status"), ev],
        "legacy-service-account-token-cleaner": [
            rule("get", LEGACY, "configmaps", ("kube-apiserver-legacy-service-account-token-tracking",)),
            rule(("patch", "delete"), LEGACY, "secrets")],
    }


def controller_roles() -> list[Obj]:
    return [cluster_role(CONTROLLER_ROLE_PREFIX + name, rules, labels={AGGREGATE_TO_CONTROLLER_MANAGER: "true"})
            for name, rules in _controller_policies().items()]


def controller_role_bindings() -> list[Obj]:
    return [cluster_role_binding(CONTROLLER_ROLE_PREFIX + name, [service_account("kube-system", name)])
            for name in _controller_policies()]


# namespaced roles


def namespace_roles() -> list[Obj]:
    ks = "kube-system"
    return [
        role(ks, "extension-apiserver-authentication-reader",
             [rule(READ, LEGACY, "configmaps", ("extension-apiserver-authentication",))]),
        role(ks, "system::leader-locking-kube-controller-manager",
             [rule("watch", LEGACY, "configmaps"),
              rule(("get", "update"), LEGACY, "configmaps", ("kube-controller-manager",))]),
        role(ks, "system::leader-locking-kube-scheduler",
             [rule("watch", LEGACY, "configmaps"),
              rule(("get", "update"), LEGACY, "configmaps", ("kube-scheduler",))]),
        role(ks, CONTROLLER_ROLE_PREFIX + "bootstrap-signer", [rule(READ, LEGACY, "secrets")]),
        role(ks, CONTROLLER_ROLE_PREFIX + "cloud-provider",
             [rule(("create", "get", "list", "watch"), LEGACY, "configmaps")]),
        role(ks, CONTROLLER_ROLE_PREFIX + "token-cleaner", [rule(("delete", "get", "list", "watch"), LEGACY, "secrets"),
                                                            events_rule()]),
        role("kube-public", CONTROLLER_ROLE_PREFIX + "bootstrap-signer",
             [rule(READ, LEGACY, "configmaps"), rule(("update", "patch"), LEGACY, "configmaps", ("cluster-info",)),
              events_rule()]),
    ]


def namespace_role_bindings() -> list[Obj]:
    ks = "kube-system"
    return [
        role_binding(ks, "extension-apiserver-authentication-reader",
                     [user("system:kube-controller-manager"), user("system:kube-scheduler")],
                     name="system::extension-apiserver-authentication-reader"),
        role_binding(ks, "system::leader-locking-kube-controller-manager",
                     [user("system:kube-controller-manager"), service_account(ks, "kube-controller-manager")]),
        role_binding(ks, "system::leader-locking-kube-scheduler",
                     [user("system:kube-scheduler"), service_account(ks, "kube-scheduler")]),
        role_binding(ks, CONTROLLER_ROLE_PREFIX + "bootstrap-signer", [service_account(ks, "bootstrap-signer")]),
        role_binding(ks, CONTROLLER_ROLE_PREFIX + "cloud-provider", [service_account(ks, "cloud-provider")]),
        role_binding(ks, CONTROLLER_ROLE_PREFIX + "token-cleaner", [service_account(ks, "token-cleaner")]),
        role_binding("kube-public", CONTROLLER_ROLE_PREFIX + "bootstrap-signer",
                     [service_account(ks, "bootstrap-signer")]),
    ]


def all_cluster_roles() -> list[Obj]:
    return cluster_roles() + controller_roles()


def all_cluster_role_bindings() -> list[Obj]:
    return cluster_role_bindings() + controller_role_bindings()

"""KubeletOptions: the kubelet's tunables, named after upstream's KubeletConfiguration fields (seconds as floats)."""

from __future__ import annotations

from dataclasses import dataclass, field

from kybernetes.version import GIT_VERSION

KUBELET_VERSION = GIT_VERSION  # nodeInfo.kubeletVersion (kubeProxyVersion stays empty: deprecated, KEP-4004)
DEFAULT_MAX_PODS = 110


@dataclass
class KubeletOptions:
    """Everything run_kubelet takes beyond its required arguments; defaults are upstream's."""

    sync_frequency: float = 10.0  # resync of every pod worker (upstream syncFrequency is 1m; we also relist)
    pleg_relist_period: float = 1.0  # how often the runtime is listed to wake workers on container changes
    node_status_update_frequency: float = 10.0  # how often the node status is computed (and the lease renewed)
    node_status_report_frequency: float = 300.0  # status is patched when it changed or after this long
    node_lease_duration_seconds: int = 40
    node_lease_renew_interval: float = 10.0
    crash_loop_backoff_base: float = 10.0  # first restart delay after a crash, doubling
    crash_loop_backoff_max: float = 300.0
    eviction_hard: dict[str, str] = field(
        default_factory=lambda: {"memory.available": "100Mi", "nodefs.available": "10%"})
    eviction_monitoring_period: float = 10.0
    eviction_pressure_transition_period: float = 300.0
    max_pods: int = DEFAULT_MAX_PODS
    event_record_qps: float = 50.0  # events written a second after a burst of event_burst (0: no limit)
    event_burst: int = 100
    minimum_grace_period: float = 2.0  # upstream minimumGracePeriodInSeconds for a kill with a grace period
    container_log_max_size: int = 10 * 1024 * 1024
    container_log_max_files: int = 5
    log_dir: str = ""  # pod logs directory; "" = <root_dir>/logs/pods (upstream /var/log/pods)
    file_check_frequency: float = 20.0  # how often pod_manifest_path is re-read
    cluster_dns: list[str] = field(default_factory=list)
    cluster_domain: str = "cluster.local"
    image_pull_progress_deadline: float = 60.0
    runtime_options: dict = field(default_factory=dict)  # passed to the runtime's constructor
    # The 10250 server's serving certificate and the CA that verifies clients (upstream tlsCertFile,
    # tlsPrivateKeyFile, authentication.x509.clientCAFile); without them the server is not started.
    tls_cert_file: str = ""
    tls_private_key_file: str = ""
    client_ca_file: str = ""
    server_address: str = "0.0.0.0"
    # Who may use the 10250 API (upstream authentication.anonymous.enabled, authentication.webhook.*,
    # authorization.mode, authorization.webhook.*): bearer tokens are checked by TokenReview and requests authorized
    # by SubjectAccessReview for nodes/<subresource> (kybernetes.kubelet.server.auth); "AlwaysAllow" skips that.
    authentication_anonymous_enabled: bool = False
    authentication_webhook_enabled: bool = True
    authentication_webhook_cache_ttl: float = 120.0
    authorization_mode: str = "Webhook"
    authorization_webhook_cache_authorized_ttl: float = 300.0
    authorization_webhook_cache_unauthorized_ttl: float = 30.0
    # Pod network (kybernetes/kubelet/network): "bridge" (a namespace, veth and address per pod), "host" (pods
    # share the node's network) or "auto" (bridge on Linux as root, host elsewhere; the choice is logged).
    pod_network: str = "host"
    cluster_cidr: str = "198.18.0.0/16"
    service_cidr: str = "198.19.0.0/16"
    # kubeconfig of an identity that may list/watch all Nodes (the node's proxy credential under `server`): with
    # it the bridge network keeps routes to the other nodes' podCIDRs (host-gw); "" = pods reach this node's only
    network_kubeconfig: str = ""

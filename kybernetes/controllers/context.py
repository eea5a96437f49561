"""What every controller gets from the controller manager: client, shared informers, event recorder, options."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from kybernetes.client import RESTClient, SharedInformerFactory


class EventRecorder(Protocol):
    """Records core/v1 Events about objects, aggregating repeats as upstream's recorder does."""

    def event(self, obj: dict[str, Any], event_type: str, reason: str, message: str) -> None:
        """event_type is "Normal" or "Warning". Never blocks and never raises: events are best effort."""
        ...


@dataclass
class ControllerOptions:
    """Tunables, named after kube-controller-manager's flags (seconds where upstream takes durations)."""

    concurrent_replicaset_syncs: int = 5
    concurrent_deployment_syncs: int = 5
    concurrent_endpoint_syncs: int = 5
    concurrent_gc_syncs: int = 20
    concurrent_namespace_syncs: int = 10
    node_monitor_period: float = 5.0
    node_monitor_grace_period: float = 40.0
    node_startup_grace_period: float = 60.0
    node_eviction_rate: float = 0.1
    secondary_node_eviction_rate: float = 0.01
    large_cluster_size_threshold: int = 50
    unhealthy_zone_threshold: float = 0.55
    cluster_cidr: str = "198.18.0.0/16"
    node_cidr_mask_size: int = 24
    allocate_node_cidrs: bool = True
    terminated_pod_gc_threshold: int = 12500
    root_ca_file: str = ""  # the CA published as the kube-root-ca.crt ConfigMap
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class ControllerContext:
    """Shared by all controllers of one controller-manager process, but for `client` and `recorder_factory`:
    each controller gets its own (its ServiceAccount's identity with --use-service-account-credentials)."""

    client: RESTClient
    informers: SharedInformerFactory
    recorder_factory: Any  # (component: str) -> EventRecorder
    options: ControllerOptions = field(default_factory=ControllerOptions)
    # more clients by name (kybernetes.controllers.clientbuilder); `client` is already this controller's own
    client_builder: Any = None

    def recorder(self, component: str) -> EventRecorder:
        return self.recorder_factory(component)


class Controller(Protocol):
    """A control loop. Constructed with the context (it registers its informer handlers then), then run.

    run() returns only when cancelled. reconcile(key) must be idempotent and level-based: it reads the
    informer caches, compares desired with observed state and acts through the client.
    """

    name: str

    async def run(self, workers: int) -> None: ...

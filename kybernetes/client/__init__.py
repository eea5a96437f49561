"""Async client library for the apiserver: config, REST, informers, work queues (client-go's pieces)."""

from kybernetes.client.cache import Indexer, meta_namespace_key, split_key
from kybernetes.client.clock import Clock, FakeClock, RealClock
from kybernetes.client.config import ClientConfig, ConfigError, in_cluster_config, load_kubeconfig
from kybernetes.client.informer import (HandlerRegistration, Informer, ResourceEventHandlerFuncs, SharedInformer,
                                        SharedInformerFactory)
from kybernetes.client.leaderelection import LeaderElector
from kybernetes.client.ratelimit import (BucketRateLimiter, ItemExponentialFailureRateLimiter, MaxOfRateLimiter,
                                         RateLimiter, default_controller_rate_limiter)
from kybernetes.client.reflector import Backoff, Reflector
from kybernetes.client.rest import ApiError, RESTClient, resource_path
from kybernetes.client.workqueue import DelayingQueue, QueueShutDown, RateLimitingQueue, WorkQueue

__all__ = [
    "ApiError", "Backoff", "BucketRateLimiter", "ClientConfig", "Clock", "ConfigError", "DelayingQueue",
    "FakeClock", "HandlerRegistration", "Indexer", "Informer", "ItemExponentialFailureRateLimiter", "LeaderElector",
    "MaxOfRateLimiter", "QueueShutDown", "RESTClient", "RateLimiter", "RateLimitingQueue", "RealClock",
    "Reflector", "ResourceEventHandlerFuncs", "SharedInformer", "SharedInformerFactory", "WorkQueue",
    "default_controller_rate_limiter", "in_cluster_config", "load_kubeconfig", "meta_namespace_key",
    "resource_path", "split_key",
]

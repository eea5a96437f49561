"""Joining nodes to a cluster (k8s.io/cluster-bootstrap's concerns): bootstrap tokens, the signed cluster-info
ConfigMap, CA pinning and the RBAC a token-joined node relies on."""

"""The kube-scheduler framework: extension-point contracts, runtime, plugin registry."""

"""The kubelet's pod network: `bridge` (a namespace, veth and IP per pod) or `host` (pods share the node's)."""

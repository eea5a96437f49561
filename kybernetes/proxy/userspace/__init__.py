"""The userspace proxy mode: asyncio forwarders listening on ClusterIPs, NodePorts and LoadBalancer addresses."""

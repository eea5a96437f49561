"""kube-proxy: route Service traffic to ready endpoints, in userspace (asyncio forwarders) or nftables mode."""

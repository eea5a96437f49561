"""A node's certificates from the cluster: TLS bootstrap with a bootstrap token, CSRs for client, serving and
kube-proxy certificates, and their rotation before expiry (upstream's pkg/kubelet/certificate)."""

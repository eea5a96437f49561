"""The kubelet's HTTPS API server (port 10250): logs, exec, attach, port-forward, stats, metrics."""

from kybernetes.kubelet.server.server import KubeletHost, KubeletServer, start_server

__all__ = ["KubeletHost", "KubeletServer", "start_server"]

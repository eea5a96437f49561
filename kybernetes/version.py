"""The version every component reports (/version, nodeInfo, kubernetes_build_info, logs) and the skew policy."""

from __future__ import annotations

import logging
import platform
import re

from prometheus_client import CollectorRegistry, Gauge

from kybernetes import __version__

__all__ = ["KUBERNETES_VERSION", "GIT_VERSION", "MAX_KUBELET_MINOR_SKEW", "KUBECTL_MINOR_SKEW", "kubelet_skew",
           "log_version", "parse_version", "register_build_info", "version_info"]

# The Kubernetes release whose API and behaviour Kybernetes implements.
KUBERNETES_VERSION = "v1.32.0"
# What components report: the Kubernetes version with Kybernetes' own as semver build metadata (k3s: v1.32.0+k3s1).
GIT_VERSION = f"{KUBERNETES_VERSION}+kybernetes-{__version__}"
# Upstream's policy (kubernetes.io/releases/version-skew-policy): a kubelet or kube-proxy may be up to three minor
# versions older than the apiserver and never newer; kubectl within one minor version of it, either way.
MAX_KUBELET_MINOR_SKEW = 3
KUBECTL_MINOR_SKEW = 1

_SEMVER = re.compile(r"^v?(\d+)\.(\d+)(?:\.(\d+))?")
_BUILD_DATE = "2026-11-27T00:00:00Z"


def parse_version(text: str) -> tuple[int, int, int]:
    """(major, minor, patch) of 'v1.31.4', 'v1.32.0+k3s1', '1.30'; raises ValueError for anything else."""
    m = _SEMVER.match(text.strip())
    if m is None:
        raise ValueError(f"not a Kubernetes version: {text!r}")
    return int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)


def kubelet_skew(kubelet_version: str, apiserver_version: str = GIT_VERSION) -> tuple[bool, str]:
    """Whether a kubelet (or proxy) of kubelet_version is supported against the apiserver, and why not.

    Upstream never rejects a node for its version; this is what `kybernetes version` and the docs state."""
    try:
        k_major, k_minor, _ = parse_version(kubelet_version)
        a_major, a_minor, _ = parse_version(apiserver_version)
    except ValueError as e:
        return False, str(e)
    if k_major != a_major:
        return False, f"kubelet {kubelet_version} has another major version than the apiserver {apiserver_version}"
    if k_minor > a_minor:
        return False, f"kubelet {kubelet_version} is newer than the apiserver {apiserver_version}"
    if a_minor - k_minor > MAX_KUBELET_MINOR_SKEW:
        return False, (f"kubelet {kubelet_version} is more than {MAX_KUBELET_MINOR_SKEW} minor versions older "
                       f"than the apiserver {apiserver_version}")
    return True, ""


def version_info() -> dict[str, str]:
    """The body of /version, as k8s.io/apimachinery's version.Info."""
    major, minor, _ = parse_version(KUBERNETES_VERSION)
    return {
        "major": str(major), "minor": str(minor), "gitVersion": GIT_VERSION,
        "gitCommit": "", "gitTreeState": "clean", "buildDate": _BUILD_DATE,
        "goVersion": f"python{platform.python_version()}", "compiler": "cpython",
        "platform": f"{platform.system().lower()}/{_arch()}",
    }


def _arch() -> str:
    m = platform.machine().lower()
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(m, m)


def register_build_info(registry: CollectorRegistry) -> None:
    """kubernetes_build_info (upstream's component-base gauge, always 1, the version in its labels)."""
    info = version_info()
    labels = {"major": info["major"], "minor": info["minor"], "git_version": info["gitVersion"],
              "git_commit": info["gitCommit"], "git_tree_state": info["gitTreeState"],
              "build_date": info["buildDate"], "go_version": info["goVersion"], "compiler": info["compiler"],
              "platform": info["platform"]}
    gauge = Gauge("kubernetes_build_info", "A metric with a constant '1' value labeled by major, minor, git "
                  "version, git commit, git tree state, build date, Go version, and compiler from which Kubernetes "
                  "was built, and platform on which it is running.", list(labels), registry=registry)
    gauge.labels(**labels).set(1)


def log_version(component: str, logger: logging.Logger | None = None) -> None:
    """The line every component logs as it starts, as upstream's `"Version info" version=...`."""
    (logger or logging.getLogger("kybernetes")).info("Starting %s, version %s", component, GIT_VERSION)

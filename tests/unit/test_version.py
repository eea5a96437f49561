"""Versions: parsing, the kubelet skew policy, /version's shape, kubernetes_build_info, the CLI's output."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from kybernetes.version import GIT_VERSION, kubelet_skew, parse_version, register_build_info, version_info


@pytest.mark.parametrize(("text", "parsed"), [
    ("v1.32.0", (1, 32, 0)), ("v1.31.4+k3s1", (1, 31, 4)), ("1.30", (1, 30, 0)),
    ("v1.32.0+kybernetes-0.1.0", (1, 32, 0)),
], ids=["plain", "k3s", "no-patch", "ours"])
def test_parse_version(text, parsed) -> None:
    assert parse_version(text) == parsed


def test_parse_version_rejects_garbage() -> None:
    with pytest.raises(ValueError):
        parse_version("latest")


@pytest.mark.parametrize(("kubelet", "supported"), [
    ("v1.32.0", True), ("v1.32.7", True), ("v1.31.4", True), ("v1.29.0", True),
    ("v1.28.9", False), ("v1.33.0", False), ("v2.32.0", False), ("unknown", False),
], ids=["same", "newer-patch", "one-older", "three-older", "four-older", "newer-minor", "other-major", "garbage"])
def test_kubelet_skew_policy(kubelet, supported) -> None:
    ok, why = kubelet_skew(kubelet, "v1.32.0+kybernetes-0.1.0")
    assert ok is supported
    assert bool(why) is not supported


def test_version_info_is_what_kubectl_reads() -> None:
    info = version_info()
    assert (info["major"], info["minor"]) == ("1", "32")
    assert info["gitVersion"] == GIT_VERSION and GIT_VERSION.startswith("v1.32.")
    assert set(info) == {"major", "minor", "gitVersion", "gitCommit", "gitTreeState", "buildDate", "goVersion",
                         "compiler", "platform"}


def test_build_info_gauge() -> None:
    registry = CollectorRegistry()
    register_build_info(registry)
    assert registry.get_sample_value("kubernetes_build_info", {
        "major": "1", "minor": "32", "git_version": GIT_VERSION, "git_commit": "", "git_tree_state": "clean",
        "build_date": version_info()["buildDate"], "go_version": version_info()["goVersion"],
        "compiler": "cpython", "platform": version_info()["platform"]}) == 1.0
    assert b"# TYPE kubernetes_build_info gauge" in generate_latest(registry)


@pytest.mark.parametrize("argv", [["version"], ["--version"]], ids=["subcommand", "flag"])
def test_cli_prints_the_version(argv, capsys) -> None:
    from kybernetes.cli.main import main

    try:
        assert main(argv) == 0
    except SystemExit as e:  # argparse's --version action exits
        assert e.code == 0
    assert f"kybernetes version {GIT_VERSION}" in capsys.readouterr().out


@pytest.mark.parametrize("component", ["scheduler", "kubelet", "proxy", "dns", "controller-manager", "apiserver"])
def test_each_component_exposes_build_info(component) -> None:
    registry = _component_registry(component)
    assert registry.get_sample_value("kubernetes_build_info", _labels()) == 1.0


def _labels() -> dict[str, str]:
    info = version_info()
    return {"major": info["major"], "minor": info["minor"], "git_version": info["gitVersion"],
            "git_commit": info["gitCommit"], "git_tree_state": info["gitTreeState"], "build_date": info["buildDate"],
            "go_version": info["goVersion"], "compiler": info["compiler"], "platform": info["platform"]}


def _component_registry(component: str) -> CollectorRegistry:
    if component == "scheduler":
        from kybernetes.scheduler.metrics import Metrics

        return Metrics().registry
    if component == "kubelet":
        from kybernetes.kubelet.server.metrics import ServerMetrics

        return ServerMetrics().registry
    if component == "proxy":
        from kybernetes.proxy.metrics import ProxyMetrics

        return ProxyMetrics().registry
    if component == "dns":
        from kybernetes.dns.metrics import DNSMetrics

        return DNSMetrics().registry
    if component == "apiserver":
        from kybernetes.apiserver.metrics import APIServerMetrics

        return APIServerMetrics().registry
    from unittest.mock import MagicMock

    from kybernetes.controllers.manager import ControllerManager

    return ControllerManager(MagicMock(), controllers=[]).registry

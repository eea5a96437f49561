"""`kybernetes agent`: the kubelet's and proxy's command lines (with every apiserver for client-side load
balancing), its --server list, which credentials a node requests, its default node IP."""

from __future__ import annotations

import argparse
import socket
from types import SimpleNamespace

import pytest

from kybernetes.cli.agent import (AgentConfig, NodeCredentials, add_parser, address_toward, config_from_args,
                                  default_node_ip, follow_servers, kubelet_args, proxy_args)


def config(**kw: object) -> AgentConfig:
    base: dict = {"server": "https://127.0.0.1:6443", "token": "abcdef.0123456789abcdef", "data_dir": "/d",
                  "node_name": "n1", "node_ip": "198.18.253.11"}
    return AgentConfig(**{**base, **kw})


def flag(args: list[str], name: str) -> str | None:
    return args[args.index(name) + 1] if name in args else None


@pytest.mark.parametrize("pod_network,network_kubeconfig", [("bridge", "/d/kube-proxy.kubeconfig"),
                                                            ("auto", "/d/kube-proxy.kubeconfig"), ("host", None)],
                         ids=["bridge", "auto", "host"])
def test_kubelet_watches_nodes_with_the_proxy_identity_on_a_pod_network(pod_network: str,
                                                                        network_kubeconfig: str | None) -> None:
    args = kubelet_args(config(pod_network=pod_network), "/d/pki/kubelet-server-current.pem", "")
    assert flag(args, "--pod-network") == pod_network
    assert flag(args, "--network-kubeconfig") == network_kubeconfig
    assert flag(args, "--node-ip") == "198.18.253.11"
    assert flag(args, "--cluster-dns") is None


@pytest.mark.parametrize("disable,pod_network,managers", [
    (set(), "host", ["kubelet-client", "kubelet-serving", "kube-proxy-client"]),
    ({"proxy"}, "host", ["kubelet-client", "kubelet-serving"]),
    ({"proxy"}, "bridge", ["kubelet-client", "kubelet-serving", "kube-proxy-client"]),
    ({"kubelet"}, "bridge", ["kubelet-client", "kube-proxy-client"]),
    ({"kubelet", "proxy"}, "bridge", ["kubelet-client"]),
], ids=["all", "no-proxy", "no-proxy-bridge", "no-kubelet", "neither"])
def test_certificates_requested(disable: set[str], pod_network: str, managers: list[str]) -> None:
    creds = NodeCredentials(config(disable=disable, pod_network=pod_network), b"")
    assert [m.name for m in creds.managers()] == managers


def unresolvable(monkeypatch: pytest.MonkeyPatch) -> None:
    """No name resolves (no DNS query leaves the machine in a test)."""
    def fail(*_: object, **__: object) -> None:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", fail)


@pytest.mark.parametrize("server,address", [("https://127.0.0.1:6443", "127.0.0.1"),
                                            ("https://127.0.0.1", "127.0.0.1")], ids=["loopback", "default-port"])
def test_address_toward_the_server(server: str, address: str) -> None:
    assert address_toward(server) == address


def test_no_address_toward_an_unresolvable_server(monkeypatch: pytest.MonkeyPatch) -> None:
    unresolvable(monkeypatch)
    assert address_toward("https://kybernetes.example:6443") == ""


def test_default_node_ip_falls_back_to_the_primary_address(monkeypatch: pytest.MonkeyPatch) -> None:
    assert default_node_ip("https://127.0.0.1:6443") == "127.0.0.1"
    monkeypatch.setattr("kybernetes.kubelet.nodestatus.primary_ip", lambda: "192.0.2.7")
    unresolvable(monkeypatch)
    assert default_node_ip("https://kybernetes.example:6443") == "192.0.2.7"


def server_flags(args: list[str]) -> list[str]:
    return [args[i + 1] for i, a in enumerate(args) if a == "--server"]


def test_children_balance_over_the_agents_servers_and_discover_more() -> None:
    cfg = config(servers=["https://127.0.0.2:6443"])
    for args in (kubelet_args(cfg, "/d/serving.pem", ""), proxy_args(cfg)):
        assert server_flags(args) == ["https://127.0.0.1:6443", "https://127.0.0.2:6443"]
        assert "--discover-servers" in args


def test_children_take_the_order_they_are_given() -> None:
    order = ["https://127.0.0.2:6443", "https://127.0.0.3:6443", "https://127.0.0.1:6443"]
    assert server_flags(kubelet_args(config(), "/d/serving.pem", "", order)) == order
    assert server_flags(proxy_args(config(), order)) == order


def test_a_restarted_child_gets_the_latest_order() -> None:
    cfg = config()
    children = {"kubelet": lambda order: kubelet_args(cfg, "/d/serving.pem", "", order)}
    sup = SimpleNamespace(components=[SimpleNamespace(name="kubelet", args=children["kubelet"]([cfg.server])),
                                      SimpleNamespace(name="other", args=["x"])])
    follow_servers(sup, children, ["https://127.0.0.2:6443", cfg.server])  # type: ignore[arg-type]
    assert server_flags(sup.components[0].args) == ["https://127.0.0.2:6443", cfg.server]
    assert sup.components[1].args == ["x"]


@pytest.mark.parametrize("flags,server,servers", [
    (["--server", "https://127.0.0.1:6443/"], "https://127.0.0.1:6443", []),
    (["--server", "https://127.0.0.1:6443", "--server", "https://127.0.0.2:6443"], "https://127.0.0.1:6443",
     ["https://127.0.0.2:6443"]),
    (["--server", "https://127.0.0.1:6443,https://127.0.0.2:6443", "--server", "https://127.0.0.1:6443"],
     "https://127.0.0.1:6443", ["https://127.0.0.2:6443"]),
], ids=["one", "repeated", "comma-separated"])
def test_server_flags(flags: list[str], server: str, servers: list[str]) -> None:
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers(), "/var/lib/kybernetes")
    cfg = config_from_args(parser.parse_args(["agent", *flags, "--node-ip", "127.0.0.1", "--disable", "proxy"]))
    assert (cfg.server, cfg.servers) == (server, servers)
    assert cfg.apiservers() == [server, *servers]


def test_node_clients_span_every_server() -> None:
    from kybernetes.kubelet.certificate.store import KeyPair
    from kybernetes.pki.ca import CertificateAuthority, cert_to_pem

    ca = CertificateAuthority.create()
    creds = NodeCredentials(config(servers=["https://127.0.0.2:6443"]), cert_to_pem(ca.cert))
    creds.kubelet_client.current = KeyPair(ca.cert, ca.key, cert_to_pem(ca.cert))
    balanced = creds.node_config()
    assert (balanced.server, balanced.servers) == ("https://127.0.0.1:6443", ["https://127.0.0.2:6443"])
    one = creds.node_config("https://127.0.0.2:6443")
    assert (one.server, one.servers, one.load_balanced) == ("https://127.0.0.2:6443", [], False)
    assert one.cert_data == balanced.cert_data == cert_to_pem(ca.cert)

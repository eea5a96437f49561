"""Where pods/proxy and services/proxy requests go."""

from __future__ import annotations

import random

import pytest

from kybernetes.api import errors
from kybernetes.apiserver.locations import Location, pod_location, service_location, split_scheme_name_port


@pytest.mark.parametrize("ident,want", [
    ("web", ("http", "web", "")), ("web:8080", ("http", "web", "8080")), ("https:web:443", ("https", "web", "443")),
    ("http:web:", ("http", "web", "")), ("web:http", ("http", "web", "http")),
])
def test_split_scheme_name_port(ident, want):
    assert split_scheme_name_port(ident) == want


@pytest.mark.parametrize("ident", ["ftp:web:21", "a:b:c:d", ":80"])
def test_split_rejects_bad_forms(ident):
    with pytest.raises(errors.StatusError) as ei:
        split_scheme_name_port(ident)
    assert ei.value.code == 400


def _pod(ip="198.18.0.5", ports=()):
    return {"metadata": {"name": "p"}, "status": {"podIP": ip},
            "spec": {"containers": [{"name": "c", "ports": list(ports)}]}}


def test_pod_location_port_choice():
    assert pod_location(_pod(), "http", "") == Location("http", "198.18.0.5", 80)
    declared = _pod(ports=[{"name": "web", "containerPort": 8080}, {"containerPort": 9090}])
    assert pod_location(declared, "http", "") == Location("http", "198.18.0.5", 8080)
    assert pod_location(declared, "https", "web") == Location("https", "198.18.0.5", 8080)
    assert pod_location(declared, "http", "9999") == Location("http", "198.18.0.5", 9999)


def test_pod_location_errors():
    with pytest.raises(errors.StatusError) as ei:
        pod_location(_pod(ip=""), "http", "")
    assert ei.value.code == 400 and "no IP" in ei.value.message
    with pytest.raises(errors.StatusError) as ei:
        pod_location(_pod(ip="169.254.1.1"), "http", "80")
    assert "not allowed" in ei.value.message
    with pytest.raises(errors.StatusError):
        pod_location(_pod(), "http", "nosuchname")


def _svc(*ports):
    return {"metadata": {"name": "s"}, "spec": {"ports": list(ports)}}


def test_service_location_by_name_and_number():
    svc = _svc({"name": "http", "port": 80}, {"name": "metrics", "port": 9100})
    eps = {"subsets": [{"addresses": [{"ip": "198.18.0.7"}],
                        "ports": [{"name": "http", "port": 8080}, {"name": "metrics", "port": 9101}]}]}
    assert service_location(svc, eps, "http", "http") == Location("http", "198.18.0.7", 8080)
    assert service_location(svc, eps, "http", "9100") == Location("http", "198.18.0.7", 9101)


def test_service_location_spreads_over_ready_addresses():
    svc = _svc({"port": 80})
    eps = {"subsets": [{"addresses": [{"ip": f"198.18.0.{i}"} for i in range(1, 4)],
                        "notReadyAddresses": [{"ip": "198.18.0.9"}], "ports": [{"port": 8080}]}]}
    rng = random.Random(1)
    hosts = {service_location(svc, eps, "http", "", rng).host for _ in range(60)}
    assert hosts == {"198.18.0.1", "198.18.0.2", "198.18.0.3"}


def test_service_location_unavailable():
    svc = _svc({"name": "http", "port": 80})
    with pytest.raises(errors.StatusError) as ei:
        service_location(svc, None, "http", "http")
    assert (ei.value.code, ei.value.message) == (503, 'no endpoints available for service "s"')
    with pytest.raises(errors.StatusError) as ei:
        service_location(svc, {"subsets": []}, "http", "8443")
    assert (ei.value.code, ei.value.message) == (503, 'no service port 8443 found for service "s"')
    eps = {"subsets": [{"addresses": [{"ip": "198.18.0.7"}], "ports": [{"name": "http", "port": 8080}]}]}
    with pytest.raises(errors.StatusError):  # no port given: only an unnamed port matches, as upstream
        service_location(svc, eps, "http", "")

"""Where pods/proxy and services/proxy requests go: upstream's ResourceLocation for pods and services."""

from __future__ import annotations

import ipaddress
import random
from dataclasses import dataclass
from typing import Any

from kybernetes.api import errors


@dataclass(frozen=True)
class Location:
    scheme: str  # "http" or "https"
    host: str
    port: int


def split_scheme_name_port(ident: str) -> tuple[str, str, str]:
    """Split "[scheme:]name[:port]" as upstream's SplitSchemeNamePort; a bad form is a 400."""
    parts = ident.split(":")
    if len(parts) == 1:
        scheme, name, port = "", parts[0], ""
    elif len(parts) == 2:
        scheme, name, port = "", parts[0], parts[1]
    elif len(parts) == 3:
        scheme, name, port = parts
    else:
        raise errors.bad_request(f"invalid request {ident!r}")
    if not name or scheme not in ("", "http", "https"):
        raise errors.bad_request(f"invalid request {ident!r}")
    return scheme or "http", name, port


def _proxyable(ip: str, what: str) -> str:
    """Upstream's IsProxyableIP, except loopback: host-network pods of a loopback-only node live there."""
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        raise errors.bad_request(f"{what} has no valid IP address: {ip!r}") from None
    if addr.is_link_local or addr.is_unspecified or addr.is_multicast:
        raise errors.bad_request("address not allowed")
    return ip


def pod_location(pod: dict[str, Any], scheme: str, port: str) -> Location:
    """The pod's IP and the named port, or its first declared containerPort, or 80."""
    name = pod.get("metadata", {}).get("name", "")
    ip = (pod.get("status") or {}).get("podIP") or ""
    if not ip:
        raise errors.bad_request(f"pod {name} has no IP address yet")
    if not port:
        declared = [p.get("containerPort") for c in (pod.get("spec") or {}).get("containers") or []
                    for p in c.get("ports") or [] if p.get("containerPort")]
        port = str(declared[0]) if declared else "80"
    if not port.isdigit():
        named = {p.get("name"): p.get("containerPort") for c in (pod.get("spec") or {}).get("containers") or []
                 for p in c.get("ports") or [] if p.get("name")}
        if port not in named:
            raise errors.bad_request(f"pod {name} has no port named {port!r}")
        port = str(named[port])
    return Location(scheme, _proxyable(ip, f"pod {name}"), int(port))


def service_location(service: dict[str, Any], endpoints: dict[str, Any] | None, scheme: str,
                     port: str, rng: random.Random | None = None) -> Location:
    """A random ready endpoint address of the Service port given by name or number, as upstream picks it."""
    name = service.get("metadata", {}).get("name", "")
    ports = (service.get("spec") or {}).get("ports") or []
    port_name = port
    if port.isdigit():  # a number names the Service port; a name must match the endpoints' port name
        port_name = next((sp.get("name", "") for sp in ports if sp.get("port") == int(port)), None)
        if port_name is None:
            raise errors.StatusError(503, "ServiceUnavailable", f'no service port {port} found for service "{name}"')
    rng = rng or random.Random()
    subsets = list((endpoints or {}).get("subsets") or [])
    rng.shuffle(subsets)
    for subset in subsets:
        for ep_port in subset.get("ports") or []:
            if ep_port.get("name", "") != port_name:
                continue
            addresses = list(subset.get("addresses") or [])
            rng.shuffle(addresses)
            for address in addresses:
                try:
                    return Location(scheme, _proxyable(address.get("ip", ""), f"service {name}"), ep_port["port"])
                except errors.StatusError:
                    continue
    raise errors.StatusError(503, "ServiceUnavailable", f'no endpoints available for service "{name}"')

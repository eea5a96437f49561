"""This machine's names and non-loopback addresses, for the SANs of serving certificates."""

from __future__ import annotations

import fcntl
import ipaddress
import socket
import struct

_SIOCGIFADDR = 0x8915


def host_names() -> list[str]:
    """The machine's hostname and fully qualified name (deduplicated, lower-case)."""
    names = [socket.gethostname(), socket.getfqdn()]
    return list(dict.fromkeys(n.lower() for n in names if n))


def _ipv4_addresses() -> list[str]:
    found: list[str] = []
    try:
        interfaces = socket.if_nameindex()
    except OSError:
        return found
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for _, name in interfaces:
            try:
                req = struct.pack("256s", name.encode()[:15])
                res = fcntl.ioctl(s.fileno(), _SIOCGIFADDR, req)
            except OSError:
                continue  # interface without an IPv4 address
            found.append(socket.inet_ntoa(res[20:24]))
    return found


def _ipv6_addresses() -> list[str]:
    found: list[str] = []
    try:
        with open("/proc/net/if_inet6") as f:
            for line in f:
                fields = line.split()
                if not fields:
                    continue
                scope = int(fields[3], 16)
                if scope != 0:  # only global scope; link-local needs a zone and is no use in a SAN
                    continue
                found.append(str(ipaddress.IPv6Address(bytes.fromhex(fields[0]))))
    except OSError:
        pass
    return found


def host_addresses() -> list[str]:
    """Every non-loopback, non-link-local IPv4/IPv6 address assigned to this machine."""
    out: list[str] = []
    for a in _ipv4_addresses() + _ipv6_addresses():
        ip = ipaddress.ip_address(a)
        if ip.is_loopback or ip.is_link_local or ip.is_unspecified:
            continue
        out.append(str(ip))
    return list(dict.fromkeys(out))

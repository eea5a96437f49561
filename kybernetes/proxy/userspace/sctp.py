"""Whether this kernel can open SCTP sockets (userspace SCTP forwarding needs it)."""

from __future__ import annotations

import functools
import socket


@functools.cache
def sctp_supported() -> bool:
    """True if an AF_INET SOCK_STREAM IPPROTO_SCTP socket can be opened here."""
    proto = getattr(socket, "IPPROTO_SCTP", 132)
    try:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM, proto)
    except OSError:
        return False
    s.close()
    return True

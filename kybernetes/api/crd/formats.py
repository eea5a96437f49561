"""String formats a CRD schema may name, checked as apiextensions' strfmt registry checks them."""

from __future__ import annotations

import base64
import ipaddress
import re
from typing import Callable

_UUID = re.compile(r"(?i)^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$")
_UUID3 = re.compile(r"(?i)^[0-9a-f]{8}-?[0-9a-f]{4}-?3[0-9a-f]{3}-?[0-9a-f]{4}-?[0-9a-f]{12}$")
_UUID4 = re.compile(r"(?i)^[0-9a-f]{8}-?[0-9a-f]{4}-?4[0-9a-f]{3}-?[89ab][0-9a-f]{3}-?[0-9a-f]{12}$")
_UUID5 = re.compile(r"(?i)^[0-9a-f]{8}-?[0-9a-f]{4}-?5[0-9a-f]{3}-?[89ab][0-9a-f]{3}-?[0-9a-f]{12}$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DATE_TIME = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([Zz]|[+-]\d{2}:?\d{2})?$")
_HOSTNAME_LABEL = r"[a-zA-Z0-9]([a-zA-Z0-9\-]{0,61}[a-zA-Z0-9])?"
_HOSTNAME = re.compile(rf"^{_HOSTNAME_LABEL}(\.{_HOSTNAME_LABEL})*$")
_MAC = re.compile(r"^([0-9A-Fa-f]{2}[:-]){5}([0-9A-Fa-f]{2})$|^([0-9A-Fa-f]{4}\.){2}[0-9A-Fa-f]{4}$"
                  r"|^([0-9A-Fa-f]{2}[:-]){7}([0-9A-Fa-f]{2})$|^([0-9A-Fa-f]{2}[:-]){19}([0-9A-Fa-f]{2})$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")
_DURATION = re.compile(r"^(\d+(\.\d+)?\s*(ns|us|µs|ms|s|m|h|d|w)\s*)+$")
_GO_DURATION = re.compile(r"^[-+]?((\d+(\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h))+$|^0$")
_HEXCOLOR = re.compile(r"^#?([0-9a-fA-F]{3}|[0-9a-fA-F]{6})$")
_RGBCOLOR = re.compile(r"^rgb\(\s*\d{1,3}\s*,\s*\d{1,3}\s*,\s*\d{1,3}\s*\)$")
_BSONOBJECTID = re.compile(r"^[0-9a-fA-F]{24}$")
_URI = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.\-]*:[^\s]*$|^/[^\s]*$")


def _ipv4(v: str) -> bool:
    try:
        ipaddress.IPv4Address(v)
        return True
    except ValueError:
        return False


def _ipv6(v: str) -> bool:
    try:
        ipaddress.IPv6Address(v)
        return True
    except ValueError:
        return False


def _cidr(v: str) -> bool:
    try:
        ipaddress.ip_network(v, strict=False)
        return "/" in v
    except ValueError:
        return False


def _byte(v: str) -> bool:
    try:
        base64.b64decode(v, validate=True)
        return True
    except (ValueError, TypeError):
        return False


def _date(v: str) -> bool:
    if not _DATE.match(v):
        return False
    _, m, d = (int(x) for x in v.split("-"))
    return 1 <= m <= 12 and 1 <= d <= 31


def _date_time(v: str) -> bool:
    if not _DATE_TIME.match(v):
        return False
    return _date(v[:10]) and int(v[11:13]) < 24 and int(v[14:16]) < 60


def _duration(v: str) -> bool:
    return bool(_DURATION.match(v) or _GO_DURATION.match(v))


def _hostname(v: str) -> bool:
    return len(v) <= 255 and bool(_HOSTNAME.match(v))


_CHECKS: dict[str, Callable[[str], bool]] = {
    "bsonobjectid": lambda v: bool(_BSONOBJECTID.match(v)),
    "uri": lambda v: bool(_URI.match(v)),
    "email": lambda v: bool(_EMAIL.match(v)),
    "hostname": _hostname,
    "ipv4": _ipv4,
    "ipv6": _ipv6,
    "cidr": _cidr,
    "mac": lambda v: bool(_MAC.match(v)),
    "uuid": lambda v: bool(_UUID.match(v)),
    "uuid3": lambda v: bool(_UUID3.match(v)),
    "uuid4": lambda v: bool(_UUID4.match(v)),
    "uuid5": lambda v: bool(_UUID5.match(v)),
    "hexcolor": lambda v: bool(_HEXCOLOR.match(v)),
    "rgbcolor": lambda v: bool(_RGBCOLOR.match(v)),
    "byte": _byte,
    "password": lambda v: True,
    "date": _date,
    "duration": _duration,
    "datetime": _date_time,
    "date-time": _date_time,
}


def format_valid(fmt: str, value: str) -> bool:
    """Whether value matches a supported format; formats apiextensions does not support always pass."""
    check = _CHECKS.get(fmt)
    return True if check is None else check(value)

"""Name and value checks worded as apimachinery's util/validation words them (DNS labels, subdomains)."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

DNS1035_LABEL_MAX = 63
DNS1123_LABEL_MAX = 63
DNS1123_SUBDOMAIN_MAX = 253

_DNS1035 = "[a-z]([-a-z0-9]*[a-z0-9])?"
_DNS1123_LABEL = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_SUBDOMAIN = _DNS1123_LABEL + r"(\." + _DNS1123_LABEL + ")*"


def _max_len_error(n: int) -> str:
    return f"must be no more than {n} characters"


def is_dns1035_label(value: str) -> list[str]:
    """IsDNS1035Label: the messages upstream returns for an invalid DNS-1035 label."""
    errs = []
    if len(value) > DNS1035_LABEL_MAX:
        errs.append(_max_len_error(DNS1035_LABEL_MAX))
    if not re.fullmatch(_DNS1035, value):
        errs.append("a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
                    "alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', "
                    f"regex used for validation is '{_DNS1035}')")
    return errs


def is_dns1123_label(value: str) -> list[str]:
    errs = []
    if len(value) > DNS1123_LABEL_MAX:
        errs.append(_max_len_error(DNS1123_LABEL_MAX))
    if not re.fullmatch(_DNS1123_LABEL, value):
        errs.append("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and "
                    "must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used "
                    f"for validation is '{_DNS1123_LABEL}')")
    return errs


def is_dns1123_subdomain(value: str) -> list[str]:
    """IsDNS1123Subdomain: the messages upstream returns for an invalid DNS-1123 subdomain."""
    errs = []
    if len(value) > DNS1123_SUBDOMAIN_MAX:
        errs.append(_max_len_error(DNS1123_SUBDOMAIN_MAX))
    if not re.fullmatch(_DNS1123_SUBDOMAIN, value):
        errs.append("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
                    "and must start and end with an alphanumeric character (e.g. 'example.com', regex used for "
                    f"validation is '{_DNS1123_SUBDOMAIN}')")
    return errs


def name_is_dns_subdomain(name: str, prefix: bool) -> list[str]:
    """NameIsDNSSubdomain: a generateName prefix is checked with a trailing character appended."""
    if prefix:
        name = name + "a" if not name.endswith("-") else name + "a"
    return is_dns1123_subdomain(name)


class GoValue:
    """A bad value that upstream renders with Go's %#v (structs, maps); repr() gives that rendering."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


def go_float(x: float) -> str:
    """Go's %v for a float64 (strconv 'g', shortest): exponent form when exp < -4 or exp >= 6."""
    if x != x:
        return "NaN"
    if x in (float("inf"), float("-inf")):
        return "+Inf" if x > 0 else "-Inf"
    if x == 0:
        return "0"
    sign, digits, exponent = Decimal(repr(float(x))).normalize().as_tuple()
    ds = "".join(str(d) for d in digits)
    exp = len(ds) + int(exponent) - 1
    neg = "-" if sign else ""
    if exp < -4 or exp >= 6:
        mant = ds[0] + ("." + ds[1:] if len(ds) > 1 else "")
        return f"{neg}{mant}e{'-' if exp < 0 else '+'}{abs(exp):02d}"
    return neg + format(Decimal(repr(abs(float(x)))).normalize(), "f")


def go_number(x: Any) -> str:
    """%v of a schema bound or multipleOf (a *float64 upstream)."""
    if isinstance(x, bool):
        return "true" if x else "false"
    return go_float(float(x))

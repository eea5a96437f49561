"""resource.Quantity parsing: '100m', '1.5Gi', '2e3' to exact Fractions, with upstream's error wording."""

from __future__ import annotations

import functools
import re
from fractions import Fraction
from typing import Any

# upstream's splitRE and its error text (k8s.io/apimachinery/pkg/api/resource)
QUANTITY_REGEX = r"^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$"
ERR_FORMAT = f"quantities must match the regular expression '{QUANTITY_REGEX}'"
ERR_SUFFIX = "unable to parse quantity's suffix"

_NUMBER = re.compile(r"^[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")
_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {"n": Fraction(1, 10**9), "u": Fraction(1, 10**6), "m": Fraction(1, 1000), "": Fraction(1),
            "k": Fraction(10**3), "M": Fraction(10**6), "G": Fraction(10**9), "T": Fraction(10**12),
            "P": Fraction(10**15), "E": Fraction(10**18)}
_EXPONENT = re.compile(r"^[eE]([+-]?[0-9]+)$")


class QuantityError(ValueError):
    """A string that is not a resource.Quantity; str() is upstream's message."""


def parse_quantity(s: Any) -> Fraction:
    """The exact value of a quantity given as a string (or a JSON number); raises QuantityError."""
    if isinstance(s, bool):
        raise QuantityError(ERR_FORMAT)
    if isinstance(s, int):
        return Fraction(s)
    if isinstance(s, float):
        return Fraction(str(s))
    if not isinstance(s, str):
        raise QuantityError(ERR_FORMAT)
    return _parse_string(s)


@functools.lru_cache(maxsize=4096)
def _parse_string(s: str) -> Fraction:
    """parse_quantity of a string; remembered, as the same few quantities are in most objects."""
    text = s.strip()
    if not text:
        raise QuantityError("quantities must match the regular expression '" + QUANTITY_REGEX + "'")
    m = _NUMBER.match(text)
    if not m:
        raise QuantityError(ERR_FORMAT)
    number, suffix = m.group(0), text[m.end():]
    if not re.fullmatch(r"[eEinumkKMGTP]*[-+]?[0-9]*", suffix):
        raise QuantityError(ERR_FORMAT)
    value = Fraction(number)
    if suffix in _BINARY:
        return value * _BINARY[suffix]
    if suffix in _DECIMAL:
        return value * _DECIMAL[suffix]
    e = _EXPONENT.match(suffix)
    if e:
        return value * Fraction(10) ** int(e.group(1))
    raise QuantityError(ERR_SUFFIX)


def is_quantity(s: Any) -> bool:
    try:
        parse_quantity(s)
    except QuantityError:
        return False
    return True


def quantity_string(s: Any) -> str:
    """The quantity as written (strings stripped, numbers as JSON writes them): used in error values."""
    return s.strip() if isinstance(s, str) else str(s)

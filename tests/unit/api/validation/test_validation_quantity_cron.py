"""Quantity parsing and cron schedule parsing, with upstream's error messages."""

from __future__ import annotations

from fractions import Fraction

import pytest

from kybernetes.api.validation.cron import CronError, parse_standard
from kybernetes.api.validation.quantity import ERR_FORMAT, QuantityError, parse_quantity


@pytest.mark.parametrize("text,want", [
    ("100m", Fraction(1, 10)), ("1", Fraction(1)), ("1.5", Fraction(3, 2)), ("2Gi", Fraction(2 * 2**30)),
    ("128Mi", Fraction(128 * 2**20)), ("1k", Fraction(1000)), ("1e3", Fraction(1000)), ("1E-3", Fraction(1, 1000)),
    ("-5", Fraction(-5)), (".5", Fraction(1, 2)), ("5.", Fraction(5)), (2, Fraction(2)), (0.25, Fraction(1, 4)),
    (" 1Ki ", Fraction(1024)), ("+3M", Fraction(3 * 10**6)), ("10n", Fraction(1, 10**8)),
], ids=lambda v: str(v))
def test_parse_quantity(text, want) -> None:
    assert parse_quantity(text) == want


@pytest.mark.parametrize("text", ["", "abc", "1.2.3x", "1Kb", "Mi", "1 Gi", True], ids=lambda v: repr(v))
def test_parse_quantity_rejects(text) -> None:
    with pytest.raises(QuantityError):
        parse_quantity(text)


def test_quantity_error_text() -> None:
    with pytest.raises(QuantityError) as e:
        parse_quantity("abc")
    assert str(e.value) == ERR_FORMAT


@pytest.mark.parametrize("spec", ["*/5 * * * *", "0 0 * * 0", "@hourly", "@daily", "@yearly", "@every 1h30m",
                                  "0 9-17 * jan-mar mon-fri", "15,45 */2 1 * ?", "0 0 1 */3 *"])
def test_cron_valid(spec: str) -> None:
    parse_standard(spec)


@pytest.mark.parametrize("spec,msg", [
    ("* * * *", "expected exactly 5 fields, found 4: [* * * *]"),
    ("* * * * * *", "expected exactly 5 fields, found 6: [* * * * * *]"),
    ("@fortnightly", "unrecognized descriptor: @fortnightly"),
    ("60 * * * *", "end of range (60) above maximum (59): 60"),
    ("0 0 0 * *", "beginning of range (0) below minimum (1): 0"),
    ("x * * * *", 'failed to parse int from x: strconv.Atoi: parsing "x": invalid syntax'),
    ("5-1 * * * *", "beginning of range (5) beyond end of range (1): 5-1"),
    ("1-2-3 * * * *", "too many hyphens: 1-2-3"),
    ("*/0 * * * *", "step of range should be a positive number: */0"),
    ("", "empty spec string"),
], ids=["four", "six", "descriptor", "minute-max", "dom-min", "not-int", "reversed", "hyphens", "step0", "empty"])
def test_cron_errors(spec: str, msg: str) -> None:
    with pytest.raises(CronError) as e:
        parse_standard(spec)
    assert str(e.value) == msg


def test_cron_fields() -> None:
    s = parse_standard("*/15 9-10 * * mon")
    assert s.minutes == {0, 15, 30, 45} and s.hours == {9, 10} and s.days_of_week == {1}

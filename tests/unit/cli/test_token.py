"""`kybernetes token`: duration flags and the `list` table."""

from __future__ import annotations

import datetime

import pytest

from kybernetes.cli.token import parse_duration, token_table
from kybernetes.clusterbootstrap.token import BootstrapToken, token_secret

NOW = datetime.datetime(2030, 1, 1, tzinfo=datetime.timezone.utc)


@pytest.mark.parametrize("value,seconds", [("24h", 86400), ("1h30m", 5400), ("90s", 90), ("0", 0), ("1.5h", 5400)],
                         ids=["hours", "mixed", "seconds", "forever", "fraction"])
def test_parse_duration(value: str, seconds: float) -> None:
    assert parse_duration(value).total_seconds() == seconds


@pytest.mark.parametrize("value", ["", "24", "h", "1d", "1h-5m"], ids=["empty", "no-unit", "no-number", "days",
                                                                       "junk"])
def test_parse_duration_errors(value: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(value)


def test_token_table() -> None:
    secrets = [token_secret(BootstrapToken(token="abcdef.0123456789abcdef", description="ci",
                                           expires=NOW + datetime.timedelta(hours=5))),
               token_secret(BootstrapToken(token="zzzzzz.0123456789abcdef")),
               {"type": "Opaque", "metadata": {"name": "x"}}]
    rows = token_table(secrets, NOW)
    assert rows[0] == ["TOKEN", "TTL", "EXPIRES", "USAGES", "DESCRIPTION", "EXTRA GROUPS"]
    assert rows[1] == ["abcdef.0123456789abcdef", "5h", "2030-01-01T05:00:00Z", "authentication,signing", "ci",
                       "system:bootstrappers:kybernetes:default-node-token"]
    assert rows[2][:3] == ["zzzzzz.0123456789abcdef", "<forever>", "<never>"]
    assert len(rows) == 3

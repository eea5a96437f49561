"""The kubelet's API access flags and the KubeletOptions they set."""

from __future__ import annotations

import argparse

import pytest

from kybernetes.cli import kubelet_auth
from kybernetes.kubelet.options import KubeletOptions


@pytest.mark.parametrize("text,seconds", [("30", 30.0), ("30s", 30.0), ("2m", 120.0), ("5m0s", 300.0),
                                          ("1h30m", 5400.0), ("0.5s", 0.5)])
def test_durations(text: str, seconds: float) -> None:
    assert kubelet_auth._seconds(text) == seconds


@pytest.mark.parametrize("text", ["", "5x", "m", "5m3"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        kubelet_auth._seconds(text)


def test_defaults_are_upstreams_and_match_the_options() -> None:
    p = argparse.ArgumentParser()
    kubelet_auth.add_flags(p)
    opts = kubelet_auth.options_from(p.parse_args([]))
    defaults = KubeletOptions()
    assert opts == {k: getattr(defaults, k) for k in opts}
    assert opts["authorization_mode"] == "Webhook" and opts["authentication_anonymous_enabled"] is False
    changed = kubelet_auth.options_from(p.parse_args(["--authorization-mode", "AlwaysAllow", "--anonymous-auth",
                                                      "--authentication-token-webhook=false"]))
    assert (changed["authorization_mode"], changed["authentication_anonymous_enabled"],
            changed["authentication_webhook_enabled"]) == ("AlwaysAllow", True, False)

"""Remote command channel framing and the error-channel Status, as kubectl's client decodes them."""

from __future__ import annotations

import pytest

from kybernetes.kubelet.server import streaming


@pytest.mark.parametrize("channel,data,want", [
    (streaming.STDIN, b"abc", b"\x00abc"),
    (streaming.STDOUT, b"", b"\x01"),
    (streaming.ERROR, b"{}", b"\x03{}"),
    (streaming.CLOSE, bytes((streaming.STDIN,)), b"\xff\x00"),
], ids=["stdin", "empty-stdout", "error", "v5-close"])
def test_frame(channel, data, want):
    assert streaming.frame(channel, data) == want


@pytest.mark.parametrize("payload,want", [
    (b'{"Width":80,"Height":24}', (80, 24)),
    (b'{"Width":80}', None),
    (b"not json", None),
], ids=["ok", "missing-height", "garbage"])
def test_parse_resize(payload, want):
    assert streaming.parse_resize(payload) == want


@pytest.mark.parametrize("code,want", [
    (0, {"metadata": {}, "status": "Success"}),
    (3, {"status": "Failure", "reason": "NonZeroExitCode",
         "details": {"causes": [{"reason": "ExitCode", "message": "3"}]}}),
    (137, {"status": "Failure", "reason": "NonZeroExitCode",
           "details": {"causes": [{"reason": "ExitCode", "message": "137"}]}}),
], ids=["success", "exit-3", "killed"])
def test_exit_status(code, want):
    status = streaming.exit_status(code, ["sh", "-c", "exit"])
    assert {k: v for k, v in status.items() if k in want} == want
    if code:
        assert status["message"].startswith("command terminated with non-zero exit code")

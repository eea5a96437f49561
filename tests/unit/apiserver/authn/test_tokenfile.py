"""Static token file parsing and lookups."""

from __future__ import annotations

import pytest

from kybernetes.apiserver.authn import UserInfo
from kybernetes.apiserver.authn.tokenfile import TokenFileAuthenticator, TokenFileError, parse_token_file


@pytest.mark.parametrize("text,expected", [
    ("t1,alice,u1\n", {"t1": UserInfo("alice", "u1")}),
    ('t1,alice,u1,"devs,ops"\n', {"t1": UserInfo("alice", "u1", ("devs", "ops"))}),
    ("t1,alice,u1,admins\n", {"t1": UserInfo("alice", "u1", ("admins",))}),
    ("t1, alice, u1\n", {"t1": UserInfo("alice", "u1")}),
    ("t1,alice,u1\n\nt2,bob,u2\n", {"t1": UserInfo("alice", "u1"), "t2": UserInfo("bob", "u2")}),
    (",nobody,u0\nt1,alice,u1\n", {"t1": UserInfo("alice", "u1")}),
    ("t1,alice,u1\nt1,bob,u2\n", {"t1": UserInfo("bob", "u2")}),
    ("t1,alice,u1,,extra\n", {"t1": UserInfo("alice", "u1")}),
], ids=["three-columns", "quoted-groups", "one-group", "leading-spaces", "blank-line", "empty-token-skipped",
        "duplicate-last-wins", "empty-groups"])
def test_parse(text: str, expected: dict) -> None:
    got = parse_token_file(text)
    assert got == expected
    assert {k: v.groups for k, v in got.items()} == {k: v.groups for k, v in expected.items()}


@pytest.mark.parametrize("text", ["t1,alice\n", "t1\n"], ids=["two-columns", "one-column"])
def test_too_few_columns(text: str) -> None:
    with pytest.raises(TokenFileError, match="must have at least 3 columns"):
        parse_token_file(text)


async def test_authenticator_from_file(tmp_path) -> None:
    path = tmp_path / "tokens.csv"
    path.write_text('secret-1,alice,42,"system:masters"\n')
    auth = TokenFileAuthenticator.from_file(str(path))
    resp = await auth.authenticate_token("secret-1", ["api"])
    assert resp is not None and resp.user.name == "alice" and resp.user.groups == ("system:masters",)
    assert resp.audiences == ("api",)
    assert await auth.authenticate_token("secret-2", ["api"]) is None


def test_missing_file(tmp_path) -> None:
    with pytest.raises(TokenFileError):
        TokenFileAuthenticator.from_file(str(tmp_path / "nope.csv"))

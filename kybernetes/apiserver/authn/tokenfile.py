"""Static token file (--token-auth-file): CSV lines `token,user,uid[,"group1,group2"]`, read once at start."""

from __future__ import annotations

import csv
import io
import logging
from typing import Sequence

from kybernetes.apiserver.authn import UserInfo
from kybernetes.apiserver.authn.token import TokenResponse

log = logging.getLogger(__name__)


class TokenFileError(ValueError):
    """The token file cannot be used (the apiserver refuses to start, as upstream)."""


def parse_token_file(text: str, source: str = "token file") -> dict[str, UserInfo]:
    """token -> user. Records need at least 3 columns; the 4th holds the groups, comma-separated (quote it).

    Empty tokens are skipped and a repeated token replaces the earlier one, each with a warning, as upstream.
    """
    tokens: dict[str, UserInfo] = {}
    reader = csv.reader(io.StringIO(text), skipinitialspace=True)
    record_num = 0
    for record in reader:
        if not record or (len(record) == 1 and not record[0].strip()):
            continue  # blank line
        if len(record) < 3:
            raise TokenFileError(f"token file '{source}' must have at least 3 columns (token, user name, unique "
                                 f"user id), found {len(record)}")
        record_num += 1
        token, name, uid = record[0], record[1], record[2]
        if not token:
            log.warning("empty token has been found in token file '%s', record number '%d'", source, record_num)
            continue
        groups = tuple(record[3].split(",")) if len(record) >= 4 and record[3] else ()
        if token in tokens:
            log.warning("duplicate token has been found in token file '%s', record number '%d'", source, record_num)
        tokens[token] = UserInfo(name=name, uid=uid, groups=groups)
    return tokens


class TokenFileAuthenticator:
    """Tokens of a static file; audience-agnostic (wrap it in AudienceAgnostic)."""

    def __init__(self, tokens: dict[str, UserInfo]) -> None:
        self.tokens = tokens

    @classmethod
    def from_file(cls, path: str) -> TokenFileAuthenticator:
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        except OSError as e:
            raise TokenFileError(f"reading token file {path}: {e}") from e
        return cls(parse_token_file(text, path))

    async def authenticate_token(self, token: str, audiences: Sequence[str]) -> TokenResponse | None:
        user = self.tokens.get(token)
        if user is None:
            return None
        return TokenResponse(user, tuple(audiences))

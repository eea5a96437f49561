"""The apiserver's authentication chain from its flags: x509, token file, bootstrap tokens, service-account tokens,
then anonymous (--anonymous-auth); plus the service-account signer the TokenRequest API and OIDC discovery use."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import Any

from kybernetes.apiserver.authn import Authenticator, CertificateAuthenticator, UnionAuthenticator
from kybernetes.apiserver.authn.bootstrap import BootstrapTokenAuthenticator
from kybernetes.apiserver.authn.jwtkeys import PublicKey, TokenGenerator, load_public_keys, load_signing_key
from kybernetes.apiserver.authn.serviceaccount import DEFAULT_ISSUER, CacheGetter, ServiceAccountTokenAuthenticator
from kybernetes.apiserver.authn.token import AudienceAgnostic, BearerTokenAuthenticator, TokenAuthenticator, TokenChain
from kybernetes.apiserver.authn.tokenfile import TokenFileAuthenticator

log = logging.getLogger(__name__)


@dataclass
class Authentication:
    """Everything authentication-related the apiserver serves with."""

    authenticator: Authenticator
    tokens: TokenChain
    issuer: str
    api_audiences: tuple[str, ...]
    public_keys: list[PublicKey] = field(default_factory=list)
    generator: TokenGenerator | None = None

    @property
    def jwks_uri(self) -> str:
        return self.issuer.rstrip("/") + "/openid/v1/jwks"


def _default_key_paths(data_dir: str) -> tuple[str, str]:
    pki = os.path.join(data_dir, "pki")
    return os.path.join(pki, "service-account.key"), os.path.join(pki, "service-account.pub")


def build_authentication(server: Any) -> Authentication:
    """From server.config (an APIServerConfig); the PKI must exist (ensure_pki has run) for default keys."""
    cfg = server.config
    issuers = list(getattr(cfg, "service_account_issuer", None) or [DEFAULT_ISSUER])
    api_audiences = tuple(getattr(cfg, "api_audiences", None) or issuers)
    default_key, default_pub = _default_key_paths(cfg.data_dir)
    signing_path = getattr(cfg, "service_account_signing_key_file", "") or default_key
    verify_paths = list(getattr(cfg, "service_account_key_file", None) or [])
    generator = None
    if os.path.exists(signing_path):
        generator = TokenGenerator(issuers[0], load_signing_key(signing_path))
    elif getattr(cfg, "service_account_signing_key_file", ""):
        raise FileNotFoundError(f"--service-account-signing-key-file {signing_path} does not exist")
    keys: list[PublicKey] = []
    for path in verify_paths or ([default_pub] if os.path.exists(default_pub) else []):
        keys.extend(load_public_keys(path))
    if generator is not None and not verify_paths and not keys:
        keys.append(generator.public_key)

    getter = CacheGetter(server)
    token_authenticators: list[TokenAuthenticator] = []
    token_file = getattr(cfg, "token_auth_file", "")
    if token_file:
        token_authenticators.append(AudienceAgnostic(api_audiences, TokenFileAuthenticator.from_file(token_file)))
    token_authenticators.append(AudienceAgnostic(api_audiences, BootstrapTokenAuthenticator(getter)))
    if keys:
        token_authenticators.append(ServiceAccountTokenAuthenticator(
            issuers=issuers, keys=keys, implicit_audiences=api_audiences, getter=getter))
    else:
        log.warning("no service-account keys: service-account tokens are not accepted")
    chain = TokenChain(token_authenticators, api_audiences)
    union = UnionAuthenticator([CertificateAuthenticator(), BearerTokenAuthenticator(chain)],
                               anonymous=bool(getattr(cfg, "anonymous_auth", True)))
    return Authentication(authenticator=union, tokens=chain, issuer=issuers[0], api_audiences=api_audiences,
                          public_keys=keys, generator=generator)

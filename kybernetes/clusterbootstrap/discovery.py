"""Token discovery, as kubeadm's: fetch cluster-info without trusting the server yet, check its JWS against
the bootstrap token and its CA against the pinned `sha256:<hex>` hashes, then fetch it again over TLS
verified by that CA."""

from __future__ import annotations

import asyncio
import hmac
import logging
import ssl
from dataclasses import dataclass

import aiohttp

from kybernetes.clusterbootstrap.clusterinfo import (JWS_PREFIX, KUBECONFIG_KEY, NAME, NAMESPACE,
                                                     parse_cluster_info_kubeconfig)
from kybernetes.clusterbootstrap.jws import detached_token_is_valid
from kybernetes.clusterbootstrap.token import parse_token
from kybernetes.pki.ca import ca_cert_hash

log = logging.getLogger(__name__)

PATH = f"/api/v1/namespaces/{NAMESPACE}/configmaps/{NAME}"


class DiscoveryError(Exception):
    """cluster-info could not be trusted (bad signature, CA not pinned, malformed) or never became valid."""


class Unavailable(DiscoveryError):
    """cluster-info cannot be read yet (not created, not readable anonymously): worth retrying."""


class NotSignedYet(Unavailable):
    """cluster-info has no signature for this token yet (the bootstrap signer may still be catching up)."""


@dataclass(frozen=True)
class ClusterInfo:
    """What discovery established: the apiserver cluster-info names and the CA now trusted."""

    server: str
    ca_pem: bytes


def verify_cluster_info(data: dict[str, str], token: str, ca_cert_hashes: list[str]) -> ClusterInfo:
    """Check a cluster-info ConfigMap's data: the JWS of this token over its kubeconfig, then the CA pin."""
    parsed = parse_token(token)
    if parsed is None:
        raise DiscoveryError("the token does not have the form [a-z0-9]{6}.[a-z0-9]{16}")
    token_id, token_secret = parsed
    content = data.get(KUBECONFIG_KEY)
    if not content:
        raise DiscoveryError(f"there is no {KUBECONFIG_KEY} key in the {NAME} ConfigMap")
    signature = data.get(JWS_PREFIX + token_id)
    if not signature:
        raise NotSignedYet(f"there is no JWS signed token in the {NAME} ConfigMap: this token id {token_id!r} is "
                           "invalid for this cluster, or the bootstrap signer has not signed it yet")
    if not detached_token_is_valid(signature, content, token_id, token_secret):
        raise DiscoveryError("failed to verify JWS signature of received cluster info object, can't trust this "
                             "API Server")
    try:
        server, ca_pem = parse_cluster_info_kubeconfig(content)
        actual = ca_cert_hash(ca_pem)
    except ValueError as e:
        raise DiscoveryError(str(e)) from None
    if ca_cert_hashes and not any(hmac.compare_digest(actual, h.lower()) for h in ca_cert_hashes):
        raise DiscoveryError(f"cluster CA found in {NAME} ConfigMap is invalid: none of the public keys "
                             f"{ca_cert_hashes} is pinned (it is {actual})")
    return ClusterInfo(server=server, ca_pem=ca_pem)


async def _fetch(session: aiohttp.ClientSession, server: str, context: ssl.SSLContext) -> dict[str, str]:
    async with session.get(server.rstrip("/") + PATH, ssl=context,
                           timeout=aiohttp.ClientTimeout(total=10)) as resp:
        if resp.status != 200:
            raise Unavailable(f"GET {PATH}: HTTP {resp.status}: {(await resp.text())[:200]}")
        body = await resp.json()
    data = body.get("data") if isinstance(body, dict) else None
    return {str(k): str(v) for k, v in (data or {}).items()}


def _insecure() -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def _trusting(ca_pem: bytes) -> ssl.SSLContext:
    return ssl.create_default_context(cadata=ca_pem.decode())


async def discover(server: str, token: str, ca_cert_hashes: list[str], *, timeout: float = 300.0,
                   interval: float = 1.0) -> ClusterInfo:
    """The verified cluster-info of `server`, retrying while it is unreachable or not signed for this token."""
    if not ca_cert_hashes:
        log.warning("no --ca-cert-hash given: the cluster CA is trusted on the token's signature alone")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    async with aiohttp.ClientSession() as session:
        while True:
            try:
                info = verify_cluster_info(await _fetch(session, server, _insecure()), token, ca_cert_hashes)
                again = verify_cluster_info(await _fetch(session, server, _trusting(info.ca_pem)), token,
                                            ca_cert_hashes)
                if again != info:
                    raise DiscoveryError(f"{NAME} changed between the insecure and the verified fetch")
                return info
            except (Unavailable, aiohttp.ClientError, asyncio.TimeoutError, OSError) as e:
                if loop.time() >= deadline:
                    raise DiscoveryError(f"discovery of {server} failed: {e}") from None
                log.info("waiting for a trustworthy cluster-info from %s: %s", server, e)
                await asyncio.sleep(interval)

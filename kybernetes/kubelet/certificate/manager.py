"""The certificate manager: keeps one certificate current, requesting a new one through a CSR when there is
none, it no longer fits its template or trust, or its rotation deadline (a random 70-90% of its lifetime,
upstream's jitter) has passed; tells its owner after each rotation."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import logging
import random
from collections.abc import Awaitable, Callable

from cryptography import x509

from kybernetes.client import RESTClient
from kybernetes.kubelet.certificate.csr import CertificateRequestError, Request, Template, request_certificate
from kybernetes.kubelet.certificate.store import FileStore, KeyPair
from kybernetes.pki import csr as csrs
from kybernetes.pki.ca import generate_key
from kybernetes.pki.certs import cert_sans

log = logging.getLogger(__name__)

ClientFor = Callable[[], Awaitable[RESTClient]]
OnRotated = Callable[[KeyPair], Awaitable[None]]
MIN_RETRY, MAX_RETRY = 1.0, 300.0


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def rotation_deadline(pair: KeyPair, jitter: float) -> datetime.datetime:
    """notBefore + (0.7 + 0.2 * jitter) of the lifetime, jitter in [0, 1)."""
    lifetime = pair.not_after - pair.not_before
    return pair.not_before + lifetime * (0.7 + 0.2 * jitter)


def fits(pair: KeyPair, template: Template, ca_pem: bytes | None) -> bool:
    """The certificate says what the template asks and is signed by the trusted CA."""
    cert = pair.cert
    if csrs.subject_cn(cert.subject) != template.cn or sorted(csrs.subject_orgs(cert.subject)) != sorted(template.orgs):
        return False
    dns, ips = cert_sans(cert)
    if set(template.dns_names) != dns or {str(ipaddress.ip_address(i)) for i in template.ips} != ips:
        return False
    if ca_pem:
        try:
            cert.verify_directly_issued_by(x509.load_pem_x509_certificate(ca_pem))
        except Exception:  # noqa: BLE001 - any failure (wrong issuer, bad signature) means not ours
            return False
    return True


class CertificateManager:
    """One certificate kept current in a FileStore. `ensure()` once at start, then `run()` until cancelled."""

    def __init__(self, *, name: str, store: FileStore, request: Request, client_for: ClientFor,
                 ca_pem: bytes | None = None, on_rotated: OnRotated | None = None,
                 jitter: Callable[[], float] = random.random,
                 now: Callable[[], datetime.datetime] = _now, request_timeout: float = 900.0) -> None:
        self.name = name
        self.store = store
        self.request = request
        self.client_for = client_for
        self.ca_pem = ca_pem
        self.on_rotated = on_rotated
        self.jitter = jitter
        self.now = now
        self.request_timeout = request_timeout
        self.current: KeyPair | None = store.load()
        self.deadline: datetime.datetime | None = None

    def usable(self) -> bool:
        """A current certificate that fits the template and trust and has not expired."""
        pair = self.current
        return pair is not None and pair.not_after > self.now() and fits(pair, self.request.template, self.ca_pem)

    def next_deadline(self) -> datetime.datetime:
        if self.current is None or not self.usable():
            return self.now()
        if self.deadline is None:
            self.deadline = rotation_deadline(self.current, self.jitter())
        return self.deadline

    async def rotate(self) -> KeyPair:
        """Request a certificate for a fresh key and make it current."""
        key = generate_key()
        async with await self.client_for() as client:
            cert_pem = await request_certificate(client, key, self.request, timeout=self.request_timeout)
        self.store.update(cert_pem, key)
        pair = self.store.load()
        if pair is None:
            raise CertificateRequestError(f"{self.name}: the issued certificate does not match its key")
        self.current, self.deadline = pair, None
        log.info("%s: certificate valid until %s (rotation after %s)", self.name, pair.not_after.isoformat(),
                 self.next_deadline().isoformat())
        return pair

    async def ensure(self) -> KeyPair:
        """A usable certificate now: the stored one, else a new one (retrying with back-off)."""
        if self.usable():
            assert self.current is not None
            return self.current
        return await self._rotate_with_backoff()

    async def _rotate_with_backoff(self) -> KeyPair:
        delay = MIN_RETRY
        while True:
            try:
                return await self.rotate()
            except asyncio.CancelledError:
                raise
            except Exception as e:  # noqa: BLE001 - the apiserver may be away; try again
                log.warning("%s: requesting a certificate failed: %s; retrying in %.0fs", self.name, e, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_RETRY)

    async def run(self) -> None:
        """Rotate at each deadline until cancelled."""
        while True:
            wait = (self.next_deadline() - self.now()).total_seconds()
            if wait > 0:
                await asyncio.sleep(min(wait, 3600.0))  # re-evaluate at least hourly (clock jumps, suspend)
                continue
            pair = await self._rotate_with_backoff()
            if self.on_rotated is not None:
                await self.on_rotated(pair)
            if self.next_deadline() <= self.now():  # a certificate too short-lived (or a clock off): no busy loop
                pause = min(max((pair.not_after - pair.not_before).total_seconds() * 0.1, MIN_RETRY), MAX_RETRY)
                log.warning("%s: the new certificate is already due for rotation; waiting %.0fs", self.name, pause)
                await asyncio.sleep(pause)

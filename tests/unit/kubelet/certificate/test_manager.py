"""Certificate files, rotation deadlines, and the manager's decisions to request a new certificate."""

from __future__ import annotations

import asyncio
import datetime
import os
from typing import Any

import pytest
from cryptography import x509

from kybernetes.kubelet.certificate import manager as manager_mod
from kybernetes.kubelet.certificate.csr import Request, Template, digested_name
from kybernetes.kubelet.certificate.manager import CertificateManager, fits, rotation_deadline
from kybernetes.kubelet.certificate.store import FileStore, KeyPair, parse_pair
from kybernetes.pki import csr as csrs
from kybernetes.pki.ca import CertificateAuthority, generate_key, key_to_pem
from kybernetes.pki.signer import sign_csr

CA = CertificateAuthority.create()
TEMPLATE = Template("system:node:n1", ("system:nodes",), ("n1",), ("10.0.0.1",))
REQUEST = Request(TEMPLATE, csrs.KUBELET_SERVING, (csrs.USAGE_DIGITAL_SIGNATURE, csrs.USAGE_SERVER_AUTH))


def issue(template: Template = TEMPLATE, hours: float = 1.0, ca: CertificateAuthority = CA) -> tuple[bytes, Any]:
    key = generate_key()
    pem = csrs.make_csr(key, cn=template.cn, orgs=template.orgs, dns_names=template.dns_names, ips=template.ips)
    return sign_csr(ca, pem, REQUEST.usages, duration=datetime.timedelta(hours=hours)), key


def test_file_store_round_trip_and_current_link(tmp_path) -> None:
    store = FileStore(str(tmp_path), "kubelet-server")
    assert store.load() is None
    cert, key = issue()
    path = store.update(cert, key)
    pair = store.load()
    assert pair is not None and pair.cert_pem == cert and pair.key.public_key() == key.public_key()
    assert os.path.islink(path) and oct(os.stat(path).st_mode & 0o777) == "0o600"
    cert2, key2 = issue()
    store.update(cert2, key2)
    assert store.load().cert_pem == cert2  # type: ignore[union-attr]
    assert len([n for n in os.listdir(tmp_path) if n.startswith("kubelet-server-2")]) == 2


def test_parse_pair_refuses_mismatched_key() -> None:
    cert, _ = issue()
    assert parse_pair(cert + key_to_pem(generate_key())) is None


@pytest.mark.parametrize("jitter,fraction", [(0.0, 0.7), (0.5, 0.8), (0.999, 0.8998)], ids=["min", "mid", "max"])
def test_rotation_deadline_is_70_to_90_percent(jitter: float, fraction: float) -> None:
    cert, key = issue(hours=10)
    pair = parse_pair(cert + key_to_pem(key))
    assert pair is not None
    got = (rotation_deadline(pair, jitter) - pair.not_before) / (pair.not_after - pair.not_before)
    assert got == pytest.approx(fraction, abs=1e-3)


@pytest.mark.parametrize("template,ca,want", [
    (TEMPLATE, CA, True),
    (Template("system:node:n1", ("system:nodes",), ("n1",), ("10.0.0.2",)), CA, False),
    (Template("system:node:n2", ("system:nodes",), ("n1",), ("10.0.0.1",)), CA, False),
    (TEMPLATE, CertificateAuthority.create(), False),
], ids=["same", "new-ip", "other-cn", "other-ca"])
def test_fits(template: Template, ca: CertificateAuthority, want: bool) -> None:
    cert, key = issue()
    pair = parse_pair(cert + key_to_pem(key))
    assert pair is not None
    assert fits(pair, template, ca.cert_pem) is want


def test_digested_name_is_stable_per_key() -> None:
    key = generate_key()
    assert digested_name(key, REQUEST) == digested_name(key, REQUEST)
    assert digested_name(key, REQUEST) != digested_name(generate_key(), REQUEST)
    assert digested_name(key, REQUEST).startswith("csr-")


class _NoClient:
    async def __aenter__(self) -> _NoClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None


@pytest.fixture
def fake_signer(monkeypatch) -> list[Request]:
    """request_certificate signs locally with CA (one hour); records what was asked."""
    asked: list[Request] = []

    async def request_certificate(client: Any, key: Any, request: Request, *, timeout: float) -> bytes:
        asked.append(request)
        t = request.template
        pem = csrs.make_csr(key, cn=t.cn, orgs=t.orgs, dns_names=t.dns_names, ips=t.ips)
        return sign_csr(CA, pem, request.usages, duration=datetime.timedelta(hours=1))

    monkeypatch.setattr(manager_mod, "request_certificate", request_certificate)
    return asked


def _manager(tmp_path, **kw: Any) -> CertificateManager:
    async def client_for() -> Any:
        return _NoClient()
    return CertificateManager(name="t", store=FileStore(str(tmp_path), "t"), request=REQUEST,
                              client_for=client_for, ca_pem=CA.cert_pem, **kw)


async def test_ensure_requests_only_when_unusable(tmp_path, fake_signer: list[Request]) -> None:
    m = _manager(tmp_path)
    first = await m.ensure()
    assert len(fake_signer) == 1 and fits(first, TEMPLATE, CA.cert_pem)
    again = _manager(tmp_path)  # a restarted agent finds it on disk
    assert (await again.ensure()).cert_pem == first.cert_pem and len(fake_signer) == 1


async def test_run_rotates_past_the_deadline_and_reports(tmp_path, fake_signer: list[Request]) -> None:
    rotated: list[KeyPair] = []
    done = asyncio.Event()

    async def on_rotated(pair: KeyPair) -> None:
        rotated.append(pair)
        done.set()

    m = _manager(tmp_path, on_rotated=on_rotated, jitter=lambda: 0.0)
    first = await m.ensure()
    later = first.not_before + (first.not_after - first.not_before) * 0.75  # past 70%: rotation is due
    m.now = lambda: later if not rotated else datetime.datetime.now(datetime.timezone.utc)
    task = asyncio.create_task(m.run())
    await asyncio.wait_for(done.wait(), 10)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert len(fake_signer) == 2 and rotated[0].cert_pem != first.cert_pem
    assert m.store.load().cert_pem == rotated[0].cert_pem  # type: ignore[union-attr]
    assert isinstance(rotated[0].cert, x509.Certificate)

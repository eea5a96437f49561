"""Fixtures: a PKI, the fake apiserver serving with it, and a RESTClient using the admin kubeconfig."""

from __future__ import annotations

import pytest

from kybernetes.client import RESTClient, load_kubeconfig
from kybernetes.pki import ensure_pki

from .fakeapi import FakeApiserver


@pytest.fixture
def pki(tmp_path):
    return ensure_pki(str(tmp_path))


@pytest.fixture
async def api(pki):
    server = FakeApiserver(pki)
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def client(api, pki):
    paths = ensure_pki(pki.data_dir, server=api.url)  # reuses the certificates, rewrites admin.kubeconfig
    c = RESTClient(load_kubeconfig(paths.admin_kubeconfig))
    yield c
    await c.close()

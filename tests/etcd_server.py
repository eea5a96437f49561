"""A throwaway single-member etcd (Debian's etcd-server binary) on free loopback ports, for tests."""

from __future__ import annotations

import contextlib

import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.request
from typing import Iterator

import pytest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class EtcdServer:
    """One etcd process with a temp data dir; stopped by its own PID.

    With tls, etcd serves HTTPS and requires client certificates signed by a CA made for the test:
    ca.crt, client.crt and client.key in data_dir.
    """

    def __init__(self, binary: str, *, tls: bool = False) -> None:
        self.binary = binary
        self.tls = tls
        self.client_port = _free_port()
        self.peer_port = _free_port()
        self.data_dir = tempfile.mkdtemp(prefix="kyb-etcd-")
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.client_port}"

    @property
    def url(self) -> str:
        if self.tls:
            d = self.data_dir
            return f"etcds://{self.endpoint}?cacert={d}/ca.crt&cert={d}/client.crt&key={d}/client.key"
        return f"etcd://{self.endpoint}"

    def _make_certs(self) -> list[str]:
        from kybernetes.pki.ca import CertificateAuthority, cert_to_pem, key_to_pem
        from kybernetes.pki.certs import issue_client_cert, issue_serving_cert

        ca = CertificateAuthority.create("etcd-test-ca")
        files = {"ca.crt": cert_to_pem(ca.cert), "ca.key": key_to_pem(ca.key)}
        files["server.crt"], files["server.key"] = issue_serving_cert(ca, "etcd", dns_names=["localhost"],
                                                                      ips=["127.0.0.1"])
        files["client.crt"], files["client.key"] = issue_client_cert(ca, "kybernetes", [])
        for name, data in files.items():
            with open(os.path.join(self.data_dir, name), "wb") as f:
                f.write(data)
        d = self.data_dir
        return ["--cert-file", f"{d}/server.crt", "--key-file", f"{d}/server.key",
                "--trusted-ca-file", f"{d}/ca.crt", "--client-cert-auth"]

    def _ssl_context(self) -> ssl.SSLContext | None:
        if not self.tls:
            return None
        ctx = ssl.create_default_context(cafile=f"{self.data_dir}/ca.crt")
        ctx.load_cert_chain(f"{self.data_dir}/client.crt", f"{self.data_dir}/client.key")
        return ctx

    def start(self, timeout: float = 30.0) -> None:
        client = f"{'https' if self.tls else 'http'}://{self.endpoint}"
        peer = f"http://127.0.0.1:{self.peer_port}"
        tls_flags = self._make_certs() if self.tls else []
        self.log = open(os.path.join(self.data_dir, "etcd.log"), "wb")
        self.proc = subprocess.Popen(
            [self.binary, "--name", "test", "--data-dir", os.path.join(self.data_dir, "data"),
             "--listen-client-urls", client, "--advertise-client-urls", client,
             "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
             "--initial-cluster", f"test={peer}", "--initial-cluster-state", "new",
             "--unsafe-no-fsync", "--log-level", "error", *tls_flags],
            stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"etcd exited with {self.proc.returncode}; log in {self.data_dir}/etcd.log")
            try:
                with urllib.request.urlopen(f"{client}/health", timeout=1, context=self._ssl_context()) as r:
                    if b'"true"' in r.read():
                        return
            except OSError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("etcd did not become healthy in time")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.proc = None
        if getattr(self, "log", None):
            self.log.close()
        shutil.rmtree(self.data_dir, ignore_errors=True)


def etcd_binary() -> str | None:
    return shutil.which("etcd")


@contextlib.contextmanager
def running_etcd() -> Iterator[EtcdServer]:
    """A fresh etcd for the duration of the block; skips the test when Debian's etcd-server is not installed."""
    binary = etcd_binary()
    if binary is None:
        pytest.skip("etcd binary not found (apt-get install etcd-server)")
    server = EtcdServer(binary)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def etcd_server() -> Iterator[EtcdServer]:
    """A session-wide etcd."""
    with running_etcd() as server:
        yield server

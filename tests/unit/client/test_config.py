"""load_kubeconfig: file resolution, merging, credentials and CA sources."""

from __future__ import annotations

import base64
import ssl

import pytest
import yaml

from kybernetes.client import ConfigError, load_kubeconfig
from kybernetes.pki import CertificateAuthority, issue_client_cert, write_kubeconfig


def _kc(path, *, ctx="c1", server="https://198.18.0.1:6443", user=None, cluster=None, ns=None, current=None):
    doc = {
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": ctx + "-cl", "cluster": {"server": server, **(cluster or {})}}],
        "users": [{"name": ctx + "-u", "user": user or {}}],
        "contexts": [{"name": ctx, "context": {"cluster": ctx + "-cl", "user": ctx + "-u",
                                               **({"namespace": ns} if ns else {})}}],
    }
    if current is not None:
        doc["current-context"] = current
    path.write_text(yaml.safe_dump(doc))
    return str(path)


def test_explicit_path_with_token_and_namespace(tmp_path):
    p = _kc(tmp_path / "a", user={"token": "t0k"}, ns="team", current="c1")
    cfg = load_kubeconfig(p)
    assert (cfg.server, cfg.bearer_token(), cfg.namespace) == ("https://198.18.0.1:6443", "t0k", "team")


def test_kubeconfig_env_merges_first_wins(tmp_path, monkeypatch):
    a = _kc(tmp_path / "a", ctx="c1", server="https://198.18.0.1:1", current="c2")
    b = _kc(tmp_path / "b", ctx="c2", server="https://198.18.0.2:2", current="c1")
    monkeypatch.setenv("KUBECONFIG", f"{a}:{b}")
    assert load_kubeconfig().server == "https://198.18.0.2:2"  # current-context from the first file
    assert load_kubeconfig(context="c1").server == "https://198.18.0.1:1"


def test_home_default(tmp_path, monkeypatch):
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / ".kube").mkdir()
    _kc(tmp_path / ".kube" / "config", current="c1", server="https://198.18.0.9:6443")
    assert load_kubeconfig().server == "https://198.18.0.9:6443"


@pytest.mark.parametrize("kwargs,error", [
    ({"current": None}, "no current-context"),
    ({"current": "nope"}, "not found"),
], ids=["no-current", "missing-context"])
def test_errors(tmp_path, kwargs, error):
    p = _kc(tmp_path / "a", **kwargs)
    with pytest.raises(ConfigError, match=error):
        load_kubeconfig(p)


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError):
        load_kubeconfig(str(tmp_path / "absent"))


def test_relative_file_paths_and_token_file(tmp_path):
    ca = CertificateAuthority.create()
    crt, key = issue_client_cert(ca, "u", ["g"], 1)
    (tmp_path / "ca.crt").write_bytes(ca.cert_pem)
    (tmp_path / "u.crt").write_bytes(crt)
    (tmp_path / "u.key").write_bytes(key)
    (tmp_path / "tok").write_text("from-file\n")
    p = _kc(tmp_path / "kc", current="c1", cluster={"certificate-authority": "ca.crt"},
            user={"client-certificate": "u.crt", "client-key": "u.key", "tokenFile": "tok"})
    cfg = load_kubeconfig(p)
    assert (cfg.ca_data, cfg.cert_data, cfg.key_data) == (ca.cert_pem, crt, key)
    assert cfg.bearer_token() == "from-file"
    assert isinstance(cfg.ssl_context(), ssl.SSLContext)


def test_embedded_data_roundtrip(tmp_path):
    ca = CertificateAuthority.create()
    crt, key = issue_client_cert(ca, "u", [], 1)
    p = str(tmp_path / "kc")
    write_kubeconfig(p, server="https://127.0.0.1:6443", ca_pem=ca.cert_pem, client_cert_pem=crt,
                     client_key_pem=key)
    cfg = load_kubeconfig(p)
    assert (cfg.ca_data, cfg.cert_data, cfg.key_data, cfg.token) == (ca.cert_pem, crt, key, None)
    ctx = cfg.ssl_context()
    assert ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname


def test_insecure_skip_tls_verify(tmp_path):
    p = _kc(tmp_path / "kc", current="c1", cluster={"insecure-skip-tls-verify": True,
                                                    "certificate-authority-data": base64.b64encode(b"x").decode()})
    ctx = load_kubeconfig(p).ssl_context()
    assert ctx.verify_mode == ssl.CERT_NONE and not ctx.check_hostname

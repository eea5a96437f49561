"""Client configuration: loading kubeconfig files (KUBECONFIG, ~/.kube/config) and in-cluster credentials."""

from __future__ import annotations

import base64
import os
import ssl
import tempfile
from dataclasses import dataclass, field
from typing import Any

import yaml

from kybernetes.client.auth import TokenSource

SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"


class ConfigError(Exception):
    """The kubeconfig is missing, malformed or names a context/cluster/user that does not exist."""


@dataclass
class ClientConfig:
    """Everything needed to reach one apiserver as one user."""

    server: str
    ca_data: bytes | None = None
    cert_data: bytes | None = None
    key_data: bytes | None = None
    token: str | None = None
    token_file: str | None = None
    username: str | None = None
    password: str | None = None
    insecure_skip_tls_verify: bool = False
    tls_server_name: str | None = None
    namespace: str = "default"
    user_agent: str = "kybernetes/0.1"
    extra: dict[str, Any] = field(default_factory=dict)
    token_source: TokenSource | None = None  # refreshing bearer tokens (kybernetes.client.auth); wins over the rest
    # client-side load balancing (kybernetes.client.loadbalancer): further apiservers besides `server`, and
    # whether to learn the live ones from the `kubernetes` Endpoints every discovery_interval seconds
    servers: list[str] = field(default_factory=list)
    discover_servers: bool = False
    discovery_interval: float = 30.0

    def all_servers(self) -> list[str]:
        """`server` first, then the other configured apiservers."""
        return list(dict.fromkeys([self.server, *(s.rstrip("/") for s in self.servers)]))

    @property
    def load_balanced(self) -> bool:
        """True when the client must choose among apiservers (one server without discovery: no balancer)."""
        return self.discover_servers or any(s.rstrip("/") != self.server for s in self.servers)

    def bearer_token(self) -> str | None:
        """The token to send; re-read from token_file each time so rotated tokens are picked up."""
        if self.token_source is not None:
            return self.token_source.token()
        if self.token_file:
            try:
                with open(self.token_file) as f:
                    return f.read().strip()
            except OSError:
                pass
        return self.token

    def ssl_context(self) -> ssl.SSLContext | None:
        """An SSL context trusting the cluster CA and presenting the client certificate; None for http://."""
        if not self.server.startswith("https://"):
            return None
        ctx = ssl.create_default_context(purpose=ssl.Purpose.SERVER_AUTH)
        if self.insecure_skip_tls_verify:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        elif self.ca_data:
            ctx.load_verify_locations(cadata=self.ca_data.decode())
        if self.cert_data and self.key_data:
            _load_cert_chain(ctx, self.cert_data, self.key_data)
        return ctx


def _load_cert_chain(ctx: ssl.SSLContext, cert: bytes, key: bytes) -> None:
    # ssl only loads client credentials from files; keep them in a private temp dir just long enough
    with tempfile.TemporaryDirectory(prefix="kyb-tls-") as d:
        cpath, kpath = os.path.join(d, "tls.crt"), os.path.join(d, "tls.key")
        for path, data in ((cpath, cert), (kpath, key)):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(data)
        ctx.load_cert_chain(cpath, kpath)


def kubeconfig_paths(path: str | None = None) -> list[str]:
    """The files to merge: `path` if given, else $KUBECONFIG (os.pathsep-separated), else ~/.kube/config."""
    if path:
        return [path]
    env = os.environ.get("KUBECONFIG", "")
    files = [p for p in env.split(os.pathsep) if p]
    if files:
        return files
    return [os.path.join(os.path.expanduser("~"), ".kube", "config")]


def _merge(files: list[str]) -> dict[str, Any]:
    """kubectl's merge rules: for each named entry and for current-context, the first file to set it wins."""
    merged: dict[str, Any] = {"clusters": {}, "users": {}, "contexts": {}, "current-context": ""}
    found = False
    for path in files:
        try:
            with open(path) as f:
                doc = yaml.safe_load(f) or {}
        except FileNotFoundError:
            continue
        found = True
        base = os.path.dirname(os.path.abspath(path))
        if not merged["current-context"] and doc.get("current-context"):
            merged["current-context"] = doc["current-context"]
        for section, inner in (("clusters", "cluster"), ("users", "user"), ("contexts", "context")):
            for entry in doc.get(section) or []:
                name = entry.get("name")
                if name is not None and name not in merged[section]:
                    merged[section][name] = (entry.get(inner) or {}, base)
    if not found:
        raise ConfigError(f"no kubeconfig found in {files}")
    return merged


def _read(value: str | None, base: str) -> bytes | None:
    if not value:
        return None
    with open(value if os.path.isabs(value) else os.path.join(base, value), "rb") as f:
        return f.read()


@dataclass
class ServerOverrides:
    """A component's `--server` / `--discover-servers` flags (clientcmd's ConfigOverrides for the server):
    they replace the kubeconfig's server in every config this process loads."""

    servers: list[str] = field(default_factory=list)
    discover: bool = False

    def apply(self, config: ClientConfig) -> ClientConfig:
        if self.servers:
            config.server, config.servers = self.servers[0], self.servers[1:]
        config.discover_servers = config.discover_servers or self.discover
        return config


_overrides = ServerOverrides()


def set_server_overrides(servers: list[str], *, discover: bool = False) -> None:
    """Make load_kubeconfig use these apiservers (several: client-side load balancing) and/or discovery."""
    global _overrides
    _overrides = ServerOverrides([s.strip().rstrip("/") for s in servers if s.strip()], discover)


def _data_or_file(entry: dict[str, Any], data_key: str, file_key: str, base: str) -> bytes | None:
    if entry.get(data_key):
        return base64.b64decode(entry[data_key])
    return _read(entry.get(file_key), base)


def load_kubeconfig(path: str | None = None, context: str | None = None) -> ClientConfig:
    """Resolve a context (the current one by default) of the merged kubeconfig into a ClientConfig."""
    merged = _merge(kubeconfig_paths(path))
    ctx_name = context or merged["current-context"]
    if not ctx_name:
        raise ConfigError("no current-context set and no context given")
    if ctx_name not in merged["contexts"]:
        raise ConfigError(f"context {ctx_name!r} not found")
    ctx, _ = merged["contexts"][ctx_name]
    cluster_name, user_name = ctx.get("cluster"), ctx.get("user")
    if cluster_name not in merged["clusters"]:
        raise ConfigError(f"cluster {cluster_name!r} of context {ctx_name!r} not found")
    cluster, cbase = merged["clusters"][cluster_name]
    user, ubase = merged["users"].get(user_name, ({}, ""))
    if not cluster.get("server"):
        raise ConfigError(f"cluster {cluster_name!r} has no server")
    token_file = user.get("tokenFile")
    if token_file and not os.path.isabs(token_file):
        token_file = os.path.join(ubase, token_file)
    return _overrides.apply(ClientConfig(
        server=cluster["server"].rstrip("/"),
        ca_data=_data_or_file(cluster, "certificate-authority-data", "certificate-authority", cbase),
        cert_data=_data_or_file(user, "client-certificate-data", "client-certificate", ubase),
        key_data=_data_or_file(user, "client-key-data", "client-key", ubase),
        token=user.get("token"),
        token_file=token_file,
        username=user.get("username"),
        password=user.get("password"),
        insecure_skip_tls_verify=bool(cluster.get("insecure-skip-tls-verify", False)),
        tls_server_name=cluster.get("tls-server-name"),
        namespace=ctx.get("namespace") or "default",
    ))


def in_cluster_config(sa_dir: str = SERVICE_ACCOUNT_DIR) -> ClientConfig:
    """Credentials of a pod: KUBERNETES_SERVICE_HOST/PORT and the mounted service-account token and CA."""
    host, port = os.environ.get("KUBERNETES_SERVICE_HOST"), os.environ.get("KUBERNETES_SERVICE_PORT")
    if not host or not port:
        raise ConfigError("not running in a cluster: KUBERNETES_SERVICE_HOST/PORT unset")
    if ":" in host:
        host = f"[{host}]"
    namespace = "default"
    try:
        with open(os.path.join(sa_dir, "namespace")) as f:
            namespace = f.read().strip() or "default"
    except OSError:
        pass
    return ClientConfig(server=f"https://{host}:{port}", ca_data=_read(os.path.join(sa_dir, "ca.crt"), ""),
                        token_file=os.path.join(sa_dir, "token"), namespace=namespace)

"""`kybernetes server --server URL --token T`: another control-plane node joining over the shared etcd datastore,
as k3s servers join. The first server stores the bootstrap data (CA, service-account keys, encryption keys) in
the datastore sealed with its token and writes the token to `<data-dir>/token`; a joining server reads and
unseals it, checks the CA against the token's hash and the first server's certificate, then starts as usual."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import ssl
import sys
from dataclasses import dataclass

import aiohttp

from kybernetes.clusterbootstrap import serverdata
from kybernetes.clusterbootstrap.serverdata import BootstrapDataError, ServerToken
from kybernetes.storage.interface import Store

log = logging.getLogger(__name__)

SHARED_SCHEMES = ("etcd", "etcds")
NEVER_REPLACED = ("pki/ca.crt", "pki/ca.key", "pki/service-account.key", "pki/service-account.pub")


def _bool(value: str) -> bool:
    if value.lower() in ("true", "1", "yes"):
        return True
    if value.lower() in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"invalid boolean value {value!r}")


def add_flags(p: argparse.ArgumentParser) -> None:
    """The `server` flags of joining and of running beside other servers."""
    p.add_argument("--server", dest="join_server", default="", metavar="URL",
                   help="join the cluster of this server (https://HOST:6443) as another control-plane node; needs "
                        "--token and the same etcd --datastore-endpoint")
    p.add_argument("--token", dest="server_token", default=os.environ.get("KYBERNETES_TOKEN", ""),
                   help="the server token (the first server's <data-dir>/token, K10<CA hash>::server:<secret>; "
                        "env KYBERNETES_TOKEN). The first server takes it as its token (default: a random one)")
    p.add_argument("--join-timeout", type=float, default=60.0,
                   help="seconds a joining server waits for the bootstrap data and the first server")
    p.add_argument("--leader-elect", type=_bool, nargs="?", const=True, default=None,
                   help="the scheduler and controller-manager act only while holding their Lease (default: true "
                        "with an etcd datastore, where other servers may run; false with SQLite)")


def is_shared(endpoint: str) -> bool:
    return endpoint.partition("://")[0] in SHARED_SCHEMES


def leader_elect_args(args: argparse.Namespace) -> list[str]:
    """The scheduler's and controller-manager's `--leader-elect`, when this server's setting wants it."""
    on = args.leader_elect if getattr(args, "leader_elect", None) is not None else is_shared(args.datastore_endpoint)
    return ["--leader-elect"] if on else []


@dataclass
class ServerBootstrap:
    """The datastore connection and token of one server's start; publish() once the apiserver runs."""

    store: Store
    token: ServerToken
    data_dir: str
    joining: str  # the URL joined, '' for the first server

    async def publish(self, *, encryption_config: str, advertise: str, datastore_endpoint: str) -> None:
        """Store (first server) the bootstrap data, write <data-dir>/token and print how to join."""
        try:
            files = serverdata.local_files(self.data_dir, encryption_config)
            mtimes = serverdata.local_mtimes(self.data_dir, encryption_config)
            if not self.joining and await serverdata.save(self.store, self.token.secret, files, mtimes):
                log.info("server bootstrap data saved to the datastore at %s", serverdata.bootstrap_key(
                    self.token.secret))
        finally:
            await self.store.close()
        self.token = self.token.with_ca(files["pki/ca.crt"])
        path = serverdata.write_token(self.data_dir, self.token)
        print(f"\nThe server token is in {path}. Join another server (it needs this etcd datastore too) with:\n\n"
              f"    kybernetes server --server {advertise} --token \"$(cat {path})\" \\\n"
              f"        --datastore-endpoint '{datastore_endpoint}'\n\n"
              "Join a worker node: `kybernetes token create`, then the agent command it prints.",
              file=sys.stderr, flush=True)


def _token(args: argparse.Namespace, data_dir: str) -> ServerToken | None:
    if args.server_token:
        try:
            return serverdata.parse_server_token(args.server_token)
        except ValueError as e:
            raise SystemExit(f"error: --token: {e}") from e
    return serverdata.read_token(data_dir)


async def prepare(args: argparse.Namespace, data_dir: str) -> ServerBootstrap | None:
    """Before the apiserver starts: fetch (joining) or check (first server) the shared bootstrap data.
    None with SQLite storage, where no other server can join."""
    if not is_shared(args.datastore_endpoint):
        if args.join_server:
            raise SystemExit("error: joining a server (--server) needs a shared datastore: --datastore-endpoint "
                             "etcd://HOST:2379[,HOST:2379...] as the first server uses (SQLite is one machine's)")
        if args.server_token:
            log.warning("--token is not used with SQLite storage: no other server can join this one")
        return None
    token = _token(args, data_dir)
    if args.join_server and token is None:
        raise SystemExit("error: --server needs --token: the first server's <data-dir>/token")
    token = token or ServerToken(serverdata.generate_secret())
    from kybernetes.storage import open_store

    store = await open_store(args.datastore_endpoint)
    try:
        if args.join_server:
            await _join(store, token, args, data_dir)
        else:
            await _check_first(store, token, data_dir, _encryption_config(args))
    except BootstrapDataError as e:
        await store.close()
        raise SystemExit(f"error: {e}") from e
    except BaseException:
        await store.close()
        raise
    return ServerBootstrap(store, token, data_dir, args.join_server.rstrip("/"))


async def _join(store: Store, token: ServerToken, args: argparse.Namespace, data_dir: str) -> None:
    files, mtimes = await _wait_for_data(store, token, args.join_timeout)
    ca_pem = files.get("pki/ca.crt")
    if ca_pem is None or "pki/ca.key" not in files:
        raise BootstrapDataError("the bootstrap data in the datastore has no cluster CA")
    token.check_ca(ca_pem)
    if token.ca_hash is None:
        log.warning("the token has no CA hash (K10<hash>::server:<secret>): the first server is trusted on the "
                    "token's secret alone")
    await verify_server(args.join_server.rstrip("/"), ca_pem, args.join_timeout)
    for rel in serverdata.write_files(data_dir, files, mtimes=mtimes):
        log.info("joining %s: wrote %s from the datastore", args.join_server, rel)
    own = _encryption_config(args)
    if own and serverdata.local_files(data_dir, own).get(serverdata.ENCRYPTION_CONFIG) != \
            files.get(serverdata.ENCRYPTION_CONFIG):
        log.warning("--encryption-provider-config %s differs from the first server's: secrets it wrote may not "
                    "read here", own)


def _encryption_config(args: argparse.Namespace) -> str:
    return os.path.abspath(args.encryption_provider_config) if args.encryption_provider_config else ""


async def _wait_for_data(store: Store, token: ServerToken, timeout: float) -> tuple[serverdata.Files,
                                                                                   serverdata.Mtimes]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        _, files, mtimes = await serverdata.load(store, token.secret)
        if files is not None:
            return files, mtimes
        if loop.time() > deadline:
            raise BootstrapDataError("no bootstrap data for this token in the datastore: is the first server "
                                     "running on this --datastore-endpoint, and is the token its <data-dir>/token?")
        log.info("waiting for the first server's bootstrap data in the datastore")
        await asyncio.sleep(1.0)


async def verify_server(url: str, ca_pem: bytes, timeout: float) -> None:
    """The server joined must present a certificate from the cluster CA (any HTTP answer will do)."""
    ctx = ssl.create_default_context(cadata=ca_pem.decode())
    ctx.check_hostname = False  # the CA is pinned; the URL may name the server by an address it does not list
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    async with aiohttp.ClientSession() as session:
        while True:
            try:
                async with session.get(f"{url}/livez", ssl=ctx, timeout=aiohttp.ClientTimeout(total=5)):
                    return
            except aiohttp.ClientConnectorCertificateError as e:
                raise BootstrapDataError(f"{url} does not present a certificate from the cluster CA in the "
                                         f"datastore: {e.certificate_error}") from e
            except (aiohttp.ClientError, OSError, asyncio.TimeoutError) as e:
                if loop.time() > deadline:
                    raise BootstrapDataError(f"cannot reach the server to join at {url}: {e}") from e
                log.info("waiting for %s: %s", url, e)
                await asyncio.sleep(1.0)


async def _check_first(store: Store, token: ServerToken, data_dir: str, encryption_config: str = "") -> None:
    """A server started without --server: take what the datastore holds for its token and is missing here (a
    wiped data dir) or newer there (keys rotated on another server); refuse another cluster's data."""
    _, files, mtimes = await serverdata.load(store, token.secret)
    local = serverdata.local_files(data_dir, encryption_config)
    if files is None:
        others = await serverdata.other_clusters(store, token.secret)
        if others and "pki/ca.crt" not in local:
            raise BootstrapDataError(
                "the datastore already holds the bootstrap data of a cluster under another token: join it with "
                "--server URL --token <its server's <data-dir>/token>, or use a datastore of its own")
        if "pki/ca.crt" in local:
            token.check_ca(local["pki/ca.crt"])
        return
    token.check_ca(files["pki/ca.crt"])
    for rel in NEVER_REPLACED:
        if rel in local and rel in files and local[rel] != files[rel]:
            raise BootstrapDataError(f"{os.path.join(data_dir, rel)} differs from the one this token's cluster "
                                     "keeps in the datastore: this data dir belongs to another cluster")
    for rel in serverdata.write_files(data_dir, files, only_missing=True, mtimes=mtimes):
        log.info("wrote %s from the datastore's bootstrap data", rel)
    local_mtimes = serverdata.local_mtimes(data_dir, encryption_config)
    newer = {rel for rel in files if rel in local and local[rel] != files[rel] and rel not in NEVER_REPLACED
             and mtimes.get(rel, 0.0) > local_mtimes.get(rel, 0.0)}
    if encryption_config and serverdata.ENCRYPTION_CONFIG in newer:
        newer.discard(serverdata.ENCRYPTION_CONFIG)
        log.warning("the datastore holds a newer encryption configuration than --encryption-provider-config %s; "
                    "it is left as it is", encryption_config)
    for rel in serverdata.write_files(data_dir, files, mtimes=mtimes, only=newer):
        log.info("%s is newer in the datastore's bootstrap data: updated", rel)

"""`kybernetes token create|list|delete|generate`: bootstrap tokens for joining nodes, through the apiserver with
the admin kubeconfig (kubeadm's `token` commands). `create` also sets up what a join needs: the cluster-info
ConfigMap and the join RBAC, and prints the token and the CA's `sha256:` hash."""

from __future__ import annotations

import argparse
import asyncio
import datetime
import os
import re
import sys
from typing import Any

from kybernetes.client import ApiError, RESTClient, load_kubeconfig, resource_path
from kybernetes.clusterbootstrap.token import (DEFAULT_GROUP, DEFAULT_TTL, DEFAULT_USAGES, BootstrapToken,
                                               generate_token, parse_token, rfc3339, secret_name, token_from_secret,
                                               token_secret)

SECRET_NAMESPACE = "kube-system"
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(h|ms|m|s)")


def parse_duration(value: str) -> datetime.timedelta:
    """A Go duration ('24h', '1h30m', '90s', '0'); ValueError otherwise."""
    if value.strip() == "0":
        return datetime.timedelta(0)
    pos, total = 0, 0.0
    for m in _DURATION.finditer(value):
        if m.start() != pos:
            break
        total += float(m.group(1)) * {"h": 3600, "m": 60, "s": 1, "ms": 0.001}[m.group(2)]
        pos = m.end()
    if pos != len(value) or not value:
        raise ValueError(f"invalid duration {value!r} (examples: 24h, 1h30m, 0 for no expiry)")
    return datetime.timedelta(seconds=total)


def _kubeconfig(args: argparse.Namespace) -> str:
    return args.kubeconfig or os.path.join(os.path.abspath(args.data_dir), "admin.kubeconfig")


async def _advertised_server(client: RESTClient) -> str:
    """https://<address>:<port> of the first apiserver the `kubernetes` Endpoints list, '' if none."""
    try:
        ep = await client.get(resource_path("", "v1", "endpoints", "default", "kubernetes"))
    except ApiError:
        return ""
    for subset in ep.get("subsets") or []:
        addrs, ports = subset.get("addresses") or [], subset.get("ports") or []
        if addrs and ports:
            ip = addrs[0]["ip"]
            return f"https://{'[' + ip + ']' if ':' in ip else ip}:{ports[0]['port']}"
    return ""


async def create_token(client: RESTClient, bt: BootstrapToken, *, server: str, ca_pem: bytes) -> None:
    """Store the token Secret, and (idempotently) cluster-info and the join RBAC."""
    from kybernetes.clusterbootstrap.clusterinfo import ensure_cluster_info
    from kybernetes.clusterbootstrap.rbac import ensure_join_policy

    await ensure_join_policy(client, bt.groups)
    await ensure_cluster_info(client, server, ca_pem)
    await client.create(resource_path("", "v1", "secrets", SECRET_NAMESPACE), token_secret(bt))


async def _create(args: argparse.Namespace) -> int:
    from kybernetes.pki.ca import ca_cert_hash

    config = load_kubeconfig(_kubeconfig(args))
    if not config.ca_data:
        print("error: the kubeconfig has no certificate-authority-data", file=sys.stderr)
        return 1
    token = args.token or generate_token()
    if parse_token(token) is None:
        print(f"error: the token {token!r} does not match [a-z0-9]{{6}}.[a-z0-9]{{16}}", file=sys.stderr)
        return 1
    ttl = parse_duration(args.ttl)
    expires = datetime.datetime.now(datetime.timezone.utc) + ttl if ttl.total_seconds() > 0 else None
    usages = tuple(u for u in args.usages.split(",") if u)
    groups = tuple(g for g in args.groups.split(",") if g)
    bt = BootstrapToken(token=token, description=args.description, expires=expires, usages=usages, groups=groups)
    async with RESTClient(config) as client:
        server = args.server or await _advertised_server(client) or config.server
        await create_token(client, bt, server=server, ca_pem=config.ca_data)
    ca_hash = ca_cert_hash(config.ca_data)
    print(token)
    print(ca_hash)
    print(f"\nJoin a node with:\n\n    kybernetes agent --server {server} --token {token} --ca-cert-hash {ca_hash}\n",
          file=sys.stderr)
    return 0


def _ttl_columns(expires: datetime.datetime | None, now: datetime.datetime) -> tuple[str, str]:
    if expires is None:
        return "<forever>", "<never>"
    left = expires - now
    if left.total_seconds() <= 0:
        return "<invalid>", rfc3339(expires)
    hours, rest = divmod(int(left.total_seconds()), 3600)
    return (f"{hours}h" if hours else f"{rest // 60}m"), rfc3339(expires)


def token_table(secrets: list[dict[str, Any]], now: datetime.datetime) -> list[list[str]]:
    """kubeadm's `token list` rows: TOKEN TTL EXPIRES USAGES DESCRIPTION EXTRA GROUPS."""
    rows = [["TOKEN", "TTL", "EXPIRES", "USAGES", "DESCRIPTION", "EXTRA GROUPS"]]
    for s in secrets:
        bt = token_from_secret(s)
        if bt is None:
            continue
        ttl, expires = _ttl_columns(bt.expires, now)
        rows.append([bt.token, ttl, expires, ",".join(bt.usages) or "<none>", bt.description or "<none>",
                     ",".join(bt.groups) or "<none>"])
    return rows


async def _list(args: argparse.Namespace) -> int:
    async with RESTClient(load_kubeconfig(_kubeconfig(args))) as client:
        listed = await client.list(resource_path("", "v1", "secrets", SECRET_NAMESPACE),
                                   {"fieldSelector": "type=bootstrap.kubernetes.io/token"})
    rows = token_table(listed.get("items") or [], datetime.datetime.now(datetime.timezone.utc))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("   ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
    return 0


async def _delete(args: argparse.Namespace) -> int:
    code = 0
    async with RESTClient(load_kubeconfig(_kubeconfig(args))) as client:
        for value in args.tokens:
            token_id = value.split(".", 1)[0]
            if not re.fullmatch(r"[a-z0-9]{6}", token_id):
                print(f"error: {value!r} is neither a token id nor a token", file=sys.stderr)
                code = 1
                continue
            try:
                await client.delete(resource_path("", "v1", "secrets", SECRET_NAMESPACE, secret_name(token_id)))
            except ApiError as e:
                print(f"error: bootstrap token {token_id!r}: {e.message}", file=sys.stderr)
                code = 1
                continue
            print(f"bootstrap token {token_id!r} deleted")
    return code


def cmd_token(args: argparse.Namespace) -> int:
    action = getattr(args, "token_command", None)
    if action == "generate":
        print(generate_token())
        return 0
    run = {"create": _create, "list": _list, "delete": _delete}.get(action or "")
    if run is None:
        args.token_parser.print_help()
        return 1
    try:
        return asyncio.run(run(args))
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except ApiError as e:
        print(f"error: {e.message}", file=sys.stderr)
        return 1


def add_parser(sub: Any, default_data_dir: str) -> None:
    p = sub.add_parser("token", help="manage bootstrap tokens for joining nodes",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    tsub = p.add_subparsers(dest="token_command", metavar="ACTION")

    def common(q: argparse.ArgumentParser) -> None:
        q.add_argument("--data-dir", default=default_data_dir)
        q.add_argument("--kubeconfig", default="", help="admin kubeconfig (default: <data-dir>/admin.kubeconfig)")

    c = tsub.add_parser("create", help="create a bootstrap token and print it and the CA's hash")
    c.add_argument("token", nargs="?", default="", help="the token to create (default: a random one)")
    common(c)
    c.add_argument("--ttl", default=f"{int(DEFAULT_TTL.total_seconds() // 3600)}h",
                   help="how long the token is valid ('0': forever; default: %(default)s)")
    c.add_argument("--description", default="", help="a human-friendly description of the token's use")
    c.add_argument("--usages", default=",".join(DEFAULT_USAGES),
                   help="what the token may be used for (default: %(default)s)")
    c.add_argument("--groups", default=DEFAULT_GROUP,
                   help="extra groups the token authenticates as (default: %(default)s)")
    c.add_argument("--server", default="", help="apiserver URL published in cluster-info (default: the address "
                                               "the `kubernetes` Service's endpoints advertise)")
    lst = tsub.add_parser("list", help="list bootstrap tokens")
    common(lst)
    d = tsub.add_parser("delete", help="delete bootstrap tokens (by id or whole token)")
    d.add_argument("tokens", nargs="+")
    common(d)
    tsub.add_parser("generate", help="print a random token without creating it")
    p.set_defaults(func=cmd_token, token_parser=p)

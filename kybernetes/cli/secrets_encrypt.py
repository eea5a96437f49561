"""`kybernetes secrets-encrypt status|rotate`: key rotation of the encryption at rest, through the running apiserver.

Rotation (one command, k3s's prepare + rotate + reencrypt in a row):
1. a new aescbc key is put first in the data dir's EncryptionConfiguration, the old keys kept after it;
   the apiserver reloads the file within RELOAD_CHECK_INTERVAL (1 s; the command waits 1.5 s), so the writes
   after that use the new key;
2. every Secret is read and written back through the apiserver with the admin kubeconfig (an annotation
   records the key, so the write is not skipped as a no-op), which stores it under the new key;
3. with --drop-old-keys, and only if every Secret was rewritten, the old keys leave the configuration.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from typing import Any

import yaml

from kybernetes.apiserver import encryption

REWRITE_ANNOTATION = "encryption.kybernetes.io/key"


def config_path(data_dir: str) -> str:
    return os.path.join(data_dir, encryption.DEFAULT_CONFIG_NAME)


def _secrets_entry(doc: dict[str, Any]) -> dict[str, Any]:
    for entry in doc.get("resources") or []:
        if "secrets" in (entry.get("resources") or []):
            return entry
    raise encryption.EncryptionConfigError("no resources entry of the configuration covers secrets")


def prepend_key(doc: dict[str, Any], name: str, secret: str) -> dict[str, Any]:
    """The configuration with a new aescbc key first for secrets; keys and providers after it kept."""
    entry = _secrets_entry(doc)
    providers = entry.setdefault("providers", [])
    if providers and "aescbc" in providers[0]:
        providers[0]["aescbc"].setdefault("keys", []).insert(0, {"name": name, "secret": secret})
    else:
        providers.insert(0, {"aescbc": {"keys": [{"name": name, "secret": secret}]}})
    return doc


def drop_old_keys(doc: dict[str, Any]) -> dict[str, Any]:
    """Keep only the first key of the first provider for secrets (and identity, which reads plaintext)."""
    entry = _secrets_entry(doc)
    first, *rest = entry["providers"]
    kind = next(iter(first))
    if kind != "identity":
        first[kind]["keys"] = first[kind]["keys"][:1]
    entry["providers"] = [first] + [p for p in rest if "identity" in p]
    return doc


def status(data_dir: str) -> str:
    path = config_path(data_dir)
    if not os.path.exists(path):
        return f"Encryption Status: Disabled (no {path})"
    with open(path, encoding="utf-8") as f:
        doc = yaml.safe_load(f)
    entry = _secrets_entry(doc)
    lines = ["Encryption Status: Enabled", f"Config: {path}", "Providers for secrets (first encrypts):"]
    for p in entry["providers"]:
        kind, body = next(iter(p.items()))
        names = [k["name"] for k in (body or {}).get("keys") or []]
        lines.append(f"  {kind}" + (f": {', '.join(names)}" if names else ""))
    counts = encryption.stored_prefixes(data_dir)
    lines.append("Secrets stored per key:")
    lines += [f"  {prefix} {n}" for prefix, n in sorted(counts.items())] or ["  (none)"]
    return "\n".join(lines)


async def rewrite_secrets(kubeconfig: str, key_name: str) -> tuple[int, list[str]]:
    """GET and PUT every Secret through the apiserver; the count rewritten and the failures."""
    from kybernetes.client.config import load_kubeconfig
    from kybernetes.client.rest import ApiError, RESTClient

    done, failed = 0, []
    async with RESTClient(load_kubeconfig(kubeconfig)) as client:
        items = (await client.list("/api/v1/secrets"))["items"]
        for s in items:
            md = s["metadata"]
            path = f"/api/v1/namespaces/{md['namespace']}/secrets/{md['name']}"
            for _ in range(5):
                try:
                    cur = await client.get(path)
                    cur.setdefault("apiVersion", "v1")
                    cur.setdefault("kind", "Secret")
                    cur["metadata"].setdefault("annotations", {})[REWRITE_ANNOTATION] = key_name
                    await client.update(path, cur)
                    done += 1
                    break
                except ApiError as e:
                    if getattr(e, "code", 0) == 404:
                        break
                    if getattr(e, "code", 0) != 409:
                        failed.append(f"{md['namespace']}/{md['name']}: {e}")
                        break
            else:
                failed.append(f"{md['namespace']}/{md['name']}: conflicts")
    return done, failed


def rotate(data_dir: str, kubeconfig: str, *, drop_old: bool, settle: float = 0.0) -> int:
    path = config_path(data_dir)
    if not os.path.exists(path):
        print(f"error: encryption is not configured ({path} does not exist)", file=sys.stderr)
        return 1
    with open(path, encoding="utf-8") as f:
        doc = yaml.safe_load(f)
    key_name = f"aescbckey-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}"
    encryption.parse_config(prepend_key(doc, key_name, encryption.new_key_secret()))  # validate before writing
    encryption.write_config(path, doc)
    print(f"added key {key_name} first in {path}")
    time.sleep(max(settle, encryption.RELOAD_CHECK_INTERVAL + 0.5))  # the apiserver has loaded the new key
    done, failed = asyncio.run(rewrite_secrets(kubeconfig, key_name))
    print(f"rewrote {done} secrets under {key_name}")
    for f in failed:
        print(f"error: {f}", file=sys.stderr)
    if failed:
        print("old keys kept: run rotate again once the errors are fixed", file=sys.stderr)
        return 1
    if drop_old:
        encryption.write_config(path, drop_old_keys(doc))
        print("old keys removed from the configuration")
    return 0


def cmd_secrets_encrypt(args: argparse.Namespace) -> int:
    data_dir = os.path.abspath(args.data_dir)
    if args.action == "status":
        print(status(data_dir))
        return 0
    kubeconfig = args.kubeconfig or os.path.join(data_dir, "admin.kubeconfig")
    return rotate(data_dir, kubeconfig, drop_old=args.drop_old_keys)


def add_parser(sub: Any, default_data_dir: str) -> None:
    p = sub.add_parser("secrets-encrypt", help="status and key rotation of secrets encryption at rest",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("action", choices=["status", "rotate"])
    p.add_argument("--data-dir", default=default_data_dir)
    p.add_argument("--kubeconfig", default="", help="admin kubeconfig (default: <data-dir>/admin.kubeconfig)")
    p.add_argument("--drop-old-keys", action="store_true",
                   help="after every Secret is rewritten, remove the old keys from the configuration")
    p.set_defaults(func=cmd_secrets_encrypt)


def key_file_for(snapshot_file: str) -> str:
    return f"{snapshot_file}.{encryption.DEFAULT_CONFIG_NAME}"


def save_keys_beside(data_dir: str, snapshot_file: str) -> str:
    """Copy the data dir's encryption configuration beside a snapshot (0600); '' when there is none.

    The snapshot holds only ciphertext; the keys travel in this separate file, to be stored apart from it.
    """
    src = config_path(data_dir)
    if not os.path.exists(src):
        return ""
    with open(src, encoding="utf-8") as f:
        doc = yaml.safe_load(f)
    dst = key_file_for(snapshot_file)
    encryption.write_config(dst, doc)
    return dst


def restore_keys_beside(snapshot_file: str, data_dir: str) -> str:
    """Put the key file saved beside a snapshot into a restored data dir that has none; '' when nothing done."""
    src, dst = key_file_for(snapshot_file), config_path(data_dir)
    if not os.path.exists(src) or os.path.exists(dst):
        return ""
    with open(src, encoding="utf-8") as f:
        doc = yaml.safe_load(f)
    encryption.write_config(dst, doc)
    return dst

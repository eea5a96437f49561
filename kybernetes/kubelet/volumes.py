"""Pod volumes on the node: emptyDir, hostPath, configMap, secret, downwardAPI and projected, set up under
<root_dir>/pods/<uid>/volumes/<plugin>/<name> and handed to the runtime as CRI Mounts.

configMap, secret, downwardAPI and projected volumes are written with the AtomicWriter and rewritten on every
`setup` call, so that updates of their sources reach running containers within a sync period.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import shutil
import stat
import subprocess
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from kybernetes.api.validation.quantity import parse_quantity
from kybernetes.kubelet import atomic_writer
from kybernetes.kubelet.atomic_writer import FileProjection
from kybernetes.kubelet.envvars import EnvConfigError, ObjectGetter, field_ref_value, resource_field_value
from kybernetes.kubelet.runtime.interface import Mount

log = logging.getLogger(__name__)
Obj = dict[str, Any]
# (pod, service account name, audience list, expirationSeconds) -> token, or None when the apiserver has no
# TokenRequest API.
TokenRequester = Callable[[Obj, str, list[str], int], Awaitable[str | None]]

PLUGIN_DIRS = {"emptyDir": "kubernetes.io~empty-dir", "configMap": "kubernetes.io~configmap",
               "secret": "kubernetes.io~secret", "downwardAPI": "kubernetes.io~downward-api",
               "projected": "kubernetes.io~projected"}
READ_ONLY_PLUGINS = ("configMap", "secret", "downwardAPI", "projected")


MAX_TOKEN_REFRESH_SECONDS = 24 * 3600


def token_refresh_at(token: str, expiration_seconds: int, now: float) -> float:
    """When the kubelet asks for a new projected token, as upstream's token manager: after 80% of its lifetime
    or 24 hours, whichever is first (lifetime from the token's own iat/exp when it is a JWT)."""
    issued, ttl = now, float(expiration_seconds)
    claims = _jwt_claims(token)
    if isinstance(claims.get("iat"), (int, float)) and isinstance(claims.get("exp"), (int, float)):
        issued, ttl = float(claims["iat"]), float(claims["exp"] - claims["iat"])
    return issued + min(0.8 * ttl, MAX_TOKEN_REFRESH_SECONDS)


def _jwt_claims(token: str) -> dict[str, Any]:
    """The payload of a JWT, unverified (the kubelet only reads its times); {} when it is not one. By hand: PyJWT's
    decode, even without verification, cost ~0.4 ms per pod on the kubelet's loop."""
    parts = token.split(".")
    if len(parts) != 3:
        return {}
    try:
        claims = orjson.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, orjson.JSONDecodeError):
        return {}
    return claims if isinstance(claims, dict) else {}


class VolumeError(Exception):
    """A volume cannot be set up (event FailedMount; the pod's containers wait in ContainerCreating)."""


def volume_kind(vol: Obj) -> str:
    return next((k for k in vol if k != "name"), "")


def check_host_path(path: str, htype: str) -> None:
    """Upstream's hostPath type checks; the *OrCreate types create what is missing."""
    if htype == "DirectoryOrCreate" and not os.path.exists(path):
        os.makedirs(path, mode=0o755, exist_ok=True)
    elif htype == "FileOrCreate" and not os.path.exists(path):
        os.makedirs(os.path.dirname(path) or "/", exist_ok=True)
        with open(path, "a"):
            pass
        os.chmod(path, 0o644)
    checks = {"Directory": (stat.S_ISDIR, "a directory"), "DirectoryOrCreate": (stat.S_ISDIR, "a directory"),
              "File": (stat.S_ISREG, "a file"), "FileOrCreate": (stat.S_ISREG, "a file"),
              "Socket": (stat.S_ISSOCK, "a socket file"), "CharDevice": (stat.S_ISCHR, "a character device"),
              "BlockDevice": (stat.S_ISBLK, "a block device")}
    if htype not in checks:
        return
    test, what = checks[htype]
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise VolumeError(f"hostPath type check failed: {path} is not {what}") from None
    if not test(mode):
        raise VolumeError(f"hostPath type check failed: {path} is not {what}")


def _decode_map(obj: Obj, kind: str) -> dict[str, bytes]:
    data = {k: base64.b64decode(v) for k, v in (obj.get("binaryData") or {}).items()}
    if kind == "secrets":
        data.update({k: base64.b64decode(v) for k, v in (obj.get("data") or {}).items()})
    else:
        data.update({k: v.encode() for k, v in (obj.get("data") or {}).items()})
    return data


class VolumeManager:
    """Sets up and tears down the volumes of the pods of one node."""

    def __init__(self, root_dir: str, *, get: ObjectGetter, cached_get: ObjectGetter | None = None,
                 request_token: TokenRequester | None = None,
                 namespaces: bool = True, allocatable: Callable[[], dict[str, str]] = dict) -> None:
        self.root_dir = root_dir
        self.get = get  # a fresh read: a pod's first setup sees the objects as they are now
        self.cached_get = cached_get or get  # a read at most a little old: the refreshes of running pods
        self.request_token = request_token
        self.can_mount = namespaces and os.geteuid() == 0
        self.allocatable = allocatable
        self.warnings: list[tuple[Obj, str]] = []  # (pod, message) not fatal: reported as events by the caller
        self._tokens: dict[tuple[str, str, str, int], tuple[str, float]] = {}
        self._projected: dict[str, dict[str, FileProjection]] = {}  # volume path -> what it shows (written by us)

    def pod_dir(self, uid: str) -> str:
        return os.path.join(self.root_dir, "pods", uid)

    def volume_path(self, uid: str, vol: Obj) -> str:
        kind = volume_kind(vol)
        if kind == "hostPath":
            return vol["hostPath"].get("path", "")
        return os.path.join(self.pod_dir(uid), "volumes", PLUGIN_DIRS.get(kind, kind), vol["name"])

    async def setup(self, pod: Obj, *, refresh: bool = False) -> dict[str, str]:
        """Make every volume of `pod` present and current; returns name -> host path. Raises VolumeError.

        refresh: the pod's volumes exist already; configmaps and secrets may come from the shared recent reads
        (a hundred pods projecting kube-root-ca.crt read it once, not a hundred times, each refresh)."""
        uid = pod["metadata"]["uid"]
        get = self.cached_get if refresh else self.get
        paths = {}
        for vol in (pod.get("spec") or {}).get("volumes") or []:
            kind = volume_kind(vol)
            path = self.volume_path(uid, vol)
            try:
                if kind == "emptyDir":
                    self._empty_dir(path, vol["emptyDir"] or {})
                elif kind == "hostPath":
                    check_host_path(path, vol["hostPath"].get("type", ""))
                elif kind in READ_ONLY_PLUGINS:
                    payload = await self._payload(pod, kind, vol[kind] or {}, get)
                    if payload is None:
                        os.makedirs(path, exist_ok=True)
                    elif self._projected.get(path) != payload:  # compared in memory; files written off the loop
                        await asyncio.to_thread(atomic_writer.write, path, payload)
                        self._projected[path] = payload
                else:
                    raise VolumeError(f"volume type {kind} is not supported by this kubelet")
            except (EnvConfigError, OSError, ValueError) as e:
                raise VolumeError(f'MountVolume.SetUp failed for volume "{vol["name"]}" : {e}') from e
            except VolumeError as e:
                raise VolumeError(f'MountVolume.SetUp failed for volume "{vol["name"]}" : {e}') from e
            paths[vol["name"]] = path
        return paths

    def _empty_dir(self, path: str, spec: Obj) -> None:
        if os.path.isdir(path):
            return
        os.makedirs(path, mode=0o777, exist_ok=True)
        os.chmod(path, 0o777)
        if spec.get("medium") == "Memory" and self.can_mount:
            opts = "mode=0777"
            if spec.get("sizeLimit"):
                opts += f",size={int(parse_quantity(spec['sizeLimit']))}"
            res = subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", path], capture_output=True)
            if res.returncode != 0:
                log.warning("tmpfs for %s: %s; using a plain directory", path, res.stderr.decode().strip())

    async def _payload(self, pod: Obj, kind: str, spec: Obj, get: ObjectGetter) -> dict[str, FileProjection] | None:
        default_mode = spec.get("defaultMode", 0o644)
        if kind == "projected":
            out: dict[str, FileProjection] = {}
            for source in spec.get("sources") or []:
                skind = volume_kind(source)
                if skind == "serviceAccountToken":
                    files = await self._token(pod, source[skind], default_mode)
                else:
                    files = await self._payload(pod, skind, {**(source[skind] or {}), "defaultMode": default_mode},
                                                get)
                out.update(files or {})
            return out
        if kind == "downwardAPI":
            return self._downward(pod, spec.get("items") or [], default_mode)
        api_kind, name = ("configmaps", spec.get("name", "")) if kind == "configMap" else \
            ("secrets", spec.get("secretName") or spec.get("name", ""))
        obj = await get(api_kind, pod["metadata"].get("namespace", "default"), name)
        label = "configmap" if api_kind == "configmaps" else "secret"
        if obj is None:
            if spec.get("optional"):
                return {}
            raise VolumeError(f'{label} "{name}" not found')
        data = _decode_map(obj, api_kind)
        items = spec.get("items")
        if not items:
            return {k: FileProjection(v, default_mode) for k, v in data.items()}
        out = {}
        for item in items:
            key = item.get("key", "")
            if key not in data:
                if spec.get("optional"):
                    continue
                raise VolumeError(f"{label} references non-existent config key: {key}")
            out[item.get("path") or key] = FileProjection(data[key], item.get("mode", default_mode))
        return out

    def _downward(self, pod: Obj, items: list[Obj], default_mode: int) -> dict[str, FileProjection]:
        out = {}
        for item in items:
            if item.get("fieldRef"):
                value = field_ref_value(pod, item["fieldRef"].get("fieldPath", ""))
            elif item.get("resourceFieldRef"):
                ref = item["resourceFieldRef"]
                value = resource_field_value(pod, ref, ref.get("containerName", ""), self.allocatable())
            else:
                continue
            out[item["path"]] = FileProjection(value.encode(), item.get("mode", default_mode))
        return out

    async def _token(self, pod: Obj, spec: Obj, mode: int) -> dict[str, FileProjection]:
        if self.request_token is None:
            return {}
        sa = (pod.get("spec") or {}).get("serviceAccountName") or "default"
        audiences = [spec["audience"]] if spec.get("audience") else []
        expiry = int(spec.get("expirationSeconds") or 3607)
        key = (pod["metadata"]["uid"], sa, ",".join(audiences), expiry)
        cached = self._tokens.get(key)
        if cached is None or time.time() > cached[1]:
            token = await self.request_token(pod, sa, audiences, expiry)
            if token is None:
                self.warnings.append((pod, f"serviceAccountToken for {sa}: the apiserver has no TokenRequest API; "
                                           f"{spec.get('path', 'token')} is not projected"))
                return {}
            cached = (token, token_refresh_at(token, expiry, time.time()))
            self._tokens[key] = cached
        return {spec.get("path", "token"): FileProjection(cached[0].encode(), mode)}

    def mounts(self, pod: Obj, container: Obj, paths: dict[str, str]) -> list[Mount]:
        """The CRI mounts of `container`'s volumeMounts (subPath resolved, read-only where required)."""
        kinds = {v["name"]: volume_kind(v) for v in (pod.get("spec") or {}).get("volumes") or []}
        out = []
        for vm in container.get("volumeMounts") or []:
            base = paths.get(vm.get("name", ""))
            if base is None:
                raise VolumeError(f"unable to find volume {vm.get('name')} for container {container['name']}")
            host = base
            sub = vm.get("subPath") or ""
            if sub:
                if os.path.isabs(sub) or ".." in sub.split("/"):
                    raise VolumeError(f"invalid subPath {sub!r}")
                host = os.path.join(base, sub)
                if not os.path.exists(host):
                    os.makedirs(host, mode=0o755, exist_ok=True)
            readonly = bool(vm.get("readOnly")) or kinds.get(vm.get("name", "")) in READ_ONLY_PLUGINS
            out.append(Mount(container_path=vm.get("mountPath", ""), host_path=host, readonly=readonly))
        return out

    async def teardown(self, uid: str) -> None:
        """Unmount and remove every volume directory of the pod (hostPath contents are never touched); the file
        work in a thread (a pod's directories are ~20 files: ~1 ms of the event loop each, 100 pods deleted)."""
        pod_dir = self.pod_dir(uid)
        for key in [k for k in self._tokens if k[0] == uid]:
            del self._tokens[key]
        for path in [p for p in self._projected if p.startswith(pod_dir + os.sep)]:
            del self._projected[path]
        await asyncio.to_thread(_remove_pod_dir, pod_dir)


def _remove_pod_dir(pod_dir: str) -> None:
    vol_root = os.path.join(pod_dir, "volumes")
    if os.path.isdir(vol_root):
        for plugin in os.listdir(vol_root):
            for name in os.listdir(os.path.join(vol_root, plugin)):
                path = os.path.join(vol_root, plugin, name)
                if os.path.ismount(path):
                    subprocess.run(["umount", "-l", path], capture_output=True)
    shutil.rmtree(pod_dir, ignore_errors=True)

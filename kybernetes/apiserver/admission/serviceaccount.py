"""ServiceAccount admission: a new pod gets a service account ("default" unless named), which must exist, and the
projected API credentials volume mounted at /var/run/secrets/kubernetes.io/serviceaccount (upstream's plugin)."""

from __future__ import annotations

import asyncio
import secrets
import time
from datetime import datetime, timezone
from typing import Any

from kybernetes.apiserver.admission.interfaces import CREATE, Attributes, PluginContext

PLUGIN_NAME = "ServiceAccount"
SERVICE_ACCOUNTS_KEY_PREFIX = "/registry/core/serviceaccounts/"
NAMESPACES_KEY_PREFIX = "/registry/core/namespaces/"
YOUNG_NAMESPACE_AGE = 10.0  # seconds: a namespace whose "default" account may still be on its way
YOUNG_NAMESPACE_WAIT = 3.0  # how long a pod in such a namespace waits for it
DEFAULT_SERVICE_ACCOUNT_NAME = "default"
SERVICE_ACCOUNT_VOLUME_NAME = "kube-api-access"
DEFAULT_API_TOKEN_MOUNT_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"
DEFAULT_TOKEN_EXPIRATION_SECONDS = 3607  # upstream's: an hour and seven seconds
ROOT_CA_CONFIGMAP = "kube-root-ca.crt"
MIRROR_POD_ANNOTATION = "kubernetes.io/config.mirror"
NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # upstream utilrand.String's: no vowels, no confusables
Obj = dict[str, Any]


def default_service_account(pod: Obj) -> str:
    """Set spec.serviceAccountName (and the deprecated spec.serviceAccount) to the pod's, "default" if none."""
    spec = pod.setdefault("spec", {})
    sa = spec.get("serviceAccountName") or spec.get("serviceAccount") or DEFAULT_SERVICE_ACCOUNT_NAME
    spec["serviceAccountName"] = sa
    spec["serviceAccount"] = sa
    return sa


def token_volume_source() -> Obj:
    """The projected volume of the API credentials: a bound token, the cluster CA and the namespace."""
    return {
        "defaultMode": 0o644,
        "sources": [
            {"serviceAccountToken": {"expirationSeconds": DEFAULT_TOKEN_EXPIRATION_SECONDS, "path": "token"}},
            {"configMap": {"name": ROOT_CA_CONFIGMAP, "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
            {"downwardAPI": {"items": [{"path": "namespace",
                                        "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}},
        ],
    }


def should_automount(service_account: Obj, pod: Obj) -> bool:
    """The pod's automountServiceAccountToken wins, then the service account's; true when neither says."""
    pod_says = (pod.get("spec") or {}).get("automountServiceAccountToken")
    if pod_says is not None:
        return bool(pod_says)
    sa_says = service_account.get("automountServiceAccountToken")
    return True if sa_says is None else bool(sa_says)


def mount_service_account_token(pod: Obj) -> None:
    """Mount the credentials volume read-only in every (init) container without a mount at the token path;
    add the volume (kube-api-access-<5 random>) when one of them needs it and the pod has none yet."""
    spec = pod.setdefault("spec", {})
    volumes = spec.get("volumes") or []
    prefix = SERVICE_ACCOUNT_VOLUME_NAME + "-"
    existing = next((v["name"] for v in volumes if str(v.get("name", "")).startswith(prefix)), None)
    names = {v.get("name") for v in volumes}
    name = existing
    while name is None or (existing is None and name in names):
        name = f"{SERVICE_ACCOUNT_VOLUME_NAME}-" + "".join(secrets.choice(NAME_ALPHABET) for _ in range(5))
    needed = False
    for key in ("initContainers", "containers"):
        for c in spec.get(key) or []:
            mounts = c.get("volumeMounts") or []
            if any(m.get("mountPath") == DEFAULT_API_TOKEN_MOUNT_PATH for m in mounts):
                continue
            c["volumeMounts"] = [*mounts, {"name": name, "readOnly": True, "mountPath": DEFAULT_API_TOKEN_MOUNT_PATH}]
            needed = True
    if needed and existing is None:
        spec["volumes"] = [*volumes, {"name": name, "projected": token_volume_source()}]


class ServiceAccount:
    """Mutating, on pod creation: defaults the service account, refuses one that does not exist (upstream:
    "error looking up service account NS/NAME"), mounts its API credentials unless automount is off, and copies
    its imagePullSecrets to a pod that has none. Mirror pods are left alone."""

    name = PLUGIN_NAME

    def __init__(self, ctx: PluginContext) -> None:
        self.ctx = ctx

    def handles(self, operation: str) -> bool:
        return operation == CREATE

    async def admit(self, a: Attributes) -> None:
        if not a.is_("", "pods") or a.obj is None:
            return
        pod = a.obj
        if MIRROR_POD_ANNOTATION in ((pod.get("metadata") or {}).get("annotations") or {}):
            return
        name = default_service_account(pod)
        sa = await self._service_account(a.namespace, name)
        if sa is None:
            raise a.forbidden(f'error looking up service account {a.namespace}/{name}: serviceaccount "{name}" '
                              "not found")
        if should_automount(sa, pod):
            mount_service_account_token(pod)
        spec = pod["spec"]
        if not spec.get("imagePullSecrets") and sa.get("imagePullSecrets"):
            spec["imagePullSecrets"] = [{"name": s.get("name", "")} for s in sa["imagePullSecrets"]]

    async def _service_account(self, namespace: str, name: str) -> Obj | None:
        """From the watch cache; when it is not there, once more after the cache caught up with storage (a
        service account created just before the pod, as upstream's live lookup after a lister miss). For the
        "default" account of a namespace created moments ago, wait a little for the serviceaccount controller
        to make it (upstream refuses at once: `kubectl create ns x; kubectl run -n x` would fail by chance)."""
        key = f"{namespace}/{name}"
        sa = self.ctx.get(SERVICE_ACCOUNTS_KEY_PREFIX, key)
        if sa is None and await self.ctx.cache.wait_fresh():
            sa = self.ctx.get(SERVICE_ACCOUNTS_KEY_PREFIX, key)
        if sa is None and name == DEFAULT_SERVICE_ACCOUNT_NAME and self._young_namespace(namespace):
            deadline = time.monotonic() + YOUNG_NAMESPACE_WAIT
            while sa is None and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
                sa = self.ctx.get(SERVICE_ACCOUNTS_KEY_PREFIX, key)
        return sa

    def _young_namespace(self, namespace: str) -> bool:
        ns = self.ctx.get(NAMESPACES_KEY_PREFIX, namespace)
        created = ((ns or {}).get("metadata") or {}).get("creationTimestamp")
        if not created:
            return False
        try:
            born = datetime.strptime(created, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc).timestamp()
        except ValueError:
            return False
        return time.time() - born < YOUNG_NAMESPACE_AGE

"""Service-account token controller: fills kubernetes.io/service-account-token Secrets with a legacy token, the
root CA and the namespace, and deletes such Secrets once their ServiceAccount is gone (upstream's TokensController).
Needs --service-account-private-key-file; without it the controller stays idle, as upstream's is not started."""

from __future__ import annotations

import base64
import logging
from typing import Any

from kybernetes.apiserver.authn.jwtkeys import TokenGenerator, load_signing_key
from kybernetes.apiserver.authn.serviceaccount import LEGACY_ISSUER, legacy_claims
from kybernetes.client import ApiError, meta_namespace_key, resource_path
from kybernetes.controllers.base import QueueWorker, Result
from kybernetes.controllers.context import ControllerContext

log = logging.getLogger(__name__)

Obj = dict[str, Any]

SECRET_TYPE = "kubernetes.io/service-account-token"
NAME_ANNOTATION = "kubernetes.io/service-account.name"
UID_ANNOTATION = "kubernetes.io/service-account.uid"
TOKEN_KEY, CA_KEY, NAMESPACE_KEY = "token", "ca.crt", "namespace"


def _b64(value: str | bytes) -> str:
    return base64.b64encode(value.encode() if isinstance(value, str) else value).decode()


def _md(obj: Obj) -> Obj:
    return obj.get("metadata") or {}


def references(secret: Obj, sa: Obj) -> bool:
    """Whether the token Secret belongs to this ServiceAccount (name, and uid when the Secret records one)."""
    ann = _md(secret).get("annotations") or {}
    if ann.get(NAME_ANNOTATION) != _md(sa).get("name"):
        return False
    uid = ann.get(UID_ANNOTATION)
    return not uid or uid == _md(sa).get("uid")


def desired_secret(secret: Obj, sa: Obj, ca_pem: str, generate: Any) -> Obj | None:
    """The Secret with token, ca.crt, namespace and the uid annotation filled in; None when nothing is missing.

    `generate(sa, secret_name) -> str` makes a token; an existing token is kept.
    """
    md = _md(secret)
    data = dict(secret.get("data") or {})
    ann = dict(md.get("annotations") or {})
    changed = False
    if ca_pem and data.get(CA_KEY) != _b64(ca_pem):
        data[CA_KEY] = _b64(ca_pem)
        changed = True
    if data.get(NAMESPACE_KEY) != _b64(md.get("namespace", "")):
        data[NAMESPACE_KEY] = _b64(md.get("namespace", ""))
        changed = True
    if not data.get(TOKEN_KEY):
        data[TOKEN_KEY] = _b64(generate(sa, md.get("name", "")))
        changed = True
    if ann.get(UID_ANNOTATION) != _md(sa).get("uid"):
        ann[UID_ANNOTATION] = _md(sa).get("uid", "")
        changed = True
    if not changed:
        return None
    return {**secret, "metadata": {**md, "annotations": ann}, "data": data}


class TokensController:
    """Keeps every service-account-token Secret populated and removes those of deleted ServiceAccounts."""

    name = "serviceaccount-token"

    def __init__(self, ctx: ControllerContext) -> None:
        self.ctx = ctx
        self.client = ctx.client
        self.generator: TokenGenerator | None = None
        key_file = ctx.options.extra.get("service_account_private_key_file") or ""
        if key_file:
            self.generator = TokenGenerator(LEGACY_ISSUER, load_signing_key(key_file))
        else:
            log.warning("%s: no --service-account-private-key-file; token Secrets are not populated", self.name)
        self.ca_pem = ""
        if ctx.options.root_ca_file:
            with open(ctx.options.root_ca_file, encoding="utf-8") as f:
                self.ca_pem = f.read()
        self.accounts = ctx.informers.informer_for("", "v1", "serviceaccounts")
        self.secrets = ctx.informers.informer_for("", "v1", "secrets")
        self.worker = QueueWorker(self.name, self.reconcile)
        self.secrets.add_event_handler(on_add=self._secret_changed, on_update=lambda o, n: self._secret_changed(n))
        self.accounts.add_event_handler(on_add=self._account_changed, on_delete=self._account_changed,
                                        on_update=lambda o, n: self._account_changed(n))

    def _secret_changed(self, secret: Obj) -> None:
        if secret.get("type") == SECRET_TYPE:
            self.worker.enqueue(meta_namespace_key(secret))

    def _account_changed(self, sa: Obj) -> None:
        for secret in self.secrets.store.list(_md(sa).get("namespace")):
            if secret.get("type") == SECRET_TYPE and \
                    (_md(secret).get("annotations") or {}).get(NAME_ANNOTATION) == _md(sa).get("name"):
                self.worker.enqueue(meta_namespace_key(secret))

    def _generate(self, sa: Obj, secret_name: str) -> str:
        assert self.generator is not None
        return self.generator.generate(legacy_claims(sa, secret_name))

    async def _service_account(self, namespace: str, name: str) -> Obj | None:
        """From the cache; on a miss, from the apiserver (never delete a Secret on a stale cache)."""
        sa = self.accounts.store.get(name, namespace)
        if sa is not None:
            return sa
        try:
            return await self.client.get(resource_path("", "v1", "serviceaccounts", namespace, name))
        except ApiError as e:
            if e.not_found:
                return None
            raise

    async def reconcile(self, key: str) -> Result:
        secret = self.secrets.store.get_by_key(key)
        if secret is None or secret.get("type") != SECRET_TYPE or self.generator is None:
            return Result()
        md = _md(secret)
        if md.get("deletionTimestamp"):
            return Result()
        namespace, name = md.get("namespace", ""), md.get("name", "")
        sa_name = (md.get("annotations") or {}).get(NAME_ANNOTATION, "")
        sa = await self._service_account(namespace, sa_name) if sa_name else None
        if sa is None or not references(secret, sa):
            await self._delete(namespace, name, md.get("uid", ""))
            return Result()
        body = desired_secret(secret, sa, self.ca_pem, self._generate)
        if body is None:
            return Result()
        try:
            await self.client.update(resource_path("", "v1", "secrets", namespace, name), body)
        except ApiError as e:
            if e.not_found:
                return Result()
            raise  # a conflict: retried with back-off against the newer cache
        return Result()

    async def _delete(self, namespace: str, name: str, uid: str) -> None:
        opts = {"apiVersion": "v1", "kind": "DeleteOptions", "preconditions": {"uid": uid}} if uid else None
        try:
            await self.client.delete(resource_path("", "v1", "secrets", namespace, name), body=opts)
        except ApiError as e:
            if not e.not_found and not e.conflict:
                raise

    async def run(self, workers: int) -> None:
        self.ctx.informers.start()
        await self.ctx.informers.wait_for_cache_sync()
        await self.worker.run(workers)


CONTROLLER = TokensController

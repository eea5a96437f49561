"""Calling one webhook: where it is (url or service endpoints), TLS with its caBundle, AdmissionReview v1."""

from __future__ import annotations

import asyncio
import base64
import ssl
from typing import Any, Callable

import aiohttp
import orjson

from kybernetes.apiserver.admission.interfaces import Attributes

Obj = dict[str, Any]
DEFAULT_TIMEOUT = 10
ServiceResolver = Callable[[str, str, int], "tuple[str, int] | None"]  # (namespace, name, port) -> (host, port)


class CallError(Exception):
    """The webhook could not be called or answered nonsense (subject to failurePolicy)."""


def review_request(a: Attributes, uid: str) -> Obj:
    """The AdmissionReview v1 a webhook receives."""
    info = a.info
    gvk = {"group": info.group, "version": info.version, "kind": info.kind}
    gvr = {"group": info.group, "version": info.version, "resource": info.plural}
    req: Obj = {"uid": uid, "kind": gvk, "resource": gvr, "requestKind": gvk, "requestResource": gvr,
                "name": a.name, "operation": a.operation,
                "userInfo": {"username": a.user, "groups": list(a.groups)},
                "object": a.obj if a.operation != "DELETE" else None,
                "oldObject": a.old if a.operation in ("UPDATE", "DELETE") else None,
                "dryRun": a.dry_run}
    if a.subresource:
        req["subResource"] = a.subresource
        req["requestSubResource"] = a.subresource
    if info.namespaced:
        req["namespace"] = a.namespace
    option_kind = {"CREATE": "CreateOptions", "UPDATE": "UpdateOptions", "DELETE": "DeleteOptions"}.get(a.operation)
    if option_kind:
        req["options"] = {"apiVersion": "meta.k8s.io/v1", "kind": option_kind}
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": req}


def ssl_context(ca_bundle: str | None) -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    if ca_bundle:
        ctx = ssl.create_default_context(cadata=base64.b64decode(ca_bundle).decode())
    return ctx


def endpoint(client_config: Obj, resolve: ServiceResolver) -> tuple[str, str | None]:
    """(URL to POST to, TLS server name) for a clientConfig."""
    if client_config.get("url"):
        return client_config["url"], None
    svc = client_config.get("service") or {}
    ns, name, port = svc.get("namespace", ""), svc.get("name", ""), int(svc.get("port") or 443)
    target = resolve(ns, name, port)
    if target is None:
        raise CallError(f'service "{ns}/{name}" has no ready endpoints for port {port}')
    host, tport = target
    path = svc.get("path") or "/"
    return f"https://{host}:{tport}{path}", f"{name}.{ns}.svc"


async def call(session: aiohttp.ClientSession, webhook: Obj, review: Obj, resolve: ServiceResolver) -> Obj:
    """POST the review; return the response part of the answer (raises CallError)."""
    cfg = webhook.get("clientConfig") or {}
    url, server_name = endpoint(cfg, resolve)
    timeout = aiohttp.ClientTimeout(total=float(webhook.get("timeoutSeconds") or DEFAULT_TIMEOUT))
    try:
        async with session.post(url, data=orjson.dumps(review), ssl=ssl_context(cfg.get("caBundle")),
                                server_hostname=server_name, timeout=timeout,
                                headers={"Content-Type": "application/json", "Accept": "application/json"}) as r:
            body = await r.read()
            if r.status != 200:
                raise CallError(f"expected response code 200, got {r.status}")
    except (aiohttp.ClientError, asyncio.TimeoutError, ssl.SSLError, OSError) as e:
        what = "context deadline exceeded" if isinstance(e, asyncio.TimeoutError) else str(e)
        raise CallError(f'failed to call webhook: Post "{url}?timeout={int(timeout.total or 0)}s": {what}') from e
    try:
        answer = orjson.loads(body)
        response = answer["response"]
    except (orjson.JSONDecodeError, KeyError, TypeError) as e:
        raise CallError(f"received invalid webhook response: {e}") from e
    if not isinstance(response, dict) or response.get("uid") != review["request"]["uid"]:
        raise CallError(f"expected response.uid=\"{review['request']['uid']}\", "
                        f"got \"{(response or {}).get('uid', '') if isinstance(response, dict) else ''}\"")
    return response


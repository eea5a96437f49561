"""Tiny stand-ins for unit tests of the workload controllers: a context whose informers are plain Indexers,
a client that records writes, and an event recorder kept in memory."""

from __future__ import annotations

import itertools
from typing import Any

from kybernetes.client import ApiError, Indexer
from kybernetes.controllers.context import ControllerContext, ControllerOptions

Obj = dict[str, Any]


class FakeInformer:
    def __init__(self) -> None:
        self.store = Indexer()

    def add_event_handler(self, *args: Any, **kwargs: Any) -> None:
        pass


class FakeInformers:
    def __init__(self) -> None:
        self.by_plural: dict[str, FakeInformer] = {}

    def informer_for(self, group: str, version: str, plural: str, **_: Any) -> FakeInformer:
        return self.by_plural.setdefault(plural, FakeInformer())


class FakeClient:
    """Records (verb, path, body); create returns the body with a uid; get/list are not served."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, Any]] = []
        self._uids = itertools.count(1)

    async def create(self, path: str, body: Obj, params: Any = None) -> Obj:
        self.calls.append(("create", path, body))
        md = body.setdefault("metadata", {})
        md.setdefault("name", md.get("generateName", "obj-") + str(next(self._uids)))
        md["uid"] = f"uid-{next(self._uids)}"
        return body

    async def delete(self, path: str, params: Any = None, body: Any = None) -> Obj:
        self.calls.append(("delete", path, body))
        return {}

    async def patch(self, path: str, body: Any, patch_type: str = "merge", params: Any = None) -> Obj:
        self.calls.append(("patch", path, body))
        return {"metadata": {"name": path.rsplit("/", 1)[-1]}}

    async def update(self, path: str, body: Obj, params: Any = None) -> Obj:
        self.calls.append(("update", path, body))
        return body

    async def get(self, path: str, params: Any = None) -> Obj:
        raise ApiError(404, {"reason": "NotFound", "message": path})

    def verbs(self, verb: str) -> list[str]:
        """The last path segment (object name) of each call of `verb`, or the created name."""
        out = []
        for v, path, body in self.calls:
            if v != verb:
                continue
            out.append(body["metadata"]["name"] if v == "create" else path.rsplit("/", 1)[-1])
        return out


class Events:
    def __init__(self) -> None:
        self.items: list[tuple[str, str, str]] = []

    def __call__(self, component: str) -> Any:
        outer = self

        class _Recorder:
            def event(self, obj: Obj, event_type: str, reason: str, message: str) -> None:
                outer.items.append((event_type, reason, message))
        return _Recorder()

    def reasons(self) -> list[str]:
        return [r for _, r, _ in self.items]


def fake_context(**extra: Any) -> tuple[ControllerContext, FakeClient, FakeInformers, Events]:
    client, informers, events = FakeClient(), FakeInformers(), Events()
    ctx = ControllerContext(client, informers, events, ControllerOptions(extra=extra))  # type: ignore[arg-type]
    return ctx, client, informers, events

"""Admission contracts (upstream's admission.Attributes, MutationInterface, ValidationInterface)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Protocol, runtime_checkable

from kybernetes.api import errors
from kybernetes.api.registry import ResourceInfo

if TYPE_CHECKING:
    from kybernetes.apiserver.watchcache import WatchCache

Rollback = Callable[[], None]

CREATE, UPDATE, DELETE, CONNECT = "CREATE", "UPDATE", "DELETE", "CONNECT"


@dataclass
class Attributes:
    """Everything a plugin may know about one write: what, who, the object and the old object."""

    info: ResourceInfo
    operation: str
    namespace: str
    name: str
    obj: dict[str, Any] | None
    old: dict[str, Any] | None = None
    subresource: str = ""
    user: str = ""
    groups: list[str] = field(default_factory=list)
    uid: str = ""
    dry_run: bool = False
    warnings: list[str] = field(default_factory=list)
    audit_annotations: dict[str, str] = field(default_factory=dict)  # into the request's audit event
    audit_annotation_levels: dict[str, str] = field(default_factory=dict)  # key -> least audit level showing it
    rollbacks: list[Rollback] = field(default_factory=list)

    @property
    def resource(self) -> tuple[str, str]:
        return self.info.group, self.info.plural

    def is_(self, group: str, plural: str, subresource: str = "") -> bool:
        return (self.info.group, self.info.plural, self.subresource) == (group, plural, subresource)

    def on_rollback(self, fn: Rollback) -> None:
        """Run fn if the write does not reach storage (allocations taken during admission)."""
        self.rollbacks.append(fn)

    def rollback(self) -> None:
        for fn in reversed(self.rollbacks):
            fn()
        self.rollbacks.clear()

    def add_audit_annotation(self, key: str, value: str, level: str = "Metadata") -> None:
        """Upstream's AddAnnotationWithLevel: the first value of a key stays."""
        if key not in self.audit_annotations:
            self.audit_annotations[key] = value
            if level != "Metadata":
                self.audit_annotation_levels[key] = level

    def forbidden(self, message: str) -> errors.StatusError:
        """Upstream's admission 403: '<resource> "<name>" is forbidden: <message>'."""
        q = f"{self.info.plural}.{self.info.group}" if self.info.group else self.info.plural
        return errors.StatusError(403, "Forbidden", f'{q} "{self.name}" is forbidden: {message}',
                                  details={"name": self.name, "group": self.info.group, "kind": self.info.plural})


@dataclass
class PluginContext:
    """What a plugin factory is given: the watch cache (reads at admission time) and apiserver parts."""

    cache: WatchCache
    extra: dict[str, Any] = field(default_factory=dict)

    def objects(self, prefix: str) -> dict[str, dict[str, Any]]:
        c = self.cache.caches.get(prefix)
        return c.objects if c else {}

    def get(self, prefix: str, key: str) -> dict[str, Any] | None:
        return self.objects(prefix).get(prefix + key)


@runtime_checkable
class MutationInterface(Protocol):
    """A mutating plugin: may change a.obj; raises StatusError to refuse."""

    name: str

    def handles(self, operation: str) -> bool: ...

    async def admit(self, a: Attributes) -> None: ...


@runtime_checkable
class ValidationInterface(Protocol):
    """A validating plugin: must not change a.obj; raises StatusError to refuse."""

    name: str

    def handles(self, operation: str) -> bool: ...

    async def validate(self, a: Attributes) -> None: ...

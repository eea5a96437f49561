"""Auditing: an audit.k8s.io/v1 Policy picks each request's level; Events go as JSON lines to a rotated log.

Code serving a request adds annotations to its audit event with add_annotations() (upstream's
audit.AddAuditAnnotation): admission plugins do, through the record of the request being served (a context
variable set when the request's record begins)."""

from __future__ import annotations

import logging
import os
import queue
import sys
import threading
import time
import uuid
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import orjson
import yaml

log = logging.getLogger(__name__)

LEVELS = ("None", "Metadata", "Request", "RequestResponse")
STAGES = ("RequestReceived", "ResponseStarted", "ResponseComplete", "Panic")
WRITE_VERBS = ("create", "update", "patch")
AUDIT_ID_HEADER = "Audit-ID"
_LEVEL_ORDER = {level: i for i, level in enumerate(LEVELS)}


class PolicyError(ValueError):
    """The audit Policy cannot be used."""


@dataclass(frozen=True)
class Attributes:
    """What a rule is matched against (authorizer attributes of one request)."""

    user: str = ""
    groups: tuple[str, ...] = ()
    verb: str = ""
    resource_request: bool = False
    api_group: str = ""
    resource: str = ""
    subresource: str = ""
    namespace: str = ""
    name: str = ""
    path: str = ""


@dataclass(frozen=True)
class GroupResources:
    group: str = ""
    resources: tuple[str, ...] = ()
    resource_names: tuple[str, ...] = ()

    def matches(self, a: Attributes) -> bool:
        if self.group != a.api_group:
            return False
        if not self.resources:
            return True
        if self.resource_names and a.name not in self.resource_names:
            return False
        combined = f"{a.resource}/{a.subresource}" if a.subresource else a.resource
        for res in self.resources:
            if res in ("*", combined):
                return True
            if a.subresource and res.startswith("*/") and res[2:] == a.subresource:
                return True
            if res.endswith("/*") and res[:-2] == a.resource:
                return True
        return False


@dataclass(frozen=True)
class PolicyRule:
    level: str
    users: tuple[str, ...] = ()
    user_groups: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ()
    resources: tuple[GroupResources, ...] = ()
    namespaces: tuple[str, ...] = ()
    non_resource_urls: tuple[str, ...] = ()
    omit_stages: frozenset[str] = frozenset()
    omit_managed_fields: bool | None = None

    def matches(self, a: Attributes) -> bool:
        """As upstream's policy rule checker: every listed criterion must match."""
        if self.users and a.user not in self.users:
            return False
        if self.user_groups and not set(self.user_groups) & set(a.groups):
            return False
        if self.verbs and a.verb not in self.verbs:
            return False
        if self.namespaces or self.resources:
            if not a.resource_request:
                return False
            if self.namespaces and a.namespace not in self.namespaces:
                return False
            return not self.resources or any(gr.matches(a) for gr in self.resources)
        if self.non_resource_urls:
            return not a.resource_request and any(_path_matches(p, a.path) for p in self.non_resource_urls)
        return True


def _path_matches(pattern: str, path: str) -> bool:
    if pattern == "*" or pattern == path:
        return True
    return pattern.endswith("*") and path.startswith(pattern[:-1])


@dataclass(frozen=True)
class RequestAuditConfig:
    """What a policy decided for one request."""

    level: str = "None"
    omit_stages: frozenset[str] = frozenset()
    omit_managed_fields: bool = False


@dataclass
class Policy:
    rules: list[PolicyRule] = field(default_factory=list)
    omit_stages: frozenset[str] = frozenset()
    omit_managed_fields: bool = False

    def evaluate(self, a: Attributes) -> RequestAuditConfig:
        """The first matching rule's level (None when no rule matches); omitStages add to the policy's."""
        for rule in self.rules:
            if rule.matches(a):
                omf = self.omit_managed_fields if rule.omit_managed_fields is None else rule.omit_managed_fields
                return RequestAuditConfig(rule.level, self.omit_stages | rule.omit_stages, omf)
        return RequestAuditConfig("None", self.omit_stages, self.omit_managed_fields)


def _strs(v: Any, what: str) -> tuple[str, ...]:
    if v is None:
        return ()
    if not isinstance(v, list) or not all(isinstance(s, str) for s in v):
        raise PolicyError(f"{what}: must be a list of strings")
    return tuple(v)


def _stages(v: Any, what: str) -> frozenset[str]:
    stages = _strs(v, what)
    bad = [s for s in stages if s not in STAGES]
    if bad:
        raise PolicyError(f"{what}: unknown stage {bad[0]!r} (one of {', '.join(STAGES)})")
    return frozenset(stages)


def parse_policy(doc: dict[str, Any]) -> Policy:
    """An audit.k8s.io/v1 Policy document; raises PolicyError."""
    if doc.get("kind") != "Policy" or doc.get("apiVersion") not in ("audit.k8s.io/v1", "audit.k8s.io/v1beta1"):
        raise PolicyError("expected apiVersion audit.k8s.io/v1, kind Policy")
    rules = []
    for i, r in enumerate(doc.get("rules") or []):
        where = f"rules[{i}]"
        level = r.get("level")
        if level not in LEVELS:
            raise PolicyError(f"{where}.level: must be one of {', '.join(LEVELS)}")
        urls = _strs(r.get("nonResourceURLs"), f"{where}.nonResourceURLs")
        resources = tuple(GroupResources(gr.get("group", ""), _strs(gr.get("resources"), f"{where}.resources"),
                                         _strs(gr.get("resourceNames"), f"{where}.resources.resourceNames"))
                          for gr in r.get("resources") or [])
        namespaces = _strs(r.get("namespaces"), f"{where}.namespaces")
        if urls and (resources or namespaces):
            raise PolicyError(f"{where}: rules cannot apply to both regular resources and non-resource URLs")
        rules.append(PolicyRule(level=level, users=_strs(r.get("users"), f"{where}.users"),
                                user_groups=_strs(r.get("userGroups"), f"{where}.userGroups"),
                                verbs=_strs(r.get("verbs"), f"{where}.verbs"), resources=resources,
                                namespaces=namespaces, non_resource_urls=urls,
                                omit_stages=_stages(r.get("omitStages"), f"{where}.omitStages"),
                                omit_managed_fields=r.get("omitManagedFields")))
    return Policy(rules, _stages(doc.get("omitStages"), "omitStages"), bool(doc.get("omitManagedFields")))


def load_policy(path: str) -> Policy:
    with open(path, encoding="utf-8") as f:
        return parse_policy(yaml.safe_load(f) or {})


class LogBackend:
    """JSON lines to a file, written by a background thread; rotated by size as upstream's lumberjack does."""

    def __init__(self, path: str, *, max_size_mb: int = 0, max_backups: int = 0, max_bytes: int = 0) -> None:
        self.path = path
        self.max_bytes = max_bytes or max_size_mb * 1024 * 1024
        self.max_backups = max_backups
        self._queue: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self._file: Any = None
        self._size = 0
        self._thread = threading.Thread(target=self._run, name="audit-log", daemon=True)
        self._thread.start()

    def write(self, event: dict[str, Any]) -> None:
        """Never blocks: the line is queued for the writer thread."""
        self._queue.put(orjson.dumps(event) + b"\n")

    def close(self, timeout: float = 5.0) -> None:
        self._queue.put(None)
        self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            line = self._queue.get()
            if line is None:
                break
            try:
                self._write(line)
                while True:  # drain what is queued before flushing once
                    try:
                        more = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if more is None:
                        self._flush()
                        return self._close()
                    self._write(more)
                self._flush()
            except OSError as e:
                log.error("audit log %s: %s", self.path, e)
        self._close()

    def _open(self) -> None:
        if self.path == "-":
            self._file = sys.stdout.buffer
            return
        os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
        self._file = open(self.path, "ab")  # noqa: SIM115 - kept open by the writer thread
        self._size = self._file.tell()

    def _write(self, line: bytes) -> None:
        if self._file is None:
            self._open()
        if self.path != "-" and self.max_bytes and self._size and self._size + len(line) > self.max_bytes:
            self._rotate()
        self._file.write(line)
        self._size += len(line)

    def _flush(self) -> None:
        if self._file is not None:
            self._file.flush()

    def _close(self) -> None:
        if self._file is not None and self.path != "-":
            self._file.close()
        self._file = None

    def _rotate(self) -> None:
        """path -> <name>-<UTC time>.<ext> beside it; the oldest backups beyond max_backups removed."""
        self._close()
        base, ext = os.path.splitext(self.path)
        stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H-%M-%S.%f")[:-3]
        os.replace(self.path, f"{base}-{stamp}{ext}")
        if self.max_backups:
            for old in self.backups()[:-self.max_backups]:
                os.remove(old)
        self._open()

    def backups(self) -> list[str]:
        """Rotated files, oldest first."""
        base, ext = os.path.splitext(self.path)
        d, prefix = os.path.dirname(os.path.abspath(base)), os.path.basename(base) + "-"
        return sorted(os.path.join(d, f) for f in os.listdir(d) if f.startswith(prefix) and f.endswith(ext))


def _timestamp(t: float) -> str:
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _strip_managed_fields(obj: Any) -> Any:
    if not isinstance(obj, dict):
        return obj
    md = obj.get("metadata")
    if isinstance(md, dict) and "managedFields" in md:
        obj = {**obj, "metadata": {k: v for k, v in md.items() if k != "managedFields"}}
    if isinstance(obj.get("items"), list):
        obj = {**obj, "items": [_strip_managed_fields(i) for i in obj["items"]]}
    return obj


class RequestAudit:
    """The audit record of one request: its events are emitted by stage as the request proceeds."""

    def __init__(self, auditor: Auditor, *, method: str, request_uri: str, ri: Any, source_ips: list[str],
                 user_agent: str) -> None:
        self.auditor = auditor
        self.audit_id = str(uuid.uuid4())
        self.ri = ri
        self.received = time.time()
        self.config: RequestAuditConfig | None = None
        self.annotations: dict[str, str] = {}
        self.leveled_annotations: dict[str, tuple[str, str]] = {}  # key -> (value, least level that shows it)
        self.event: dict[str, Any] = {
            "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "None", "auditID": self.audit_id,
            "stage": "", "requestURI": request_uri, "verb": ri.verb, "user": {},
            "sourceIPs": source_ips, "userAgent": user_agent,
            "requestReceivedTimestamp": _timestamp(self.received)}
        if ri.is_resource_request:
            ref = {"resource": ri.resource, "namespace": ri.namespace, "name": ri.name, "apiGroup": ri.group,
                   "apiVersion": ri.version, "subresource": ri.subresource}
            self.event["objectRef"] = {k: v for k, v in ref.items() if v}
        self.started = False
        self.done = False

    def authenticated(self, user: Any, impersonated: Any | None) -> None:
        """Evaluate the policy for this user and emit RequestReceived."""
        self.event["user"] = user.as_dict()
        acting = user
        if impersonated is not None and impersonated is not user:
            self.event["impersonatedUser"] = impersonated.as_dict()
            acting = impersonated
        self._evaluate(acting.name, acting.groups)
        self._emit("RequestReceived")

    def authorized(self, decision: str, reason: str) -> None:
        self.annotations["authorization.k8s.io/decision"] = decision
        self.annotations["authorization.k8s.io/reason"] = reason

    def add_annotation(self, key: str, value: str, level: str = "Metadata") -> None:
        """Annotate the events still to come; shown when the request's level is at least `level`. As upstream,
        the first value of a key stays (a different later one is logged and dropped)."""
        if self.done:
            return
        have = self.annotations.get(key, self.leveled_annotations.get(key, (None,))[0])
        if have is not None:
            if have != value:
                log.warning("audit annotation %s of %s already set to %r; %r dropped", key, self.audit_id, have,
                            value)
            return
        if level == "Metadata":
            self.annotations[key] = value
        else:
            self.leveled_annotations[key] = (value, level)

    def response_started(self) -> None:
        """Long-running requests (watches) log ResponseStarted when their headers go out."""
        if self.ri.verb == "watch" and not self.started:
            self.started = True
            self._emit("ResponseStarted", code=200)

    def complete(self, code: int, *, request_body: bytes | None, response: Any, panic: bool = False) -> None:
        if self.done:
            return
        self.done = True
        if self.config is None:
            self._evaluate("", ())
        cfg = self.config
        assert cfg is not None
        if cfg.level in ("Request", "RequestResponse") and request_body:
            obj = _json_or_none(request_body)
            if obj is not None:
                self.event["requestObject"] = _strip_managed_fields(obj) if cfg.omit_managed_fields else obj
        if cfg.level == "RequestResponse" and response is not None:
            obj = _json_or_none(getattr(response, "body", None))
            if isinstance(obj, dict):
                self.event["responseObject"] = _strip_managed_fields(obj) if cfg.omit_managed_fields else obj
        self._emit("Panic" if panic else "ResponseComplete", code=code)
        if _current.get() is self:
            _current.set(None)

    def _evaluate(self, user: str, groups: tuple[str, ...]) -> None:
        ri = self.ri
        attrs = Attributes(user=user, groups=tuple(groups), verb=ri.verb, resource_request=ri.is_resource_request,
                           api_group=ri.group, resource=ri.resource, subresource=ri.subresource,
                           namespace=ri.namespace, name=ri.name, path=ri.path)
        self.config = self.auditor.policy.evaluate(attrs)
        self.event["level"] = self.config.level

    def _emit(self, stage: str, code: int | None = None) -> None:
        cfg = self.config
        if cfg is None or cfg.level == "None" or stage in cfg.omit_stages:
            return
        ev = dict(self.event)
        ev["stage"] = stage
        ev["stageTimestamp"] = _timestamp(time.time())
        if code is not None:
            ev["responseStatus"] = {"metadata": {}, "code": code}
        annotations = dict(self.annotations)
        for key, (value, level) in self.leveled_annotations.items():
            if _LEVEL_ORDER[cfg.level] >= _LEVEL_ORDER.get(level, 0):
                annotations[key] = value
        if annotations:
            ev["annotations"] = annotations
        self.auditor.backend.write(ev)


_current: ContextVar[RequestAudit | None] = ContextVar("kybernetes_request_audit", default=None)


def current() -> RequestAudit | None:
    """The audit record of the request being served in this context, if it is audited."""
    return _current.get()


def add_annotations(annotations: Mapping[str, str], levels: Mapping[str, str] | None = None) -> None:
    """Add annotations to the audit event of the request being served (no-op when it is not audited); `levels`
    names, per key, a level below which the annotation is left out (Metadata when absent)."""
    record = _current.get()
    if record is None:
        return
    for key, value in annotations.items():
        record.add_annotation(key, value, (levels or {}).get(key, "Metadata"))


def _json_or_none(body: Any) -> Any:
    if not isinstance(body, (bytes, bytearray)) or not body[:1] in (b"{", b"["):
        return None
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return None


class Auditor:
    """The policy plus the log backend; begin() opens the record of one request."""

    def __init__(self, policy: Policy, backend: LogBackend) -> None:
        self.policy = policy
        self.backend = backend

    def begin(self, request: Any, ri: Any) -> RequestAudit:
        peer = request.remote or ""
        xff = [s.strip() for s in request.headers.get("X-Forwarded-For", "").split(",") if s.strip()]
        record = RequestAudit(self, method=request.method, request_uri=request.path_qs, ri=ri,
                              source_ips=xff + ([peer] if peer and peer not in xff else []),
                              user_agent=request.headers.get("User-Agent", ""))
        _current.set(record)  # for add_annotations() from code serving this request (admission plugins)
        return record

    def close(self) -> None:
        self.backend.close()


def build_auditor(*, policy_file: str, log_path: str, max_size_mb: int = 0, max_backups: int = 0) -> Auditor | None:
    """None unless both a policy and a log path are given (upstream audits nothing without a policy)."""
    if not policy_file or not log_path:
        if policy_file or log_path:
            log.warning("auditing needs both --audit-policy-file and --audit-log-path; auditing is off")
        return None
    policy = load_policy(policy_file)
    log.info("audit: policy %s (%d rules), log %s", policy_file, len(policy.rules), log_path)
    return Auditor(policy, LogBackend(log_path, max_size_mb=max_size_mb, max_backups=max_backups))

"""The pod status the kubelet reports: container statuses, phase and conditions, computed as upstream does.

Pure functions over the pod spec and a `ContainerView` per container (what the runtime reports plus what the
kubelet decided: back-off, config errors, probe results). Upstream: pkg/kubelet/kubelet_pods.go (getPhase,
convertToAPIContainerStatuses) and pkg/kubelet/status/generate.go (the conditions).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from kybernetes.kubelet.runtime.interface import ContainerState, ContainerStatus

Obj = dict[str, Any]

PENDING, RUNNING, SUCCEEDED, FAILED = "Pending", "Running", "Succeeded", "Failed"
KUBELET_CONDITIONS = ("PodReadyToStartContainers", "Initialized", "ContainersReady", "Ready")
CONTAINER_ID_PREFIX = "process://"


def fmt_time(epoch_s: float) -> str:
    return datetime.fromtimestamp(epoch_s, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def fmt_ns(ns: int) -> str | None:
    return fmt_time(ns / 1e9) if ns else None


def is_restartable_init(container: Obj) -> bool:
    """A sidecar: an init container with restartPolicy Always."""
    return container.get("restartPolicy") == "Always"


@dataclass
class ContainerView:
    """One container of a pod as the kubelet sees it in one sync."""

    name: str
    current: ContainerStatus | None = None  # the latest runtime container of this name
    previous: ContainerStatus | None = None  # the one before it (lastState, logs --previous)
    waiting_reason: str = ""  # set by the sync: CrashLoopBackOff, CreateContainerConfigError, ...
    waiting_message: str = ""
    ready: bool = False
    started: bool = False
    messages: dict[str, str] = field(default_factory=dict)  # termination message by container id


def _terminated(cs: ContainerStatus, message: str) -> Obj:
    state: Obj = {"exitCode": cs.exit_code, "reason": cs.reason or ("Completed" if cs.exit_code == 0 else "Error"),
                  "startedAt": fmt_ns(cs.started_at), "finishedAt": fmt_ns(cs.finished_at),
                  "containerID": CONTAINER_ID_PREFIX + cs.id}
    if message:
        state["message"] = message
    if cs.state == ContainerState.CONTAINER_UNKNOWN:
        state.update(exitCode=137, reason="ContainerStatusUnknown",
                     message="The container could not be located when the pod was terminated")
    return state


def container_api_status(spec: Obj, view: ContainerView, default_waiting: str) -> Obj:
    """The containerStatuses entry for `spec` (upstream convertToAPIContainerStatuses, one container)."""
    cur, prev = view.current, view.previous
    out: Obj = {"name": spec["name"], "image": spec.get("image", ""), "imageID": "", "ready": False,
                "restartCount": 0, "started": False, "state": {}, "lastState": {}}
    if cur is None:
        out["state"] = {"waiting": _waiting(view.waiting_reason or default_waiting, view.waiting_message)}
        return out
    out.update(imageID=cur.image_ref, containerID=CONTAINER_ID_PREFIX + cur.id, restartCount=cur.metadata.attempt)
    last = prev
    if cur.state == ContainerState.CONTAINER_RUNNING:
        out["state"] = {"running": {"startedAt": fmt_ns(cur.started_at)}}
        out["ready"], out["started"] = view.ready, view.started
    elif cur.state == ContainerState.CONTAINER_CREATED:
        out["state"] = {"waiting": _waiting(view.waiting_reason or "ContainerCreating", view.waiting_message)}
    elif view.waiting_reason:  # exited, and the kubelet waits before the next attempt
        out["state"] = {"waiting": _waiting(view.waiting_reason, view.waiting_message)}
        last = cur
    else:
        out["state"] = {"terminated": _terminated(cur, view.messages.get(cur.id, ""))}
    if last is not None and last.state in (ContainerState.CONTAINER_EXITED, ContainerState.CONTAINER_UNKNOWN):
        out["lastState"] = {"terminated": _terminated(last, view.messages.get(last.id, ""))}
    return out


def _waiting(reason: str, message: str) -> Obj:
    return {"reason": reason, **({"message": message} if message else {})}


def _state(cs: Obj) -> str:
    return next(iter(cs.get("state") or {}), "")


def _by_name(statuses: list[Obj]) -> dict[str, Obj]:
    return {s["name"]: s for s in statuses}


def has_any_regular_container_started(spec: Obj, statuses: list[Obj]) -> bool:
    by = _by_name(statuses)
    for c in spec.get("containers") or []:
        s = by.get(c["name"])
        if s and (_state(s) in ("running", "terminated") or (s.get("lastState") or {}).get("terminated")):
            return True
    return False


def get_phase(spec: Obj, init_statuses: list[Obj], statuses: list[Obj], *, pod_is_terminal: bool,
              static: bool = False) -> str:
    """The pod phase from its container statuses, as upstream's getPhase."""
    inits, regular = _by_name(init_statuses), _by_name(statuses)
    pending_init = failed_init = 0
    unknown = running = waiting = stopped = succeeded = 0
    for c in spec.get("initContainers") or []:
        s = inits.get(c["name"])
        last_term = ((s or {}).get("lastState") or {}).get("terminated")
        if is_restartable_init(c):
            if s is None:
                unknown += 1
            elif _state(s) == "running":
                pending_init += 0 if s.get("started") else 1
                running += 1
            elif _state(s) == "waiting" and not last_term:
                pending_init += 1
                waiting += 1
            elif _state(s) not in ("terminated", "waiting"):
                pending_init += 1
                unknown += 1
            continue
        if s is None or _state(s) == "running":
            pending_init += 1
        elif _state(s) == "terminated":
            failed_init += s["state"]["terminated"].get("exitCode", 0) != 0
        elif _state(s) == "waiting":
            if last_term:
                failed_init += last_term.get("exitCode", 0) != 0
            else:
                pending_init += 1
        else:
            pending_init += 1
    for c in spec.get("containers") or []:
        s = regular.get(c["name"])
        if s is None:
            unknown += 1
        elif _state(s) == "running":
            running += 1
        elif _state(s) == "terminated":
            stopped += 1
            succeeded += s["state"]["terminated"].get("exitCode", 0) == 0
        elif _state(s) == "waiting":
            if (s.get("lastState") or {}).get("terminated"):
                stopped += 1
            else:
                waiting += 1
        else:
            unknown += 1
    policy = spec.get("restartPolicy", "Always")
    if failed_init > 0 and policy == "Never":
        return FAILED
    if (pending_init > 0 and not has_any_regular_container_started(spec, statuses)) or waiting > 0:
        return PENDING
    if running > 0 and unknown == 0:
        return RUNNING
    if running == 0 and stopped > 0 and unknown == 0:
        if pod_is_terminal and not static:
            return SUCCEEDED if stopped == succeeded else FAILED
        if policy == "Always":
            return RUNNING
        if stopped == succeeded:
            return SUCCEEDED
        if policy == "Never":
            return FAILED
        return RUNNING
    return PENDING


def _cond(ctype: str, ok: bool, reason: str = "", message: str = "") -> Obj:
    c: Obj = {"type": ctype, "status": "True" if ok else "False"}
    if not ok and reason:
        c["reason"] = reason
    if not ok and message:
        c["message"] = message
    return c


def _fmt_names(names: list[str]) -> str:
    return "[" + " ".join(names) + "]"


def initialized_condition(spec: Obj, init_statuses: list[Obj], statuses: list[Obj]) -> Obj:
    """Initialized: every regular init container succeeded and every sidecar started."""
    if not spec.get("initContainers") or has_any_regular_container_started(spec, statuses):
        return _cond("Initialized", True)
    inits = _by_name(init_statuses)
    incomplete = []
    for c in spec.get("initContainers") or []:
        s = inits.get(c["name"])
        if is_restartable_init(c):
            done = s is not None and _state(s) == "running" and bool(s.get("started"))
        else:
            done = s is not None and _state(s) == "terminated" and s["state"]["terminated"].get("exitCode") == 0
        if not done:
            incomplete.append(c["name"])
    if not incomplete:
        return _cond("Initialized", True)
    return _cond("Initialized", False, "ContainersNotInitialized",
                 f"containers with incomplete status: {_fmt_names(incomplete)}")


def containers_ready_condition(spec: Obj, init_statuses: list[Obj], statuses: list[Obj], phase: str) -> Obj:
    """ContainersReady: every app container and every sidecar is ready."""
    unknown, unready = [], []
    inits, regular = _by_name(init_statuses), _by_name(statuses)
    for c in spec.get("initContainers") or []:
        if not is_restartable_init(c):
            continue
        s = inits.get(c["name"])
        if s is None:
            unknown.append(c["name"])
        elif not s.get("ready"):
            unready.append(c["name"])
    for c in spec.get("containers") or []:
        s = regular.get(c["name"])
        if s is None:
            unknown.append(c["name"])
        elif not s.get("ready"):
            unready.append(c["name"])
    if phase == SUCCEEDED and not unknown:
        return _cond("ContainersReady", False, "PodCompleted")
    messages = []
    if unknown:
        messages.append(f"containers with unknown status: {_fmt_names(unknown)}")
    if unready:
        messages.append(f"containers with unready status: {_fmt_names(unready)}")
    if messages:
        return _cond("ContainersReady", False, "ContainersNotReady", ", ".join(messages))
    return _cond("ContainersReady", True)


def ready_condition(spec: Obj, containers_ready: Obj, conditions: list[Obj]) -> Obj:
    """Ready: ContainersReady and every readiness gate's condition True."""
    if containers_ready["status"] != "True":
        return {**containers_ready, "type": "Ready"}
    by_type = {c.get("type"): c for c in conditions}
    messages = []
    for gate in spec.get("readinessGates") or []:
        ctype = gate.get("conditionType", "")
        c = by_type.get(ctype)
        if c is None:
            messages.append(f'corresponding condition of pod readiness gate "{ctype}" does not exist.')
        elif c.get("status") != "True":
            messages.append(f'the status of pod readiness gate "{ctype}" is not "True", but {c.get("status")}')
    if messages:
        return _cond("Ready", False, "ReadinessGatesNotReady", ", ".join(messages))
    return _cond("Ready", True)


def pod_conditions(spec: Obj, old_conditions: list[Obj], init_statuses: list[Obj], statuses: list[Obj],
                   phase: str, sandbox_ready: bool, now: str, written: list[Obj] | None = None) -> list[Obj]:
    """The kubelet's conditions, the others kept from the old status; lastTransitionTime kept if unchanged.

    `written` are the conditions of the status this kubelet last wrote: newer than the informer's copy of the pod
    until the watch delivers it, so they give the transition times (else a sync in between would write new
    times, and the next one the old ones back)."""
    containers_ready = containers_ready_condition(spec, init_statuses, statuses, phase)
    computed = [
        _cond("PodReadyToStartContainers", sandbox_ready),
        initialized_condition(spec, init_statuses, statuses),
        ready_condition(spec, containers_ready, old_conditions),
        containers_ready,
    ]
    old = {c.get("type"): c for c in old_conditions}
    own = {c.get("type"): c for c in written or ()}
    out = []
    for c in computed:
        prev = own.get(c["type"]) or old.get(c["type"])
        c["lastTransitionTime"] = prev.get("lastTransitionTime") if prev and prev.get("status") == c["status"] \
            and prev.get("lastTransitionTime") else now
        out.append(c)
    if "PodScheduled" not in old:
        out.append(own.get("PodScheduled") or {"type": "PodScheduled", "status": "True", "lastTransitionTime": now})
    # No null lastProbeTime: the merge patch of the status would delete it, and the next sync, comparing with the
    # stored pod, would see a change and write the same status again. Kept conditions likewise lose their nulls.
    out.extend({k: v for k, v in c.items() if v is not None} for c in old_conditions
               if c.get("type") not in KUBELET_CONDITIONS)
    return out


def _foreign_conditions(status: Obj) -> list[Obj]:
    """Conditions other components own (readiness gates, DisruptionTarget, ...), as stored (no nulls)."""
    return [{k: v for k, v in c.items() if v is not None} for c in status.get("conditions") or []
            if c.get("type") not in KUBELET_CONDITIONS]


def needs_sync(old: Obj, new: Obj) -> bool:
    """Does this update of a pod call for a sync of its worker? (upstream's pod config: a change of the status
    alone is a reconcile, not a sync.) Most such updates are the echo of the kubelet's own status write. Still a
    sync: any change outside the status (spec, labels, annotations, deletion), a terminal phase set by another
    component, and a change of other components' conditions (readiness gates make Ready)."""
    if old.get("spec") != new.get("spec"):
        return True
    old_md, new_md = old.get("metadata") or {}, new.get("metadata") or {}
    if any(old_md.get(k) != new_md.get(k) for k in old_md.keys() | new_md.keys()
           if k not in ("resourceVersion", "managedFields")):
        return True
    old_status, new_status = old.get("status") or {}, new.get("status") or {}
    if new_status.get("phase") in (SUCCEEDED, FAILED) and old_status.get("phase") != new_status.get("phase"):
        return True
    return _foreign_conditions(old_status) != _foreign_conditions(new_status)

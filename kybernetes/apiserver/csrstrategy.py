"""CertificateSigningRequest write strategy (upstream's csrStrategy, csrStatusStrategy, csrApprovalStrategy):
who asked is recorded on create; spec never changes; approval conditions change only through /approval,
the certificate only through /status; condition timestamps are filled in."""

from __future__ import annotations

import copy
from typing import Any

from kybernetes.api import meta
from kybernetes.pki import csr as csrs

Obj = dict[str, Any]

_APPROVAL_TYPES = (csrs.APPROVED, csrs.DENIED)


def prepare_for_create(csr: Obj, *, user: str, groups: list[str], uid: str = "",
                       extra: dict[str, list[str]] | None = None) -> None:
    """Record the requesting user (never what the body claims) and start with an empty status."""
    spec = csr.setdefault("spec", {})
    for k in ("username", "uid", "groups", "extra"):
        spec.pop(k, None)
    spec["username"] = user
    if uid:
        spec["uid"] = uid
    spec["groups"] = list(groups)
    if extra:
        spec["extra"] = {k: list(v) for k, v in extra.items()}
    csr.pop("status", None)


def prepare_for_update(new: Obj, old: Obj, subresource: str) -> None:
    """Keep what this endpoint may not change; fill condition timestamps."""
    new["spec"] = copy.deepcopy(old.get("spec") or {})
    old_status = old.get("status") or {}
    if subresource == "":
        _set_status(new, copy.deepcopy(old_status))
        return
    if subresource == "approval":
        status = copy.deepcopy(old_status)
        conditions = (new.get("status") or {}).get("conditions")
        if conditions is not None:
            status["conditions"] = conditions
        else:
            status.pop("conditions", None)
        _set_status(new, status)
    elif subresource == "status":
        status = new.get("status") if isinstance(new.get("status"), dict) else {}
        kept = [c for c in status.get("conditions") or [] if not (isinstance(c, dict) and c.get("type") in
                                                                 _APPROVAL_TYPES)]
        kept += [c for c in csrs.conditions(old) if c.get("type") in _APPROVAL_TYPES]
        if kept:
            status["conditions"] = kept
        else:
            status.pop("conditions", None)
        _set_status(new, status)
    populate_condition_timestamps(new, old)


def _set_status(obj: Obj, status: Obj) -> None:
    if status:
        obj["status"] = status
    else:
        obj.pop("status", None)


def populate_condition_timestamps(new: Obj, old: Obj, now: str | None = None) -> None:
    """lastUpdateTime defaults to now; lastTransitionTime to the old condition's of the same type and status,
    else now."""
    now = now or meta.now_rfc3339()
    for c in csrs.conditions(new):
        if not c.get("lastUpdateTime"):
            c["lastUpdateTime"] = now
        if not c.get("lastTransitionTime"):
            previous = next((o.get("lastTransitionTime") for o in csrs.conditions(old)
                             if o.get("type") == c.get("type") and o.get("status") == c.get("status")
                             and o.get("lastTransitionTime")), None)
            c["lastTransitionTime"] = previous or now

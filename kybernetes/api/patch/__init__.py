"""The three classic patch types (JSON, merge, strategic merge) and a dispatcher by Content-Type."""

from __future__ import annotations

from typing import Any

from kybernetes.api.errors import StatusError
from kybernetes.api.patch.json_patch import apply_json_patch
from kybernetes.api.patch.merge_patch import apply_merge_patch
from kybernetes.api.patch.strategic import apply_strategic_merge_patch

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"
PATCH_TYPES = (JSON_PATCH, MERGE_PATCH, STRATEGIC_MERGE_PATCH, APPLY_PATCH)


def apply_patch(content_type: str, obj: dict[str, Any], patch: bytes | str | Any,
                schema: dict[str, Any] | None = None, *, strategic_allowed: bool = True) -> dict[str, Any]:
    """Apply a JSON, merge or strategic merge patch chosen by its media type (parameters are ignored).

    Server-side apply is not handled here. Strategic merge needs the type's schema and is refused (415) for
    custom resources (`strategic_allowed=False`), as kube-apiserver refuses it.
    """
    media = content_type.split(";", 1)[0].strip().lower()
    if media == JSON_PATCH:
        return apply_json_patch(obj, patch)
    if media == MERGE_PATCH:
        return apply_merge_patch(obj, patch)
    if media == STRATEGIC_MERGE_PATCH and strategic_allowed:
        return apply_strategic_merge_patch(obj, patch, schema)
    accepted = [JSON_PATCH, MERGE_PATCH, APPLY_PATCH] if not strategic_allowed else list(PATCH_TYPES)
    raise StatusError(415, "UnsupportedMediaType",
                      f"the body of the request was in an unknown format - accepted media types include: "
                      f"{', '.join(accepted)}")


__all__ = [
    "APPLY_PATCH", "JSON_PATCH", "MERGE_PATCH", "PATCH_TYPES", "STRATEGIC_MERGE_PATCH", "apply_json_patch",
    "apply_merge_patch", "apply_patch", "apply_strategic_merge_patch",
]

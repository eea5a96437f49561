"""Kubernetes' protobuf wire format (application/vnd.kubernetes.protobuf) for request and response bodies."""

from __future__ import annotations

from kybernetes.api.protobuf.envelope import decode_object, encode_object, encode_watch_event

CONTENT_TYPE = "application/vnd.kubernetes.protobuf"

__all__ = ["CONTENT_TYPE", "decode_object", "encode_object", "encode_watch_event", "is_protobuf"]


def is_protobuf(content_type: str | None) -> bool:
    """Whether a Content-Type (or one Accept entry) names the Kubernetes protobuf media type."""
    if not content_type:
        return False
    return content_type.split(";", 1)[0].strip().lower() == CONTENT_TYPE

"""API errors as kube-apiserver reports them: field errors and `Status` objects with reason and code."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

# field.ErrorType values and how upstream words them
FIELD_ERROR_DETAIL = {
    "FieldValueNotFound": "Not found",
    "FieldValueRequired": "Required value",
    "FieldValueDuplicate": "Duplicate value",
    "FieldValueInvalid": "Invalid value",
    "FieldValueNotSupported": "Unsupported value",
    "FieldValueForbidden": "Forbidden",
    "FieldValueTooLong": "Too long",
    "FieldValueTooMany": "Too many",
    "InternalError": "Internal error",
    "FieldValueTypeInvalid": "Invalid value",
}


def _render_value(value: Any) -> str:
    if isinstance(value, str):
        return orjson.dumps(value).decode()
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return repr(value)


_OMIT = object()


@dataclass
class FieldError:
    """One validation failure at a field path such as 'spec.containers[0].image'."""

    type: str
    field: str
    value: Any = _OMIT
    detail: str = ""

    @property
    def message(self) -> str:
        """The cause message: 'Invalid value: 3: must be ...' (upstream's field.Error.ErrorBody)."""
        head = FIELD_ERROR_DETAIL.get(self.type, self.type)
        if self.type in ("FieldValueRequired", "FieldValueForbidden", "FieldValueTooLong", "InternalError"):
            body = head
        elif self.value is _OMIT:
            body = head
        else:
            body = f"{head}: {_render_value(self.value)}"
        if self.detail:
            body = f"{body}: {self.detail}"
        return body

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message

    def cause(self) -> dict[str, str]:
        return {"reason": self.type, "message": self.message, "field": self.field}


def required(field: str, detail: str = "") -> FieldError:
    return FieldError("FieldValueRequired", field, detail=detail)


def invalid(field: str, value: Any, detail: str = "") -> FieldError:
    return FieldError("FieldValueInvalid", field, value, detail)


def not_supported(field: str, value: Any, valid: list[str] | tuple[str, ...]) -> FieldError:
    detail = "supported values: " + ", ".join(orjson.dumps(v).decode() for v in valid) if valid else ""
    return FieldError("FieldValueNotSupported", field, value, detail)


def forbidden(field: str, detail: str) -> FieldError:
    return FieldError("FieldValueForbidden", field, detail=detail)


def duplicate(field: str, value: Any) -> FieldError:
    return FieldError("FieldValueDuplicate", field, value)


def too_long(field: str, max_length: int) -> FieldError:
    return FieldError("FieldValueTooLong", field, detail=f"may not be more than {max_length} bytes")


def too_many(field: str, actual: int, max_items: int) -> FieldError:
    return FieldError("FieldValueTooMany", field, actual, f"must have at most {max_items} items")


class StatusError(Exception):
    """An error the apiserver answers with a metav1.Status body."""

    def __init__(self, code: int, reason: str, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details

    def status(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if not self.reason:
            del body["reason"]
        if self.details:
            body["details"] = self.details
        return body


def _qualified(kind_plural: str, group: str) -> str:
    return f"{kind_plural}.{group}" if group else kind_plural


def _details(name: str, group: str, kind: str) -> dict[str, Any]:
    d: dict[str, Any] = {"name": name, "kind": kind}
    if group:
        d["group"] = group
    return d


def not_found(group: str, plural: str, name: str) -> StatusError:
    return StatusError(404, "NotFound", f'{_qualified(plural, group)} "{name}" not found',
                       details=_details(name, group, plural))


def already_exists(group: str, plural: str, name: str) -> StatusError:
    return StatusError(409, "AlreadyExists", f'{_qualified(plural, group)} "{name}" already exists',
                       details=_details(name, group, plural))


def conflict(group: str, plural: str, name: str, why: str) -> StatusError:
    return StatusError(409, "Conflict", f'Operation cannot be fulfilled on {_qualified(plural, group)} "{name}": {why}',
                       details=_details(name, group, plural))


def invalid_object(group: str, kind: str, name: str, errs: list[FieldError]) -> StatusError:
    """422 Invalid with one cause per field error, worded as upstream words it."""
    q = _qualified(kind, group)
    if len(errs) == 1:
        summary = str(errs[0])
    else:
        summary = "[" + ", ".join(str(e) for e in errs) + "]"
    details = _details(name, group, kind)
    details["causes"] = [e.cause() for e in errs]
    return StatusError(422, "Invalid", f'{q} "{name}" is invalid: {summary}', details=details)


def bad_request(message: str) -> StatusError:
    return StatusError(400, "BadRequest", message)


def gone(message: str) -> StatusError:
    return StatusError(410, "Expired", message)


def method_not_allowed(message: str = "the server does not allow this method on the requested resource") -> StatusError:
    return StatusError(405, "MethodNotAllowed", message)


def unsupported_media_type(content_type: str) -> StatusError:
    return StatusError(415, "UnsupportedMediaType", f"the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf" if not content_type else f'Unsupported Media Type: "{content_type}"')


def request_entity_too_large(limit: int) -> StatusError:
    return StatusError(413, "RequestEntityTooLarge", f"Request entity too large: limit is {limit}")


def forbidden_status(message: str, *, group: str = "", kind: str = "", name: str = "") -> StatusError:
    return StatusError(403, "Forbidden", message, details=_details(name, group, kind) if kind else None)


def internal_error(message: str) -> StatusError:
    return StatusError(500, "InternalError", f"Internal error occurred: {message}")


def timeout(message: str) -> StatusError:
    return StatusError(504, "Timeout", message)

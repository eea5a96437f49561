"""Server-side apply and managedFields, as kube-apiserver does them with structured-merge-diff."""

from kybernetes.api.apply.fieldpath import FieldSet, path_string, set_from_fields_v1
from kybernetes.api.apply.managed import (ApplyConflictError, decode_managed_fields, encode_managed_fields,
                                          fields_v1, server_side_apply, update_managed_fields)

__all__ = [
    "ApplyConflictError",
    "FieldSet",
    "decode_managed_fields",
    "encode_managed_fields",
    "fields_v1",
    "path_string",
    "server_side_apply",
    "set_from_fields_v1",
    "update_managed_fields",
]

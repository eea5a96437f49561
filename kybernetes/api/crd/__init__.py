"""CustomResourceDefinitions as apiextensions-apiserver handles them: the CRD object and its custom resources."""

from kybernetes.api.crd.resources import apply_crd_defaults, established_status, resources_for_crd
from kybernetes.api.crd.scale import apply_scale_to_custom_resource, scale_from_custom_resource
from kybernetes.api.crd.schema_validate import (default_custom_resource, prune_custom_resource,
                                                validate_custom_resource)
from kybernetes.api.crd.validation import validate_crd

__all__ = [
    "apply_crd_defaults",
    "apply_scale_to_custom_resource",
    "default_custom_resource",
    "established_status",
    "prune_custom_resource",
    "resources_for_crd",
    "scale_from_custom_resource",
    "validate_crd",
    "validate_custom_resource",
]

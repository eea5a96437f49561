"""The Kubernetes API: resource registry, meta helpers, selectors, defaulting, validation, patches, tables, OpenAPI."""

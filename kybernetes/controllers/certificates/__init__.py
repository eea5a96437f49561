"""Certificate and bootstrap-token controllers: csrapproving, csrsigning, csrcleaner, bootstrapsigner,
tokencleaner (upstream's pkg/controller/certificates and pkg/controller/bootstrap)."""

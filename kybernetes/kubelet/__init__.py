"""The node agent: registers its Node, runs the pods bound to it through a container runtime (see `runtime/`)."""

"""The scheduler: queue, cache, framework and plugins placing pending pods on nodes."""

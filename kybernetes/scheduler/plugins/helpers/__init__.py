"""Helpers shared by several scheduler plugins: node affinity matching, taints, pod and topology utilities."""

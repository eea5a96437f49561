"""The controller-manager's --controllers selection and registry."""

from __future__ import annotations

import pytest

from kybernetes.controllers.manager import CONTROLLERS, enabled_controllers, load_controller_class


@pytest.mark.parametrize("selection,want", [
    (None, list(CONTROLLERS)),
    (["*"], list(CONTROLLERS)),
    (["replicaset", "deployment"], ["replicaset", "deployment"]),
    (["*", "-podgc", "-namespace"], [n for n in CONTROLLERS if n not in ("podgc", "namespace")]),
    (["deployment", "-deployment"], []),
], ids=["default", "star", "named", "star-minus", "minus-wins"])
def test_enabled_controllers(selection: list[str] | None, want: list[str]) -> None:
    assert enabled_controllers(selection) == want


def test_unknown_controller_is_an_error() -> None:
    with pytest.raises(ValueError, match="not in the list of known controllers"):
        enabled_controllers(["replicaset", "nope"])


def test_workload_controllers_are_registered() -> None:
    assert load_controller_class("replicaset").name == "replicaset"
    assert load_controller_class("replicationcontroller").kind == "ReplicationController"
    assert load_controller_class("deployment").name == "deployment"

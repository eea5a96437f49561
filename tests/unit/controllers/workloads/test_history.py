"""ControllerRevision helpers: stable hashes and names, and which revision becomes the update revision."""

from __future__ import annotations

from typing import Any

import pytest

from kybernetes.controllers import history
from tests.unit.controllers.workloads.fakes import FakeClient

Obj = dict[str, Any]


def parent(image: str) -> Obj:
    return {"metadata": {"name": "web", "namespace": "ns", "uid": "p"},
            "spec": {"template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"containers": [{"name": "c", "image": image}]}}}}


def stored(image: str, number: int) -> Obj:
    p = parent(image)
    rev = history.new_controller_revision(p, api_version="apps/v1", kind="StatefulSet",
                                          data=history.template_patch(p["spec"]["template"]), revision=number,
                                          collision_count=0)
    rev["metadata"]["uid"] = f"uid-{image}-{number}"
    return rev


def test_hash_is_stable_and_collision_count_changes_it() -> None:
    data = history.template_patch(parent("v1")["spec"]["template"])
    assert history.hash_controller_revision(data, None) == history.hash_controller_revision(dict(data), 0)
    assert history.hash_controller_revision(data, 1) != history.hash_controller_revision(data, 0)
    rev = stored("v1", 1)
    hash_ = rev["metadata"]["labels"][history.CONTROLLER_REVISION_HASH_LABEL]
    assert rev["metadata"]["name"] == f"web-{hash_}" and rev["metadata"]["labels"]["app"] == "web"
    assert history.template_of_revision(rev) == parent("v1")["spec"]["template"]


@pytest.mark.parametrize("existing,image,want_verb,want_revision", [
    ([], "v1", "create", 1),
    ([stored("v1", 1), stored("v2", 2)], "v2", None, 2),
    ([stored("v1", 1), stored("v2", 2)], "v1", "patch", 3),
    ([stored("v1", 1), stored("v2", 2)], "v3", "create", 3),
], ids=["first", "unchanged", "roll-back-renumbers", "new-template"])
async def test_ensure_update_revision(existing: list[Obj], image: str, want_verb: str | None,
                                      want_revision: int) -> None:
    client = FakeClient()
    rev, collisions = await history.ensure_update_revision(client, parent(image), existing,  # type: ignore[arg-type]
                                                           api_version="apps/v1", kind="StatefulSet",
                                                           collision_count=0)
    assert [c[0] for c in client.calls] == ([want_verb] if want_verb else [])
    if want_verb == "create":
        assert rev["revision"] == want_revision
    elif want_verb == "patch":
        assert client.calls[0][2] == {"revision": want_revision}
    else:
        assert rev["revision"] == want_revision
    assert collisions == 0

"""Server-side apply and managedFields bookkeeping, driven through the public API with real object shapes."""

import copy

import orjson
import pytest

from kybernetes.api import schema as sch
from kybernetes.api.apply import ApplyConflictError, server_side_apply, update_managed_fields
from kybernetes.api.errors import StatusError

DEPLOYMENT = sch.definition("io.k8s.api.apps.v1.Deployment")
T0, T1, T2, T3 = "2024-05-01T10:00:00Z", "2024-05-01T11:00:00Z", "2024-05-01T12:00:00Z", "2024-05-01T13:00:00Z"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def deployment(replicas=None, labels=None, containers=None, annotations=None):
    """What `kubectl apply --server-side` sends for a small nginx Deployment."""
    meta = {"name": "web", "namespace": "default", "labels": labels if labels is not None else {"app": "web"}}
    if annotations:
        meta["annotations"] = annotations
    spec = {"selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}},
                         "spec": {"containers": containers or [{"name": "nginx", "image": "nginx:1.27"}]}}}
    if replicas is not None:
        spec["replicas"] = replicas
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta, "spec": spec}


def stored(obj, uid="u-1"):
    """The object as the apiserver stores it after a write (server-set metadata added)."""
    obj = copy.deepcopy(obj)
    obj["metadata"].setdefault("uid", uid)
    obj["metadata"].setdefault("resourceVersion", "1")
    obj["metadata"].setdefault("creationTimestamp", T0)
    return obj


def apply(live, cfg, manager="kubectl", force=False, now=T1, schema=DEPLOYMENT, api_version="apps/v1", **kw):
    return stored(server_side_apply(live, cfg, schema=schema, manager=manager, force=force,
                                    api_version=api_version, now=now, **kw))


def update(old, mutate, manager, now=T1, subresource="", schema=DEPLOYMENT, api_version="apps/v1"):
    new = copy.deepcopy(old)
    mutate(new)
    update_managed_fields(old, new, schema=schema, manager=manager, api_version=api_version, now=now,
                          subresource=subresource)
    return new


def managers(obj):
    return [(e["manager"], e["operation"]) for e in obj["metadata"].get("managedFields", [])]


def entry(obj, manager, operation="Apply"):
    for e in obj["metadata"].get("managedFields", []):
        if e["manager"] == manager and e["operation"] == operation:
            return e
    return None


def owns(obj, manager, *keys, operation="Apply"):
    e = entry(obj, manager, operation)
    node = e["fieldsV1"] if e else {}
    for k in keys:
        if k not in node:
            return False
        node = node[k]
    return True


def set_replicas(n):
    def mutate(o):
        o["spec"]["replicas"] = n
    return mutate


# ---- apply basics ----

def test_create_by_apply_records_one_apply_entry():
    obj = apply(None, deployment(replicas=2), now=T0)
    assert managers(obj) == [("kubectl", "Apply")]
    e = obj["metadata"]["managedFields"][0]
    assert list(e) == ["manager", "operation", "apiVersion", "time", "fieldsType", "fieldsV1"]
    assert e["time"] == T0 and e["apiVersion"] == "apps/v1"
    assert e["fieldsV1"] == {
        "f:metadata": {"f:labels": {"f:app": {}}},
        "f:spec": {"f:replicas": {}, "f:selector": {}, "f:template": {
            "f:metadata": {"f:labels": {"f:app": {}}},
            "f:spec": {"f:containers": {'k:{"name":"nginx"}': {".": {}, "f:image": {}, "f:name": {}}}}}}}
    assert obj["spec"]["replicas"] == 2


@pytest.mark.parametrize("cfg,status", [
    ({**deployment(), "apiVersion": "apps/v1beta1"}, 400),
    ({**deployment(), "metadata": {"name": "web", "managedFields": []}}, 400),
    (deployment(containers=[{"image": "x"}]), 500),
], ids=["wrong-version", "managed-fields-in-config", "container-without-name"])
def test_rejected_configurations(cfg, status):
    with pytest.raises(StatusError) as err:
        apply(None, cfg)
    assert err.value.code == status


def test_missing_key_error_names_the_object():
    with pytest.raises(StatusError) as err:
        apply(None, deployment(containers=[{"image": "x"}]))
    assert err.value.message.startswith(
        "failed to create typed patch object (default/web; apps/v1, Kind=Deployment): "
        ".spec.template.spec.containers: element 0: associative list with keys has an element that omits key "
        'field "name"')


def test_noop_apply_keeps_time_and_object():
    live = apply(None, deployment(replicas=2), now=T0)
    again = apply(live, deployment(replicas=2), now=T2)
    assert again == live


# ---- the kubectl lifecycle: apply, client-side change, re-apply ----

def _applied_then_changed(with_last_applied):
    live = apply(None, deployment(replicas=2), now=T0)

    def csa(o):
        o["spec"]["replicas"] = 5
        if with_last_applied:
            o["metadata"].setdefault("annotations", {})[LAST_APPLIED] = orjson.dumps(deployment(replicas=5)).decode()
    return update(live, csa, "kubectl-client-side-apply", now=T1)


def test_update_takes_ownership_from_applier():
    live = _applied_then_changed(False)
    assert managers(live) == [("kubectl", "Apply"), ("kubectl-client-side-apply", "Update")]
    assert not owns(live, "kubectl", "f:spec", "f:replicas")
    assert owns(live, "kubectl-client-side-apply", "f:spec", "f:replicas", operation="Update")
    assert entry(live, "kubectl-client-side-apply", "Update")["time"] == T1


def test_conflicting_reapply_fails_with_upstream_409():
    live = _applied_then_changed(False)
    with pytest.raises(ApplyConflictError) as err:
        apply(live, deployment(replicas=3), now=T2)
    assert err.value.conflicts == [("kubectl-client-side-apply", ".spec.replicas")]
    body = err.value.status("apps", "deployments", "web").status()
    assert body["code"] == 409 and body["reason"] == "Conflict"
    assert body["message"] == ('Apply failed with 1 conflict: conflict with "kubectl-client-side-apply" '
                               "using apps/v1: .spec.replicas")
    assert body["details"]["causes"] == [{"reason": "FieldManagerConflict", "field": ".spec.replicas",
                                          "message": 'conflict with "kubectl-client-side-apply" using apps/v1'}]


def test_forced_reapply_takes_the_field_over():
    live = _applied_then_changed(False)
    obj = apply(live, deployment(replicas=3), force=True, now=T2)
    assert obj["spec"]["replicas"] == 3
    assert owns(obj, "kubectl", "f:spec", "f:replicas")
    # the updater owned nothing else, so its entry is gone
    assert managers(obj) == [("kubectl", "Apply")]
    assert entry(obj, "kubectl")["time"] == T2


def test_kubectl_may_take_fields_unchanged_since_its_client_side_apply():
    live = _applied_then_changed(True)
    obj = apply(live, deployment(replicas=3, annotations={}), now=T2)
    assert obj["spec"]["replicas"] == 3 and owns(obj, "kubectl", "f:spec", "f:replicas")
    # the annotation kubectl's client-side apply left is kept in step with the applied config
    assert orjson.loads(obj["metadata"]["annotations"][LAST_APPLIED])["spec"]["replicas"] == 3
    assert obj["metadata"]["annotations"][LAST_APPLIED].endswith("\n")


def test_other_field_managers_get_no_last_applied_exemption():
    live = _applied_then_changed(True)
    with pytest.raises(ApplyConflictError):
        apply(live, deployment(replicas=3), manager="my-tool")


def test_same_value_is_shared_not_a_conflict():
    live = _applied_then_changed(False)
    obj = apply(live, deployment(replicas=5), now=T2)
    assert owns(obj, "kubectl", "f:spec", "f:replicas")
    assert owns(obj, "kubectl-client-side-apply", "f:spec", "f:replicas", operation="Update")


def test_multiple_conflicts_message_groups_by_manager():
    live = apply(None, deployment(replicas=2), now=T0)

    def edit(o):
        o["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:edited"
    live = update(live, edit, "kubectl-edit", now=T1)
    cfg = deployment(replicas=3, containers=[{"name": "nginx", "image": "nginx:1.28"}])
    with pytest.raises(ApplyConflictError) as err:
        apply(live, cfg, manager="ci")
    assert err.value.message == (
        'Apply failed with 2 conflicts: conflicts with "kubectl":\n- .spec.replicas\n'
        'conflicts with "kubectl-edit" using apps/v1:\n- .spec.template.spec.containers[name="nginx"].image')
    assert err.value.conflicts == [("kubectl", ".spec.replicas"),
                                   ("kubectl-edit", '.spec.template.spec.containers[name="nginx"].image')]


# ---- pruning and shared ownership ----

@pytest.mark.parametrize("second_labels,other_applier_labels,expected", [
    ({"app": "web"}, None, {"app": "web"}),
    ({"app": "web"}, {"tier": "fe"}, {"app": "web", "tier": "fe"}),
    ({"app": "web", "tier": "be"}, None, {"app": "web", "tier": "be"}),
], ids=["dropped-label-removed", "dropped-label-kept-by-other-applier", "changed-label"])
def test_dropping_a_label(second_labels, other_applier_labels, expected):
    live = apply(None, deployment(labels={"app": "web", "tier": "fe"}), now=T0)
    if other_applier_labels:
        other = {"apiVersion": "apps/v1", "kind": "Deployment",
                 "metadata": {"name": "web", "namespace": "default", "labels": other_applier_labels}}
        live = apply(live, other, manager="labeller", now=T1)
    obj = apply(live, deployment(labels=second_labels), now=T2)
    assert obj["metadata"]["labels"] == expected


def test_dropped_field_owned_by_updater_is_kept():
    live = apply(None, deployment(labels={"app": "web", "tier": "fe"}), now=T0)

    def relabel(o):
        o["metadata"]["labels"]["tier"] = "edited"
    live = update(live, relabel, "kubectl-label", now=T1)
    obj = apply(live, deployment(labels={"app": "web"}), now=T2)
    assert obj["metadata"]["labels"] == {"app": "web", "tier": "edited"}


def test_two_appliers_share_a_field_until_both_drop_it():
    live = apply(None, deployment(replicas=2), manager="team-a", now=T0)
    live = apply(live, deployment(replicas=2), manager="team-b", now=T1)
    assert owns(live, "team-a", "f:spec", "f:replicas") and owns(live, "team-b", "f:spec", "f:replicas")
    live = apply(live, deployment(), manager="team-a", now=T2)
    assert live["spec"]["replicas"] == 2
    assert not owns(live, "team-a", "f:spec", "f:replicas")
    live = apply(live, deployment(), manager="team-b", now=T3)
    assert "replicas" not in live["spec"]


def test_containers_list_map_merge_between_appliers():
    live = apply(None, deployment(), manager="app-team", now=T0)
    sidecar = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "default"},
               "spec": {"template": {"spec": {"containers": [{"name": "proxy", "image": "envoy:1"}]}}}}
    live = apply(live, sidecar, manager="mesh", now=T1)
    names = [c["name"] for c in live["spec"]["template"]["spec"]["containers"]]
    assert names == ["nginx", "proxy"]
    mesh = entry(live, "mesh")["fieldsV1"]["f:spec"]["f:template"]["f:spec"]["f:containers"]
    assert list(mesh) == ['k:{"name":"proxy"}']
    # the app team re-applies its own container with a new image: the sidecar stays
    live = apply(live, deployment(containers=[{"name": "nginx", "image": "nginx:1.28"}]), manager="app-team", now=T2)
    assert [(c["name"], c["image"]) for c in live["spec"]["template"]["spec"]["containers"]] == [
        ("nginx", "nginx:1.28"), ("proxy", "envoy:1")]
    # and the mesh drops its sidecar: removed
    live = apply(live, {**sidecar, "spec": {}}, manager="mesh", now=T3)
    assert [c["name"] for c in live["spec"]["template"]["spec"]["containers"]] == ["nginx"]


# ---- custom resources ----

CRD_SCHEMA = {
    "type": "object",
    "properties": {
        "apiVersion": {"type": "string"}, "kind": {"type": "string"}, "metadata": {"type": "object"},
        "spec": {"type": "object", "properties": {
            "replicas": {"type": "integer"},
            "routes": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"],
                       "items": {"type": "object", "required": ["name"], "properties": {
                           "name": {"type": "string"}, "weight": {"type": "integer"}}}},
        }},
        "status": {"type": "object", "properties": {"phase": {"type": "string"}}},
    },
}


def widget(routes, **spec):
    return {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w", "namespace": "default"},
            "spec": {"routes": routes, **spec}}


def test_crd_list_type_map():
    live = apply(None, widget([{"name": "a", "weight": 1}], replicas=1), manager="a", schema=CRD_SCHEMA,
                 api_version="example.com/v1", now=T0)
    live = apply(live, widget([{"name": "b", "weight": 2}]), manager="b", schema=CRD_SCHEMA,
                 api_version="example.com/v1", now=T1)
    assert live["spec"]["routes"] == [{"name": "a", "weight": 1}, {"name": "b", "weight": 2}]
    assert entry(live, "b")["fieldsV1"] == {
        "f:spec": {"f:routes": {'k:{"name":"b"}': {".": {}, "f:name": {}, "f:weight": {}}}}}
    with pytest.raises(ApplyConflictError) as err:
        apply(live, widget([{"name": "a", "weight": 9}]), manager="b", schema=CRD_SCHEMA,
              api_version="example.com/v1")
    assert err.value.conflicts == [("a", '.spec.routes[name="a"].weight')]


def test_crd_update_marks_new_maps_as_members():
    new = widget([{"name": "a"}])
    update_managed_fields(None, new, schema=CRD_SCHEMA, manager="kubectl-create", api_version="example.com/v1",
                          now=T0)
    assert new["metadata"]["managedFields"][0]["fieldsV1"] == {
        "f:spec": {".": {}, "f:routes": {".": {}, 'k:{"name":"a"}': {".": {}, "f:name": {}}}}}


# ---- updates ----

def test_create_by_update_looks_like_kubectl_create():
    new = deployment(replicas=1)
    new["spec"]["strategy"] = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%"}}
    new["spec"]["template"]["spec"]["securityContext"] = {}
    update_managed_fields(None, new, schema=DEPLOYMENT, manager="kubectl-create", api_version="apps/v1", now=T0)
    (e,) = new["metadata"]["managedFields"]
    assert (e["manager"], e["operation"], e["time"]) == ("kubectl-create", "Update", T0)
    f = e["fieldsV1"]
    assert f["f:metadata"] == {"f:labels": {".": {}, "f:app": {}}}
    assert "." not in f["f:spec"] and "." not in f["f:spec"]["f:strategy"]
    assert f["f:spec"]["f:strategy"]["f:rollingUpdate"] == {".": {}, "f:maxSurge": {}}
    assert "." not in f["f:spec"]["f:template"]["f:spec"]["f:containers"]
    assert f["f:spec"]["f:template"]["f:spec"]["f:securityContext"] == {}
    assert f["f:spec"]["f:selector"] == {}


def test_update_of_untracked_object_stays_untracked_until_first_apply():
    live = stored(deployment(replicas=1))
    new = update(live, set_replicas(4), "kube-controller-manager")
    assert "managedFields" not in new["metadata"]
    obj = apply(new, deployment(replicas=4), now=T2)
    assert managers(obj) == [("kubectl", "Apply"), ("before-first-apply", "Update")]
    assert owns(obj, "before-first-apply", "f:metadata", "f:labels", "f:app", operation="Update")
    with pytest.raises(ApplyConflictError) as err:
        apply(obj, deployment(replicas=6))
    assert err.value.conflicts == [("before-first-apply", ".spec.replicas")]


@pytest.mark.parametrize("mutate,expected_time", [
    (lambda o: None, T0),
    (lambda o: o["metadata"]["labels"].update(tier="x"), T2),
], ids=["noop-keeps-time", "change-refreshes-time"])
def test_update_time_stamps(mutate, expected_time):
    live = stored(deployment(replicas=2))
    update_managed_fields(None, live, schema=DEPLOYMENT, manager="ctl", api_version="apps/v1", now=T0)
    new = update(live, mutate, "ctl", now=T2)
    assert entry(new, "ctl", "Update")["time"] == expected_time


def test_status_subresource_tracked_separately():
    live = apply(None, deployment(replicas=2), now=T0)

    def status(o):
        o["status"] = {"replicas": 2, "readyReplicas": 2}
        o["spec"]["replicas"] = 99  # the status endpoint resets spec; its owner must not change
    new = update(live, status, "kube-controller-manager", now=T1, subresource="status")
    e = entry(new, "kube-controller-manager", "Update")
    assert e["subresource"] == "status"
    assert e["fieldsV1"] == {"f:status": {".": {}, "f:readyReplicas": {}, "f:replicas": {}}}
    assert owns(new, "kubectl", "f:spec", "f:replicas")
    # and a main-resource write of status is not tracked
    main = update(live, lambda o: o.update(status={"replicas": 1}), "someone", now=T1)
    assert entry(main, "someone", "Update") is None


def test_metadata_bookkeeping_fields_never_owned():
    live = apply(None, deployment(), now=T0)

    def touch(o):
        o["metadata"]["resourceVersion"] = "2"
        o["metadata"]["generation"] = 2
    new = update(live, touch, "apiserver", now=T1)
    assert managers(new) == [("kubectl", "Apply")]


def test_user_supplied_managed_fields_replace_or_are_kept():
    live = apply(None, deployment(replicas=2), now=T0)
    emptied = update(live, lambda o: o["metadata"].update(managedFields=[]), "x")
    assert emptied["metadata"]["managedFields"] == live["metadata"]["managedFields"]
    theirs = [{"manager": "imported", "operation": "Update", "apiVersion": "apps/v1", "time": T0,
               "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {"f:replicas": {}}}}]
    replaced = update(live, lambda o: o["metadata"].update(managedFields=theirs), "x")
    assert managers(replaced) == [("imported", "Update")]


def test_update_managers_are_capped_at_ten():
    live = apply(None, deployment(), now=T0)
    for i in range(12):
        live = update(live, lambda o, i=i: o["metadata"]["labels"].update({f"l{i}": "v"}), f"m{i:02d}",
                      now=f"2024-05-02T10:{i:02d}:00Z")
    names = [m for m, op in managers(live) if op == "Update"]
    assert len(names) == 10
    assert "ancient-changes" in names and "m00" not in names and "m11" in names
    ancient = entry(live, "ancient-changes", "Update")["fieldsV1"]["f:metadata"]["f:labels"]
    assert set(ancient) == {"f:l0", "f:l1", "f:l2"}

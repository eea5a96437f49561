"""End to end: the real kubectl binary against a started `kybernetes server`."""

from __future__ import annotations

import json
import subprocess
import textwrap
import time

import pytest
import yaml

pytestmark = pytest.mark.e2e

DEPLOYMENT = textwrap.dedent("""\
    apiVersion: apps/v1
    kind: Deployment
    metadata:
      name: web
      namespace: e2e
      labels: {app: web}
    spec:
      replicas: 2
      selector:
        matchLabels: {app: web}
      template:
        metadata:
          labels: {app: web}
        spec:
          containers:
          - name: web
            image: nginx:1.27
            ports:
            - containerPort: 80
            env:
            - {name: MODE, value: blue}
    """)

CRD = textwrap.dedent("""\
    apiVersion: apiextensions.k8s.io/v1
    kind: CustomResourceDefinition
    metadata:
      name: crontabs.stable.example.com
    spec:
      group: stable.example.com
      scope: Namespaced
      names: {plural: crontabs, singular: crontab, kind: CronTab, shortNames: [ct]}
      versions:
      - name: v1
        served: true
        storage: true
        schema:
          openAPIV3Schema:
            type: object
            properties:
              spec:
                type: object
                required: [cronSpec]
                properties:
                  cronSpec: {type: string, pattern: '^(\\d+|\\*)(/\\d+)?(\\s+(\\d+|\\*)(/\\d+)?){4}$'}
                  image: {type: string}
                  replicas: {type: integer, minimum: 1, maximum: 10}
        additionalPrinterColumns:
        - {name: Spec, type: string, jsonPath: .spec.cronSpec}
        - {name: Replicas, type: integer, jsonPath: .spec.replicas}
        - {name: Age, type: date, jsonPath: .metadata.creationTimestamp}
    """)


def _json_stream(text: str) -> list[dict]:
    decoder = json.JSONDecoder()
    out, i = [], 0
    while i < len(text):
        while i < len(text) and text[i].isspace():
            i += 1
        if i >= len(text):
            break
        obj, i = decoder.raw_decode(text, i)
        out.append(obj)
    return out


def _cm(name: str) -> str:
    return f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}}}\ndata: {{a: '1'}}\n"


@pytest.fixture(scope="module")
def ns(cluster):
    cluster.kubectl("apply", "-f", "-", input="apiVersion: v1\nkind: Namespace\nmetadata: {name: e2e}\n")
    yield "e2e"


def test_api_resources_lists_core_and_groups(cluster):
    out = cluster.kubectl("api-resources").stdout
    for line in ("pods", "deployments", "customresourcedefinitions", "leases", "endpointslices"):
        assert line in out
    wide = cluster.kubectl("api-resources", "--api-group=apps", "-o", "wide").stdout
    assert "deploy" in wide and "create" in wide


def test_explain_reads_openapi(cluster):
    out = cluster.kubectl("explain", "pod.spec.containers").stdout
    assert "KIND:" in out and "Pod" in out
    assert "image" in out and "livenessProbe" in out


def test_system_namespaces_exist(cluster):
    names = cluster.kubectl("get", "ns", "-o", "name").stdout.split()
    for ns_name in ("default", "kube-system", "kube-public", "kube-node-lease"):
        assert f"namespace/{ns_name}" in names


def test_client_side_apply_then_reapply_changed(cluster, ns):
    out = cluster.kubectl("apply", "-f", "-", input=DEPLOYMENT).stdout
    assert "deployment.apps/web created" in out
    changed = DEPLOYMENT.replace("replicas: 2", "replicas: 3").replace("value: blue", "value: green")
    out = cluster.kubectl("apply", "-f", "-", input=changed).stdout
    assert "deployment.apps/web configured" in out
    dep = cluster.kubectl_json("-n", ns, "get", "deployment", "web")
    assert dep["spec"]["replicas"] == 3
    assert dep["spec"]["template"]["spec"]["containers"][0]["env"] == [{"name": "MODE", "value": "green"}]
    assert dep["metadata"]["generation"] == 2
    # unchanged re-apply writes nothing
    out = cluster.kubectl("apply", "-f", "-", input=changed).stdout
    assert "unchanged" in out


def test_server_side_apply_conflict_and_force(cluster, ns):
    cm = textwrap.dedent(f"""\
        apiVersion: v1
        kind: ConfigMap
        metadata: {{name: ssa, namespace: {ns}}}
        data: {{owner: first}}
        """)
    cluster.kubectl("apply", "--server-side", "--field-manager=first", "-f", "-", input=cm)
    other = cm.replace("owner: first", "owner: second")
    res = cluster.kubectl("apply", "--server-side", "--field-manager=second", "-f", "-", input=other, check=False)
    assert res.returncode != 0
    assert "conflict" in res.stderr.lower() and "first" in res.stderr
    cluster.kubectl("apply", "--server-side", "--field-manager=second", "--force-conflicts", "-f", "-", input=other)
    got = cluster.kubectl_json("-n", ns, "get", "cm", "ssa", "--show-managed-fields")
    assert got["data"]["owner"] == "second"
    managers = {m["manager"] for m in got["metadata"]["managedFields"]}
    assert "second" in managers


@pytest.mark.parametrize("fmt,check", [
    ("yaml", lambda out: yaml.safe_load(out)["kind"] == "Deployment"),
    ("json", lambda out: json.loads(out)["metadata"]["name"] == "web"),
    ("wide", lambda out: "CONTAINERS" in out and "IMAGES" in out and "SELECTOR" in out),
    ("name", lambda out: out.strip() == "deployment.apps/web"),
    ("jsonpath={.spec.template.spec.containers[0].image}", lambda out: out.strip() == "nginx:1.27"),
    ("custom-columns=NAME:.metadata.name,REPLICAS:.spec.replicas", lambda out: "REPLICAS" in out and "web" in out),
], ids=["yaml", "json", "wide", "name", "jsonpath", "custom-columns"])
def test_get_output_formats(cluster, ns, fmt, check):
    cluster.kubectl("apply", "-f", "-", input=DEPLOYMENT)
    out = cluster.kubectl("-n", ns, "get", "deployment", "web", "-o", fmt).stdout
    assert check(out), out


def test_get_table_default_columns(cluster, ns):
    cluster.kubectl("apply", "-f", "-", input=DEPLOYMENT)
    out = cluster.kubectl("-n", ns, "get", "deployments").stdout
    header = out.splitlines()[0].split()
    assert header == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]


def test_watch_sees_changes_as_they_happen(cluster, ns):
    cluster.kubectl("-n", ns, "apply", "-f", "-", input=_cm("watched"))
    proc = subprocess.Popen(["kubectl", "--kubeconfig", cluster.kubeconfig, "-n", ns, "get", "cm", "watched", "-w",
                             "-o", "json", "--output-watch-events"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(1.5)
        cluster.kubectl("-n", ns, "label", "cm", "watched", "seen=yes")
        cluster.kubectl("-n", ns, "delete", "cm", "watched")
        time.sleep(1.5)
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=10)
    types = [ev["type"] for ev in _json_stream(out)]
    assert types[0] == "ADDED"
    assert "MODIFIED" in types
    assert types[-1] == "DELETED"


def test_label_annotate_and_three_patch_types(cluster, ns):
    cluster.kubectl("-n", ns, "apply", "-f", "-", input=_cm("patched"))
    cluster.kubectl("-n", ns, "label", "cm", "patched", "tier=gold")
    cluster.kubectl("-n", ns, "annotate", "cm", "patched", "note=hello")
    cluster.kubectl("-n", ns, "patch", "cm", "patched", "-p", '{"data":{"b":"2"}}')
    cluster.kubectl("-n", ns, "patch", "cm", "patched", "--type=merge", "-p", '{"data":{"c":"3"}}')
    cluster.kubectl("-n", ns, "patch", "cm", "patched", "--type=json", "-p",
                    '[{"op":"replace","path":"/data/a","value":"9"}]')
    got = cluster.kubectl_json("-n", ns, "get", "cm", "patched")
    assert got["data"] == {"a": "9", "b": "2", "c": "3"}
    assert got["metadata"]["labels"]["tier"] == "gold"
    assert got["metadata"]["annotations"]["note"] == "hello"
    # label selector in a list
    names = cluster.kubectl("-n", ns, "get", "cm", "-l", "tier=gold", "-o", "name").stdout.split()
    assert names == ["configmap/patched"]


def test_strategic_merge_patch_merges_containers_by_name(cluster, ns):
    cluster.kubectl("apply", "-f", "-", input=DEPLOYMENT)
    cluster.kubectl("-n", ns, "patch", "deployment", "web", "-p",
                    '{"spec":{"template":{"spec":{"containers":[{"name":"web","image":"nginx:1.28"}]}}}}')
    dep = cluster.kubectl_json("-n", ns, "get", "deployment", "web")
    c = dep["spec"]["template"]["spec"]["containers"]
    assert len(c) == 1 and c[0]["image"] == "nginx:1.28" and c[0]["ports"][0]["containerPort"] == 80


def test_replace_and_diff(cluster, ns):
    cluster.kubectl("-n", ns, "apply", "-f", "-", input=_cm("replaced"))
    obj = cluster.kubectl_json("-n", ns, "get", "cm", "replaced")
    obj["data"]["a"] = "2"
    cluster.kubectl("replace", "-f", "-", input=json.dumps(obj))
    assert cluster.kubectl_json("-n", ns, "get", "cm", "replaced")["data"]["a"] == "2"
    changed = DEPLOYMENT.replace("replicas: 2", "replicas: 5")
    cluster.kubectl("apply", "-f", "-", input=DEPLOYMENT)
    res = cluster.kubectl("diff", "-f", "-", input=changed, check=False)
    assert res.returncode == 1, res.stderr  # 1 means: differences found
    assert "replicas: 5" in res.stdout
    # diff is a dry run: nothing changed
    assert cluster.kubectl_json("-n", ns, "get", "deployment", "web")["spec"]["replicas"] == 2


def test_delete_wait(cluster, ns):
    cluster.kubectl("-n", ns, "apply", "-f", "-", input=_cm("doomed"))
    out = cluster.kubectl("-n", ns, "delete", "cm", "doomed", "--wait=true").stdout
    assert 'configmap "doomed" deleted' in out
    res = cluster.kubectl("-n", ns, "get", "cm", "doomed", check=False)
    assert res.returncode != 0 and "NotFound" in res.stderr


def test_errors_are_status_objects(cluster, ns):
    res = cluster.kubectl("-n", ns, "get", "cm", "nope", check=False)
    assert 'configmaps "nope" not found' in res.stderr
    cluster.kubectl("-n", ns, "create", "-f", "-", input=_cm("dup"))
    res = cluster.kubectl("-n", ns, "create", "-f", "-", input=_cm("dup"), check=False)
    assert "AlreadyExists" in res.stderr
    bad = DEPLOYMENT.replace("replicas: 2", "replicas: -1").replace("name: web\n", "name: bad\n", 1)
    res = cluster.kubectl("apply", "-f", "-", input=bad, check=False)
    assert "spec.replicas" in res.stderr and "Invalid value: -1" in res.stderr


def test_crd_instance_printer_columns_and_invalid_instance(cluster, ns):
    cluster.kubectl("apply", "-f", "-", input=CRD)
    cluster.kubectl("wait", "--for=condition=Established", "crd/crontabs.stable.example.com", "--timeout=30s")
    good = textwrap.dedent(f"""\
        apiVersion: stable.example.com/v1
        kind: CronTab
        metadata: {{name: every-minute, namespace: {ns}}}
        spec: {{cronSpec: "* * * * */5", image: my-cron, replicas: 2}}
        """)
    cluster.kubectl("apply", "-f", "-", input=good)
    out = cluster.kubectl("-n", ns, "get", "crontabs").stdout
    header = out.splitlines()[0].split()
    assert header == ["NAME", "SPEC", "REPLICAS", "AGE"]
    assert "every-minute" in out and "* * * * */5" in out
    assert cluster.kubectl("-n", ns, "get", "ct", "-o", "name").stdout.strip() == "crontab.stable.example.com/every-minute"
    bad = good.replace("every-minute", "too-many").replace("replicas: 2", "replicas: 11")
    res = cluster.kubectl("apply", "-f", "-", input=bad, check=False)
    assert res.returncode != 0
    assert "spec.replicas" in res.stderr and "should be less than or equal to 10" in res.stderr


@pytest.mark.parametrize("args,kind_name", [
    (["create", "configmap", "pc", "--from-literal=a=b"], "configmap/pc"),
    (["create", "secret", "generic", "ps", "--from-literal=k=v"], "secret/ps"),
    (["create", "deployment", "pd", "--image=nginx", "--replicas=3", "--port=80"], "deployment.apps/pd"),
    (["create", "service", "clusterip", "psvc", "--tcp=80:8080"], "service/psvc"),
    (["create", "job", "pj", "--image=busybox", "--", "echo", "hi"], "job.batch/pj"),
    (["create", "cronjob", "pcj", "--image=busybox", "--schedule=*/5 * * * *"], "cronjob.batch/pcj"),
    (["create", "serviceaccount", "psa"], "serviceaccount/psa"),
    (["create", "role", "pr", "--verb=get", "--resource=pods"], "role.rbac.authorization.k8s.io/pr"),
    (["create", "poddisruptionbudget", "ppdb", "--selector=app=pd", "--max-unavailable=0"],
     "poddisruptionbudget.policy/ppdb"),
], ids=["configmap", "secret", "deployment", "service", "job", "cronjob", "serviceaccount", "role", "pdb"])
def test_typed_create_commands(cluster, ns, args, kind_name):
    """kubectl's typed clients send Kubernetes protobuf bodies; the server decodes them."""
    out = cluster.kubectl("-n", ns, *args).stdout
    assert f"{kind_name} created" in out
    obj = cluster.kubectl_json("-n", ns, "get", kind_name)
    assert obj["metadata"]["uid"]
    if kind_name == "deployment.apps/pd":
        assert obj["spec"]["replicas"] == 3
        assert obj["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] == 80
    if kind_name == "poddisruptionbudget.policy/ppdb":
        assert obj["spec"]["maxUnavailable"] == 0


def test_create_namespace_and_expose(cluster):
    cluster.kubectl("create", "namespace", "typed")
    cluster.kubectl("-n", "typed", "create", "deployment", "app", "--image=nginx", "--port=80")
    cluster.kubectl("-n", "typed", "expose", "deployment", "app", "--port=8080", "--target-port=80")
    svc = cluster.kubectl_json("-n", "typed", "get", "service", "app")
    assert svc["spec"]["clusterIP"].startswith("198.19.")
    assert svc["spec"]["ports"][0]["targetPort"] == 80
    assert svc["spec"]["selector"] == {"app": "app"}


def test_ready_server_already_has_its_node(cluster):
    """/readyz of `kybernetes server` passes only once its own node registered (the fixture waited for it)."""
    assert cluster.kubectl("get", "nodes", "-o", "name").stdout.strip().startswith("node/")
    verbose = cluster.kubectl("get", "--raw", "/readyz?verbose").stdout
    assert "[+]kybernetes/local-node-registered ok" in verbose

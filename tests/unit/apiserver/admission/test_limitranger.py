"""LimitRanger: defaults from LimitRanges and the min/max/ratio checks with upstream's messages."""

from __future__ import annotations

import pytest

from kybernetes.api import errors
from kybernetes.apiserver.admission.interfaces import PluginContext
from kybernetes.apiserver.admission.limitranger import ANNOTATION, LimitRanger, apply_defaults, validate_pod

from .helpers import FakeCache, attrs, container, pod


def lr(*items: dict) -> dict:
    return {"metadata": {"name": "lr", "namespace": "ns"}, "spec": {"limits": list(items)}}


DEFAULTS = [
    ("default-and-request", {"type": "Container", "default": {"cpu": "500m"}, "defaultRequest": {"cpu": "100m"}},
     container(), {"requests": {"cpu": "100m"}, "limits": {"cpu": "500m"}}),
    ("request-from-default", {"type": "Container", "default": {"memory": "1Gi"}},
     container(), {"requests": {"memory": "1Gi"}, "limits": {"memory": "1Gi"}}),
    ("default-from-max", {"type": "Container", "max": {"cpu": "2"}},
     container(), {"requests": {"cpu": "2"}, "limits": {"cpu": "2"}}),
    ("request-from-min", {"type": "Container", "min": {"cpu": "50m"}},
     container(), {"requests": {"cpu": "50m"}}),
    ("keeps-stated", {"type": "Container", "default": {"cpu": "1"}, "defaultRequest": {"cpu": "1"}},
     container(requests={"cpu": "200m"}, limits={"cpu": "300m"}), {"requests": {"cpu": "200m"}, "limits": {"cpu": "300m"}}),
    ("pod-type-sets-nothing", {"type": "Pod", "max": {"cpu": "2"}}, container(), {}),
]


@pytest.mark.parametrize("item,c,want", [d[1:] for d in DEFAULTS], ids=[d[0] for d in DEFAULTS])
def test_defaults(item: dict, c: dict, want: dict) -> None:
    p = pod(c)
    apply_defaults(p, [lr(item)])
    assert p["spec"]["containers"][0]["resources"] == want


LIMITS = [
    ("min-request", {"type": "Container", "min": {"cpu": "100m"}}, container(requests={"cpu": "50m"}),
     ["minimum cpu usage per Container is 100m, but request is 50m"]),
    ("min-no-request", {"type": "Container", "min": {"memory": "1Mi"}}, container(),
     ["minimum memory usage per Container is 1Mi.  No request is specified"]),
    ("max-limit", {"type": "Container", "max": {"cpu": "1"}}, container(requests={"cpu": "1"}, limits={"cpu": "2"}),
     ["maximum cpu usage per Container is 1, but limit is 2"]),
    ("max-no-limit", {"type": "Container", "max": {"cpu": "1"}}, container(requests={"cpu": "1"}),
     ["maximum cpu usage per Container is 1.  No limit is specified"]),
    ("ratio", {"type": "Container", "maxLimitRequestRatio": {"cpu": "2"}},
     container(requests={"cpu": "100m"}, limits={"cpu": "500m"}),
     ["cpu max limit to request ratio per Container is 2, but provided ratio is 5.000000"]),
    ("ratio-ok", {"type": "Container", "maxLimitRequestRatio": {"cpu": "2"}},
     container(requests={"cpu": "100m"}, limits={"cpu": "200m"}), []),
    ("pod-max-sums", {"type": "Pod", "max": {"memory": "1Gi"}},
     container(requests={"memory": "600Mi"}, limits={"memory": "600Mi"}),
     ["maximum memory usage per Pod is 1Gi, but limit is 1200Mi"]),
    ("within", {"type": "Container", "min": {"cpu": "10m"}, "max": {"cpu": "1"}},
     container(requests={"cpu": "100m"}, limits={"cpu": "1"}), []),
]


@pytest.mark.parametrize("item,c,want", [d[1:] for d in LIMITS], ids=[d[0] for d in LIMITS])
def test_limits(item: dict, c: dict, want: list[str]) -> None:
    containers = [c, dict(c, name="d")] if item["type"] == "Pod" else [c]
    assert validate_pod(pod(*containers), [lr(item)]) == want * (1 if item["type"] == "Pod" else len(containers))


async def test_plugin_defaults_then_refuses() -> None:
    ranges = {"/registry/core/limitranges/ns/lr": lr({"type": "Container", "default": {"cpu": "2"},
                                                      "max": {"cpu": "1"}})}
    plugin = LimitRanger(PluginContext(FakeCache(ranges)))  # type: ignore[arg-type]
    a = attrs("", "pods", pod(container()))
    await plugin.admit(a)
    assert a.obj["metadata"]["annotations"][ANNOTATION] == \
        "LimitRanger plugin set: cpu request for container c; cpu limit for container c"
    with pytest.raises(errors.StatusError) as e:
        await plugin.validate(a)
    assert e.value.code == 403
    assert e.value.message == 'pods "p" is forbidden: maximum cpu usage per Container is 1, but limit is 2'

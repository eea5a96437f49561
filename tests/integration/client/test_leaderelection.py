"""LeaderElector against the fake apiserver's Leases: acquire, exclusivity, release, takeover, loss."""

from __future__ import annotations

import asyncio

import pytest

from kybernetes.client.leaderelection import LeaderElector

from .test_informer import until


class Candidate:
    def __init__(self, client, identity, **kw):
        self.started = asyncio.Event()
        self.stopped = False
        self.work_cancelled = False
        self.elector = LeaderElector(client, namespace="kube-system", name="kybernetes-scheduler",
                                     identity=identity, on_started_leading=self._lead,
                                     on_stopped_leading=self._stop, lease_duration=1.0, renew_deadline=0.5,
                                     retry_period=0.05, **kw)
        self.task = asyncio.create_task(self.elector.run())

    async def _lead(self):
        self.started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.work_cancelled = True
            raise

    def _stop(self):
        self.stopped = True

    async def cancel(self):
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)


def holder(api):
    return api.leases["kube-system/kybernetes-scheduler"]["spec"]["holderIdentity"]


async def test_single_candidate_acquires_and_renews(api, client):
    c = Candidate(client, "a")
    try:
        await asyncio.wait_for(c.started.wait(), 5)
        assert holder(api) == "a" and c.elector.is_leader()
        first = api.leases["kube-system/kybernetes-scheduler"]["spec"]["renewTime"]
        await until(lambda: api.leases["kube-system/kybernetes-scheduler"]["spec"]["renewTime"] != first)
    finally:
        await c.cancel()
    assert holder(api) == ""  # released on cancel


async def test_only_one_leads_and_release_hands_over(api, client):
    a = Candidate(client, "a")
    await asyncio.wait_for(a.started.wait(), 5)
    b = Candidate(client, "b")
    await asyncio.sleep(0.3)
    assert not b.started.is_set() and b.elector.leader == "a"
    await a.cancel()
    assert a.work_cancelled
    await asyncio.wait_for(b.started.wait(), 0.5)  # well before the 1 s lease would run out
    assert holder(api) == "b"
    assert api.leases["kube-system/kybernetes-scheduler"]["spec"]["leaseTransitions"] == 1
    await b.cancel()


async def test_takeover_after_holder_stops_renewing(api, client):
    a = Candidate(client, "a", release_on_cancel=False)
    await asyncio.wait_for(a.started.wait(), 5)
    await a.cancel()  # "crashed": the lease still names a
    assert holder(api) == "a"
    b = Candidate(client, "b")
    await asyncio.sleep(0.5)
    assert not b.started.is_set()
    await asyncio.wait_for(b.started.wait(), 3)
    assert holder(api) == "b"
    await b.cancel()


async def test_leader_steps_down_when_lease_is_taken(api, client):
    a = Candidate(client, "a")
    await asyncio.wait_for(a.started.wait(), 5)
    lease = api.leases["kube-system/kybernetes-scheduler"]
    lease["spec"] = {**lease["spec"], "holderIdentity": "intruder"}
    lease["metadata"]["resourceVersion"] = "999999"
    await asyncio.wait_for(a.task, 3)  # run() returns once leadership is lost
    assert a.stopped and a.work_cancelled and not a.elector.is_leader()
    assert holder(api) == "intruder"


def test_rejects_bad_timings():
    with pytest.raises(ValueError):
        LeaderElector(None, namespace="n", name="l", identity="i", on_started_leading=lambda: None,
                      lease_duration=1, renew_deadline=2, retry_period=0.1)

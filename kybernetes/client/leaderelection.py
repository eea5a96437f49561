"""Leader election on a coordination.k8s.io/v1 Lease, as client-go's leaderelection package does it.

Contract: at most one candidate believes it leads while clocks tick at the same rate. A candidate takes the
lease only when it is free or its holder failed to renew it for lease_duration seconds of *local* time since
this candidate last saw the record change (so clock skew between machines does not matter). A leader that
cannot renew within renew_deadline stops leading (its `on_started_leading` task is cancelled).
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import math
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

from kybernetes.client.rest import ApiError, RESTClient, resource_path

log = logging.getLogger(__name__)


def _micro_time() -> str:
    """metav1.MicroTime: RFC 3339 with microseconds, UTC."""
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class LeaderElector:
    """Campaign for, hold, and (on cancel) release one Lease; run leader-only work while holding it."""

    def __init__(self, client: RESTClient, *, namespace: str, name: str, identity: str,
                 on_started_leading: Callable[[], Awaitable[None]],
                 on_stopped_leading: Callable[[], Any] | None = None,
                 on_new_leader: Callable[[str], Any] | None = None,
                 lease_duration: float = 15.0, renew_deadline: float = 10.0, retry_period: float = 2.0,
                 release_on_cancel: bool = True, monotonic: Callable[[], float] = time.monotonic) -> None:
        if not lease_duration > renew_deadline > retry_period > 0:
            raise ValueError("need lease_duration > renew_deadline > retry_period > 0")
        self.client = client
        self.path = resource_path("coordination.k8s.io", "v1", "leases", namespace)
        self.namespace, self.name, self.identity = namespace, name, identity
        self.on_started_leading = on_started_leading
        self.on_stopped_leading = on_stopped_leading
        self.on_new_leader = on_new_leader
        self.lease_duration, self.renew_deadline, self.retry_period = lease_duration, renew_deadline, retry_period
        self.release_on_cancel = release_on_cancel
        self.monotonic = monotonic
        self._observed_spec: dict[str, Any] | None = None
        self._observed_time = 0.0
        self._lease: dict[str, Any] | None = None
        self._leading = False
        self.leader: str = ""

    def is_leader(self) -> bool:
        return self._leading

    async def run(self) -> None:
        """Acquire, lead until renewal fails, then return. Cancelling releases the lease if we hold it."""
        try:
            while not await self.try_acquire_or_renew():
                await asyncio.sleep(self.retry_period)
            self._leading = True
            log.info("%s: became leader of %s/%s", self.identity, self.namespace, self.name)
            work = asyncio.create_task(self.on_started_leading(), name=f"leader {self.name}")
            try:
                await self._renew_loop(work)
            finally:
                self._leading = False
                if not work.done():
                    work.cancel()
                    await asyncio.gather(work, return_exceptions=True)
                if self.on_stopped_leading is not None:
                    self.on_stopped_leading()
        except asyncio.CancelledError:
            if self.release_on_cancel:
                await asyncio.shield(self._release())
            raise

    async def _renew_loop(self, work: asyncio.Task[None]) -> None:
        last_renew = self.monotonic()
        while not work.done():
            done, _ = await asyncio.wait({work}, timeout=self.retry_period)
            if done:
                return
            if await self.try_acquire_or_renew():
                last_renew = self.monotonic()
            elif self.monotonic() - last_renew >= self.renew_deadline or self.leader not in ("", self.identity):
                log.warning("%s: lost leadership of %s/%s", self.identity, self.namespace, self.name)
                return

    def _observe(self, spec: dict[str, Any]) -> None:
        if spec != self._observed_spec:
            self._observed_spec = spec
            self._observed_time = self.monotonic()
            holder = spec.get("holderIdentity") or ""
            if holder != self.leader:
                self.leader = holder
                if self.on_new_leader is not None and holder:
                    self.on_new_leader(holder)

    async def try_acquire_or_renew(self) -> bool:
        """One attempt; True if we hold the lease afterwards. Conflicts and transport errors are False."""
        now = _micro_time()
        mine = {"holderIdentity": self.identity, "leaseDurationSeconds": math.ceil(self.lease_duration),
                "acquireTime": now, "renewTime": now, "leaseTransitions": 0}
        try:
            try:
                lease = await self.client.get(f"{self.path}/{self.name}")
            except ApiError as e:
                if not e.not_found:
                    raise
                body = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                        "metadata": {"name": self.name, "namespace": self.namespace}, "spec": mine}
                self._lease = await self.client.create(self.path, body)
                self._observe(self._lease["spec"])
                return True
            spec = lease.get("spec") or {}
            self._observe(spec)
            holder = spec.get("holderIdentity") or ""
            expired = self.monotonic() > self._observed_time + float(spec.get("leaseDurationSeconds") or 0)
            if holder and holder != self.identity and not expired:
                return False
            new = dict(spec)
            if holder == self.identity:
                new["renewTime"] = now
                new["leaseDurationSeconds"] = mine["leaseDurationSeconds"]
            else:
                new.update(mine, leaseTransitions=int(spec.get("leaseTransitions") or 0) + 1)
            lease = {**lease, "spec": new}
            self._lease = await self.client.update(f"{self.path}/{self.name}", lease)
            self._observe(self._lease["spec"])
            return True
        except ApiError as e:
            if not e.conflict:
                log.warning("%s: lease %s/%s: %s", self.identity, self.namespace, self.name, e)
            return False
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as e:
            log.warning("%s: lease %s/%s: %s", self.identity, self.namespace, self.name, e)
            return False

    async def _release(self) -> None:
        """Give the lease up (holder cleared, 1 s duration) so another candidate need not wait it out."""
        if self._lease is None or self._lease["spec"].get("holderIdentity") != self.identity:
            return
        spec = {**self._lease["spec"], "holderIdentity": "", "leaseDurationSeconds": 1, "renewTime": _micro_time()}
        try:
            await self.client.update(f"{self.path}/{self.name}", {**self._lease, "spec": spec})
        except (ApiError, aiohttp.ClientError, asyncio.TimeoutError, OSError) as e:
            log.warning("%s: releasing lease %s/%s: %s", self.identity, self.namespace, self.name, e)
        self._lease = None

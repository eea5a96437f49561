"""Which failed etcd calls the store retries while the cluster elects a leader."""

from __future__ import annotations

import grpc
import pytest
from grpc.aio import AioRpcError, Metadata

from kybernetes.storage.etcd import _retryable


def _err(code: grpc.StatusCode, details: str) -> AioRpcError:
    return AioRpcError(code, Metadata(), Metadata(), details=details)


@pytest.mark.parametrize("code,details,read,want", [
    (grpc.StatusCode.UNAVAILABLE, "failed to connect to all addresses", True, True),
    (grpc.StatusCode.UNAVAILABLE, "failed to connect to all addresses", False, False),  # may have been applied
    (grpc.StatusCode.UNAVAILABLE, "etcdserver: no leader", False, True),  # refused before any proposal
    (grpc.StatusCode.UNKNOWN, "etcdserver: leader changed", True, True),
    (grpc.StatusCode.UNKNOWN, "etcdserver: leader changed", False, False),
    (grpc.StatusCode.OUT_OF_RANGE, "etcdserver: mvcc: required revision has been compacted", True, False),
    (grpc.StatusCode.DEADLINE_EXCEEDED, "context deadline exceeded", True, False),
])
def test_retryable(code, details, read, want):
    assert _retryable(_err(code, details), read=read) is want

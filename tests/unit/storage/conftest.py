"""Fixtures of the storage unit tests: a started SQLiteStore on a temp file."""

from __future__ import annotations

from typing import AsyncIterator

import pytest

from kybernetes.storage.sqlite import SQLiteStore


@pytest.fixture
async def store(tmp_path) -> AsyncIterator[SQLiteStore]:
    s = SQLiteStore(str(tmp_path / "state.db"), compaction_interval=0)
    await s.start()
    yield s
    await s.close()

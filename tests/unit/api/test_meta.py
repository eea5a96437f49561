"""ObjectMeta helpers: uids as uuid4 makes them (also after fork), metav1.Time of now."""

from __future__ import annotations

import os
import re
import uuid
from datetime import datetime, timezone

from kybernetes.api import meta


def test_new_uid_is_a_random_version_4_uuid() -> None:
    uids = [meta.new_uid() for _ in range(2000)]  # more than one pool of random bytes
    assert len(set(uids)) == len(uids)
    for u in uids[:50]:
        parsed = uuid.UUID(u)
        assert str(parsed) == u
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122


def test_forked_child_does_not_repeat_the_parents_uids() -> None:
    meta.new_uid()  # the pool holds unused random bytes now
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: write its next uid and leave at once
        os.write(w, meta.new_uid().encode())
        os._exit(0)
    os.close(w)
    child_uid = os.read(r, 64).decode()
    os.close(r)
    os.waitpid(pid, 0)
    assert child_uid and child_uid != meta.new_uid()


def test_now_rfc3339_is_metav1_time_of_now() -> None:
    before = datetime.now(timezone.utc).replace(microsecond=0)
    text = meta.now_rfc3339()
    after = datetime.now(timezone.utc)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", text)
    assert before <= meta.parse_time(text) <= after

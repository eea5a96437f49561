"""The AtomicWriter layout: ..data symlink swap, user-visible links, removal of stale paths."""

from __future__ import annotations

import os

import pytest

from kybernetes.kubelet import atomic_writer
from kybernetes.kubelet.atomic_writer import FileProjection as F


def test_write_update_and_remove(tmp_path):
    target = str(tmp_path / "vol")
    assert atomic_writer.write(target, {"a": F(b"1"), "dir/b": F(b"2", 0o600)})
    first = os.readlink(os.path.join(target, "..data"))
    assert os.readlink(os.path.join(target, "a")) == "..data/a"
    assert open(os.path.join(target, "dir", "b")).read() == "2"
    assert os.stat(os.path.join(target, "dir", "b")).st_mode & 0o777 == 0o600
    assert not atomic_writer.write(target, {"a": F(b"1"), "dir/b": F(b"2", 0o600)})  # unchanged: no write
    assert atomic_writer.write(target, {"a": F(b"new")})
    assert open(os.path.join(target, "a")).read() == "new"
    assert not os.path.lexists(os.path.join(target, "dir"))
    assert not os.path.exists(os.path.join(target, first))
    assert sorted(n for n in os.listdir(target) if n.startswith("..")) == sorted(["..data", os.readlink(
        os.path.join(target, "..data"))])


@pytest.mark.parametrize("path", ["/abs", "../up", "a/../b", "..hidden"], ids=["absolute", "parent", "inner-parent", "dotdot-prefix"])
def test_invalid_paths(tmp_path, path):
    with pytest.raises(ValueError):
        atomic_writer.write(str(tmp_path / "v"), {path: F(b"x")})

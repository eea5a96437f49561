"""Images of the process runtime: names only. Pulling records a name as present; nothing is downloaded."""

from __future__ import annotations

import hashlib
import os
import threading

from kybernetes.kubelet.runtime.interface import Image, ImageFilter, ImageSpec
from kybernetes.kubelet.runtime.process.state import from_dict, read_json, to_dict, write_json


def normalize(ref: str) -> str:
    """Docker's reference normalization: `nginx` -> `docker.io/library/nginx:latest`."""
    name, digest = (ref.split("@", 1) + [""])[:2]
    first, _, rest = name.partition("/")
    if not rest:
        name = f"docker.io/library/{name}"
    elif "." not in first and ":" not in first and first != "localhost":
        name = f"docker.io/{name}"
    if digest:
        return f"{name}@{digest}"
    if ":" not in name.rsplit("/", 1)[-1]:
        name += ":latest"
    return name


def image_id(ref: str) -> str:
    return "sha256:" + hashlib.sha256(normalize(ref).encode()).hexdigest()


class ImageStore:
    """images.json under the runtime's root: {normalized ref: Image}, read once, then kept in memory (only this
    runtime writes it). Thread-safe: containers are created in threads."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._images: dict[str, Image] | None = None

    def _load(self) -> dict[str, Image]:
        images = self._images
        if images is None:
            images = {k: from_dict(Image, v) for k, v in (read_json(self.path) or {}).items()}
            self._images = images
        return images

    def _save(self, images: dict[str, Image]) -> None:
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        write_json(self.path, {k: to_dict(v) for k, v in images.items()})
        self._images = images

    def pull(self, spec: ImageSpec) -> str:
        ref = normalize(spec.image)
        with self._lock:
            images = self._load()
            if ref not in images:
                tags = [] if "@" in ref else [ref]
                digests = [ref] if "@" in ref else []
                image = Image(id=image_id(ref), repo_tags=tags, repo_digests=digests, size=0, spec=spec)
                self._save({**images, ref: image})
                return image.id
        return images[ref].id

    def status(self, spec: ImageSpec) -> Image | None:
        images = self._load()
        if spec.image.startswith("sha256:"):
            return next((i for i in images.values() if i.id == spec.image), None)
        return images.get(normalize(spec.image))

    def list(self, filter: ImageFilter | None = None) -> list[Image]:
        images = list(self._load().values())
        if filter and filter.image and filter.image.image:
            wanted = self.status(filter.image)
            images = [i for i in images if wanted and i.id == wanted.id]
        return images

    def remove(self, spec: ImageSpec) -> None:
        with self._lock:
            images = self._load()
            target = self.status(spec)
            if target is None:
                return
            self._save({k: v for k, v in images.items() if v.id != target.id})

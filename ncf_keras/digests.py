"""File digests: SHA-256, MD5 and git's blob id, read in 1 MiB blocks. Keras-free."""

from __future__ import annotations

import hashlib
from pathlib import Path


def file_digest(path: Path, algorithm: str) -> str:
    """Hex digest of a file: `algorithm` is "sha256", "md5" or "git_blob_sha1"."""
    if algorithm == "git_blob_sha1":
        h = hashlib.sha1(f"blob {path.stat().st_size}\0".encode())
    else:
        h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()

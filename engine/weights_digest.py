"""The SHA-256 of a model directory's weight files, remembered by their size and time.

Converted weights are keyed by the content they came from, not by a directory's name: a model
replaced under the same name is converted again, and a copy elsewhere reuses the conversion.
Hashing gigabytes takes seconds, so each file's digest is kept beside the conversions and
computed again only when its size or modification time changes.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

_CHUNK = 8 * 1024 * 1024


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as weights:
        while chunk := weights.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def weights_digest(directory: Path, memo: Path) -> str:
    """One digest over the directory's *.safetensors files (names and contents)."""
    try:
        known: dict[str, str] = json.loads(memo.read_text())
    except (OSError, ValueError):
        known = {}
    combined = hashlib.sha256()
    changed = False
    for path in sorted(directory.glob("*.safetensors")):
        info = path.stat()
        stamp = f"{path.resolve()}:{info.st_size}:{info.st_mtime_ns}"
        if stamp not in known:
            known[stamp] = _file_digest(path)
            changed = True
        combined.update(f"{path.name}:{known[stamp]}\n".encode())
    if changed:
        memo.parent.mkdir(parents=True, exist_ok=True)
        partial = memo.with_suffix(f".{os.getpid()}.partial")
        partial.write_text(json.dumps(known, indent=1))
        partial.replace(memo)
    return combined.hexdigest()

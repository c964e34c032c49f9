import hashlib
import sys
import types
from pathlib import Path

import pytest

from engine.model_cache import join_parts
from engine.packaged_models import DEFAULT_MODEL, PACKAGED_MODELS, PackagedModel, PackagedModelError


class _Silent:
    def __init__(self, total: int, description: str) -> None:
        self.seen = 0

    def advance(self, amount: int) -> None:
        self.seen += amount

    def close(self) -> None:
        pass


@pytest.fixture
def fake_parts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[PackagedModel, list[bytes]]:
    """Three importable part packages holding known bytes."""
    blobs = [b"GGUF" + bytes(range(200)), bytes(1000), b"tail" * 50]
    for index, blob in enumerate(blobs, start=1):
        path = tmp_path / f"part{index:02d}.bin"
        path.write_bytes(blob)
        module = types.ModuleType(f"fake_model_part{index}")
        module.get_part_path = lambda path=path: str(path)  # type: ignore[attr-defined]
        monkeypatch.setitem(sys.modules, module.__name__, module)
    joined = b"".join(blobs)
    model = PackagedModel(
        name="fake",
        package_prefix="fake-model-part",
        part_count=3,
        version="1.0",
        size=len(joined),
        sha256=hashlib.sha256(joined).hexdigest(),
        gguf_name="fake.gguf",
        tokenizer_source="none",
        neutral_thresholds={"en": 0.9, "zh": 0.8},
    )
    return model, blobs


def test_parts_join_into_the_verified_file(
    tmp_path: Path, fake_parts: tuple[PackagedModel, list[bytes]]
) -> None:
    model, blobs = fake_parts
    target = join_parts(model, tmp_path / "out" / "fake.gguf", _Silent)
    assert target.read_bytes() == b"".join(blobs)
    assert not target.with_suffix(".gguf.partial").exists()


def test_corrupt_part_names_the_packages_to_reinstall(
    tmp_path: Path, fake_parts: tuple[PackagedModel, list[bytes]]
) -> None:
    model, blobs = fake_parts
    corrupt = bytearray(blobs[1])
    corrupt[10] ^= 0xFF
    Path(sys.modules["fake_model_part2"].get_part_path()).write_bytes(bytes(corrupt))
    with pytest.raises(PackagedModelError, match=r"SHA-256.*fake-model-part1"):
        join_parts(model, tmp_path / "fake.gguf", _Silent)
    assert not (tmp_path / "fake.gguf").exists()


def test_truncated_part_is_caught_by_size(
    tmp_path: Path, fake_parts: tuple[PackagedModel, list[bytes]]
) -> None:
    model, blobs = fake_parts
    Path(sys.modules["fake_model_part3"].get_part_path()).write_bytes(blobs[2][:-1])
    with pytest.raises(PackagedModelError, match="expected"):
        join_parts(model, tmp_path / "fake.gguf", _Silent)


def test_missing_part_package_is_named(
    tmp_path: Path, fake_parts: tuple[PackagedModel, list[bytes]], monkeypatch: pytest.MonkeyPatch
) -> None:
    model, _ = fake_parts
    monkeypatch.delitem(sys.modules, "fake_model_part2")
    with pytest.raises(PackagedModelError, match=r"fake-model-part2==1\.0 is not installed"):
        join_parts(model, tmp_path / "fake.gguf", _Silent)


def test_default_model_parts_are_all_installed() -> None:
    model = PACKAGED_MODELS[DEFAULT_MODEL]
    paths = model.part_paths()
    assert len(paths) == 22
    assert sum(path.stat().st_size for path in paths) == model.size

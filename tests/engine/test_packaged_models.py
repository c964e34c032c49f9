import base64
import hashlib
import sys
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
    """Three installed part distributions (a dist-info with its RECORD, and the data file)
    holding known bytes, found on sys.path as pip would leave them."""
    blobs = [b"GGUF" + bytes(range(200)), bytes(1000), b"tail" * 50]
    for index, blob in enumerate(blobs, start=1):
        package = f"fake_model_part{index}"
        data = tmp_path / package / "data" / f"part{index:02d}.bin"
        data.parent.mkdir(parents=True)
        data.write_bytes(blob)
        digest = base64.urlsafe_b64encode(hashlib.sha256(blob).digest()).rstrip(b"=").decode()
        info = tmp_path / f"{package}-1.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: fake-model-part{index}\nVersion: 1.0\n",
            encoding="utf-8",
        )
        (info / "RECORD").write_text(
            f"{package}/data/part{index:02d}.bin,sha256={digest},{len(blob)}\n"
            f"{info.name}/METADATA,,\n{info.name}/RECORD,,\n",
            encoding="utf-8",
        )
    monkeypatch.syspath_prepend(str(tmp_path))
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


def part_file(root: Path, index: int) -> Path:
    return root / f"fake_model_part{index}" / "data" / f"part{index:02d}.bin"


def test_parts_are_found_without_importing_them(
    fake_parts: tuple[PackagedModel, list[bytes]], tmp_path: Path
) -> None:
    model, _ = fake_parts
    assert model.part_paths() == [part_file(tmp_path, index) for index in (1, 2, 3)]
    # The parts' packages have no code to import, and none was imported.
    assert not any(name.startswith("fake_model_part") for name in sys.modules)


def test_parts_join_into_the_verified_file(
    tmp_path: Path, fake_parts: tuple[PackagedModel, list[bytes]]
) -> None:
    model, blobs = fake_parts
    target = join_parts(model, tmp_path / "out" / "fake.gguf", _Silent)
    assert target.read_bytes() == b"".join(blobs)
    assert not target.with_suffix(".gguf.partial").exists()


def test_a_corrupt_part_is_named_by_its_package_before_it_is_read(
    tmp_path: Path, fake_parts: tuple[PackagedModel, list[bytes]]
) -> None:
    model, blobs = fake_parts
    corrupt = bytearray(blobs[1])
    corrupt[10] ^= 0xFF
    part_file(tmp_path, 2).write_bytes(bytes(corrupt))
    with pytest.raises(
        PackagedModelError, match=r"fake-model-part2==1\.0 has a part file whose SHA-256 differs"
    ):
        join_parts(model, tmp_path / "out" / "fake.gguf", _Silent)
    # Refused before any joining began.
    assert not (tmp_path / "out").exists()


def test_a_part_without_a_recorded_sha256_is_refused(
    tmp_path: Path, fake_parts: tuple[PackagedModel, list[bytes]]
) -> None:
    model, _ = fake_parts
    record = tmp_path / "fake_model_part3-1.0.dist-info" / "RECORD"
    lines = record.read_text(encoding="utf-8").splitlines()
    name, _, size = lines[0].split(",")
    record.write_text("\n".join([f"{name},,{size}", *lines[1:]]) + "\n", encoding="utf-8")
    with pytest.raises(PackagedModelError, match=r"fake-model-part3==1\.0 lists no SHA-256"):
        join_parts(model, tmp_path / "fake.gguf", _Silent)


def test_parts_matching_their_records_are_still_checked_as_a_whole(
    tmp_path: Path, fake_parts: tuple[PackagedModel, list[bytes]]
) -> None:
    model, blobs = fake_parts
    # Part and RECORD changed alike (a rebuilt package): only the whole's SHA-256 can tell.
    changed = bytes(len(blobs[1]))[:-1] + b"x"
    part_file(tmp_path, 2).write_bytes(changed)
    record = tmp_path / "fake_model_part2-1.0.dist-info" / "RECORD"
    old = base64.urlsafe_b64encode(hashlib.sha256(blobs[1]).digest()).rstrip(b"=").decode()
    new = base64.urlsafe_b64encode(hashlib.sha256(changed).digest()).rstrip(b"=").decode()
    record.write_text(record.read_text(encoding="utf-8").replace(old, new), encoding="utf-8")
    with pytest.raises(PackagedModelError, match=r"SHA-256 of the joined file.*fake-model-part1"):
        join_parts(model, tmp_path / "fake.gguf", _Silent)
    assert not (tmp_path / "fake.gguf").exists()


def test_truncated_part_is_caught_by_size(
    tmp_path: Path, fake_parts: tuple[PackagedModel, list[bytes]]
) -> None:
    model, blobs = fake_parts
    part_file(tmp_path, 3).write_bytes(blobs[2][:-1])
    with pytest.raises(PackagedModelError, match=r"fake-model-part3==1\.0 has a part file of 199"):
        join_parts(model, tmp_path / "fake.gguf", _Silent)


def test_missing_part_package_is_named(
    tmp_path: Path, fake_parts: tuple[PackagedModel, list[bytes]], monkeypatch: pytest.MonkeyPatch
) -> None:
    model, _ = fake_parts
    for leftover in (tmp_path / "fake_model_part2-1.0.dist-info").iterdir():
        leftover.unlink()
    (tmp_path / "fake_model_part2-1.0.dist-info").rmdir()
    with pytest.raises(PackagedModelError, match=r"fake-model-part2==1\.0 is not installed"):
        join_parts(model, tmp_path / "fake.gguf", _Silent)


def test_default_model_parts_are_all_installed() -> None:
    model = PACKAGED_MODELS[DEFAULT_MODEL]
    paths = model.part_paths()
    assert len(paths) == 22
    assert sum(path.stat().st_size for path in paths) == model.size

"""CUB/COCO annotations -> .lst + RecordIO; the RecordIO writer itself."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import pytest
from PIL import Image

from reelsight.annotations import read_lst
from reelsight.cli import main
from reelsight.errors import ParamError
from reelsight.training.dataset import build, read_coco, read_cub, split
from reelsight.training.recordio import (
    MAGIC,
    IndexedRecordWriter,
    encode_record,
    pack_image_record,
    read_records,
    unpack_image_record,
)
from tests.training.conftest import CUB_CLASSES, CUB_IMAGES


def test_recordio_splits_payloads_holding_the_magic_number(tmp_path: Path):
    magic = struct.pack("<I", MAGIC)
    payloads = [b"", b"abc", b"abcd" + magic + b"tail!", magic + magic, b"xy" + magic + b"z"]
    encoded = encode_record(payloads[2])
    assert encoded.count(magic) == 2  # two parts; the payload's own magic is dropped
    assert len(encoded) % 4 == 0
    with IndexedRecordWriter(tmp_path / "a.rec", tmp_path / "a.idx") as writer:
        for i, payload in enumerate(payloads):
            writer.write(i, payload)
    assert read_records(tmp_path / "a.rec") == payloads
    offsets = [int(line.split("\t")[1]) for line in (tmp_path / "a.idx").read_text().splitlines()]
    assert offsets[0] == 0 and offsets == sorted(offsets) and len(offsets) == len(payloads)


def test_image_records_carry_header_and_labels():
    record = pack_image_record(7, [2, 5, 1, 0.1, 0.2, 0.5, 0.75], b"JPEG")
    index, labels, image = unpack_image_record(record)
    assert index == 7 and image == b"JPEG"
    assert labels == pytest.approx([2, 5, 1, 0.1, 0.2, 0.5, 0.75])


def test_cub_folder_to_lst_and_recordio(cub_dir: Path, tmp_path: Path):
    dataset = read_cub(cub_dir, classes=["002.Jay", "3"])  # by name and by original id
    assert dataset.classes == ["002.Jay", "003.Finch"]
    assert [s.path for s in dataset.samples] == [
        "002.Jay/c.jpg",
        "002.Jay/d.jpg",
        "003.Finch/e.jpg",
        "003.Finch/f.jpg",
    ]
    jay = dataset.samples[0]
    assert jay.labels == [pytest.approx((0.0, 0.5, 0.5, 1.0, 1.0))]  # clipped at the edge
    finch = dataset.samples[2]
    assert finch.labels == [pytest.approx((1.0, 10 / 80, 20 / 80, 40 / 80, 60 / 80))]

    built = build(dataset, tmp_path / "out", val_fraction=0.25, seed=3, prefix="birds", resize=32)
    assert (built.train_count, built.val_count) == (3, 1)
    train = list(read_lst(built.train_lst))
    val = list(read_lst(built.val_lst))
    assert sorted(r.path for r in train + val) == sorted(s.path for s in dataset.samples)
    assert [r.index for r in train] == [0, 1, 2]
    assert built.classes_file.read_text().splitlines() == ["002.Jay", "003.Finch"]

    assert built.train_rec is not None
    records = [unpack_image_record(p) for p in read_records(built.train_rec)]
    for (index, labels, jpeg), lst in zip(records, train, strict=True):
        assert index == lst.index
        assert labels[:2] == [2.0, 5.0]
        assert labels[2:] == pytest.approx([v for label in lst.labels for v in label], abs=1e-6)
        with Image.open(io.BytesIO(jpeg)) as image:
            source = next(s for s in dataset.samples if s.path == lst.path)
            assert min(image.size) == 32  # shorter side resized
            assert image.size[0] / image.size[1] == pytest.approx(source.width / source.height, rel=0.05)
    assert built.train_rec.with_suffix(".idx").is_file()


def test_split_is_reproducible_and_seeded(cub_dir: Path):
    samples = read_cub(cub_dir).samples
    first = split(samples, 0.5, seed=1)
    assert split(samples, 0.5, seed=1) == first
    assert any(split(samples, 0.5, seed=s)[1] != first[1] for s in range(2, 8))
    assert len(first[0]) == len(first[1]) == 3
    with pytest.raises(ParamError, match="between 0 and 1"):
        split(samples, 1.0, seed=0)


def test_coco_json(coco_file: Path, tmp_path: Path):
    dataset = read_coco(coco_file)
    assert dataset.classes == ["car", "kite"]  # original ids 3 and 7, in id order
    paths = [s.path for s in dataset.samples]
    assert paths == ["img/1.jpg", "img/3.jpg", "img/4.jpg"]
    assert dataset.skipped == ["img/2.jpg: no boxes of the selected classes"]
    first = dataset.samples[0]
    assert first.labels == [
        pytest.approx((1.0, 0.1, 0.1, 0.5, 0.5)),
        pytest.approx((0.0, 0.5, 0.5, 1.0, 1.0)),
    ]
    only_cars = read_coco(coco_file, classes=["car"])
    assert only_cars.classes == ["car"] and [s.path for s in only_cars.samples] == ["img/1.jpg", "img/4.jpg"]

    code = main(
        [
            "dataset",
            "--coco",
            str(coco_file),
            "--out",
            str(tmp_path / "out"),
            "--val-fraction",
            "0.34",
            "--no-recordio",
        ]
    )
    assert code == 0
    assert not list((tmp_path / "out").glob("*.rec"))
    lines = (tmp_path / "out" / "dataset_train.lst").read_text().splitlines()
    assert len(lines) == 2 and all(line.split("\t")[1:3] == ["2", "5"] for line in lines)


@pytest.mark.parametrize(
    ("broken", "message"),
    [
        ("bounding_boxes.txt", "bounding_boxes.txt:1: expected 5 fields"),
        ("classes.txt", "missing annotation file"),
        ("image", "not an image"),
    ],
)
def test_broken_cub_folders_name_the_problem(
    cub_dir: Path, broken: str, message: str, tmp_path: Path, capsys
):
    if broken == "bounding_boxes.txt":
        (cub_dir / broken).write_text("1 2 3\n")
    elif broken == "classes.txt":
        (cub_dir / broken).unlink()
    else:
        (cub_dir / "images" / CUB_IMAGES[0][0]).write_bytes(b"not a jpeg")
    with pytest.raises(ParamError, match=message):
        read_cub(cub_dir)
    assert main(["dataset", "--cub", str(cub_dir), "--out", str(tmp_path / "o")]) == 2
    assert message.split(":")[0] in capsys.readouterr().err


def test_unknown_class_and_empty_selection(cub_dir: Path, coco_file: Path, tmp_path: Path):
    with pytest.raises(ParamError, match="unknown class 'Owl'"):
        read_cub(cub_dir, classes=["Owl"])
    with pytest.raises(ParamError, match="not a COCO detection file"):
        read_coco(cub_dir / "images.txt")
    assert len(CUB_CLASSES) == 3


def _write_cub_split(cub_dir: Path, train_ids: set[int]) -> None:
    lines = [f"{i} {1 if i in train_ids else 0}" for i in range(1, len(CUB_IMAGES) + 1)]
    (cub_dir / "train_test_split.txt").write_text("\n".join(lines) + "\n")


def test_cub_own_split_is_honoured(cub_dir: Path, tmp_path: Path, capsys):
    _write_cub_split(cub_dir, train_ids={1, 3, 5})
    dataset = read_cub(cub_dir)
    assert dataset.has_own_split
    built = build(dataset, tmp_path / "own", val_fraction=0.5, seed=9, recordio=False)
    assert [r.path for r in read_lst(built.train_lst)] == [
        "001.Sparrow/a.jpg",
        "002.Jay/c.jpg",
        "003.Finch/e.jpg",
    ]
    assert [r.path for r in read_lst(built.val_lst)] == [
        "001.Sparrow/b.jpg",
        "002.Jay/d.jpg",
        "003.Finch/f.jpg",
    ]

    out = tmp_path / "cli"
    assert main(["dataset", "--cub", str(cub_dir), "--out", str(out), "--no-recordio"]) == 0
    assert "3 train + 3 validation images (the dataset's own split)" in capsys.readouterr().out

    random_built = build(
        dataset, tmp_path / "random", val_fraction=0.2, seed=0, recordio=False, random_split=True
    )
    assert (random_built.train_count, random_built.val_count) == (5, 1)


def test_cub_own_split_problems_are_named(cub_dir: Path, tmp_path: Path, capsys):
    _write_cub_split(cub_dir, train_ids={1, 2})  # only sparrows train
    with pytest.raises(ParamError, match="no training image.*--random-split"):
        build(read_cub(cub_dir, classes=["002.Jay"]), tmp_path / "o", recordio=False)
    (cub_dir / "train_test_split.txt").write_text("1 1\n2 0\n")
    with pytest.raises(ParamError, match=r"train_test_split.txt: no line for image id 3 \(4 image"):
        read_cub(cub_dir)
    (cub_dir / "train_test_split.txt").write_text("1 yes\n")
    assert main(["dataset", "--cub", str(cub_dir), "--out", str(tmp_path / "o")]) == 2
    assert "expected 'image_id 1|0'" in capsys.readouterr().err

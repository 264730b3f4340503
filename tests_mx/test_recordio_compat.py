"""The pure-Python RecordIO writer produces files MXNet's own reader accepts."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import mxnet as mx
import numpy as np
from PIL import Image

from reelsight.annotations import lst_line
from reelsight.training.dataset import write_recordio
from reelsight.training.recordio import MAGIC, IndexedRecordWriter, pack_image_record


def test_mxnet_reads_our_records(tmp_path: Path):
    magic = struct.pack("<I", MAGIC)
    payloads = [b"plain", b"abcd" + magic + b"efgh" + magic, b"x" * 13]
    with IndexedRecordWriter(tmp_path / "r.rec", tmp_path / "r.idx") as writer:
        for i, payload in enumerate(payloads):
            writer.write(i + 10, pack_image_record(i + 10, [2, 5, i, 0.1, 0.2, 0.3, 0.4], payload))
    reader = mx.recordio.MXIndexedRecordIO(str(tmp_path / "r.idx"), str(tmp_path / "r.rec"), "r")
    assert sorted(reader.keys) == [10, 11, 12]
    for i, payload in enumerate(payloads):
        header, body = mx.recordio.unpack(reader.read_idx(i + 10))
        assert body == payload
        assert header.id == i + 10 and header.flag == 7
        np.testing.assert_allclose(header.label, [2, 5, i, 0.1, 0.2, 0.3, 0.4], rtol=1e-6)
    reader.close()


def test_packed_dataset_decodes_with_mxnet(tmp_path: Path):
    images = tmp_path / "images"
    images.mkdir()
    rng = np.random.default_rng(0)
    lines = []
    for i, (w, h) in enumerate([(64, 48), (40, 80)]):
        Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(images / f"{i}.png")
        lines.append(lst_line(i, [(float(i), 0.1, 0.2, 0.6, 0.9)], f"{i}.png"))
    lst = tmp_path / "d.lst"
    lst.write_text("\n".join(lines) + "\n")
    assert write_recordio(lst, images, tmp_path / "d.rec", resize=24) == 2
    reader = mx.recordio.MXIndexedRecordIO(str(tmp_path / "d.idx"), str(tmp_path / "d.rec"), "r")
    for i in range(2):
        header, image = mx.recordio.unpack_img(reader.read_idx(i))
        assert min(image.shape[:2]) == 24
        np.testing.assert_allclose(header.label, [2, 5, i, 0.1, 0.2, 0.6, 0.9], rtol=1e-6)
        assert Image.open(io.BytesIO(mx.recordio.unpack(reader.read_idx(i))[1])).format == "JPEG"
    reader.close()

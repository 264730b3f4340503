"""The dmlc RecordIO format MXNet reads (``.rec`` + ``.idx``), written in pure Python.

Each record is ``magic, lrecord, payload, zero padding to 4 bytes`` where ``lrecord`` holds
a 3-bit continuation flag and a 29-bit length. A payload that contains the magic number at
a 4-byte-aligned offset is split there into parts (flags 1, 2, 3) and the magic dropped, as
dmlc's writer does, so readers can resynchronise on the magic number. Image records carry
MXNet's ``IRHeader`` (flag, label, id, id2) and, when ``flag > 0``, that many float32 labels
before the encoded image.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

MAGIC = 0xCED7230A
_MAGIC_BYTES = struct.pack("<I", MAGIC)
_IR_HEADER = struct.Struct("<IfQQ")
MAX_RECORD = (1 << 29) - 1


def _lrec(cflag: int, length: int) -> bytes:
    return struct.pack("<I", (cflag << 29) | length)


def encode_record(payload: bytes) -> bytes:
    """One payload as it appears on disk (parts, headers and padding)."""
    if len(payload) > MAX_RECORD:
        raise ValueError(f"a record holds at most {MAX_RECORD} bytes, got {len(payload)}")
    out = bytearray()
    start = 0
    for offset in range(0, len(payload) - len(payload) % 4, 4):
        if payload[offset : offset + 4] == _MAGIC_BYTES:
            out += _MAGIC_BYTES + _lrec(1 if start == 0 else 2, offset - start) + payload[start:offset]
            start = offset + 4
    out += _MAGIC_BYTES + _lrec(3 if start else 0, len(payload) - start) + payload[start:]
    out += b"\x00" * (-len(payload) % 4)
    return bytes(out)


def pack_image_record(index: int, labels: Sequence[float], image: bytes) -> bytes:
    """MXNet's ``recordio.pack``: IRHeader, then float32 labels (flag = their count), then the image."""
    values = [float(v) for v in labels]
    header = _IR_HEADER.pack(len(values), 0.0, int(index), 0)
    return header + struct.pack(f"<{len(values)}f", *values) + image


def unpack_image_record(payload: bytes) -> tuple[int, list[float], bytes]:
    """(id, labels, image bytes) of a record written by ``pack_image_record``."""
    flag, label, index, _ = _IR_HEADER.unpack_from(payload)
    body = payload[_IR_HEADER.size :]
    if flag == 0:
        return index, [label], body
    labels = list(struct.unpack_from(f"<{flag}f", body))
    return index, labels, body[4 * flag :]


class IndexedRecordWriter:
    """Writes ``.rec`` and its ``.idx`` (``key<TAB>byte offset`` per record), like MXIndexedRecordIO."""

    def __init__(self, rec_path: str | Path, idx_path: str | Path) -> None:
        self.rec_path = Path(rec_path)
        self.idx_path = Path(idx_path)
        self._rec: BinaryIO | None = None
        self._idx: BinaryIO | None = None
        self.count = 0

    def __enter__(self) -> IndexedRecordWriter:
        self._rec = self.rec_path.open("wb")
        self._idx = self.idx_path.open("wb")
        return self

    def write(self, key: int, payload: bytes) -> None:
        assert self._rec is not None and self._idx is not None, "use IndexedRecordWriter as a context manager"
        self._idx.write(f"{int(key)}\t{self._rec.tell()}\n".encode("ascii"))
        self._rec.write(encode_record(payload))
        self.count += 1

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        for handle in (self._rec, self._idx):
            if handle is not None:
                handle.close()


def read_records(path: str | Path) -> list[bytes]:
    """Every payload of a ``.rec`` file, parts joined back with the magic number."""
    data = Path(path).read_bytes()
    records: list[bytes] = []
    pos = 0
    pending = bytearray()
    while pos < len(data):
        magic, lrec = struct.unpack_from("<II", data, pos)
        if magic != MAGIC:
            raise ValueError(f"{path}: bad magic number at byte {pos}")
        cflag, length = lrec >> 29, lrec & MAX_RECORD
        pos += 8
        part = data[pos : pos + length]
        pos += length + (-length % 4)
        if cflag == 0:
            records.append(bytes(part))
        elif cflag == 1:
            pending = bytearray(part)
        else:
            pending += _MAGIC_BYTES + part
            if cflag == 3:
                records.append(bytes(pending))
                pending = bytearray()
    return records

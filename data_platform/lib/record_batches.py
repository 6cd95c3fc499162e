"""Decode Kafka record batches (message format v2, every broker since 0.11) into columns.

The micro-batch reads whole ranges and needs five columns, not one object per record:
kafka-python's consumer builds two objects per record and spent ~8 µs on each; this loop takes
~1.5 µs. Batches are checked as a consumer checks them: CRC-32C of every batch, the declared
record count, and every record's length. Compressed batches are decompressed with kafka-python's
codecs; control batches (transaction markers) carry no data and are skipped.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import NamedTuple

from crc32c import crc32c
from kafka import codec

# BaseOffset, Length, PartitionLeaderEpoch, Magic, CRC, Attributes, LastOffsetDelta,
# FirstTimestamp, MaxTimestamp, ProducerId, ProducerEpoch, BaseSequence, RecordCount
_BATCH_HEADER = struct.Struct(">qiibIhiqqqhii")
_LOG_OVERHEAD = 12  # BaseOffset + Length: the part of the header outside `Length`
_MAGIC_AT = 16
_CRC_FROM = 21  # the CRC covers everything after the CRC field
_COMPRESSION_MASK = 0x07
_LOG_APPEND_TIME = 0x08
_CONTROL = 0x20
_DECOMPRESS = {
    1: ("gzip", codec.has_gzip, lambda data: codec.gzip_decode(data)),
    2: ("snappy", codec.has_snappy, lambda data: codec.snappy_decode(bytes(data))),
    3: ("lz4", codec.has_lz4, lambda data: codec.lz4_decode(bytes(data))),
    4: ("zstd", codec.has_zstd, lambda data: codec.zstd_decode(bytes(data))),
}


class CorruptBatch(ValueError):
    """A record batch failed its checks; the message names the partition and offset."""


class KafkaRecord(NamedTuple):
    """One record, for the few places that need a record as a whole (dead letters)."""

    topic: str
    partition: int
    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes | None]]


@dataclass
class RecordColumns:
    """The records of one partition, column by column, in offset order. `next_offset` is where
    the next fetch continues (past any skipped control batch); headers are listed only for
    records that have some."""

    topic: str
    partition: int
    offsets: list[int] = field(default_factory=list)
    timestamps: list[int] = field(default_factory=list)
    keys: list[bytes | None] = field(default_factory=list)
    values: list[bytes | None] = field(default_factory=list)
    headers: dict[int, list[tuple[str, bytes | None]]] = field(default_factory=dict)
    next_offset: int = -1

    def __len__(self) -> int:
        return len(self.offsets)

    def record(self, i: int) -> KafkaRecord:
        offset = self.offsets[i]
        return KafkaRecord(
            self.topic,
            self.partition,
            offset,
            self.timestamps[i],
            self.keys[i],
            self.values[i],
            self.headers.get(offset, []),
        )

    def below(self, end: int) -> RecordColumns:
        """The records with offsets below `end` (a range's exclusive end)."""
        if not self.offsets or self.offsets[-1] < end:
            return self
        keep = 0
        while keep < len(self.offsets) and self.offsets[keep] < end:
            keep += 1
        return RecordColumns(
            self.topic,
            self.partition,
            self.offsets[:keep],
            self.timestamps[:keep],
            self.keys[:keep],
            self.values[:keep],
            {o: h for o, h in self.headers.items() if o < end},
            end,
        )


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    """A zig-zag varint at `pos`: (value, position after it)."""
    raw, shift = 0, 0
    while True:
        byte = buf[pos]
        pos += 1
        raw |= (byte & 0x7F) << shift
        if byte < 0x80:
            return (raw >> 1) ^ -(raw & 1), pos
        shift += 7
        if shift > 63:
            raise CorruptBatch(f"varint longer than 10 bytes at byte {pos}")


def decode_batches(
    data: bytes | memoryview, topic: str, partition: int, from_offset: int = 0
) -> RecordColumns:
    """Every record at or after `from_offset` in a fetch response's record set. A batch cut off
    at the end of the response (the broker fills up to the size limit) is left for the next
    fetch; `next_offset` says where that fetch starts."""
    buf = bytes(data)
    out = RecordColumns(topic, partition, next_offset=from_offset)
    pos, size = 0, len(buf)
    while pos + _LOG_OVERHEAD <= size:
        base_offset, length = struct.unpack_from(">qi", buf, pos)
        end = pos + _LOG_OVERHEAD + length
        if end > size:
            break
        where = f"{topic}/{partition} batch at offset {base_offset}"
        magic = buf[pos + _MAGIC_AT]  # at the same place in every message format
        if magic != 2:
            raise CorruptBatch(
                f"{where}: message format v{magic}; only v2 (Kafka 0.11 and later) is read"
            )
        if end < pos + _BATCH_HEADER.size:
            raise CorruptBatch(f"{where}: {length} bytes is shorter than a batch header")
        (_, _, _, _, crc, attributes, last_delta, first_ts, max_ts, _, _, _, count) = (
            _BATCH_HEADER.unpack_from(buf, pos)
        )
        if crc32c(memoryview(buf)[pos + _CRC_FROM : end]) != crc:
            raise CorruptBatch(f"{where}: CRC-32C mismatch")
        if not attributes & _CONTROL and base_offset + last_delta >= from_offset:
            records = _records(buf, pos + _BATCH_HEADER.size, end, attributes, where)
            _read_records(records, base_offset, first_ts, max_ts, attributes, count, out, where)
        out.next_offset = max(out.next_offset, base_offset + last_delta + 1)
        pos = end
    if from_offset > 0 and out.offsets and out.offsets[0] < from_offset:
        _drop_before(out, from_offset)
    return out


def _records(buf: bytes, start: int, end: int, attributes: int, where: str) -> bytes:
    compression = attributes & _COMPRESSION_MASK
    if not compression:
        return buf[start:end]
    if compression not in _DECOMPRESS:
        raise CorruptBatch(f"{where}: unknown compression type {compression}")
    name, available, decompress = _DECOMPRESS[compression]
    if not available():
        raise CorruptBatch(f"{where}: {name}-compressed, and no {name} codec is installed")
    return decompress(memoryview(buf)[start:end])


def _read_records(
    buf: bytes,
    base_offset: int,
    first_ts: int,
    max_ts: int,
    attributes: int,
    count: int,
    out: RecordColumns,
    where: str,
) -> None:
    """The hot loop: single-byte varints (nearly all of them) are decoded inline."""
    offsets, timestamps, keys, values = out.offsets, out.timestamps, out.keys, out.values
    log_append_time = attributes & _LOG_APPEND_TIME
    pos = 0
    try:
        for _ in range(count):
            byte = buf[pos]
            if byte < 0x80:
                length, pos = (byte >> 1) ^ -(byte & 1), pos + 1
            elif buf[pos + 1] < 0x80:
                raw = (byte & 0x7F) | (buf[pos + 1] << 7)
                length, pos = (raw >> 1) ^ -(raw & 1), pos + 2
            else:
                length, pos = _varint(buf, pos)
            record_end = pos + length
            pos += 1  # attributes: unused in v2
            byte = buf[pos]
            if byte < 0x80:
                ts_delta, pos = (byte >> 1) ^ -(byte & 1), pos + 1
            else:
                ts_delta, pos = _varint(buf, pos)
            byte = buf[pos]
            if byte < 0x80:
                offset_delta, pos = (byte >> 1) ^ -(byte & 1), pos + 1
            else:
                offset_delta, pos = _varint(buf, pos)
            byte = buf[pos]
            if byte < 0x80:
                key_len, pos = (byte >> 1) ^ -(byte & 1), pos + 1
            else:
                key_len, pos = _varint(buf, pos)
            if key_len < 0:
                key = None
            else:
                key, pos = buf[pos : pos + key_len], pos + key_len
            byte = buf[pos]
            if byte < 0x80:
                value_len, pos = (byte >> 1) ^ -(byte & 1), pos + 1
            elif buf[pos + 1] < 0x80:
                raw = (byte & 0x7F) | (buf[pos + 1] << 7)
                value_len, pos = (raw >> 1) ^ -(raw & 1), pos + 2
            else:
                value_len, pos = _varint(buf, pos)
            if value_len < 0:
                value = None
            else:
                value, pos = buf[pos : pos + value_len], pos + value_len
            offset = base_offset + offset_delta
            if buf[pos] != 0:  # a header count other than zero
                out.headers[offset] = _headers(buf, pos, record_end, where)
            elif pos + 1 != record_end:
                raise CorruptBatch(f"{where}: record at offset {offset} has a wrong length")
            pos = record_end
            offsets.append(offset)
            timestamps.append(max_ts if log_append_time else first_ts + ts_delta)
            keys.append(key)
            values.append(value)
    except IndexError:
        raise CorruptBatch(f"{where}: records run past the end of the batch") from None
    if pos != len(buf):
        raise CorruptBatch(f"{where}: {len(buf) - pos} bytes left after {count} records")


def _headers(buf: bytes, pos: int, record_end: int, where: str) -> list[tuple[str, bytes | None]]:
    count, pos = _varint(buf, pos)
    headers = []
    for _ in range(count):
        key_len, pos = _varint(buf, pos)
        key, pos = buf[pos : pos + key_len].decode("utf-8"), pos + key_len
        value_len, pos = _varint(buf, pos)
        if value_len < 0:
            headers.append((key, None))
        else:
            headers.append((key, buf[pos : pos + value_len]))
            pos += value_len
    if pos != record_end:
        raise CorruptBatch(f"{where}: record headers end at byte {pos}, the record at {record_end}")
    return headers


def _drop_before(out: RecordColumns, from_offset: int) -> None:
    """A fetch starting inside a batch returns the whole batch: drop its earlier records."""
    skip = 0
    while skip < len(out.offsets) and out.offsets[skip] < from_offset:
        skip += 1
    for column in (out.offsets, out.timestamps, out.keys, out.values):
        del column[:skip]
    out.headers = {o: h for o, h in out.headers.items() if o >= from_offset}

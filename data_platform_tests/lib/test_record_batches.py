"""The record-batch decoder agrees with kafka-python's own decoding, byte for byte, and refuses
damaged batches with the partition and offset in the message."""

import struct

import pytest
from crc32c import crc32c
from kafka.record import MemoryRecords, MemoryRecordsBuilder

from data_platform.lib.record_batches import CorruptBatch, decode_batches

GZIP, SNAPPY = 1, 2


def build(records: list[tuple], compression: int = 0, base: int = 0, ts: int = 0) -> bytes:
    builder = MemoryRecordsBuilder(
        magic=2, compression_type=compression, batch_size=1 << 24, offset=base
    )
    for i, (key, value, headers) in enumerate(records):
        builder.append(timestamp=1_700_000_000_000 + ts * i, key=key, value=value, headers=headers)
    builder.close()
    return bytes(builder.buffer())


def reference(data: bytes) -> list[tuple]:
    records, out = MemoryRecords(data), []
    while (batch := records.next_batch()) is not None:
        out.extend((r.offset, r.timestamp, r.key, r.value, r.headers) for r in batch)
    return out


def decoded(data: bytes, from_offset: int = 0) -> list[tuple]:
    columns = decode_batches(data, "t", 0, from_offset)
    return [tuple(columns.record(i))[2:] for i in range(len(columns))]


RECORDS = [
    (
        None if i % 3 == 0 else f"key-{i}".encode(),
        None if i % 7 == 0 else b"v" * (i * 37 % 20_000),  # up to 3-byte length varints
        [("h", b"x"), ("none", None)] if i % 5 == 0 else [],
    )
    for i in range(400)
]


@pytest.mark.parametrize("compression", [0, GZIP])
def test_decoding_matches_kafka_python(compression: int) -> None:
    data = build(RECORDS[:150], compression) + build(RECORDS[150:], compression, base=150, ts=97)
    assert decoded(data) == reference(data)
    assert decode_batches(data, "t", 0).next_offset == 400


def test_a_fetch_starting_inside_a_batch_skips_its_earlier_records() -> None:
    data = build(RECORDS[:150]) + build(RECORDS[150:], base=150)
    assert decoded(data, from_offset=170) == reference(data)[170:]


def test_a_batch_cut_off_at_the_end_of_a_response_is_left_for_the_next_fetch() -> None:
    first = build(RECORDS[:100])
    columns = decode_batches(first + build(RECORDS[100:], base=100)[:-3], "t", 0)
    assert len(columns) == 100 and columns.next_offset == 100


def test_below_keeps_a_range_end_exclusive() -> None:
    columns = decode_batches(build(RECORDS), "t", 0).below(250)
    assert columns.offsets == list(range(250)) and columns.next_offset == 250
    assert all(offset < 250 for offset in columns.headers)


def _patched(data: bytes, attributes: int) -> bytes:
    """The batch with other attributes and a CRC that matches them."""
    patched = bytearray(data)
    struct.pack_into(">h", patched, 21, attributes)
    struct.pack_into(">I", patched, 17, crc32c(bytes(patched[21:])))
    return bytes(patched)


def test_control_batches_are_skipped_but_advance_the_position() -> None:
    marker = _patched(build([(b"\x00\x00\x00\x00", b"\x00\x00\x00\x00\x00\x00", [])]), 0x20)
    data = marker + build(RECORDS[:3], base=1)
    columns = decode_batches(data, "t", 0)
    assert columns.offsets == [1, 2, 3] and columns.next_offset == 4


def test_log_append_time_batches_use_the_batch_timestamp() -> None:
    data = _patched(build(RECORDS[:5], ts=10), 0x08)
    timestamps = decode_batches(data, "t", 0).timestamps
    assert timestamps == [1_700_000_000_040] * 5


def test_a_damaged_batch_is_refused_with_its_position() -> None:
    data = bytearray(build(RECORDS[:10]) + build(RECORDS[10:20], base=10))
    data[-1] ^= 0xFF
    base_offset = struct.unpack_from(">q", data, len(build(RECORDS[:10])))[0]
    with pytest.raises(CorruptBatch, match=rf"t/0 batch at offset {base_offset}: CRC-32C"):
        decode_batches(bytes(data), "t", 0)


def test_older_message_formats_are_refused_by_name() -> None:
    legacy = MemoryRecordsBuilder(magic=1, compression_type=0, batch_size=1 << 20)
    legacy.append(timestamp=1, key=None, value=b"x", headers=[])
    legacy.close()
    with pytest.raises(CorruptBatch, match="message format v1"):
        decode_batches(bytes(legacy.buffer()), "t", 0)


def test_a_codec_that_is_not_installed_is_named() -> None:
    snappy = _patched(build(RECORDS[:3]), SNAPPY)
    with pytest.raises(CorruptBatch, match="snappy-compressed, and no snappy codec"):
        decode_batches(snappy, "t", 0)

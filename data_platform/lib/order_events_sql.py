"""Vectorised fast path of the order-event validation, run inside DuckDB (off the GIL).

It only ACCEPTS records; it never decides a rejection. Its rules are stricter than the reference
`order_events.validate_value`, so whatever it accepts the reference accepts with the same values
(a test holds them to that on valid, poison and edge-case records). Everything it does not
accept (poison, and valid records in unusual shapes) goes through the reference validator,
which names the reason. DuckDB's JSON reader is laxer than Python's in two ways (trailing
commas, first-wins duplicate keys): records showing either are left to Python.
"""

from __future__ import annotations

import pyarrow as pa

from data_platform.lib.order_batch import kafka_times

ISO_WITH_ZONE = (
    r"[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]"
    r"(\.[0-9]{1,6})?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])"
)
PLAIN_AMOUNT = r"(0|[1-9][0-9]{0,14})(\.[0-9]{1,6})?"
NON_BLANK = "[A-Za-z0-9]"

# Input view `raw_chunk(idx, partition, offset, kafka_timestamp, value)`; parameter: max_bytes.
# The regexes are code constants inlined as literals (DuckDB compiles constant patterns once).
_TEMPLATE = r"""
WITH decoded AS (
    SELECT idx, value, decode(value, 'replace') AS txt
    FROM raw_chunk
    WHERE value IS NOT NULL AND octet_length(value) <= $max_bytes
), texts AS (  -- valid UTF-8 exactly when no byte had to be replaced
    SELECT idx, txt FROM decoded WHERE encode(txt) = value
 ), docs AS (
    SELECT idx,
           json_extract(txt, ['$.order_id', '$.customer_id', '$.currency', '$.amount',
                              '$.event_time']) AS v,
           json_keys(txt) AS keys
    FROM texts
    WHERE json_valid(txt) AND json_type(txt) = 'OBJECT' AND NOT regexp_matches(txt, ',\s*[}\]]')
), fields AS (
    SELECT idx, keys,
           json_type(v[1]) AS t_order, v[1]->>'$' AS order_id,
           json_type(v[2]) AS t_customer, v[2]->>'$' AS customer_id,
           json_type(v[3]) AS t_currency, v[3]->>'$' AS currency,
           json_type(v[4]) AS t_amount, v[4]->>'$' AS amount_text,
           json_type(v[5]) AS t_time, v[5]->>'$' AS event_time_text,
           try_cast(v[5]->>'$' AS TIMESTAMPTZ) AS event_time
    FROM docs
)
SELECT f.idx, r."partition", r."offset", f.order_id, f.customer_id,
       f.amount_text::DOUBLE AS amount, f.currency,
       f.event_time, r.kafka_timestamp
FROM fields AS f JOIN raw_chunk AS r USING (idx)
WHERE len(f.keys) = len(list_distinct(f.keys))
  AND f.t_order = 'VARCHAR' AND regexp_matches(f.order_id, '@NON_BLANK@')
  AND f.t_customer = 'VARCHAR' AND regexp_matches(f.customer_id, '@NON_BLANK@')
  AND f.t_currency = 'VARCHAR' AND regexp_matches(f.currency, '@NON_BLANK@')
  AND f.t_amount IN ('UBIGINT', 'BIGINT', 'DOUBLE')
  AND regexp_full_match(f.amount_text, '@PLAIN_AMOUNT@')
  AND f.t_time = 'VARCHAR'
  AND regexp_full_match(f.event_time_text, '@ISO_WITH_ZONE@')
  AND f.event_time IS NOT NULL
"""


FAST_PATH_SQL = (
    _TEMPLATE.replace("@NON_BLANK@", NON_BLANK)
    .replace("@PLAIN_AMOUNT@", PLAIN_AMOUNT)
    .replace("@ISO_WITH_ZONE@", ISO_WITH_ZONE)
)


def raw_chunk(records: list) -> pa.Table:
    """The columns of a chunk of kafka-python records the fast path needs (cheap to build)."""
    return pa.table(
        {
            "idx": pa.array(range(len(records)), pa.int64()),
            "partition": pa.array([r.partition for r in records], pa.int32()),
            "offset": pa.array([r.offset for r in records], pa.int64()),
            "kafka_timestamp": kafka_times([r.timestamp for r in records]),
            "value": pa.array([r.value for r in records], pa.binary()),
        }
    )

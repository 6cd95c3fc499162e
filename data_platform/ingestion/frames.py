"""Turn validated API records into the DataFrame a raw table is loaded from."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported by the loading step, not at definitions load
    import pandas as pd

from data_platform.warehouse import TableSpec


def records_to_frame(spec: TableSpec, records: list[dict[str, Any]]) -> pd.DataFrame:
    """Keep the table's source columns; amounts stay as the source sent them (as text)."""
    import pandas as pd

    frame = pd.DataFrame.from_records(records, columns=spec.source_columns)
    if "total_amount" in frame.columns:
        amounts = frame["total_amount"]
        frame["total_amount"] = amounts.where(amounts.isna(), amounts.astype(str))
    return frame


def pages_to_frame(spec: TableSpec, pages: Iterable[list[dict[str, Any]]]) -> pd.DataFrame:
    """One frame from pages converted as they arrive: each page's dicts are dropped once they
    are columns, so a day's peak memory is its columns plus one page, not every record dict."""
    import pandas as pd

    frames = [records_to_frame(spec, page) for page in pages]
    if not frames:
        return records_to_frame(spec, [])
    return frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)

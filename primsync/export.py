"""Review sets and visible messages to CSV, Excel and Parquet.

>>> export_frame(result.frame, "review.xlsx")            # doctest: +SKIP
PosixPath('review.xlsx')
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from sqlalchemy import Engine

from primsync.db.access import visible_messages
from primsync.errors import ConfigurationError

__all__ = ["FORMATS", "export_frame", "export_visible_messages"]

FORMATS = {".csv": "csv", ".xlsx": "excel", ".parquet": "parquet"}


def _flat(frame: pd.DataFrame) -> pd.DataFrame:
    """Lists as JSON text and dates without time zone, for CSV and Excel cells."""
    out = frame.copy()
    for col in out.columns:
        series = out[col]
        if isinstance(series.dtype, pd.DatetimeTZDtype):
            out[col] = series.dt.tz_convert("UTC").dt.tz_localize(None)
        elif series.dtype == object and series.map(lambda v: isinstance(v, list | tuple)).any():
            out[col] = series.map(
                lambda v: (
                    json.dumps(list(v), ensure_ascii=False) if isinstance(v, list | tuple) else v
                )
            )
    return out


def export_frame(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write ``frame`` to ``path``; the format follows the suffix (.csv, .xlsx, .parquet)."""
    path = Path(path)
    kind = FORMATS.get(path.suffix.lower())
    if kind is None:
        raise ConfigurationError(
            f"cannot export to {path.name!r}: use one of {', '.join(sorted(FORMATS))}"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "csv":
        _flat(frame).to_csv(path, index=False)
    elif kind == "excel":
        _flat(frame).to_excel(path, index=False)
    else:
        frame.reset_index(drop=True).to_parquet(path, index=False)
    return path


def export_visible_messages(
    engine: Engine, user: str, path: str | Path, *, record_id: int | None = None
) -> Path:
    """The messages ``user`` may see (see :func:`primsync.db.access.visible_messages`)."""
    return export_frame(visible_messages(engine, user, record_id=record_id), path)

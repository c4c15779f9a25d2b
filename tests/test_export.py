"""export: review sets and visible messages to CSV, Excel and Parquet, read back."""

from __future__ import annotations

import pandas as pd
import pytest

from primsync import frame as F
from primsync.commit import import_selected
from primsync.demo import DEMO_ACCOUNT
from primsync.errors import ConfigurationError
from primsync.export import export_frame, export_visible_messages
from primsync.review import review_mailbox
from tests.conftest import PASSWORD
from tests.mailbox import FOLDERS


@pytest.mark.parametrize("suffix", [".csv", ".xlsx", ".parquet"])
def test_review_set_round_trip(db, tmp_path, suffix):
    frame = review_mailbox(db, DEMO_ACCOUNT, FOLDERS, option="all", secret=PASSWORD).frame
    path = export_frame(frame, tmp_path / f"review{suffix}")
    back = {
        ".csv": pd.read_csv, ".xlsx": pd.read_excel, ".parquet": pd.read_parquet
    }[suffix](path)  # fmt: skip
    assert len(back) == len(frame) == 11
    assert back[F.SUBJECT].tolist() == frame[F.SUBJECT].tolist()
    assert back[F.UID].tolist() == frame[F.UID].tolist()
    if suffix == ".parquet":
        assert [list(c) for c in back[F.CANDIDATES]] == frame[F.CANDIDATES].tolist()
    else:
        assert back[F.CANDIDATES].tolist()[0].startswith("[")


def test_visible_messages_export_and_bad_suffix(db, tmp_path):
    result = review_mailbox(db, DEMO_ACCOUNT, FOLDERS, option="all", secret=PASSWORD)
    import_selected(db, result, user="ana", accessible_to="Recruiters", secret=PASSWORD)
    path = export_visible_messages(db, "marc", tmp_path / "marc.csv")
    assert len(pd.read_csv(path)) == 4
    assert len(pd.read_csv(export_visible_messages(db, "paul", tmp_path / "paul.csv"))) == 0
    with pytest.raises(ConfigurationError, match="use one of"):
        export_frame(result.frame, tmp_path / "x.json")

# SPDX-License-Identifier: Apache-2.0
"""Database.metrics(): the Prometheus text of vex_metrics_text, whose
series move with the work done through the binding."""
import re

import pytest

import vexdb
from conftest import DIM


def series(text, name, **labels):
    """The value of the first sample `name` carrying `labels`, or None."""
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        m = re.fullmatch(r'([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)', line)
        assert m, line
        if m.group(1) != name:
            continue
        have = dict(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"',
                               m.group(3) or ""))
        if all(have.get(k) == v for k, v in labels.items()):
            return float(m.group(4))
    return None


def test_metrics_count_the_work(db, data):
    c = db.create_collection("m", dim=DIM)
    text = db.metrics()
    assert isinstance(text, str)
    assert "# TYPE vex_searches_total counter" in text
    assert series(text, "vex_writes_total", collection="m") == 0
    c.upsert(list(range(20)), data[:20])
    c.search(data[0], k=3)
    c.search(data[1], k=3)
    c.flush()
    text = db.metrics()
    assert series(text, "vex_writes_total", collection="m") >= 1
    assert series(text, "vex_write_rows_total", collection="m") == 20
    assert series(text, "vex_searches_total", collection="m",
                  kind="knn") == 2
    assert series(text, "vex_search_seconds_count", collection="m",
                  kind="knn") == 2
    assert series(text, "vex_flush_seconds_count", collection="m") == 1
    assert series(text, "vex_rows", collection="m") == 20
    assert series(text, "vex_db_open_collections") == 1


def test_metrics_on_a_closed_database(tmp_path):
    db = vexdb.open(str(tmp_path / "x"))
    db.close()
    with pytest.raises(vexdb.Error):
        db.metrics()

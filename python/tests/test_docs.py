# SPDX-License-Identifier: Apache-2.0
"""docs/python.md cannot rot: its self-contained tutorial block runs as
written, the blocks that need data run with it supplied, and every
method or attribute any block calls on vexdb, a database, a collection,
an index or hits exists at runtime."""
import os
import re

import numpy as np
import pytest

import vexdb

DOC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                   "docs", "python.md")


def blocks():
    if not os.path.exists(DOC):
        pytest.skip("docs/python.md is not next to these tests")
    text = open(DOC, encoding="utf-8").read()
    return re.findall(r"^```python\n(.*?)^```", text, re.S | re.M)


def test_tutorial_block_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    exec(compile(blocks()[0], "docs/python.md", "exec"), {})
    out = capsys.readouterr().out
    assert out.startswith("[0 2] ")  # the two "en" records from 2020 on
    with vexdb.open("mydb") as db:
        assert len(db.collection("docs")) == 3


def test_builder_and_index_blocks_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(1)
    bs = blocks()
    builder = next(b for b in bs if "from vexdb import field" in b)
    index = next(b for b in bs if "vexdb.Index(" in b)
    with vexdb.open("db") as db:
        docs = db.create_collection("docs", dim=8, schema={
            "year": int, "lang": str, "tags": list})
        docs.upsert([1, 2], rng.random((2, 8), dtype=np.float32),
                    metadata=[{"year": 2021, "lang": "en", "tags": []},
                              {"year": 2019, "lang": "de", "tags": ["draft"]}])
        ns = {"docs": docs, "q": rng.random(8, dtype=np.float32), "vexdb": vexdb}
        exec(compile(builder, "docs/python.md", "exec"), ns)
        assert str(ns["compiled"])
    X = rng.random((300, 128), dtype=np.float32)
    ns = {"vexdb": vexdb, "ids": np.arange(300), "X": X, "Q": X[:5]}
    exec(compile(index, "docs/python.md", "exec"), ns)
    assert ns["I"].shape == (5, 10) and len(ns["ix2"]) == 300


def test_every_name_the_docs_call_exists():
    owners = {"vexdb": vexdb, "db": vexdb.Database, "docs": vexdb.Collection,
              "big": vexdb.Collection, "ix": vexdb.Index, "ix2": vexdb.Index,
              "hits": vexdb.Hits, "many": vexdb.Hits, "rec": vexdb.Record}
    missing = []
    for b in blocks():
        code = re.sub(r"\"[^\"\n]*\"|'[^'\n]*'", "''", b)  # not in strings
        for owner, name in re.findall(r"\b(\w+)\.(\w+)", code):
            if owner in owners and not hasattr(owners[owner], name):
                missing.append("%s.%s" % (owner, name))
    assert not missing, missing

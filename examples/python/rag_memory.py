#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""rag_memory.py - a local RAG-style memory with vexdb.

Stores the SAP Fiori documentation chunks of fiori-docs-minilm-384 (384-D
all-MiniLM-L6-v2 sentence embeddings, unit length) in a collection, with
their category, title, tags and word count as metadata and the title as
payload, then answers a few held-out queries: the nearest chunks overall,
and the nearest within the query's own category (a filter).

    PYTHONPATH=build/python /usr/bin/python3 examples/python/rag_memory.py [DATA_DIR] [DB_DIR]

DATA_DIR defaults to ../shared/data/fiori-docs-minilm-384 relative to the
repository; DB_DIR to a temporary directory, removed at the end.
"""
import csv
import os
import sys
import tempfile

import numpy as np

import vexdb

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
DEFAULT_DATA = os.path.join(os.path.dirname(ROOT), "shared", "data",
                            "fiori-docs-minilm-384")


def read_fvecs(path):
    raw = np.fromfile(path, dtype=np.int32)
    dim = int(raw[0])
    return raw.reshape(-1, dim + 1)[:, 1:].view(np.float32).copy()


def read_meta(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))


def main():
    data = sys.argv[1] if len(sys.argv) > 1 else DEFAULT_DATA
    if not os.path.isdir(data):
        sys.exit("rag_memory.py: no data directory %s (pass it as the first "
                 "argument)" % data)
    base = read_fvecs(os.path.join(data, "fiori384_base.fvecs"))
    queries = read_fvecs(os.path.join(data, "fiori384_query.fvecs"))
    base_meta = read_meta(os.path.join(data, "fiori384_base_meta.tsv"))
    query_meta = read_meta(os.path.join(data, "fiori384_query_meta.tsv"))
    assert len(base_meta) == len(base) and len(query_meta) == len(queries)

    tmp = None
    if len(sys.argv) > 2:
        db_dir = sys.argv[2]
    else:
        tmp = tempfile.TemporaryDirectory(prefix="rag-memory-")
        db_dir = os.path.join(tmp.name, "db")
    with vexdb.open(db_dir) as db:
        chunks = db.get_or_create_collection(
            "chunks", dim=base.shape[1], metric="cosine",
            schema={"category": vexdb.Field(str, required=True), "title": str,
                    "tags": list, "words": int})
        chunks.upsert(
            np.arange(len(base)), base,
            metadata=[{"category": m["category"], "title": m["title"],
                       "tags": [t for t in m["tags"].split(",") if t],
                       "words": int(m["word_count"])} for m in base_meta],
            payloads=[m["title"] for m in base_meta])
        chunks.flush()
        print("stored %d chunks in %d categories" % (
            len(chunks), len({m["category"] for m in base_meta})))

        # Show queries where the filter matters: the nearest chunks of
        # some of them come from other categories than the query's own.
        shown = [qi for qi in range(len(queries))
                 if any(m["category"] != query_meta[qi]["category"]
                        for m in chunks.search(queries[qi], k=3,
                                               include=("metadata",)).metadata)]
        for qi in (shown or [0, 1, 2])[:3]:
            q, cat = queries[qi], query_meta[qi]["category"]
            print("\nquery %d: %s  [%s]" % (qi, query_meta[qi]["title"], cat))
            hits = chunks.search(q, k=3, include=("metadata",))
            for i, d, m in zip(hits.ids, hits.distances, hits.metadata):
                print("  %5d  %.3f  %-22s %s" % (i, d, m["category"], m["title"]))
            print("  within category %r:" % cat)
            same = chunks.search(q, k=3, where=vexdb.field("category") == cat,
                                 include=("payload",))
            for i, d, p in zip(same.ids, same.distances, same.payloads):
                print("  %5d  %.3f  %s" % (i, d, p.decode()))
                assert chunks.get(int(i), include=("metadata",)).metadata["category"] == cat
        n_tools = chunks.count(where="category = 'Btp Fiori Tools'")
        print("\nchunks in 'Btp Fiori Tools': %d" % n_tools)
    if tmp:
        tmp.cleanup()


if __name__ == "__main__":
    main()

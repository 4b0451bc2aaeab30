# SPDX-License-Identifier: Apache-2.0
"""vexdb: VexDB, the embeddable vector database, from Python.

    import numpy as np, vexdb
    with vexdb.open("mydb") as db:
        docs = db.get_or_create_collection("docs", dim=384, metric="cosine")
        docs.upsert([1, 2], np.random.rand(2, 384).astype(np.float32),
                    metadata=[{"lang": "en"}, {"lang": "de"}])
        hits = docs.search(q, k=10, where="lang = 'en'")

    ix = vexdb.Index(dim=128, metric="l2", M=16, ef_construction=200)
    ix.add(ids, X)
    I, D = ix.search(Q, k=10, ef=40)

Everything runs in the C library (python/src/_vexdb.c wraps
include/vexdb.h); this module adds `open`, `Field` for schemas and the
filter builder (`field`, see vexdb.filters). Errors are vexdb.Error
subclasses named after the library's status codes. See docs/python.md.
"""
from ._vexdb import (  # noqa: F401  (re-exported)
    MAX_DIM,
    MAX_K,
    Busy,
    Collection,
    Corrupt,
    Database,
    Error,
    Exists,
    Filter,
    Full,
    Hits,
    Index,
    Internal,
    Invalid,
    IOFailure,
    Misuse,
    NoMemory,
    NotFound,
    ReadOnly,
    Record,
    Unsupported,
    library_version,
    simd,
)
from .filters import Expr, field  # noqa: F401

__version__ = library_version

__all__ = [
    "open", "Database", "Collection", "Index", "Filter", "Hits", "Record",
    "Field", "field", "Expr", "Error", "NoMemory", "IOFailure", "Corrupt",
    "Invalid", "Misuse", "NotFound", "Exists", "Full", "Busy",
    "Unsupported", "Internal", "ReadOnly", "MAX_K", "MAX_DIM", "simd",
    "library_version",
]


def open(path, *, create=True, read_only=False, durability="group",
         threads=0, background_threads=None, memtable_bytes=None,
         flush_on_close=True, diskann_cache_bytes=0):
    """Open (by default creating) the database in directory `path`.

    create: make the directory and an empty database when missing.
    read_only: a reader beside a writer process (never writes, no lock).
    durability: "group" (default: fsync shared by concurrent writers),
      "full" (one fsync per write) or "none" (synced by flush/close).
    threads: search pool size (0 = all CPUs); background_threads: flush
      and compaction threads (None = the library default, 2).
    memtable_bytes: memtable size before a flush (None = 64 MiB).
    flush_on_close: flush memtables to indexed segments on close.
    diskann_cache_bytes: RAM budget for the node caches of DiskANN
      segments (0 = none; docs/diskann.md).

    Returns a Database; use it in a with-block to close it.
    """
    return Database(path, create=create, read_only=read_only,
                    durability=durability, threads=threads,
                    background_threads=background_threads,
                    memtable_bytes=memtable_bytes,
                    flush_on_close=flush_on_close,
                    diskann_cache_bytes=diskann_cache_bytes)


def Field(type, required=False):
    """A schema entry: `type` (int, float, str, bool or list for tags)
    and whether every record must have the field (non-null).

        schema={"year": vexdb.Field(int, required=True), "lang": str}

    A bare type in a schema is an optional (nullable) field.
    """
    if type not in (int, float, str, bool, list) and not isinstance(type, str):
        raise TypeError("Field type must be int, float, str, bool or list")
    return (type, not required)

#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Seed corpora for fuzz_filter and fuzz_meta_decode (docs/FORMAT.md
"Record metadata encoding" and "Schema blob", docs/FILTERS.md).

    python3 fuzz/make_meta_corpus.py fuzz/corpus

writes fuzz/corpus/filter/* (a flag byte, then filter text) and
fuzz/corpus/meta_decode/* (a flag byte, then a record encoding or a schema
blob). File names are the SHA-1 of the contents, like libFuzzer's."""
import hashlib
import os
import struct
import sys


def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


NULL, BOOL, INT, DOUBLE, STRING, TAGS = range(6)


def record(fields):
    """fields: list of (name, type, value); sorted by name here."""
    body = b""
    for name, t, v in sorted(fields, key=lambda f: f[0].encode()):
        n = name.encode()
        body += bytes([len(n)]) + n + bytes([t])
        if t == BOOL:
            body += bytes([v])
        elif t == INT:
            body += struct.pack("<q", v)
        elif t == DOUBLE:
            body += struct.pack("<d", v)
        elif t == STRING:
            s = v.encode()
            body += struct.pack("<I", len(s)) + s
        elif t == TAGS:
            body += struct.pack("<H", len(v))
            for tag in v:
                s = tag.encode()
                body += struct.pack("<H", len(s)) + s
    return struct.pack("<BBHI", 1, 0, len(fields), 8 + len(body)) + body


def schema(fields, closed):
    body = b""
    for name, t, nullable in sorted(fields, key=lambda f: f[0].encode()):
        n = name.encode()
        body += bytes([t, 1 if nullable else 0, len(n)]) + n
    total = 20 + len(body) + 4
    head = struct.pack("<IIIII", 0x48435356, 1, 1 if closed else 0,
                       len(fields), total)
    blob = head + body
    return blob + struct.pack("<I", crc32c(blob))


FILTERS = [
    "year >= 2020",
    "year >= 2020 AND lang IN ('en','de') AND NOT tags CONTAINS 'draft'",
    "a = 1 OR b = 2 AND c = 3",
    "(a = 1 OR b = 2) AND NOT (c < 3 OR d >= 4.5e-3)",
    "x IN (3, 1, 2.0, -9223372036854775808)",
    "x NOT IN ('a', 'b''c', 'd\\'e', '\\u00e9', '\\U0001F600')",
    "score BETWEEN 0.25 AND 1e3",
    "lang NOT BETWEEN 'a' AND 'm'",
    "tags CONTAINS ANY ('x', 'y') OR tags CONTAINS ALL ('a')",
    "a IS NULL AND b is not null",
    "\"my field\" = 'v' AND \"and\" != true",
    "NOT NOT NOT draft = FALSE",
    "s = 'tab\\there\\nnewline\\\\'",
    "((((((((a = 1))))))))",
    "year >= )",
    "a = 'unterminated",
    "a IN ()",
    "a = 99999999999999999999",
    "a < true",
    "a BETWEEN 1 AND 'z'",
    "\"\" = 1",
    "a = \"en\"",
]


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "fuzz/corpus"
    seeds = {"filter": [], "meta_decode": []}
    for i, text in enumerate(FILTERS):
        # alternate no schema / closed schema / open schema
        seeds["filter"].append(bytes([i % 3]) + text.encode())
    recs = [
        [],
        [("year", INT, 2021), ("lang", STRING, "de"), ("draft", BOOL, 1)],
        [("score", DOUBLE, -0.0), ("gone", NULL, None),
         ("tags", TAGS, ["a", "", "draft"])],
        [("x y", STRING, "\u00e9\u0000z"), ("i", INT, -2**63),
         ("d", DOUBLE, 1e300)],
    ]
    for r in recs:
        seeds["meta_decode"].append(b"\x00" + record(r))
    sch = [
        ([], False),
        ([("year", INT, False), ("lang", STRING, True), ("tags", TAGS, True),
          ("score", DOUBLE, True), ("draft", BOOL, True)], True),
    ]
    for f, closed in sch:
        blob = schema(f, closed)
        seeds["meta_decode"].append(b"\x01" + blob)
        seeds["meta_decode"].append(b"\x03" + blob)
    for sub, items in seeds.items():
        d = os.path.join(out, sub)
        os.makedirs(d, exist_ok=True)
        for data in items:
            name = hashlib.sha1(data).hexdigest()
            with open(os.path.join(d, name), "wb") as fp:
                fp.write(data)


if __name__ == "__main__":
    main()

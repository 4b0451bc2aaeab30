#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Seed corpus for fuzz_db_log (see fuzz_db_log.c for the input layout and
docs/FORMAT.md, "Log record payload", for the records). Usage:
    python3 fuzz/make_db_log_corpus.py fuzz/corpus/db_log
"""
import os
import struct
import sys

MAGIC = 0x31504F56


def op(kind, ident, vec=b""):
    return bytes([kind]) + bytes(7) + struct.pack("<Q", ident) + vec


def op_meta(kind, ident, meta, vec=b""):
    """kinds 4 and 5: metadata length at offset 4, the record after the
    vector ("Log record payload")."""
    return (bytes([kind]) + bytes(3) + struct.pack("<IQ", len(meta), ident)
            + vec + meta)


def op_pay(kind, ident, vec, pay, meta=b""):
    """kinds 7 and 8: a 24-byte header (metadata length at 4, payload
    length at 16), then the vector, the metadata and the payload."""
    return (bytes([kind]) + bytes(3) + struct.pack("<IQI", len(meta), ident,
                                                    len(pay))
            + bytes(4) + vec + meta + pay)


def op_txt(kind, ident, vec, txt, pay=b"", meta=b""):
    """kinds 9 and 10: the 24-byte header of kinds 7 and 8 with the text
    length at 20, then the vector, the metadata, the payload and the
    text."""
    return (bytes([kind]) + bytes(3)
            + struct.pack("<IQII", len(meta), ident, len(pay), len(txt))
            + vec + meta + pay + txt)


def record(fields):
    """"Record metadata encoding": (name, int64) fields, names ascending."""
    body = b""
    for name, val in sorted(fields):
        nb = name.encode()
        body += bytes([len(nb)]) + nb + bytes([2]) + struct.pack("<q", val)
    return struct.pack("<BBHI", 1, 0, len(fields), 8 + len(body)) + body


def rec(ops):
    body = struct.pack("<II", MAGIC, len(ops)) + b"".join(ops)
    return struct.pack("<H", len(body)) + body


def f32(*xs):
    return struct.pack("<%df" % len(xs), *xs)


def main(out):
    os.makedirs(out, exist_ok=True)
    v = [f32(i, 1, 2, 3) for i in range(8)]
    b = [bytes([i, i & 0x0F]) for i in range(8)]  # 12 bits: high nibble 0
    seeds = {
        "empty": bytes([0]),
        "inserts_flat": bytes([0]) + rec([op(1, i, v[i]) for i in range(5)]),
        "mixed_hnsw": bytes([1]) + rec([op(1, i, v[i]) for i in range(8)])
        + rec([op(2, 3, v[7]), op(3, 4)]) + rec([op(3, 9)]),
        "bits": bytes([2]) + rec([op(1, i, b[i]) for i in range(8)])
        + rec([op(3, 1), op(2, 2, b[5])]),
        "many_records": bytes([1]) + b"".join(
            rec([op(2, i % 20, v[i % 8])]) for i in range(40)),
        "bad_magic": bytes([0]) + struct.pack("<H", 8) + b"XXXX\x01\0\0\0",
        "short_op": bytes([0]) + rec([op(1, 1, v[1])])[:-3],
        "nan": bytes([0]) + rec([op(1, 1, f32(float("nan"), 0, 0, 0))]),
        "pad_bits": bytes([2]) + rec([op(1, 1, bytes([0xFF, 0xFF]))]),
        "trailing": bytes([0]) + rec([op(3, 1)])[:2] + b"",
        "meta_ops": bytes([1]) + rec([op_meta(4, i, record([("n", i)]), v[i])
                                      for i in range(6)])
        + rec([op_meta(5, 2, record([("n", 9), ("y", 1)]), v[3]), op(3, 1)])
        + rec([op(2, 4, v[1])]),
        "meta_empty_record": bytes([0]) + rec([op_meta(4, 1, record([]),
                                                       v[1])]),
        "meta_bad_record": bytes([0]) + rec([op_meta(
            4, 1, record([("b", 1), ("a", 2)]), v[1])]),
        "meta_len_zero": bytes([0]) + rec([op_meta(5, 1, b"", v[1])]),
        "meta_len_past_end": bytes([0]) + rec([op_meta(
            5, 1, record([("n", 1)]), v[1])])[:-4],
        "meta_update_kind_6": bytes([0]) + rec([op(1, 1, v[1])])
        + rec([op_meta(6, 1, record([("n", 1)]))]),
        "meta_nonzero_pad": bytes([0]) + rec([bytes([4, 1]) + op_meta(
            4, 1, record([("n", 1)]), v[1])[2:]]),
        "pay_ops": bytes([1]) + rec([op_pay(7, i, v[i], b"doc %d" % i * (i + 1))
                                     for i in range(5)])
        + rec([op_pay(8, 2, v[3], b'{"j":1}', record([("n", 2)])),
               op_pay(7, 6, v[6], b"\0\1\2", record([("n", 6)])),
               op(2, 3, v[0]), op(3, 1)])
        + rec([op_meta(5, 4, record([("n", 4)]), v[4]), op_pay(8, 0, v[0],
                                                             b"x")]),
        "pay_bits": bytes([2]) + rec([op_pay(7, 1, b[1], b"p"),
                                      op_pay(8, 1, b[2], b"q" * 300)]),
        "pay_len_zero": bytes([0]) + rec([op_pay(7, 1, v[1], b"")]),
        "pay_len_past_end": bytes([0]) + rec([op_pay(8, 1, v[1], b"abc")])[:-1],
        "pay_pad_nonzero": bytes([0]) + rec([op_pay(7, 1, v[1], b"ab")[:20]
                                             + b"\1\0\0\0"
                                             + op_pay(7, 1, v[1], b"ab")[24:]]),
        "pay_too_long": bytes([0]) + rec([bytes([7]) + bytes(3)
                                          + struct.pack("<IQI", 0, 1,
                                                        (1 << 20) + 1)
                                          + bytes(4) + v[1] + b"zz"]),
        "pay_after_meta_unaligned": bytes([0]) + rec([
            op_pay(8, 1, v[1], b"abcde", record([("nn", 1)])),
            op_pay(7, 2, v[2], b"fgh", record([("n", 3)]))]),
        # byte 0 bit 2: a collection with a text field
        "txt_ops": bytes([4]) + rec([op_txt(9, i, v[i], ("doc %d hello " % i).encode()
                                            * (i + 1))
                                     for i in range(5)])
        + rec([op_txt(10, 2, v[3], "Crème brûlée doc".encode(), b"p",
                      record([("n", 2)])), op(3, 1),
               op_pay(8, 3, v[0], b"no text now")])
        + rec([op_txt(10, 0, v[0], b"hello", b"", record([("n", 0)]))]),
        "txt_hnsw": bytes([5]) + rec([op_txt(9, i, v[i % 8], b"hello doc")
                                      for i in range(12)]),
        "txt_no_text_field": bytes([0]) + rec([op_txt(9, 1, v[1], b"doc")]),
        "txt_bad_utf8": bytes([4]) + rec([op_txt(9, 1, v[1], b"doc \xc3\x28")]),
        "txt_len_zero": bytes([4]) + rec([op_txt(9, 1, v[1], b"")]),
        "txt_len_past_end": bytes([4]) + rec([op_txt(10, 1, v[1],
                                                     b"hello")])[:-2],
    }
    # a record with an extra byte after its operations
    body = struct.pack("<II", MAGIC, 1) + op(1, 1, v[1]) + b"\0"
    seeds["trailing"] = bytes([0]) + struct.pack("<H", len(body)) + body
    for name, data in seeds.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "fuzz/corpus/db_log")

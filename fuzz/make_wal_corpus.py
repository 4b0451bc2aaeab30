#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""make_wal_corpus.py - writes seed inputs for fuzz_wal.c (see its header
for the input layout): valid logs of one to three files under both
durabilities, a torn tail, a torn header, a flipped byte in the middle and
a sequence gap. Usage: python3 fuzz/make_wal_corpus.py fuzz/corpus/wal"""
import os
import struct
import sys

POLY = 0x82F63B78
TABLE = []
for i in range(256):
    c = i
    for _ in range(8):
        c = (c >> 1) ^ POLY if c & 1 else c >> 1
    TABLE.append(c)


def crc32c(b):
    c = 0xFFFFFFFF
    for x in b:
        c = TABLE[(c ^ x) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def header(first):
    h = b"VEXWAL\0\0" + struct.pack("<IIQI", 1, 512, first, 0)
    return (h + struct.pack("<I", crc32c(h))).ljust(512, b"\0")


def record(seq, payload, full, n_unsynced):
    pad = (512 - (32 + len(payload)) % 512) % 512 if full else 0
    h = struct.pack("<IIQIII", len(payload), pad, seq, n_unsynced, 0,
                    crc32c(payload))
    return h + struct.pack("<I", crc32c(h)) + payload + b"\0" * pad


def log_file(first, payloads, full):
    # FULL: each record follows a completed sync; NONE: nothing synced
    # since the file was started
    return header(first) + b"".join(
        record(first + i, p, full, 0 if full else i)
        for i, p in enumerate(payloads))


def pack(files):
    out = bytes([len(files) - 1])
    for f in files:
        out += struct.pack("<H", len(f)) + f
    return out


def main():
    d = sys.argv[1]
    os.makedirs(d, exist_ok=True)
    p = [bytes([i]) * (i * 5) for i in range(6)]
    one = log_file(1, p, False)
    full = log_file(1, p, True)
    seeds = {
        "valid_one_none": pack([one]),
        "valid_one_full": pack([log_file(1, p[:3], True)]),
        "valid_three": pack([log_file(1, p[:2], False),
                             log_file(3, p[2:4], False),
                             log_file(5, p[4:], False)]),
        "valid_dropped_prefix": pack([log_file(40, p, False)]),
        "header_only": pack([header(1)]),
        "torn_tail": pack([one[:-7]]),
        "torn_header": pack([log_file(1, p[:2], False), header(3)[:100]]),
        "middle_flip": pack([one[:560] + bytes([one[560] ^ 1]) + one[561:]]),
        "middle_flip_full": pack([full[:1030] + bytes([full[1030] ^ 1]) +
                                  full[1031:]]),
        "gap": pack([log_file(1, p[:2], False), log_file(4, p[2:], False)]),
        "torn_not_last": pack([log_file(1, p[:2], False)[:-3],
                               log_file(3, p[2:], False)]),
    }
    for name, data in seeds.items():
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()

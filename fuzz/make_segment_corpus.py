#!/usr/bin/env python3
"""make_segment_corpus.py - writes seed inputs for fuzz_segment.c (see its
header for the input layout: a flags byte, then a segment file). The files
are built from docs/FORMAT.md ("Segment file"), independently of
segment.c, so the valid seeds also check that the document and the code
agree: valid segments with and without an index section, with no rows and
an empty index, with a real HNSW blob taken from the index corpus; and
damaged ones (cut, extended, bad magic, wrong number, flipped id, unsorted
ids with re-sealed checksums, a newer version, an unknown section kind, a
misaligned section). Usage:
    python3 fuzz/make_segment_corpus.py fuzz/corpus/segment [fuzz/corpus/index]
"""
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


ALIGN = 4096


def up(x):
    return (x + ALIGN - 1) // ALIGN * ALIGN


def segment(number, ids, blob=None, version=1, kinds=(1, 2), idx_off=None):
    """A segment file as FORMAT.md lays it out."""
    ids_bytes = b"".join(struct.pack("<Q", i) for i in ids)
    secs = [(kinds[0], ALIGN, ids_bytes)]
    end = ALIGN + len(ids_bytes)
    if blob is not None:
        off = up(end) if idx_off is None else idx_off
        secs.append((kinds[1], off, blob))
        end = off + len(blob)
    h = b"VEXSEG\0\0" + struct.pack("<IIQ", version, 512, number)
    h += struct.pack("<IIII", 8, 1, 1, 2)  # dim, elem, metric, index kind
    h += struct.pack("<QQQQ", len(ids), 10, 10 + len(ids), end)
    h += struct.pack("<II", len(secs), 0)
    for kind, off, data in secs:
        h += struct.pack("<IIQQ", kind, crc32c(data), off, len(data))
    h = h.ljust(508, b"\0")
    h += struct.pack("<I", crc32c(h))
    f = bytearray(h.ljust(ALIGN, b"\0"))
    for _, off, data in secs:
        if len(f) < off:
            f += b"\0" * (off - len(f))
        f[off:off + len(data)] = data
    return bytes(f)


def main():
    out = sys.argv[1]
    index_dir = sys.argv[2] if len(sys.argv) > 2 else None
    os.makedirs(out, exist_ok=True)
    ids = [5 + 3 * i for i in range(40)]
    blob = bytes((i * 37 + 11) & 0xFF for i in range(300))
    good = segment(42, ids, blob)
    flipped = bytearray(good)
    flipped[ALIGN + 8 * 7] ^= 0x04
    unsorted = ids[:]
    unsorted[10], unsorted[11] = unsorted[11], unsorted[10]
    seeds = {
        "valid_ids_blob": (0, good),
        "valid_ids_only": (0, segment(7, ids)),
        "valid_empty": (0, segment(1, [])),
        "valid_empty_blob": (0, segment(3, [], b"")),
        "valid_one_row": (0, segment(2**64 - 1, [2**64 - 1], b"x")),
        "cut_header": (0, good[:300]),
        "cut_page": (0, good[:ALIGN]),
        "cut_blob": (0, good[:-1]),
        "extended": (0, good + b"\0"),
        "bad_magic": (0, b"VEXSEH" + good[6:]),
        "wrong_number": (4, good),
        "flipped_id": (0, bytes(flipped)),
        "flipped_blob": (0, good[:-5] + bytes([good[-5] ^ 1]) + good[-4:]),
        "unsorted_resealed": (3, segment(5, unsorted, blob)),
        "newer_version": (0, segment(5, ids, blob, version=2)),
        "unknown_kind": (0, segment(5, ids, blob, kinds=(1, 9))),
        "repeated_kind": (0, segment(5, ids, blob, kinds=(1, 1))),
        "misaligned": (0, segment(5, ids, blob, idx_off=ALIGN + 64 * 8)),
        "resealed_flip": (3, bytes(flipped)),
    }
    if index_dir:
        for name in ("valid_hnsw_l2.blob", "valid_flat_l2.blob"):
            p = os.path.join(index_dir, name)
            if os.path.exists(p):
                with open(p, "rb") as f:
                    seeds["real_" + name.replace(".blob", "")] = (
                        0, segment(9, ids, f.read()))
    for name, (flags, data) in seeds.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(bytes([flags]) + data)


if __name__ == "__main__":
    main()

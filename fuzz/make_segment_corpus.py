#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""make_segment_corpus.py - writes seed inputs for fuzz_segment.c (see its
header for the input layout: a flags byte, then a segment file). The files
are built from docs/FORMAT.md ("Segment file", format version 4),
independently of segment.c, so the valid seeds also check that the
document and the code agree: valid segments with dead keys and without,
with all keys dead, with no keys at all, with and without an index
section, with an empty index, with a live id 0, with the sections in
another order, with a real HNSW or flat blob taken from the index corpus;
and damaged ones (cut, extended, bad magic, wrong number, a flipped byte
in each section, unsorted ids, a row key out of range or repeated, a key
id that disagrees with its row, a dead key with an id, more rows than
keys, a missing section, each with re-sealed checksums; a newer version, a
real version-1 file, an unknown section kind, a repeated kind, a
misaligned section; META sections (metadata columns): valid, in a
version-2 file, with a dead key's metadata, with a zone map that
disagrees, with a column offset past the end, too short; PAYLOAD
sections: valid, in a version-3 file, with a dead key's payload, with
offsets descending, not starting at 0 or not ending at the bytes, too
short, with a payload over 1 MiB; valid version-2 and version-3 files). Usage:
    python3 fuzz/make_segment_corpus.py fuzz/corpus/segment [fuzz/corpus/index]
"""
import os
import random
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
IDS, INDEX, ROWKEYS, KEYIDS, META, PAYLOAD = 1, 2, 3, 4, 5, 6


def up(x):
    return (x + ALIGN - 1) // ALIGN * ALIGN


def u64s(xs):
    return b"".join(struct.pack("<Q", x) for x in xs)


def keyset(n_rows, n_keys, seed, first_id=5):
    """ids first_id, first_id+3, ...; each row at a distinct random key;
    key ids as the writer stores them (0 for a dead key)."""
    rng = random.Random(seed)
    keys = rng.sample(range(n_keys), n_rows)
    ids = [first_id + 3 * i for i in range(n_rows)]
    key_ids = [0] * n_keys
    for i, k in zip(ids, keys):
        key_ids[k] = i
    return ids, keys, key_ids


def int_column(name, vals, n_rows):
    """One int64 column as FORMAT.md "Metadata columns" lays it out,
    plain encoding: vals maps row -> value."""
    rows = sorted(vals)
    body = name.encode() + struct.pack("<I", len(rows))
    if len(rows) < n_rows:
        bm = bytearray((n_rows + 7) // 8)
        for r in rows:
            bm[r // 8] |= 1 << (r % 8)
        body += bytes(bm)
    body += b"".join(struct.pack("<q", vals[r]) for r in rows)
    for blk in range(0, n_rows, 1024):
        vs = [vals[r] for r in rows if blk <= r < blk + 1024]
        body += bytes([1 if vs else 0])
        body += struct.pack("<qq", min(vs), max(vs)) if vs else bytes(16)
    return body


def meta_section(recs, n_keys):
    """Metadata columns of n_keys rows (recs: key -> [(name, int)]): one
    plain int64 column per name, in name order."""
    names = sorted({n for fields in recs.values() for n, _ in fields})
    cols = [int_column(n, {k: v for k, fields in recs.items()
                           for m, v in fields if m == n}, n_keys)
            for n in names]
    head = struct.pack("<BBBBII", 1, 0, 0, 0, n_keys, len(cols))
    off = len(head) + 12 * len(cols)
    dirs = b""
    for n, c in zip(names, cols):
        dirs += struct.pack("<IIBBH", off, len(c), 2, 0, len(n.encode()))
        off += len(c)
    return head + dirs + b"".join(cols)


def payload_section(pays, n_keys):
    """n_keys + 1 u64 offsets, then the bytes (pays: key -> bytes)."""
    offs, data = [0], b""
    for k in range(n_keys):
        data += pays.get(k, b"")
        offs.append(len(data))
    return u64s(offs) + data


def segment(number, ids, row_keys, key_ids, blob=None, version=4,
            n_rows=None, n_keys=None, order=None, kinds=None, idx_off=None,
            drop=None, meta=None, pay=None):
    """A version-2 segment file as FORMAT.md lays it out. order: the file
    order of the sections by kind (the writer's: ids, rowkeys, keyids,
    index); kinds: replaces the kind written for each; drop: a kind left
    out."""
    data = {IDS: u64s(ids), ROWKEYS: u64s(row_keys), KEYIDS: u64s(key_ids)}
    if blob is not None:
        data[INDEX] = blob
    if meta is not None:
        data[META] = meta
    if pay is not None:
        data[PAYLOAD] = pay
    order = [k for k in (order or (IDS, ROWKEYS, KEYIDS, META, PAYLOAD, INDEX))
             if k in data and k != drop]
    secs = []
    end = ALIGN
    for k in order:
        off = idx_off if k == INDEX and idx_off is not None else up(end)
        secs.append(((kinds or {}).get(k, k), off, data[k]))
        end = off + len(data[k])
    n_rows = len(ids) if n_rows is None else n_rows
    n_keys = len(key_ids) if n_keys is None else n_keys
    h = b"VEXSEG\0\0" + struct.pack("<IIQ", version, 512, number)
    h += struct.pack("<IIII", 8, 1, 1, 2)  # dim, elem, metric, index kind
    h += struct.pack("<QQQQQ", n_rows, n_keys, 10, 10 + n_rows, end)
    h += struct.pack("<II", len(secs), 0)
    for kind, off, d in secs:
        h += struct.pack("<IIQQ", kind, crc32c(d), off, len(d))
    assert len(h) <= 472
    h = h.ljust(508, b"\0")
    h += struct.pack("<I", crc32c(h))
    f = bytearray(h.ljust(ALIGN, b"\0"))
    for _, off, d in secs:
        if len(f) < off:
            f += b"\0" * (off - len(f))
        f[off:off + len(d)] = d
    return bytes(f)


def segment_v1(number, ids, blob):
    """A version-1 segment (before index keys): n_sections at 72, the
    table at 80, ids at 4096, the blob on the next boundary."""
    ids_b = u64s(ids)
    off = up(ALIGN + len(ids_b))
    end = off + len(blob)
    h = b"VEXSEG\0\0" + struct.pack("<IIQ", 1, 512, number)
    h += struct.pack("<IIII", 8, 1, 1, 2)
    h += struct.pack("<QQQQ", len(ids), 10, 10 + len(ids), end)
    h += struct.pack("<II", 2, 0)
    h += struct.pack("<IIQQ", IDS, crc32c(ids_b), ALIGN, len(ids_b))
    h += struct.pack("<IIQQ", INDEX, crc32c(blob), off, len(blob))
    h = h.ljust(508, b"\0")
    h += struct.pack("<I", crc32c(h))
    f = bytearray(h.ljust(off, b"\0"))
    f[ALIGN:ALIGN + len(ids_b)] = ids_b
    return bytes(f) + blob


def flip(b, off, bit=0x04):
    b = bytearray(b)
    b[off] ^= bit
    return bytes(b)


def main():
    out = sys.argv[1]
    index_dir = sys.argv[2] if len(sys.argv) > 2 else None
    os.makedirs(out, exist_ok=True)
    ids, rk, ki = keyset(40, 50, 1)  # 10 dead keys
    dead = [k for k in range(50) if ki[k] == 0]
    blob = bytes((i * 37 + 11) & 0xFF for i in range(300))
    good = segment(42, ids, rk, ki, blob)
    # offsets in good: ids 4096, row keys 8192, key ids 12288, blob 16384
    unsorted = ids[:]
    unsorted[10], unsorted[11] = unsorted[11], unsorted[10]
    rk_range = rk[:]
    rk_range[7] = 50
    rk_dup = rk[:]
    rk_dup[7] = rk[3]
    ki_bad = ki[:]
    ki_bad[rk[7]] += 3
    ki_dead = ki[:]
    ki_dead[dead[0]] = 1
    ai, ark, aki = keyset(40, 40, 2)  # nothing dead
    zi, zrk, zki = keyset(3, 6, 3, first_id=0)  # a live id 0
    # metadata: every third live key has a record
    live_recs = {k: [("n", i), ("year", 2000 + i % 30)]
                 for j, (i, k) in enumerate(zip(ids, rk)) if j % 3 == 0}
    good_meta = meta_section(live_recs, 50)
    dead_recs = dict(live_recs)
    dead_recs[dead[0]] = [("n", 1)]
    meta_bad = bytearray(good_meta)
    meta_bad[-1] ^= 0x40  # the last zone-map maximum disagrees
    meta_bad = bytes(meta_bad)
    meta_down = bytearray(good_meta)
    meta_down[12:16] = struct.pack("<I", 2**31)  # column offset past the end
    meta_down = bytes(meta_down)
    live_pays = {k: (b"payload of %d " % i) * (i % 4)
                 for i, k in zip(ids, rk)}
    good_pay = payload_section(live_pays, 50)
    dead_pays = dict(live_pays)
    dead_pays[dead[0]] = b"ghost"
    pay_down = bytearray(good_pay)
    pay_down[8 * 20:8 * 21] = struct.pack("<Q", 2**63)
    pay_start = bytearray(good_pay)
    pay_start[0:8] = struct.pack("<Q", 1)
    pay_end = good_pay + b"!"
    big = {rk[0]: b"B" * ((1 << 20) + 1)}
    seeds = {
        "valid_payload": (0, segment(14, ids, rk, ki, blob, meta=good_meta,
                                     pay=good_pay)),
        "valid_payload_no_index": (0, segment(15, ids, rk, ki, pay=good_pay)),
        "valid_payload_all_empty": (0, segment(16, ids, rk, ki, blob,
                                               pay=payload_section({}, 50))),
        "payload_in_version_3": (0, segment(5, ids, rk, ki, blob, version=3,
                                            pay=good_pay)),
        "payload_dead_key_resealed": (3, segment(
            5, ids, rk, ki, blob, pay=payload_section(dead_pays, 50))),
        "payload_offsets_down_resealed": (3, segment(5, ids, rk, ki, blob,
                                                     pay=bytes(pay_down))),
        "payload_start_resealed": (3, segment(5, ids, rk, ki, blob,
                                              pay=bytes(pay_start))),
        "payload_end_resealed": (3, segment(5, ids, rk, ki, blob,
                                            pay=pay_end)),
        "payload_short": (3, segment(5, ids, rk, ki, blob, pay=b"\0" * 16)),
        "payload_over_max": (3, segment(5, ids, rk, ki,
                                        pay=payload_section(big, 50))),
        "flipped_payload": (0, flip(segment(17, ids, rk, ki, pay=good_pay),
                                    ALIGN * 4 + 8 * 51 + 3)),
        "valid_version_3": (0, segment(5, ids, rk, ki, blob, version=3,
                                       meta=good_meta)),
        "valid_dead_keys_blob": (0, good),
        "valid_dead_keys_no_index": (0, segment(7, ids, rk, ki)),
        "valid_all_live": (0, segment(8, ai, ark, aki, blob)),
        "valid_all_dead": (0, segment(4, [], [], [0] * 20, blob)),
        "valid_empty": (0, segment(1, [], [], [])),
        "valid_empty_blob": (0, segment(3, [], [], [], b"")),
        "valid_one_row": (0, segment(2**64 - 1, [2**64 - 1], [0],
                                     [2**64 - 1], b"x")),
        "valid_id_zero": (0, segment(6, zi, zrk, zki, b"zz")),
        "valid_other_order": (0, segment(
            11, ids, rk, ki, blob, order=(KEYIDS, INDEX, IDS, ROWKEYS))),
        "cut_header": (0, good[:300]),
        "cut_page": (0, good[:ALIGN]),
        "cut_keyids": (0, good[:12288 + 100]),
        "cut_blob": (0, good[:-1]),
        "extended": (0, good + b"\0"),
        "bad_magic": (0, b"VEXSEH" + good[6:]),
        "wrong_number": (4, good),
        "flipped_id": (0, flip(good, ALIGN + 8 * 7)),
        "flipped_rowkey": (0, flip(good, 8192 + 8 * 7)),
        "flipped_keyid": (0, flip(good, 12288 + 8 * dead[1])),
        "flipped_blob": (0, flip(good, len(good) - 5, 1)),
        "flipped_n_keys": (0, flip(good, 48, 1)),
        "resealed_flip_id": (3, flip(good, ALIGN + 8 * 7)),
        "resealed_flip_rowkey": (3, flip(good, 8192 + 8 * 7)),
        "resealed_flip_keyid": (3, flip(good, 12288 + 8 * dead[1])),
        "unsorted_resealed": (3, segment(5, unsorted, rk, ki, blob)),
        "rowkey_range_resealed": (3, segment(5, ids, rk_range, ki, blob)),
        "rowkey_dup_resealed": (3, segment(5, ids, rk_dup, ki, blob)),
        "keyid_mismatch_resealed": (3, segment(5, ids, rk, ki_bad, blob)),
        "dead_keyid_resealed": (3, segment(5, ids, rk, ki_dead, blob)),
        "rows_over_keys": (3, segment(5, ids, rk, ki, blob, n_keys=30)),
        "keys_over_max": (3, segment(5, ids, rk, ki, blob, n_keys=2**40 + 1)),
        "no_rowkeys": (3, segment(5, ids, rk, ki, blob, drop=ROWKEYS)),
        "no_keyids": (3, segment(5, ids, rk, ki, blob, drop=KEYIDS)),
        "newer_version": (0, segment(5, ids, rk, ki, blob, version=5)),
        "valid_version_2": (0, segment(5, ids, rk, ki, blob, version=2)),
        "valid_meta": (0, segment(12, ids, rk, ki, blob, meta=good_meta)),
        "valid_meta_no_index": (0, segment(13, ids, rk, ki, meta=good_meta)),
        "meta_in_version_2": (0, segment(5, ids, rk, ki, blob, version=2,
                                         meta=good_meta)),
        "meta_dead_key_resealed": (3, segment(5, ids, rk, ki, blob,
                                              meta=meta_section(dead_recs,
                                                                50))),
        "meta_bad_record": (0, segment(5, ids, rk, ki, blob,
                                       meta=meta_bad)),
        "meta_offsets_down_resealed": (3, segment(5, ids, rk, ki, blob,
                                                  meta=meta_down)),
        "meta_short": (3, segment(5, ids, rk, ki, blob, meta=b"\0" * 16)),
        "version_1": (0, segment_v1(5, ids, blob)),
        "unknown_kind": (0, segment(5, ids, rk, ki, blob, kinds={INDEX: 9})),
        "repeated_kind": (0, segment(5, ids, rk, ki, blob,
                                     kinds={KEYIDS: ROWKEYS})),
        "misaligned": (0, segment(5, ids, rk, ki, blob,
                                  idx_off=up(12288 + 8 * 50) + 64 * 8)),
    }
    if index_dir:
        for name in ("valid_hnsw_l2.blob", "valid_flat_l2.blob"):
            p = os.path.join(index_dir, name)
            if os.path.exists(p):
                with open(p, "rb") as f:
                    seeds["real_" + name.replace(".blob", "")] = (
                        0, segment(9, ids, rk, ki, f.read()))
    for name, (flags, data) in seeds.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(bytes([flags]) + data)


if __name__ == "__main__":
    main()

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * dump.c - vex_dump_file: one file of a database listed for a human
 * (headers, sections, records), for debugging and bug reports.
 *
 * The kind comes from the file's magic. What the library can check, it
 * checks with its own strict loaders (the marker check, the manifest
 * decoder, the segment open, the index blob loader, the metadata column
 * and schema decoders, the log record decoder), so the listing says
 * exactly what an open would say; what it lists of a damaged file it
 * reads itself, field by field through the bounded reader (util/rd.h),
 * because the loaders stop at the first problem and a human wants to see
 * the rest. Every read is bounds-checked: the file is untrusted, and
 * fuzz/fuzz_dump.c runs this over mutated files of every kind.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/db.h"
#include "engine/logrec.h"
#include "index/blob.h"
#include "index/diskann.h"
#include "index/ix.h"
#include "meta/column.h"
#include "meta/schema.h"
#include "storage/manifest.h"
#include "storage/segment.h"
#include "util/abi.h"
#include "util/crc32c.h"
#include "util/endian.h"

#define VX_ABI_DUMP_OPTIONS                                                    \
    VX_ABI_LAYOUT(vex_dump_options, allocator, "options",                      \
                  "vex_dump_options_init")

typedef struct dctx {
    vex_mem mem;
    vex_vfs *vfs;
    const char *path;
    vex_dump_options o;
    int (*fn)(void *ctx, const char *line);
    void *ctx;
    int stop;        /* the callback's non-zero return */
    int damaged;     /* a "damage:" line was written */
    int unsupported; /* an "error:" line for a newer format or kind */
    int failed;      /* the first failure that is not about the file (out of
                        memory, an I/O error): its status, after an "error:"
                        line */
    const unsigned char *p;
    uint64_t len;
} dctx;

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static void
out(dctx *d, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    if (d->stop)
        return;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    d->stop = d->fn(d->ctx, line);
}

static void damage(dctx *d, const char *msg)
{
    d->damaged = 1;
    out(d, "damage: %s", msg);
}

/* A loader's failure: damage (VEX_CORRUPT), or an "error:" line: a newer
 * format or a kind this build does not know (VEX_UNSUPPORTED), or a
 * failure that says nothing about the file (out of memory, I/O), which
 * the dump returns instead of calling the file damaged. */
static void damage_rc(dctx *d, int rc, const char *msg)
{
    if (rc == VEX_CORRUPT) {
        damage(d, msg);
        return;
    }
    if (rc == VEX_UNSUPPORTED)
        d->unsupported = 1;
    else if (d->failed == VEX_OK)
        d->failed = rc;
    out(d, "error: %s", msg);
}

static void damage_err(dctx *d, vex_err *e)
{
    char msg[VEX_ERRMSG_MAX];
    vx_err_copy(e, msg, sizeof msg);
    damage_rc(d, e->rc, msg);
}

/* Whether list item i is shown; at the first one past max_items, a line
 * saying how many are left. */
static int show(dctx *d, uint64_t i, uint64_t n, const char *what)
{
    if (d->o.max_items == 0 || i < d->o.max_items)
        return 1;
    if (i == d->o.max_items)
        out(d, "  ... %" PRIu64 " more %s", n - i, what);
    return 0;
}

static uint32_t u32at(const dctx *d, uint64_t off)
{
    return off + 4 <= d->len ? vex_get_u32le(d->p + off) : 0;
}

static uint64_t u64at(const dctx *d, uint64_t off)
{
    return off + 8 <= d->len ? vex_get_u64le(d->p + off) : 0;
}

static const char *crc_word(uint32_t stored, uint32_t computed)
{
    return stored == computed ? "ok" : "MISMATCH";
}

/* ---------------------------------------------------------------------
 * The marker and CURRENT
 * ------------------------------------------------------------------- */

static void dump_marker(dctx *d)
{
    vex_err e;
    vx_err_init(&e);
    out(d, "database marker (VEXDB), %" PRIu64 " bytes", d->len);
    out(d, "  version %u, flags %u, created %" PRIu64 " (Unix time)",
        u32at(d, 8), u32at(d, 12), u64at(d, 16));
    if (d->len >= 32)
        out(d, "  checksum 0x%08x: %s", u32at(d, 28),
            crc_word(u32at(d, 28), vex_crc32c(d->p, 28)));
    if (vx_db_marker_check(d->vfs, d->path, &e) != VEX_OK)
        damage_err(d, &e);
    vx_err_destroy(&e);
}

static void dump_current(dctx *d)
{
    char name[26], hex[9], want[9];
    out(d, "CURRENT, %" PRIu64 " bytes", d->len);
    if (d->len != 35 || d->p[25] != ' ' || d->p[34] != '\n') {
        damage(d, "CURRENT is 35 bytes: a manifest name, a space, 8 hex "
                  "digits of its CRC32C and a newline");
        return;
    }
    memcpy(name, d->p, 25);
    name[25] = '\0';
    memcpy(hex, d->p + 26, 8);
    hex[8] = '\0';
    snprintf(want, sizeof want, "%08x", vex_crc32c(d->p, 25));
    out(d, "  names %s, checksum %s: %s", name, hex,
        strcmp(hex, want) == 0 ? "ok" : "MISMATCH");
    if (strcmp(hex, want) != 0)
        damage(d, "CURRENT: checksum mismatch at offset 26");
}

/* ---------------------------------------------------------------------
 * Manifests
 * ------------------------------------------------------------------- */

static void dump_schema(dctx *d, const manifest *m)
{
    vm_schema *s = NULL;
    vex_err e;
    vx_err_init(&e);
    if (vx_vm_schema_decode(m->schema, m->schema_len, &d->mem, &e, &s) !=
        VEX_OK) {
        damage_err(d, &e);
    } else {
        const vm_schema_field *f = vx_vm_schema_fields(s);
        size_t n = vx_vm_schema_n_fields(s);
        out(d, "schema: %zu fields, %s (%u bytes)", n,
            vx_vm_schema_closed(s) ? "closed" : "open", m->schema_len);
        for (size_t i = 0; i < n; i++)
            if (show(d, i, n, "fields"))
                out(d, "  %.*s: %s%s", (int)f[i].name.len, f[i].name.p,
                    vex_type_name((vex_type)f[i].type),
                    f[i].nullable ? ", nullable" : "");
    }
    vx_vm_schema_free(s, &d->mem);
    vx_err_destroy(&e);
}

static void dump_manifest(dctx *d)
{
    const char *base = strrchr(d->path, '/');
    manifest m;
    vex_err e;
    int rc;
    memset(&m, 0, sizeof m);
    vx_err_init(&e);
    base = base ? base + 1 : d->path;
    out(d, "manifest %s, %" PRIu64 " bytes, format version %u", base, d->len,
        u32at(d, 8));
    rc = vx_manifest_decode(d->p, (size_t)d->len, base, &d->mem, &e, &m);
    if (rc != VEX_OK) {
        /* what the header says, read field by field */
        out(d,
            "  header: length %" PRIu64 ", number %" PRIu64
            ", next_file %" PRIu64 ", flushed_seq %" PRIu64
            ", %u segments, %" PRIu64 " deleted ids",
            u64at(d, 16), u64at(d, 24), u64at(d, 32), u64at(d, 40),
            u32at(d, 48), u64at(d, 56));
        if (d->len >= 4)
            out(d, "  checksum 0x%08x: %s", u32at(d, d->len - 4),
                crc_word(u32at(d, d->len - 4),
                         vex_crc32c(d->p, (size_t)d->len - 4)));
        damage_err(d, &e);
        goto done;
    }
    out(d, "  number %" PRIu64 ", next_file %" PRIu64 ", flushed_seq %" PRIu64,
        m.number, m.next_file, m.flushed_seq);
    if (m.as_of_seq || m.publish_unix)
        out(d, "  as_of_seq %" PRIu64 ", published %" PRIu64 " (Unix time)",
            m.as_of_seq, m.publish_unix);
    out(d, "collection \"%s\": dim %u, %s, %s, index %s", m.config.name,
        m.config.dim, vex_elem_name((vex_elem)m.config.elem),
        vex_metric_name((vex_metric)m.config.metric),
        m.config.index_kind == VEX_INDEX_HNSW ? "hnsw" : "flat");
    if (m.config.index_kind == VEX_INDEX_HNSW)
        out(d, "  hnsw M %u, ef_construction %u, ef_search %u, seed %" PRIu64,
            m.config.hnsw_m, m.config.hnsw_ef_construction,
            m.config.hnsw_ef_search, m.config.hnsw_seed);
    if (m.config.quant)
        out(d, "  quantizer %u, M %u, bits %u, refine %g", m.config.quant,
            m.config.quant_m, m.config.quant_bits,
            (double)m.config.quant_refine);
    if (m.schema_len)
        dump_schema(d, &m);
    out(d, "segments: %u", m.n_segments);
    for (uint32_t i = 0; i < m.n_segments && !d->stop; i++) {
        const man_segment *s = &m.segs[i];
        if (!show(d, i, m.n_segments, "segments"))
            break;
        out(d,
            "  seg-%016" PRIx64 ".vseg: %" PRIu64 " rows, %" PRIu64
            " bytes, sequence numbers %" PRIu64 "..%" PRIu64 ", %" PRIu64
            " deleted",
            s->number, s->n_rows, s->file_size, s->min_seq, s->max_seq,
            s->n_deleted);
        for (uint64_t j = 0; j < s->n_deleted; j++)
            if (show(d, j, s->n_deleted, "deleted ids"))
                out(d, "    deleted id %" PRIu64, s->deleted[j]);
            else
                break;
    }
done:
    vx_manifest_free(&m, &d->mem);
    vx_err_destroy(&e);
}

/* ---------------------------------------------------------------------
 * Segments
 * ------------------------------------------------------------------- */

static const char *sec_name(uint32_t kind)
{
    switch (kind) {
    case SEG_SEC_IDS:
        return "ids";
    case SEG_SEC_INDEX:
        return "index";
    case SEG_SEC_ROWKEYS:
        return "rowkeys";
    case SEG_SEC_KEYIDS:
        return "keyids";
    case SEG_SEC_META:
        return "meta";
    case SEG_SEC_PAYLOAD:
        return "payload";
    case SEG_SEC_TEXT:
        return "text";
    case SEG_SEC_POSTINGS:
        return "postings";
    default:
        return "unknown";
    }
}

/* The index blob of an open segment: header, sections, and the loader's
 * verdict with the graph's shape. */
static void dump_index(dctx *d, seg *s, uint64_t n_keys)
{
    const void *bp;
    const unsigned char *b;
    uint64_t size, ioff, ilen;
    vex_open_options oo;
    vex_graph_stats gs;
    vx_ix *ix = NULL;
    vex_err e;
    int rc;
    vx_err_init(&e);
    vx_seg_index_range(s, &ioff, &ilen);
    if (vx_seg_kind(s) == VEX_INDEX_DISKANN) {
        vx_dann *dn = NULL;
        rc = vx_dann_open(&d->mem, vx_seg_file(s), ioff, ilen, 0, &dn, &e);
        if (rc != VEX_OK) {
            damage_err(d, &e);
            goto done;
        }
        {
            uint64_t cached;
            out(d,
                "DiskANN index at offset %" PRIu64 ": %" PRIu64
                " vectors of %u dims, %" PRIu64 " node pages, %" PRIu64
                " bytes resident when open",
                ioff, vx_dann_count(dn), vx_dann_dim(dn),
                vx_dann_pages(dn, &cached), vx_dann_resident_bytes(dn));
        }
        if (vx_dann_count(dn) != n_keys) {
            char msg[160];
            snprintf(msg, sizeof msg,
                     "the index at offset %" PRIu64 " holds %" PRIu64
                     " vectors, the segment %" PRIu64 " keys",
                     ioff, vx_dann_count(dn), n_keys);
            damage(d, msg);
        }
        vx_dann_close(dn);
        goto done;
    }
    rc = vx_seg_index(s, &bp, &size, &e);
    if (rc == VEX_NOTFOUND) {
        out(d, "index: none");
        goto done;
    }
    if (rc != VEX_OK) {
        damage_err(d, &e);
        goto done;
    }
    b = bp;
    if (size >= VEX_BLOB_HEADER) {
        uint32_t n_sec = vex_get_u32le(b + 60);
        out(d,
            "index blob at offset %" PRIu64 ": version %u, kind %s, %u dims, "
            "%" PRIu64 " slots, %" PRIu64 " live",
            ioff, vex_get_u32le(b + 8),
            vex_get_u32le(b + 16) == 2 ? "hnsw" : "flat", vex_get_u32le(b + 28),
            vex_get_u64le(b + 32), vex_get_u64le(b + 40));
        if (vex_get_u32le(b + 16) == 2)
            out(d,
                "  M %u, ef_construction %u, ef_search %u, entry 0x%" PRIx64
                ", slot %" PRIu64 " bytes",
                vex_get_u32le(b + 48), vex_get_u32le(b + 52),
                vex_get_u32le(b + 56), vex_get_u64le(b + 72),
                vex_get_u64le(b + 80));
        for (uint32_t i = 0; i < n_sec && i < VEX_BLOB_SECTIONS; i++) {
            const unsigned char *t = b + 112 + 24 * i;
            out(d,
                "  blob section %u: id %u at offset %" PRIu64 " (file %" PRIu64
                "), %" PRIu64 " bytes",
                i, vex_get_u32le(t), vex_get_u64le(t + 8),
                ioff + vex_get_u64le(t + 8), vex_get_u64le(t + 16));
        }
    }
    vex_open_options_init(&oo);
    oo.n_threads = 1;
    oo.allocator = &d->mem.a;
    rc = vx_ix_open_buffer(bp, size, &oo, NULL, &ix, &e);
    if (rc != VEX_OK) {
        char msg[VEX_ERRMSG_MAX], line[VEX_ERRMSG_MAX + 64];
        vx_err_copy(&e, msg, sizeof msg);
        snprintf(line, sizeof line, "index blob at offset %" PRIu64 ": %s",
                 ioff, msg);
        damage_rc(d, rc, line);
        goto done;
    }
    if (vx_ix_count(ix) != n_keys) {
        char msg[160];
        snprintf(msg, sizeof msg,
                 "the index at offset %" PRIu64 " holds %" PRIu64
                 " vectors, the segment %" PRIu64 " keys",
                 ioff, vx_ix_count(ix), n_keys);
        damage(d, msg);
    }
    if (vx_ix_kind(ix) == VEX_INDEX_HNSW &&
        vx_ix_graph_stats(ix, &gs, &e) == VEX_OK)
        out(d,
            "  graph: %" PRIu64 " nodes, %" PRIu64 " level-0 links (%" PRIu64
            " reciprocal), degree %u..%u, top level %u, %" PRIu64
            " unreachable",
            gs.nodes, gs.links, gs.reciprocal, gs.min_degree, gs.max_degree,
            gs.max_level, gs.unreachable);
done:
    vx_ix_free(ix);
    vx_err_destroy(&e);
}

static void dump_segment(dctx *d)
{
    uint32_t n_sec = u32at(d, 80);
    uint64_t n_rows = u64at(d, 40), n_keys = u64at(d, 48);
    seg *s = NULL;
    vm_colset *cs = NULL;
    vex_err e;
    vx_err_init(&e);
    out(d, "segment, %" PRIu64 " bytes, format version %u, header %u bytes",
        d->len, u32at(d, 8), u32at(d, 12));
    out(d, "  file number %" PRIu64 " (seg-%016" PRIx64 ".vseg)", u64at(d, 16),
        u64at(d, 16));
    out(d, "  dim %u, elem %u, metric %u, index kind %u", u32at(d, 24),
        u32at(d, 28), u32at(d, 32), u32at(d, 36));
    out(d,
        "  %" PRIu64 " rows, %" PRIu64 " keys, sequence numbers %" PRIu64
        "..%" PRIu64 ", file size field %" PRIu64,
        n_rows, n_keys, u64at(d, 56), u64at(d, 64), u64at(d, 72));
    if (d->len >= 512)
        out(d, "  header checksum 0x%08x: %s", u32at(d, 508),
            crc_word(u32at(d, 508), vex_crc32c(d->p, 508)));
    out(d, "sections: %u", n_sec);
    for (uint32_t i = 0; i < n_sec && i < SEG_MAX_SECTIONS && !d->stop; i++) {
        uint64_t t = 88 + 24 * (uint64_t)i, off = u64at(d, t + 8),
                 len = u64at(d, t + 16);
        uint32_t kind = u32at(d, t), crc = u32at(d, t + 4);
        if (off <= d->len && len <= d->len - off)
            out(d,
                "  %u: %s (kind %u) at offset %" PRIu64 ", %" PRIu64
                " bytes, checksum 0x%08x: %s",
                i, sec_name(kind), kind, off, len, crc,
                crc_word(crc, vex_crc32c(d->p + off, (size_t)len)));
        else
            out(d,
                "  %u: %s (kind %u) at offset %" PRIu64 ", %" PRIu64
                " bytes: past the end of the file",
                i, sec_name(kind), kind, off, len);
    }
    if (vx_seg_open(d->vfs, d->path, u64at(d, 16), &d->mem, &e, &s) != VEX_OK) {
        damage_err(d, &e);
        goto done;
    }
    {
        const uint64_t *ids = vx_seg_ids(s), *keys = vx_seg_row_keys(s);
        out(d, "rows (id -> index key, payload bytes):");
        for (uint64_t i = 0; i < n_rows && !d->stop; i++) {
            const unsigned char *pp;
            size_t pl;
            if (!show(d, i, n_rows, "rows"))
                break;
            vx_seg_payload(s, keys[i], &pp, &pl);
            out(d, "  id %" PRIu64 " -> key %" PRIu64 ", payload %zu", ids[i],
                keys[i], pl);
        }
        if (n_keys > n_rows)
            out(d,
                "  %" PRIu64 " dead keys (rows overwritten or deleted "
                "before the flush)",
                n_keys - n_rows);
        out(d, "payload bytes: %" PRIu64, vx_seg_payload_bytes(s));
    }
    {
        const unsigned char *mp;
        size_t ml;
        uint64_t moff;
        if (!vx_seg_meta(s, &mp, &ml, &moff)) {
            out(d, "metadata: none");
        } else if (n_keys > UINT32_MAX ||
                   vx_vm_colset_open(mp, ml, (uint32_t)n_keys, &d->mem, &e,
                                     &cs) != VEX_OK) {
            char msg[VEX_ERRMSG_MAX], line[VEX_ERRMSG_MAX + 64];
            vx_err_copy(&e, msg, sizeof msg);
            snprintf(line, sizeof line,
                     "meta section at offset %" PRIu64 ": %s", moff, msg);
            damage_rc(d, n_keys > UINT32_MAX ? VEX_CORRUPT : e.rc, line);
        } else {
            uint32_t nc = vx_vm_colset_columns(cs);
            out(d, "metadata at offset %" PRIu64 ": %u columns", moff, nc);
            for (uint32_t i = 0; i < nc && !d->stop; i++) {
                vm_str name;
                int type, enc;
                uint32_t np;
                if (!show(d, i, nc, "columns"))
                    break;
                vx_vm_colset_column(cs, i, &name, &type, &enc, &np);
                out(d, "  %.*s: %s, encoding %d%s, %u rows with a value",
                    (int)name.len, name.p, vex_type_name((vex_type)type),
                    enc & 0x7f, enc & 0x80 ? " (zstd)" : "", np);
            }
        }
    }
    dump_index(d, s, n_keys);
done:
    vx_vm_colset_close(cs);
    vx_seg_close(s);
    vx_err_destroy(&e);
}

/* ---------------------------------------------------------------------
 * Log files
 * ------------------------------------------------------------------- */

#define WAL_HDR 512
#define WAL_REC 32

/* Whether a record header at off is intact (its CRC, sizes within the
 * file, and, when `full`, its payload CRC). */
static int rec_ok(const dctx *d, uint64_t off, int full)
{
    uint32_t len, pad;
    if (off > d->len || d->len - off < WAL_REC)
        return 0;
    if (vex_get_u32le(d->p + off + 28) != vex_crc32c(d->p + off, 28))
        return 0;
    len = vex_get_u32le(d->p + off);
    pad = vex_get_u32le(d->p + off + 4);
    if (len > (64u << 20) || pad >= 512 ||
        d->len - off - WAL_REC < (uint64_t)len + pad)
        return 0;
    return !full || vex_get_u32le(d->p + off + 24) ==
                        vex_crc32c(d->p + off + WAL_REC, len);
}

/* The vector size of the log's collection, from the manifest of the
 * directory above the log's ("<coll>/wal/wal-*.log"), or 0. */
static size_t log_vec_bytes(dctx *d)
{
    const char *slash = strrchr(d->path, '/');
    size_t n;
    char *dir;
    manifest m;
    size_t vb = 0;
    if (slash == NULL)
        return 0;
    n = (size_t)(slash - d->path);
    dir = vx_mem_alloc(&d->mem, n + 4);
    if (dir == NULL)
        return 0;
    memcpy(dir, d->path, n);
    memcpy(dir + n, "/..", 4);
    memset(&m, 0, sizeof m);
    if (vx_manifest_load(d->vfs, dir, &d->mem, NULL, &m) == VEX_OK)
        vb = vex_vector_size((vex_elem)m.config.elem, m.config.dim);
    vx_manifest_free(&m, &d->mem);
    vx_mem_free(&d->mem, dir);
    return vb;
}

static void dump_ops(dctx *d, const unsigned char *p, size_t n, size_t vb)
{
    uint32_t n_ops;
    size_t pos = VX_LOGREC_HEADER;
    if (n < VX_LOGREC_HEADER || vex_get_u32le(p) != VX_LOGREC_MAGIC) {
        out(d, "    not a collection record (no VOP1 magic)");
        return;
    }
    n_ops = vex_get_u32le(p + 4);
    if (vb == 0) {
        out(d,
            "    %u operations (not decoded: no manifest in the directory "
            "above gives the vector size)",
            n_ops);
        return;
    }
    for (uint32_t i = 0; i < n_ops && !d->stop; i++) {
        vx_op op;
        size_t used =
            pos <= n ? vx_logrec_op_decode(p + pos, n - pos, vb, &op) : 0;
        if (used == 0) {
            char msg[128];
            snprintf(msg, sizeof msg,
                     "operation %u of %u at byte %zu of the record is "
                     "malformed",
                     i, n_ops, pos);
            damage(d, msg);
            return;
        }
        if (show(d, i, n_ops, "operations"))
            out(d,
                "    %s id %" PRIu64
                "%s (metadata %zu bytes, payload %zu, text %zu)",
                vx_logrec_op_name(op.kind), op.id,
                vx_logrec_kind_has_vec(op.kind) ? " with a vector" : "",
                op.meta_len, op.pay_len, op.txt_len);
        pos += used;
    }
    if (pos != n)
        damage(d, "bytes after the last operation of a record");
}

static void dump_log(dctx *d)
{
    uint64_t off = WAL_HDR, n_rec = 0, expect = u64at(d, 16);
    size_t vb = log_vec_bytes(d);
    out(d, "write-ahead log file, %" PRIu64 " bytes, format version %u", d->len,
        u32at(d, 8));
    out(d, "  first sequence number %" PRIu64 ", header checksum 0x%08x: %s",
        u64at(d, 16), u32at(d, 28),
        d->len >= 32 ? crc_word(u32at(d, 28), vex_crc32c(d->p, 28)) : "short");
    if (d->len < WAL_HDR || u32at(d, 28) != vex_crc32c(d->p, 28)) {
        damage(d, "bad file header at offset 0 (a torn rotation when this is "
                  "the last file and no longer than 512 bytes)");
        return;
    }
    out(d, "records:");
    while (off < d->len && !d->stop) {
        uint32_t len, pad;
        uint64_t seq;
        if (!rec_ok(d, off, 1)) {
            uint64_t j;
            char msg[256];
            for (j = off + 1; j + WAL_REC <= d->len; j++)
                if (rec_ok(d, j, 1))
                    break;
            if (j + WAL_REC <= d->len) {
                snprintf(msg, sizeof msg,
                         "bad record at offset %" PRIu64
                         ", an intact one follows at offset %" PRIu64,
                         off, j);
                damage(d, msg);
            } else {
                out(d,
                    "end: the last %" PRIu64 " bytes, from offset %" PRIu64
                    ", are not a complete record (a torn tail if this is the "
                    "log's last file: an append in progress or cut short by "
                    "a crash)",
                    d->len - off, off);
            }
            break;
        }
        len = vex_get_u32le(d->p + off);
        pad = vex_get_u32le(d->p + off + 4);
        seq = vex_get_u64le(d->p + off + 8);
        if (d->o.max_items && n_rec == d->o.max_items)
            out(d, "  ... (the rest are checked, not listed)");
        if (d->o.max_items == 0 || n_rec < d->o.max_items) {
            out(d,
                "  record %" PRIu64 " at offset %" PRIu64 ": %u bytes (+%u "
                "padding), %u unsynced before it",
                seq, off, len, pad, vex_get_u32le(d->p + off + 16));
            dump_ops(d, d->p + off + WAL_REC, len, vb);
        }
        if (seq != expect) {
            char msg[160];
            snprintf(msg, sizeof msg,
                     "sequence gap at offset %" PRIu64 ": expected %" PRIu64
                     ", found %" PRIu64,
                     off, expect, seq);
            damage(d, msg);
            break;
        }
        expect++;
        n_rec++;
        off += WAL_REC + (uint64_t)len + pad;
    }
    if (d->o.max_items && n_rec > d->o.max_items)
        out(d, "  (%" PRIu64 " records in all)", n_rec);
}

/* ---------------------------------------------------------------------
 * Entry points
 * ------------------------------------------------------------------- */

void vex_dump_options_init_size(vex_dump_options *opts, size_t size)
{
    vex_dump_options full;
    if (opts == NULL)
        return;
    memset(&full, 0, sizeof full);
    full.struct_size = sizeof full;
    full.max_items = 16;
    vx_abi_init(&VX_ABI_DUMP_OPTIONS, opts, size, &full);
}

void(vex_dump_options_init)(vex_dump_options *opts)
{
    vex_dump_options_init_size(opts, VX_ABI_DUMP_OPTIONS.ends[0]);
}

int vx_dump_vfs(vex_vfs *vfs, const char *path, const vex_dump_options *opts,
                int (*fn)(void *ctx, const char *line), void *ctx)
{
    dctx d;
    vex_file *f = NULL;
    const void *map = NULL;
    size_t map_len = 0;
    vex_err e;
    int rc;
    if (path == NULL || fn == NULL || vfs == NULL)
        return VEX_MISUSE;
    memset(&d, 0, sizeof d);
    d.fn = fn;
    d.ctx = ctx;
    d.vfs = vfs;
    d.path = path;
    vex_dump_options_init(&d.o);
    vx_err_init(&e);
    if (opts && (rc = vx_abi_in(&VX_ABI_DUMP_OPTIONS, opts, &d.o, &e)) != 0)
        goto fail;
    if ((rc = vx_mem_init(&d.mem, d.o.allocator)) != VEX_OK) {
        rc = vx_err_set(&e, VEX_INVALID, "a partial allocator");
        goto fail;
    }
    rc = vex_vfs_open(vfs, path, VX_FILE_READONLY, &f, &e);
    if (rc == VEX_OK)
        rc = vex_file_size(f, &d.len, &e);
    if (rc == VEX_OK && d.len > 0)
        rc = vex_file_mmap(f, &map, &map_len, &e);
    if (rc != VEX_OK)
        goto fail;
    d.p = map;
    if (d.len >= 8 && memcmp(d.p, "VEXDB\0\0\0", 8) == 0)
        dump_marker(&d);
    else if (d.len >= 9 && memcmp(d.p, "MANIFEST-", 9) == 0)
        dump_current(&d);
    else if (d.len >= 8 && memcmp(d.p, "VEXMANIF", 8) == 0)
        dump_manifest(&d);
    else if (d.len >= 8 && memcmp(d.p, "VEXSEG\0\0", 8) == 0)
        dump_segment(&d);
    else if (d.len >= 8 && memcmp(d.p, "VEXWAL\0\0", 8) == 0)
        dump_log(&d);
    else {
        rc = vx_err_set(&e, VEX_UNSUPPORTED,
                        "%s: not a VexDB file (no marker, CURRENT, manifest, "
                        "segment or log magic at offset 0)",
                        path);
        goto fail;
    }
    if (map)
        vex_file_munmap(f, map, map_len, NULL);
    vex_file_close(f, NULL);
    vx_err_destroy(&e);
    if (d.stop)
        return d.stop;
    return d.failed        ? d.failed
           : d.damaged     ? VEX_CORRUPT
           : d.unsupported ? VEX_UNSUPPORTED
                           : VEX_OK;
fail:
    if (map)
        vex_file_munmap(f, map, map_len, NULL);
    vex_file_close(f, NULL);
    if (!d.stop) {
        char msg[VEX_ERRMSG_MAX];
        vx_err_copy(&e, msg, sizeof msg);
        out(&d, "error: %s", msg);
    }
    vx_err_destroy(&e);
    return d.stop ? d.stop : rc;
}

int vex_dump_file(const char *path, const vex_dump_options *opts,
                  int (*fn)(void *ctx, const char *line), void *ctx)
{
    vex_vfs *vfs = NULL;
    vex_dump_options o;
    int rc;
    if (path == NULL || fn == NULL)
        return VEX_MISUSE;
    vex_dump_options_init(&o);
    if (opts && vx_abi_in(&VX_ABI_DUMP_OPTIONS, opts, &o, NULL) != VEX_OK)
        return VEX_MISUSE;
    rc = vx_vfs_posix_create(o.allocator, &vfs);
    if (rc != VEX_OK)
        return rc;
    rc = vx_dump_vfs(vfs, path, opts, fn, ctx);
    vex_vfs_destroy(vfs);
    return rc;
}

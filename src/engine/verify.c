/* SPDX-License-Identifier: Apache-2.0 */
/*
 * verify.c - vex_db_verify: every check the library knows, run over every
 * file of a database directory without opening it, each problem reported
 * as a finding (severity, status, file, byte offset, message).
 *
 * It builds no checker of its own where one exists: the marker check of
 * db.c, the strict manifest loader, the segment open (header, table, id
 * and key maps, payload offsets), the index section's checksum, the index
 * blob loader (every vector and, for HNSW, every graph invariant; its
 * messages give the blob offset, to which the index section's file offset
 * is added), the metadata column and schema decoders, the log reader and
 * the whole-record check replay runs (vx_logrec_check). What it adds is
 * what only a view of the whole collection can check: a segment against
 * its manifest entry, the manifest's deleted ids against the segment, the
 * index's ids against the segment's keys, the log against the manifest's
 * flushed_seq and as_of_seq, and files no manifest names.
 *
 * Offsets: the checkers' messages end "at offset N" (the house rule for
 * damage, util/err.h); msg_offset takes the first such number, relative to
 * what was checked, and the caller adds where that starts in the file.
 *
 * A writer beside us: a collection is read as a read-only open reads it
 * (FORMAT.md, "Reading while a writer writes"). Its findings are held back
 * until it is done; if CURRENT moved meanwhile and something failed, the
 * failure may be a file the writer removed, so the findings are dropped
 * and the collection is checked again (VERIFY_ATTEMPTS times at most).
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/db.h"
#include "engine/logrec.h"
#include "index/diskann.h"
#include "index/ix.h"
#include "meta/column.h"
#include "meta/schema.h"
#include "storage/manifest.h"
#include "storage/segment.h"
#include "storage/wal.h"
#include "util/abi.h"

#define VERIFY_ATTEMPTS 32

#define VX_ABI_VERIFY_OPTIONS                                                  \
    VX_ABI_LAYOUT(vex_verify_options, allocator, "options",                    \
                  "vex_verify_options_init")
#define VX_ABI_VERIFY_REPORT                                                   \
    VX_ABI_LAYOUT(vex_verify_report, graph_links, "report",                    \
                  "vex_verify_report_init")

typedef struct vfind {
    int sev, status;
    uint64_t off;
    char *file, *msg;
} vfind;

typedef struct vctx {
    vex_mem mem;
    vex_vfs *vfs;
    const char *root;
    vex_verify_options o;
    vex_verify_report r;
    const char *coll; /* the collection being checked, or "" */
    int hold;         /* hold findings back (a collection attempt) */
    vfind *held;
    size_t n_held, cap_held;
    int first_status; /* of the first ERROR delivered */
    int stop;         /* the callback's non-zero return */
    int nomem;
} vctx;

/* ---------------------------------------------------------------------
 * Findings
 * ------------------------------------------------------------------- */

static void deliver(vctx *v, int sev, int status, const char *file,
                    uint64_t off, const char *msg)
{
    vex_finding f;
    if (sev == VEX_SEVERITY_ERROR) {
        v->r.errors++;
        if (v->first_status == VEX_OK)
            v->first_status = status != VEX_OK ? status : VEX_CORRUPT;
    } else if (sev == VEX_SEVERITY_WARNING) {
        v->r.warnings++;
    }
    if (v->stop || v->o.on_finding == NULL)
        return;
    f.severity = (vex_severity)sev;
    f.status = status;
    f.collection = v->coll;
    f.file = file ? file : "";
    f.offset = off;
    f.message = msg;
    v->stop = v->o.on_finding(v->o.ctx, &f);
}

#if defined(__GNUC__)
__attribute__((format(printf, 6, 7)))
#endif
static void
emit(vctx *v, int sev, int status, const char *file, uint64_t off,
     const char *fmt, ...)
{
    char msg[VEX_ERRMSG_MAX + 256];
    va_list ap;
    if (sev == VEX_SEVERITY_INFO && !v->o.report_info)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (v->hold) {
        vfind *h;
        if (v->n_held == v->cap_held) {
            size_t cap = v->cap_held ? v->cap_held * 2 : 16;
            vfind *p = vx_mem_realloc(&v->mem, v->held, cap * sizeof *p);
            if (p == NULL) {
                v->nomem = 1;
                return;
            }
            v->held = p;
            v->cap_held = cap;
        }
        h = &v->held[v->n_held];
        h->sev = sev;
        h->status = status;
        h->off = off;
        h->file = vx_vfs_strdup(&v->mem, file ? file : "");
        h->msg = vx_vfs_strdup(&v->mem, msg);
        if (h->file == NULL || h->msg == NULL) {
            vx_mem_free(&v->mem, h->file);
            vx_mem_free(&v->mem, h->msg);
            v->nomem = 1;
            return;
        }
        v->n_held++;
        return;
    }
    deliver(v, sev, status, file, off, msg);
}

static void held_clear(vctx *v)
{
    for (size_t i = 0; i < v->n_held; i++) {
        vx_mem_free(&v->mem, v->held[i].file);
        vx_mem_free(&v->mem, v->held[i].msg);
    }
    v->n_held = 0;
}

static int held_errors(const vctx *v)
{
    for (size_t i = 0; i < v->n_held; i++)
        if (v->held[i].sev == VEX_SEVERITY_ERROR)
            return 1;
    return 0;
}

static void held_flush(vctx *v)
{
    for (size_t i = 0; i < v->n_held; i++)
        deliver(v, v->held[i].sev, v->held[i].status, v->held[i].file,
                v->held[i].off, v->held[i].msg);
    held_clear(v);
}

/* The first "offset N" in a checker's message (util/err.h's rule), or
 * failing that "at byte N" (the log record checker's form). */
static int msg_offset(const char *msg, uint64_t *off)
{
    static const char *const marks[] = {"offset ", "at byte "};
    for (size_t m = 0; m < 2; m++) {
        const char *p = msg;
        while ((p = strstr(p, marks[m])) != NULL) {
            p += strlen(marks[m]);
            if (*p >= '0' && *p <= '9') {
                *off = strtoull(p, NULL, 10);
                return 1;
            }
        }
    }
    return 0;
}

/* A checker's failure (status rc, message in e) about `file`: the offset
 * from its message plus `base`, or `dflt` when it names none. */
static void emit_err(vctx *v, int sev, int rc, const char *file, uint64_t base,
                     uint64_t dflt, vex_err *e)
{
    char msg[VEX_ERRMSG_MAX];
    uint64_t off;
    char path[VEX_ERRMSG_MAX];
    const char *at;
    vx_err_copy(e, msg, sizeof msg);
    if (rc == VEX_NOMEM)
        v->nomem = 1;
    off = msg_offset(msg, &off) ? base + off : dflt;
    /* the finding names the file: drop the checker's "<root>/<file>: "
     * (after the "file.c:line: " of debug builds, if any) */
    snprintf(path, sizeof path, "%s/%s: ", v->root, file);
    if (file[0] && (at = strstr(msg, path)) != NULL && at - msg < 40)
        memmove((char *)at, at + strlen(path), strlen(at + strlen(path)) + 1);
    emit(v, sev, rc, file, off, "%s", msg);
}

static void count_file(vctx *v, uint64_t bytes)
{
    v->r.files++;
    v->r.bytes += bytes;
}

/* "<a>/<b>" (NULL when out of memory: v->nomem). */
static char *join(vctx *v, const char *a, const char *b)
{
    char *p = vx_path_join(&v->mem, a, b);
    if (p == NULL)
        v->nomem = 1;
    return p;
}

/* ---------------------------------------------------------------------
 * Directory listing
 * ------------------------------------------------------------------- */

typedef struct name_ent {
    char *s;
    int kind;
} name_ent;

typedef struct names {
    vctx *v;
    name_ent *e;
    size_t n, cap;
} names;

static int verify_names_add(void *arg, const char *name, int kind)
{
    names *l = arg;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 32;
        name_ent *e = vx_mem_realloc(&l->v->mem, l->e, cap * sizeof *e);
        if (e == NULL)
            return VEX_NOMEM;
        l->e = e;
        l->cap = cap;
    }
    if ((l->e[l->n].s = vx_vfs_strdup(&l->v->mem, name)) == NULL)
        return VEX_NOMEM;
    l->e[l->n++].kind = kind;
    return 0;
}

static void names_free(names *l)
{
    if (l->v == NULL) /* never listed */
        return;
    for (size_t i = 0; i < l->n; i++)
        vx_mem_free(&l->v->mem, l->e[i].s);
    vx_mem_free(&l->v->mem, l->e);
    memset(l, 0, sizeof *l);
}

static int cmp_ent(const void *a, const void *b)
{
    return strcmp(((const name_ent *)a)->s, ((const name_ent *)b)->s);
}

/* List `dir`, sorted by name (so findings come in a stable order). */
static int names_list(vctx *v, const char *dir, names *l, vex_err *e)
{
    int rc;
    memset(l, 0, sizeof *l);
    l->v = v;
    rc = vex_vfs_list(v->vfs, dir, verify_names_add, l, e);
    if (rc == VEX_NOMEM)
        v->nomem = 1;
    if (rc == VEX_OK && l->n > 1)
        qsort(l->e, l->n, sizeof *l->e, cmp_ent);
    return rc;
}

/* ---------------------------------------------------------------------
 * Segments
 * ------------------------------------------------------------------- */

typedef struct keyscan {
    uint64_t n_keys, seen, bad_id;
    uint64_t *bits;
    int bad; /* 1: id >= n_keys, 2: repeated */
} keyscan;

static int keyscan_fn(void *ctx, uint64_t id, const void *vec)
{
    keyscan *k = ctx;
    (void)vec;
    if (id >= k->n_keys) {
        k->bad = 1;
        k->bad_id = id;
        return 1;
    }
    if (k->bits[id / 64] & (1ull << (id % 64))) {
        k->bad = 2;
        k->bad_id = id;
        return 1;
    }
    k->bits[id / 64] |= 1ull << (id % 64);
    k->seen++;
    return 0;
}

/* A DiskANN index section: its whole CRC, then the index opened and
 * every node page checked (vx_dann_check). */
static void check_dann(vctx *v, seg *s, const seg_info *si, const char *rel,
                       int sev)
{
    uint64_t ioff, ilen;
    vx_dann *d = NULL;
    vx_dann_check_stats cs;
    vex_err e;
    int rc;
    vx_err_init(&e);
    vx_seg_index_range(s, &ioff, &ilen);
    if ((rc = vx_seg_check_index_crc(s, &e)) != VEX_OK ||
        (rc = vx_dann_open(&v->mem, vx_seg_file(s), ioff, ilen, 0, &d, &e)) !=
            VEX_OK) {
        if (rc == VEX_NOMEM)
            v->nomem = 1;
        emit_err(v, sev, rc, rel, 0, ioff, &e);
        goto done;
    }
    if (vx_dann_count(d) != si->n_keys || vx_dann_dim(d) != si->dim ||
        si->n_rows != si->n_keys || !vx_dann_dense_keys(d)) {
        emit(v, sev, VEX_CORRUPT, rel, ioff,
             "DiskANN index at offset %" PRIu64 " holds %" PRIu64
             " vectors of dim %u (keys %s), the segment header says %" PRIu64
             " keys and %" PRIu64 " rows of dim %u",
             ioff, vx_dann_count(d), vx_dann_dim(d),
             vx_dann_dense_keys(d) ? "0..n-1" : "not 0..n-1", si->n_keys,
             si->n_rows, si->dim);
        goto done;
    }
    if ((rc = vx_dann_check(d, &cs, &e)) != VEX_OK) {
        if (rc == VEX_NOMEM)
            v->nomem = 1;
        emit_err(v, sev, rc, rel, 0, ioff, &e);
        goto done;
    }
    v->r.graph_nodes += cs.nodes;
    v->r.graph_links += cs.links;
    if (cs.unreachable)
        emit(v, VEX_SEVERITY_WARNING, VEX_OK, rel, ioff,
             "index: %" PRIu64 " of %" PRIu64
             " DiskANN nodes cannot be reached from the entry point "
             "(searches never return them; a compaction rebuilds the graph)",
             cs.unreachable, cs.nodes);
    emit(v, VEX_SEVERITY_INFO, VEX_OK, rel, ioff,
         "index: diskann, %" PRIu64 " vectors, %" PRIu64
         " links, degree %u..%u",
         cs.nodes, cs.links, cs.min_degree, cs.max_degree);
done:
    vx_dann_close(d);
    vx_err_destroy(&e);
}

/* The index section of open segment `s` (rel: its file, for findings). */
static void check_index(vctx *v, seg *s, const seg_info *si, const char *rel,
                        int sev)
{
    const void *blob;
    uint64_t size, ioff, ilen;
    vex_open_options oo;
    vex_graph_stats gs;
    const vex_index_config *ic;
    keyscan ks;
    vx_ix *ix = NULL;
    vex_err e;
    int rc;

    if (si->index_kind == VEX_INDEX_DISKANN) {
        check_dann(v, s, si, rel, sev);
        return;
    }
    vx_err_init(&e);
    vx_seg_index_range(s, &ioff, &ilen);
    rc = vx_seg_index(s, &blob, &size, &e);
    if (rc == VEX_NOTFOUND) {
        if (si->n_keys > 0)
            emit(v, sev, VEX_CORRUPT, rel, VEX_NO_OFFSET,
                 "%" PRIu64 " keys but no index section", si->n_keys);
        goto done;
    }
    if (rc != VEX_OK) { /* the checksum: the message has the file offset */
        emit_err(v, sev, rc, rel, 0, ioff, &e);
        goto done;
    }
    vex_open_options_init(&oo);
    oo.n_threads = 1;
    oo.allocator = &v->mem.a;
    rc = vx_ix_open_buffer(blob, size, &oo, NULL, &ix, &e);
    if (rc != VEX_OK) {
        char msg[VEX_ERRMSG_MAX];
        uint64_t off;
        vx_err_copy(&e, msg, sizeof msg);
        if (rc == VEX_NOMEM)
            v->nomem = 1;
        off = msg_offset(msg, &off) ? ioff + off : ioff;
        emit(v, sev, rc, rel, off,
             "index section (at offset %" PRIu64 "): %s at file offset "
             "%" PRIu64,
             ioff, msg, off);
        goto done;
    }
    ic = vx_ix_config(ix);
    if (ic->dim != si->dim || (uint32_t)ic->elem != si->elem ||
        (uint32_t)ic->metric != si->metric ||
        (uint32_t)vx_ix_kind(ix) != si->index_kind ||
        vx_ix_count(ix) != si->n_keys) {
        emit(v, sev, VEX_CORRUPT, rel, ioff,
             "index section at offset %" PRIu64 " holds %" PRIu64
             " vectors of dim %u (kind %d), the segment header says %" PRIu64
             " keys of dim %u (kind %u)",
             ioff, vx_ix_count(ix), ic->dim, (int)vx_ix_kind(ix), si->n_keys,
             si->dim, si->index_kind);
        goto done;
    }
    /* the id map: the index's ids are exactly the keys 0 .. n_keys-1 */
    memset(&ks, 0, sizeof ks);
    ks.n_keys = si->n_keys;
    ks.bits = vx_mem_calloc(&v->mem, si->n_keys / 64 + 1, 8);
    if (ks.bits == NULL) {
        v->nomem = 1;
        goto done;
    }
    vx_ix_scan(ix, keyscan_fn, &ks);
    vx_mem_free(&v->mem, ks.bits);
    if (ks.bad || ks.seen != si->n_keys) {
        emit(v, sev, VEX_CORRUPT, rel, ioff,
             "index section at offset %" PRIu64 ": %s%" PRIu64
             " (the segment's keys are 0 .. %" PRIu64 ")",
             ioff,
             ks.bad == 1   ? "vector id out of range: "
             : ks.bad == 2 ? "vector id twice: "
                           : "vectors found: ",
             ks.bad ? ks.bad_id : ks.seen, si->n_keys ? si->n_keys - 1 : 0);
        goto done;
    }
    rc = vx_ix_graph_stats(ix, &gs, &e);
    if (rc != VEX_OK) {
        emit_err(v, sev, rc, rel, ioff, ioff, &e);
        goto done;
    }
    if (vx_ix_kind(ix) != VEX_INDEX_HNSW) {
        emit(v, VEX_SEVERITY_INFO, VEX_OK, rel, ioff,
             "index: flat, %" PRIu64 " vectors", vx_ix_count(ix));
        goto done;
    }
    v->r.graph_nodes += gs.nodes + gs.deleted;
    v->r.graph_links += gs.links;
    if (gs.unreachable)
        emit(v, VEX_SEVERITY_WARNING, VEX_OK, rel, ioff,
             "index: %" PRIu64 " of %" PRIu64
             " live graph nodes cannot be reached from the entry point "
             "(searches never return them; a compaction rebuilds the graph)",
             gs.unreachable, gs.nodes);
    emit(v, VEX_SEVERITY_INFO, VEX_OK, rel, ioff,
         "index: hnsw, %" PRIu64 " vectors, %" PRIu64 " graph nodes, %" PRIu64
         " links, degree %u..%u, %u levels",
         vx_ix_count(ix), gs.nodes, gs.links, gs.min_degree, gs.max_degree,
         gs.max_level + (gs.nodes ? 1 : 0));
done:
    vx_ix_free(ix);
    vx_err_destroy(&e);
}

/* One segment file. `ms` (may be NULL for a leftover) is its manifest
 * entry, `cfg` the collection's configuration, `del_off` the manifest
 * offset of its first deleted id and `mrel` the manifest's file. */
static void check_segment(vctx *v, const char *dir, const char *rdir,
                          uint64_t number, const man_segment *ms,
                          const man_config *cfg, const char *mrel,
                          uint64_t del_off, int sev)
{
    char name[SEG_NAME_LEN + 1];
    char *path = NULL, *rel = NULL;
    const unsigned char *mp;
    size_t mlen;
    uint64_t moff, key;
    seg_info si;
    seg *s = NULL;
    vm_colset *cs = NULL;
    vex_err e;
    int rc;

    vx_err_init(&e);
    vx_seg_file_name(name, sizeof name, number);
    path = join(v, dir, name);
    rel = join(v, rdir, name);
    if (path == NULL || rel == NULL)
        goto done;
    v->r.segments++;
    rc = vx_seg_open(v->vfs, path, number, &v->mem, &e, &s);
    if (ms == NULL && rc == VEX_NOTFOUND)
        goto done;  /* a leftover a writer removed since the listing */
    if (ms == NULL) /* a leftover, or a flush's file not published yet */
        emit(v, VEX_SEVERITY_WARNING, VEX_OK, rel, VEX_NO_OFFSET, "%s",
             "a segment file no manifest names: the leftover of an "
             "interrupted flush or compaction, one a compaction replaced, "
             "or one a writer has not published yet (an open removes "
             "leftovers)");
    if (rc != VEX_OK) {
        emit_err(v, rc == VEX_NOTFOUND ? VEX_SEVERITY_ERROR : sev, rc, rel, 0,
                 VEX_NO_OFFSET, &e);
        goto done;
    }
    vx_seg_get_info(s, &si);
    count_file(v, si.file_size);
    v->r.rows += si.n_keys;
    emit(v, VEX_SEVERITY_INFO, VEX_OK, rel, VEX_NO_OFFSET,
         "segment: %" PRIu64 " rows, %" PRIu64 " keys, %" PRIu64
         " bytes, sequence numbers %" PRIu64 "..%" PRIu64,
         si.n_rows, si.n_keys, si.file_size, si.min_seq, si.max_seq);
    if (ms && (si.n_rows != ms->n_rows || si.file_size != ms->file_size))
        emit(v, sev, VEX_CORRUPT, rel, 40,
             "holds %" PRIu64 " rows in %" PRIu64 " bytes; %s lists it with "
             "%" PRIu64 " rows in %" PRIu64 " bytes",
             si.n_rows, si.file_size, mrel, ms->n_rows, ms->file_size);
    if (cfg && (si.dim != cfg->dim || si.elem != cfg->elem ||
                si.metric != cfg->metric ||
                (si.index_kind != cfg->index_kind &&
                 !(si.index_kind == VEX_INDEX_DISKANN && cfg->dann_min_rows))))
        emit(v, sev, VEX_CORRUPT, rel, 24,
             "dim %u, elem %u, metric %u, index %u; the collection has dim "
             "%u, elem %u, metric %u, index %u",
             si.dim, si.elem, si.metric, si.index_kind, cfg->dim, cfg->elem,
             cfg->metric, cfg->index_kind);
    for (uint64_t j = 0; ms && j < ms->n_deleted; j++)
        if (!vx_seg_find(s, ms->deleted[j], &key)) {
            emit(v, VEX_SEVERITY_ERROR, VEX_CORRUPT, mrel, del_off + 8 * j,
                 "deleted id %" PRIu64 " of %s is not in that segment",
                 ms->deleted[j], name);
            break;
        }
    check_index(v, s, &si, rel, sev);
    {
        /* texts: the postings were checked whole by vx_seg_open (every
         * block decoded, every length the sum of its frequencies, one
         * document per key with a text); here, that they were built the
         * way the collection analyses texts */
        const vt_postings *post = vx_seg_postings(s);
        if (post && cfg && !cfg->text)
            emit(v, sev, VEX_CORRUPT, rel, VEX_NO_OFFSET,
                 "holds texts and their postings, but the collection has "
                 "no text field");
        else if (post && cfg &&
                 (vx_post_analyzer(post).stemmer !=
                      (cfg->text_stemmer ? VT_STEM_PORTER : VT_STEM_NONE) ||
                  vx_post_analyzer(post).stopwords !=
                      (cfg->text_stopwords ? VT_STOP_ENGLISH : VT_STOP_NONE)))
            emit(v, sev, VEX_CORRUPT, rel, VEX_NO_OFFSET,
                 "postings analysed with stemmer %u and stop words %u; the "
                 "collection has stemmer %u and stop words %u",
                 vx_post_analyzer(post).stemmer,
                 vx_post_analyzer(post).stopwords, cfg->text_stemmer,
                 cfg->text_stopwords);
        else if (post)
            emit(v, VEX_SEVERITY_INFO, VEX_OK, rel, VEX_NO_OFFSET,
                 "text: %u documents of %" PRIu64 " terms in all, %u "
                 "distinct terms, postings checked",
                 vx_post_n_docs(post), vx_post_total_len(post),
                 vx_post_n_terms(post));
    }
    if (vx_seg_meta(s, &mp, &mlen, &moff)) {
        if (si.n_keys > UINT32_MAX)
            emit(v, sev, VEX_CORRUPT, rel, moff,
                 "meta section for %" PRIu64 " keys (at most 2^32 - 1)",
                 si.n_keys);
        else if ((rc = vx_vm_colset_open(mp, mlen, (uint32_t)si.n_keys, &v->mem,
                                         &e, &cs)) != VEX_OK)
            emit_err(v, sev, rc, rel, moff, moff, &e);
        else
            emit(v, VEX_SEVERITY_INFO, VEX_OK, rel, moff,
                 "metadata: %u columns over %u rows", vx_vm_colset_columns(cs),
                 vx_vm_colset_rows(cs));
    }
done:
    vx_vm_colset_close(cs);
    vx_seg_close(s);
    vx_mem_free(&v->mem, path);
    vx_mem_free(&v->mem, rel);
    vx_err_destroy(&e);
}

/* ---------------------------------------------------------------------
 * The log
 * ------------------------------------------------------------------- */

typedef struct logck {
    vctx *v;
    const char *rdir;
    wal_pos pos;
    vex_index_config icfg;
    void *vec;
    uint64_t bad; /* records that failed the record check */
} logck;

static void wal_rel(char *buf, size_t n, const char *rdir, uint64_t first)
{
    snprintf(buf, n, "%s/wal-%016" PRIx64 ".log", rdir, first);
}

static int log_record(void *ctx, uint64_t seq, const void *payload, size_t n)
{
    logck *l = ctx;
    vex_err e;
    uint32_t n_ops;
    int rc;
    l->v->r.log_records++;
    vx_err_init(&e);
    rc = vx_logrec_check(payload, n, &l->icfg, l->vec, &l->v->mem, &e, &n_ops);
    if (rc != VEX_OK) {
        char rel[512], msg[VEX_ERRMSG_MAX];
        uint64_t off, at = l->pos.offset + 32; /* the record's payload */
        vx_err_copy(&e, msg, sizeof msg);
        wal_rel(rel, sizeof rel, l->rdir, l->pos.file_first);
        off = msg_offset(msg, &off) ? at + off : l->pos.offset;
        l->bad++;
        if (rc == VEX_NOMEM)
            l->v->nomem = 1;
        else
            emit(l->v, VEX_SEVERITY_ERROR, rc, rel, off,
                 "log record %" PRIu64 " (at offset %" PRIu64 "): %s", seq,
                 l->pos.offset, msg);
    }
    vx_err_destroy(&e);
    return l->v->nomem ? VEX_NOMEM : 0;
}

static void check_log(vctx *v, const char *dir, const char *rdir,
                      const manifest *m)
{
    char *wdir = join(v, dir, "wal"), *wrel = join(v, rdir, "wal");
    char rel[512];
    wal_replay_stats st;
    names l;
    logck lc;
    vex_err e;
    int rc, kind = VEX_VFS_NONE;

    memset(&lc, 0, sizeof lc);
    memset(&l, 0, sizeof l);
    vx_err_init(&e);
    if (wdir == NULL || wrel == NULL)
        goto done;
    rc = vex_vfs_exists(v->vfs, wdir, &kind, &e);
    if (rc != VEX_OK || kind != VEX_VFS_DIR) {
        emit(v, VEX_SEVERITY_ERROR, rc != VEX_OK ? rc : VEX_CORRUPT, wrel,
             VEX_NO_OFFSET, "%s", "the log directory is missing");
        goto done;
    }
    /* sizes of the log files, for the report */
    if (names_list(v, wdir, &l, &e) == VEX_OK) {
        for (size_t i = 0; i < l.n; i++) {
            char *p;
            vex_file *f = NULL;
            uint64_t size = 0;
            if (strncmp(l.e[i].s, "wal-", 4) != 0 ||
                (p = join(v, wdir, l.e[i].s)) == NULL)
                continue;
            if (vex_vfs_open(v->vfs, p, VX_FILE_READONLY, &f, NULL) == VEX_OK &&
                vex_file_size(f, &size, NULL) == VEX_OK) {
                count_file(v, size);
                v->r.log_files++;
            }
            vex_file_close(f, NULL);
            vx_mem_free(&v->mem, p);
        }
    }
    lc.v = v;
    lc.rdir = wrel;
    lc.icfg.elem = (vex_elem)m->config.elem;
    lc.icfg.metric = (vex_metric)m->config.metric;
    lc.icfg.dim = m->config.dim;
    lc.icfg.vec_bytes = vex_vector_size(lc.icfg.elem, lc.icfg.dim);
    lc.vec = vx_mem_alloc(&v->mem, lc.icfg.vec_bytes ? lc.icfg.vec_bytes : 1);
    if (lc.vec == NULL) {
        v->nomem = 1;
        goto done;
    }
    rc = vx_wal_replay_at(v->vfs, wdir, 0, log_record, &lc, &v->mem.a, &e, &st,
                          &lc.pos);
    wal_rel(rel, sizeof rel, wrel, lc.pos.file_first);
    if (rc != VEX_OK && !v->nomem) {
        emit_err(v, VEX_SEVERITY_ERROR, rc, rel, 0, VEX_NO_OFFSET, &e);
        goto done;
    }
    if (v->nomem)
        goto done;
    if (st.bytes_ignored)
        emit(v, VEX_SEVERITY_WARNING, VEX_OK, rel,
             lc.pos.file_size - st.bytes_ignored,
             "the last %" PRIu64 " bytes of the log's last file are not a "
             "complete record: a torn tail (a writer is appending it, or a "
             "crash cut an append short); replay ignores it",
             st.bytes_ignored);
    if (st.n_files > 0 && st.first_seq > m->flushed_seq + 1) {
        wal_rel(rel, sizeof rel, wrel, st.first_seq);
        emit(v, VEX_SEVERITY_ERROR, VEX_CORRUPT, rel, 16,
             "the log starts at record %" PRIu64 ", but MANIFEST-%016" PRIx64
             " has records only up to %" PRIu64 " in segments: records are "
             "missing",
             st.first_seq, m->number, m->flushed_seq);
    } else if (m->as_of_seq > m->flushed_seq &&
               (st.n_files == 0 || st.next_seq <= m->as_of_seq)) {
        emit(v, VEX_SEVERITY_ERROR, VEX_CORRUPT, wrel, VEX_NO_OFFSET,
             "the log ends at record %" PRIu64 ", but MANIFEST-%016" PRIx64
             " was published after record %" PRIu64 ": records are missing",
             st.n_files ? st.next_seq - 1 : 0, m->number, m->as_of_seq);
    }
    if (st.n_records == 0)
        emit(v, VEX_SEVERITY_INFO, VEX_OK, wrel, VEX_NO_OFFSET,
             "log: %" PRIu64 " files, no records (the segments hold every "
             "record up to %" PRIu64 ")",
             st.n_files, m->flushed_seq);
    else
        emit(v, VEX_SEVERITY_INFO, VEX_OK, wrel, VEX_NO_OFFSET,
             "log: %" PRIu64 " files, records %" PRIu64 "..%" PRIu64
             " (%" PRIu64 " after the segments' %" PRIu64 ")",
             st.n_files, st.next_seq - st.n_records, st.next_seq - 1,
             st.next_seq > m->flushed_seq + 1 ? st.next_seq - m->flushed_seq - 1
                                              : 0,
             m->flushed_seq);
done:
    names_free(&l);
    vx_mem_free(&v->mem, lc.vec);
    vx_mem_free(&v->mem, wdir);
    vx_mem_free(&v->mem, wrel);
    vx_err_destroy(&e);
}

/* ---------------------------------------------------------------------
 * A collection
 * ------------------------------------------------------------------- */

/* Offset in a manifest file of segment i's first deleted id. */
static uint64_t deleted_off(const manifest *m, uint32_t i)
{
    uint64_t off = 192 + 48ull * m->n_segments;
    for (uint32_t j = 0; j < i; j++)
        off += 8 * m->segs[j].n_deleted;
    return off;
}

static int names_seg(const manifest *m, uint64_t number, uint32_t *at)
{
    for (uint32_t i = 0; i < m->n_segments; i++)
        if (m->segs[i].number == number) {
            if (at)
                *at = i;
            return 1;
        }
    return 0;
}

/* Bytes of the manifest file `m` was read from (FORMAT.md: the file
 * length rule). */
static uint64_t manifest_len(const manifest *m)
{
    uint64_t len = 196 + 48ull * m->n_segments + m->schema_len +
                   (m->as_of_seq || m->publish_unix ? 16 : 0);
    for (uint32_t i = 0; i < m->n_segments; i++)
        len += 8 * m->segs[i].n_deleted;
    return len;
}

/* One attempt at collection `name` whose CURRENT named `cur`. */
static void check_files(vctx *v, const char *dir, const char *rdir,
                        uint64_t cur)
{
    char mname[MAN_FILE_NAME_SIZE], *mrel = NULL;
    manifest m, *kept = NULL;
    size_t n_kept = 0;
    names l;
    vex_err e;
    uint64_t num;
    int rc;

    memset(&m, 0, sizeof m);
    memset(&l, 0, sizeof l);
    vx_err_init(&e);
    vx_manifest_file_name(mname, sizeof mname, cur);
    if ((mrel = join(v, rdir, mname)) == NULL)
        goto done;
    v->r.manifests++;
    rc = vx_manifest_load_number(v->vfs, dir, cur, &v->mem, &e, &m);
    if (rc != VEX_OK) {
        emit_err(v, VEX_SEVERITY_ERROR, rc == VEX_NOTFOUND ? VEX_CORRUPT : rc,
                 mrel, 0, VEX_NO_OFFSET, &e);
        goto done;
    }
    count_file(v, manifest_len(&m));
    emit(v, VEX_SEVERITY_INFO, VEX_OK, mrel, VEX_NO_OFFSET,
         "current manifest: %u segments, flushed_seq %" PRIu64
         ", as_of_seq %" PRIu64,
         m.n_segments, m.flushed_seq, m.as_of_seq);
    if (strcmp(m.config.name, v->coll) != 0)
        emit(v, VEX_SEVERITY_ERROR, VEX_CORRUPT, mrel, 64,
             "names collection \"%s\", but its directory is \"%s\"",
             m.config.name, v->coll);
    if (m.schema_len) {
        vm_schema *sch = NULL;
        uint64_t at = deleted_off(&m, m.n_segments);
        rc = vx_vm_schema_decode(m.schema, m.schema_len, &v->mem, &e, &sch);
        if (rc != VEX_OK)
            emit_err(v, VEX_SEVERITY_ERROR, rc, mrel, at, at, &e);
        vx_vm_schema_free(sch, &v->mem);
    }
    rc = names_list(v, dir, &l, &e);
    if (rc != VEX_OK) {
        emit_err(v, VEX_SEVERITY_ERROR, rc, rdir, 0, VEX_NO_OFFSET, &e);
        goto done;
    }
    /* other manifests: kept versions (older) or leftovers (newer) */
    kept = vx_mem_calloc(&v->mem, l.n ? l.n : 1, sizeof *kept);
    if (kept == NULL) {
        v->nomem = 1;
        goto done;
    }
    for (size_t i = 0; i < l.n; i++) {
        char *krel;
        if (!vx_manifest_parse_name(l.e[i].s, &num) || num == cur)
            continue;
        if ((krel = join(v, rdir, l.e[i].s)) == NULL)
            goto done;
        v->r.manifests++;
        rc = vx_manifest_load_number(v->vfs, dir, num, &v->mem, &e,
                                     &kept[n_kept]);
        if (rc == VEX_OK) {
            count_file(v, manifest_len(&kept[n_kept]));
            n_kept++;
            emit(v, VEX_SEVERITY_INFO, VEX_OK, krel, VEX_NO_OFFSET, "%s",
                 num < cur ? "an older manifest (kept for point-in-time reads, "
                             "or removed soon)"
                           : "a manifest newer than CURRENT's: the leftover of "
                             "an interrupted publish");
        } else if (rc != VEX_NOTFOUND) { /* NOTFOUND: the writer removed it */
            emit_err(v, num < cur ? VEX_SEVERITY_ERROR : VEX_SEVERITY_WARNING,
                     rc, krel, 0, VEX_NO_OFFSET, &e);
        }
        vx_mem_free(&v->mem, krel);
    }
    /* the current manifest's segments, in its order */
    for (uint32_t i = 0; i < m.n_segments; i++)
        check_segment(v, dir, rdir, m.segs[i].number, &m.segs[i], &m.config,
                      mrel, deleted_off(&m, i), VEX_SEVERITY_ERROR);
    /* segment files the current manifest does not name */
    for (size_t i = 0; i < l.n; i++) {
        uint32_t at = 0;
        size_t k;
        if (!vx_seg_parse_name(l.e[i].s, &num) || names_seg(&m, num, NULL))
            continue;
        for (k = 0; k < n_kept; k++)
            if (names_seg(&kept[k], num, &at))
                break;
        if (k < n_kept) {
            char kname[MAN_FILE_NAME_SIZE], *krel;
            vx_manifest_file_name(kname, sizeof kname, kept[k].number);
            if ((krel = join(v, rdir, kname)) == NULL)
                goto done;
            check_segment(v, dir, rdir, num, &kept[k].segs[at], &kept[k].config,
                          krel, deleted_off(&kept[k], at), VEX_SEVERITY_ERROR);
            vx_mem_free(&v->mem, krel);
        } else {
            check_segment(v, dir, rdir, num, NULL, &m.config, mrel, 0,
                          VEX_SEVERITY_WARNING);
        }
    }
    for (size_t i = 0; i < l.n; i++)
        if (strcmp(l.e[i].s, "CURRENT.tmp") == 0) {
            char *t = join(v, rdir, l.e[i].s);
            if (t)
                emit(v, VEX_SEVERITY_WARNING, VEX_OK, t, VEX_NO_OFFSET, "%s",
                     "the leftover of an interrupted publish (ignored; the "
                     "next writable open removes it)");
            vx_mem_free(&v->mem, t);
        }
    check_log(v, dir, rdir, &m);
done:
    for (size_t k = 0; k < n_kept; k++)
        vx_manifest_free(&kept[k], &v->mem);
    vx_mem_free(&v->mem, kept);
    names_free(&l);
    vx_manifest_free(&m, &v->mem);
    vx_mem_free(&v->mem, mrel);
    vx_err_destroy(&e);
}

static void check_collection(vctx *v, const char *cdir, const char *name)
{
    char *dir = join(v, cdir, name), *rdir = NULL, *crel = NULL;
    char buf[128];
    vex_err e;
    vx_err_init(&e);
    v->coll = name;
    snprintf(buf, sizeof buf, "collections/%s", name);
    rdir = vx_vfs_strdup(&v->mem, buf);
    crel = join(v, buf, "CURRENT");
    if (dir == NULL || rdir == NULL || crel == NULL) {
        v->nomem = 1;
        goto done;
    }
    v->r.collections++;
    for (int attempt = 0;; attempt++) {
        uint64_t before = 0, after = 0;
        int rc, rc2;
        if (attempt == VERIFY_ATTEMPTS) {
            emit(v, VEX_SEVERITY_ERROR, VEX_BUSY, rdir, VEX_NO_OFFSET,
                 "a writer published a new manifest during each of %d "
                 "attempts to check the collection; run again",
                 VERIFY_ATTEMPTS);
            break;
        }
        v->hold = 1;
        rc = vx_manifest_current(v->vfs, dir, &e, &before);
        if (rc == VEX_OK) {
            count_file(v, 35);
            check_files(v, dir, rdir, before);
        } else {
            emit_err(v, VEX_SEVERITY_ERROR,
                     rc == VEX_NOTFOUND ? VEX_CORRUPT : rc, crel, 0,
                     VEX_NO_OFFSET, &e);
        }
        v->hold = 0;
        if (v->nomem)
            break;
        rc2 = vx_manifest_current(v->vfs, dir, NULL, &after);
        if (held_errors(v) && rc == VEX_OK &&
            (rc2 != VEX_OK || after != before)) {
            held_clear(v); /* a publish may explain it: again */
            continue;
        }
        held_flush(v);
        break;
    }
done:
    held_clear(v);
    v->hold = 0;
    v->coll = "";
    vx_mem_free(&v->mem, dir);
    vx_mem_free(&v->mem, rdir);
    vx_mem_free(&v->mem, crel);
    vx_err_destroy(&e);
}

/* ---------------------------------------------------------------------
 * The database
 * ------------------------------------------------------------------- */

static void check_db(vctx *v)
{
    char *marker = join(v, v->root, "VEXDB");
    char *cdir = join(v, v->root, "collections");
    names l;
    vex_err e;
    int rc, kind = VEX_VFS_NONE, found = 0;

    memset(&l, 0, sizeof l);
    vx_err_init(&e);
    if (marker == NULL || cdir == NULL)
        goto done;
    rc = vex_vfs_exists(v->vfs, v->root, &kind, &e);
    if (rc != VEX_OK || kind != VEX_VFS_DIR) {
        emit(v, VEX_SEVERITY_ERROR, rc != VEX_OK ? rc : VEX_NOTFOUND, "",
             VEX_NO_OFFSET, "%s: no such directory", v->root);
        goto done;
    }
    if (v->o.collection == NULL) {
        rc = vx_db_marker_check(v->vfs, marker, &e);
        if (rc == VEX_NOTFOUND)
            emit(v, VEX_SEVERITY_ERROR, VEX_NOTFOUND, "VEXDB", VEX_NO_OFFSET,
                 "%s: no VEXDB marker: not a VexDB database", v->root);
        else if (rc != VEX_OK)
            emit_err(v, VEX_SEVERITY_ERROR, rc, "VEXDB", 0, VEX_NO_OFFSET, &e);
        else {
            count_file(v, 32);
            emit(v, VEX_SEVERITY_INFO, VEX_OK, "VEXDB", VEX_NO_OFFSET, "%s",
                 "database marker");
        }
        if (rc != VEX_OK)
            goto done;
    }
    rc = names_list(v, cdir, &l, &e);
    if (rc != VEX_OK) {
        if (!v->nomem)
            emit_err(v, VEX_SEVERITY_ERROR, rc, "collections", 0, VEX_NO_OFFSET,
                     &e);
        goto done;
    }
    for (size_t i = 0; i < l.n && !v->stop && !v->nomem; i++) {
        char why[128], rel[160], *dir;
        int leftover = 0;
        if (l.e[i].kind != VEX_VFS_DIR)
            continue;
        if (v->o.collection && strcmp(l.e[i].s, v->o.collection) != 0)
            continue;
        snprintf(rel, sizeof rel, "collections/%.140s", l.e[i].s);
        if (!vx_name_ok(l.e[i].s, why, sizeof why)) {
            if (strncmp(l.e[i].s, ".new-", 5) == 0 ||
                strncmp(l.e[i].s, ".drop-", 6) == 0)
                emit(v, VEX_SEVERITY_WARNING, VEX_OK, rel, VEX_NO_OFFSET, "%s",
                     "the leftover of an interrupted create or drop (the "
                     "next writable open removes it)");
            continue;
        }
        if ((dir = join(v, cdir, l.e[i].s)) == NULL)
            break;
        rc = vx_coll_leftover(v->vfs, dir, &leftover, &e);
        vx_mem_free(&v->mem, dir);
        if (rc == VEX_OK && leftover) {
            emit(v, VEX_SEVERITY_WARNING, VEX_OK, rel, VEX_NO_OFFSET, "%s",
                 "the leftover of an interrupted create or drop, not a "
                 "collection (the next writable open removes it)");
            continue;
        }
        found = 1;
        check_collection(v, cdir, l.e[i].s);
    }
    if (v->o.collection && !found && !v->nomem && !v->stop)
        emit(v, VEX_SEVERITY_ERROR, VEX_NOTFOUND, "", VEX_NO_OFFSET,
             "no collection \"%s\" in %s", v->o.collection, v->root);
done:
    names_free(&l);
    vx_mem_free(&v->mem, marker);
    vx_mem_free(&v->mem, cdir);
    vx_err_destroy(&e);
}

void vex_verify_options_init_size(vex_verify_options *opts, size_t size)
{
    vex_verify_options full;
    if (opts == NULL)
        return;
    memset(&full, 0, sizeof full);
    full.struct_size = sizeof full;
    vx_abi_init(&VX_ABI_VERIFY_OPTIONS, opts, size, &full);
}

void(vex_verify_options_init)(vex_verify_options *opts)
{
    vex_verify_options_init_size(opts, VX_ABI_VERIFY_OPTIONS.ends[0]);
}

void vex_verify_report_init_size(vex_verify_report *r, size_t size)
{
    vex_verify_report full;
    if (r == NULL)
        return;
    memset(&full, 0, sizeof full);
    full.struct_size = sizeof full;
    vx_abi_init(&VX_ABI_VERIFY_REPORT, r, size, &full);
}

void(vex_verify_report_init)(vex_verify_report *r)
{
    vex_verify_report_init_size(r, VX_ABI_VERIFY_REPORT.ends[0]);
}

int vx_db_verify_vfs(vex_vfs *vfs, const char *path,
                     const vex_verify_options *opts, vex_verify_report *report)
{
    vctx v;
    memset(&v, 0, sizeof v);
    if (path == NULL || vfs == NULL)
        return VEX_MISUSE;
    vex_verify_options_init(&v.o);
    if (opts && vx_abi_in(&VX_ABI_VERIFY_OPTIONS, opts, &v.o, NULL) != VEX_OK)
        return VEX_MISUSE;
    if (report && vx_abi_check(&VX_ABI_VERIFY_REPORT, report->struct_size,
                               NULL) != VEX_OK)
        return VEX_MISUSE;
    if (vx_mem_init(&v.mem, v.o.allocator) != VEX_OK)
        return VEX_INVALID;
    v.r.struct_size = sizeof v.r;
    v.coll = "";
    v.root = path;
    v.vfs = vfs;
    check_db(&v);
    held_clear(&v);
    vx_mem_free(&v.mem, v.held);
    if (report)
        vx_abi_out(&VX_ABI_VERIFY_REPORT, report, &v.r);
    if (v.stop)
        return v.stop;
    if (v.nomem)
        return VEX_NOMEM;
    return v.first_status;
}

int vex_db_verify(const char *path, const vex_verify_options *opts,
                  vex_verify_report *report)
{
    vex_vfs *vfs = NULL;
    vex_verify_options o;
    int rc;
    if (path == NULL)
        return VEX_MISUSE;
    vex_verify_options_init(&o);
    if (opts && vx_abi_in(&VX_ABI_VERIFY_OPTIONS, opts, &o, NULL) != VEX_OK)
        return VEX_MISUSE;
    rc = vx_vfs_posix_create(o.allocator, &vfs);
    if (rc != VEX_OK)
        return rc;
    rc = vx_db_verify_vfs(vfs, path, opts, report);
    vex_vfs_destroy(vfs);
    return rc;
}

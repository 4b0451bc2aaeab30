/* SPDX-License-Identifier: Apache-2.0 */
/*
 * metrics.c - vex_metrics_text: the counters and histograms every open
 * collection keeps (engine/obs.h) and gauges read from a snapshot,
 * rendered in the Prometheus text exposition format.
 *
 * The families are one table (fams[]): name, help, type, the counter or
 * histogram slot of its first series and, for a family with an extra
 * label, the label's name and values (one slot each, consecutive). The
 * text is written family by family, each with every collection's series,
 * because the format wants a family's lines together. Collections are
 * referenced under db->mu and rendered without it, so a render never
 * holds a lock a search or a write waits for.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "engine/coll_int.h"
#include "engine/obs.h"
#include "index/blob.h"
#include "index/ix.h"
#include "storage/segment.h"

/* ---- the text buffer ---- */

typedef struct mbuf {
    const vex_mem *mem;
    char *p;
    size_t len, cap;
    int nomem;
} mbuf;

static void mb_printf(mbuf *b, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

static void mb_printf(mbuf *b, const char *fmt, ...)
{
    va_list ap;
    int n;
    if (b->nomem)
        return;
    for (;;) {
        size_t room = b->cap - b->len;
        va_start(ap, fmt);
        n = vsnprintf(b->p ? b->p + b->len : NULL, room, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->nomem = 1;
            return;
        }
        if ((size_t)n < room) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = b->cap ? b->cap * 2 : 8192;
        while (cap - b->len <= (size_t)n)
            cap *= 2;
        char *p = vx_mem_realloc(b->mem, b->p, cap);
        if (p == NULL) {
            b->nomem = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
}

/* A label value with \, " and newline escaped as the format requires. */
static void mb_label(mbuf *b, const char *name, const char *v)
{
    mb_printf(b, "%s=\"", name);
    for (; *v; v++) {
        if (*v == '\\' || *v == '"')
            mb_printf(b, "\\%c", *v);
        else if (*v == '\n')
            mb_printf(b, "\\n");
        else
            mb_printf(b, "%c", *v);
    }
    mb_printf(b, "\"");
}

/* ---- gauges of one collection ---- */

enum {
    G_ROWS,
    G_DELETED_ROWS,
    G_MEMTABLES,
    G_FROZEN,
    G_FILL,
    G_UNINDEXED,
    G_SEGMENTS,
    G_SEGMENT_ROWS,
    G_DISK_BYTES,
    G_STICKY,
    G_MEM_PARTS, /* the parts below, in order */
    G_N = G_MEM_PARTS + 12
};

static const char *const mem_parts[] = {
    "memtable_vectors",  "memtable_graph",   "memtable_metadata",
    "memtable_payloads", "memtable_other",   "segment_vectors",
    "segment_codes",     "segment_graph",    "segment_index",
    "segment_metadata",  "segment_payloads", "segment_other"};

/* The index section of segment v by part (vectors, codes, graph) into
 * part[5..7], the rest of it (ids, header; all of an index not opened
 * yet, whose bytes are not verified) into part[8]. */
static void segment_index_parts(const vseg *v, uint64_t ilen, uint64_t *part)
{
    const void *blob = NULL;
    uint64_t size = 0, bp[VX_BLOB_PARTS], sum;
    vex_err e;
    if (v->info.index_kind == VEX_INDEX_DISKANN) {
        /* on disk but for what its index keeps in memory (codes, key
         * table, page checksums, node cache) */
        uint64_t cache;
        part[6] += vx_vseg_dann_resident(v, &cache);
        return;
    }
    if (atomic_load_explicit(&((vseg *)v)->ix, memory_order_acquire) == NULL) {
        part[8] += ilen;
        return;
    }
    vx_err_init(&e);
    if (vx_seg_index(v->s, &blob, &size, &e) != VEX_OK) {
        vx_err_destroy(&e);
        part[8] += ilen;
        return;
    }
    vx_err_destroy(&e);
    vx_blob_parts(blob, size, bp);
    part[5] += bp[VX_BLOB_PART_VECTORS];
    part[6] += bp[VX_BLOB_PART_CODES];
    part[7] += bp[VX_BLOB_PART_GRAPH];
    sum = bp[VX_BLOB_PART_VECTORS] + bp[VX_BLOB_PART_CODES] +
          bp[VX_BLOB_PART_GRAPH];
    part[8] += ilen > sum ? ilen - sum : 0;
}

static void gauges_of(vex_collection *c, double *g)
{
    vex_stats st;
    vx_snap s;
    uint64_t part[12] = {0};
    memset(g, 0, G_N * sizeof *g);
    vex_stats_init(&st);
    if (vex_stats_get(c, &st) == VEX_OK) {
        g[G_ROWS] = (double)st.live_rows;
        g[G_DELETED_ROWS] = (double)st.deleted_rows;
        g[G_MEMTABLES] = st.memtables;
        g[G_FROZEN] = st.frozen_memtables;
        g[G_UNINDEXED] = (double)st.unindexed_rows;
        g[G_SEGMENTS] = st.segments;
        g[G_SEGMENT_ROWS] = (double)st.segment_rows;
        g[G_DISK_BYTES] = (double)st.disk_bytes;
    }
    g[G_STICKY] = vx_coll_sticky(c) != VEX_OK;
    vx_coll_snap_take(c, &s);
    for (uint32_t i = 0; i < s.v->n_mts; i++) {
        memtable *m = s.v->mts[i];
        uint64_t rows = mt_rows(m), all = vx_mt_memory(m), sum;
        part[0] += rows * c->vec_bytes;
        part[1] += m->ix ? vx_ix_memory(m->ix) : 0;
        part[2] += atomic_load_explicit(&m->meta_bytes, memory_order_relaxed);
        part[3] += atomic_load_explicit(&m->pay_bytes, memory_order_relaxed);
        sum = rows * c->vec_bytes + (m->ix ? vx_ix_memory(m->ix) : 0) +
              atomic_load_explicit(&m->meta_bytes, memory_order_relaxed) +
              atomic_load_explicit(&m->pay_bytes, memory_order_relaxed);
        part[4] += all > sum ? all - sum : 0;
    }
    {
        const memtable *a = version_active(s.v);
        uint64_t used = mt_rows(a) * c->vec_bytes +
                        atomic_load_explicit(&((memtable *)a)->meta_bytes,
                                             memory_order_relaxed) +
                        atomic_load_explicit(&((memtable *)a)->pay_bytes,
                                             memory_order_relaxed);
        g[G_FILL] = (double)used / (double)c->db->opts.memtable_bytes;
    }
    for (uint32_t i = 0; i < s.v->n_segs; i++) {
        const vseg *v = s.v->segs[i];
        const unsigned char *mp;
        size_t mlen = 0;
        uint64_t off, ilen = 0, pay, rest;
        vx_seg_index_range(v->s, &off, &ilen);
        (void)vx_seg_meta(v->s, &mp, &mlen, &off);
        pay = vx_seg_payload_bytes(v->s);
        segment_index_parts(v, ilen, part);
        part[9] += mlen;
        part[10] += pay;
        /* (a DiskANN index section is counted by its resident part only,
         * in segment_index_parts) */
        rest = ilen + mlen + pay;
        part[11] += v->info.file_size > rest ? v->info.file_size - rest : 0;
    }
    vx_coll_snap_drop(&s);
    for (int i = 0; i < 12; i++)
        g[G_MEM_PARTS + i] = (double)part[i];
}

/* ---- the families ---- */

enum { F_COUNTER, F_GAUGE, F_HIST };

typedef struct fam {
    const char *name, *help;
    int type;
    int slot; /* VX_C_*, VX_H_* or G_*: the first series' */
    const char *label;
    const char *const *values; /* n values, consecutive slots */
    int n;
    uint64_t unit; /* histograms: VX_UNIT_TIME (seconds) or _COUNT */
} fam;

static const char *const kinds[] = {"knn", "range", "batch"};
static const char *const plans[] = {"unfiltered", "exact", "graph", "post"};

static const fam fams[] = {
    {"vex_searches_total",
     "Search queries by call: knn (vex_search, vex_search_results), range, "
     "batch (each query of vex_search_batch).",
     F_COUNTER, VX_C_SEARCH_KNN, "kind", kinds, 3, 0},
    {"vex_search_errors_total", "Search calls that returned an error.",
     F_COUNTER, VX_C_SEARCH_ERRORS, NULL, NULL, 1, 0},
    {"vex_search_sources_total",
     "Sources (memtables, segments) searched, by the plan each ran: "
     "unfiltered, or the filter plans exact, graph and post.",
     F_COUNTER, VX_C_PLAN_UNFILTERED, "plan", plans, 4, 0},
    {"vex_search_fallbacks_total",
     "Graph or post plans redone exactly because they found too few "
     "matches.",
     F_COUNTER, VX_C_FALLBACKS, NULL, NULL, 1, 0},
    {"vex_search_seconds", "Time of search calls, by kind.", F_HIST,
     VX_H_SEARCH_KNN, "kind", kinds, 3, VX_UNIT_TIME},
    {"vex_writes_total",
     "Write requests (a single-record write, a batch commit, a chunk of "
     "an insert_many, a delete by filter).",
     F_COUNTER, VX_C_WRITES, NULL, NULL, 1, 0},
    {"vex_write_errors_total", "Write requests that returned an error.",
     F_COUNTER, VX_C_WRITE_ERRORS, NULL, NULL, 1, 0},
    {"vex_write_rows_total", "Operations written to the log.", F_COUNTER,
     VX_C_WRITE_ROWS, NULL, NULL, 1, 0},
    {"vex_write_seconds", "Time of write requests: queue, log, sync and apply.",
     F_HIST, VX_H_WRITE, NULL, NULL, 1, VX_UNIT_TIME},
    {"vex_log_sync_seconds",
     "Time of a group's log append and sync (durability group or full).",
     F_HIST, VX_H_SYNC, NULL, NULL, 1, VX_UNIT_TIME},
    {"vex_log_sync_rows", "Operations made durable by one log sync.", F_HIST,
     VX_H_SYNC_ROWS, NULL, NULL, 1, VX_UNIT_COUNT},
    {"vex_write_stall_seconds",
     "Time writes waited for a flush to make room (0 for VEX_BUSY).", F_HIST,
     VX_H_STALL, NULL, NULL, 1, VX_UNIT_TIME},
    {"vex_flush_seconds", "Time of successful flushes.", F_HIST, VX_H_FLUSH,
     NULL, NULL, 1, VX_UNIT_TIME},
    {"vex_flush_rows_total", "Rows written to segments by flushes.", F_COUNTER,
     VX_C_FLUSH_ROWS, NULL, NULL, 1, 0},
    {"vex_flush_bytes_total", "Bytes of segment files flushes wrote.",
     F_COUNTER, VX_C_FLUSH_BYTES, NULL, NULL, 1, 0},
    {"vex_flush_errors_total", "Flushes that failed.", F_COUNTER,
     VX_C_FLUSH_ERRORS, NULL, NULL, 1, 0},
    {"vex_compaction_seconds", "Time of successful compactions.", F_HIST,
     VX_H_COMPACT, NULL, NULL, 1, VX_UNIT_TIME},
    {"vex_compaction_rows_total", "Rows written by compactions.", F_COUNTER,
     VX_C_COMPACT_ROWS, NULL, NULL, 1, 0},
    {"vex_compaction_bytes_in_total",
     "Bytes of segment files compactions read (their inputs' sizes).",
     F_COUNTER, VX_C_COMPACT_BYTES_IN, NULL, NULL, 1, 0},
    {"vex_compaction_bytes_out_total",
     "Bytes of segment files compactions wrote.", F_COUNTER,
     VX_C_COMPACT_BYTES_OUT, NULL, NULL, 1, 0},
    {"vex_compaction_errors_total", "Compactions that failed.", F_COUNTER,
     VX_C_COMPACT_ERRORS, NULL, NULL, 1, 0},
    {"vex_background_errors_total",
     "Failures of background jobs (flush, compaction, memtable indexing).",
     F_COUNTER, VX_C_BG_ERRORS, NULL, NULL, 1, 0},
    {"vex_rows", "Live records.", F_GAUGE, G_ROWS, NULL, NULL, 1, 0},
    {"vex_deleted_rows",
     "Segment rows deleted or overwritten (space compaction reclaims).",
     F_GAUGE, G_DELETED_ROWS, NULL, NULL, 1, 0},
    {"vex_memtables", "Memtables: the active one and frozen ones.", F_GAUGE,
     G_MEMTABLES, NULL, NULL, 1, 0},
    {"vex_frozen_memtables", "Frozen memtables waiting for their flush.",
     F_GAUGE, G_FROZEN, NULL, NULL, 1, 0},
    {"vex_memtable_fill_ratio",
     "The active memtable's bytes over memtable_bytes (frozen at 1).", F_GAUGE,
     G_FILL, NULL, NULL, 1, 0},
    {"vex_unindexed_rows",
     "Memtable rows not yet in a graph (searched exactly).", F_GAUGE,
     G_UNINDEXED, NULL, NULL, 1, 0},
    {"vex_segments", "Segment files.", F_GAUGE, G_SEGMENTS, NULL, NULL, 1, 0},
    {"vex_segment_rows", "Rows stored in segments, deleted ones included.",
     F_GAUGE, G_SEGMENT_ROWS, NULL, NULL, 1, 0},
    {"vex_disk_bytes",
     "Bytes of the collection's files: segments, manifest, log.", F_GAUGE,
     G_DISK_BYTES, NULL, NULL, 1, 0},
    {"vex_memory_bytes",
     "Memory by part: memtable parts are heap; segment parts are mapped "
     "file sections, resident as the kernel pages them in.",
     F_GAUGE, G_MEM_PARTS, "part", mem_parts, 12, 0},
    {"vex_collection_sticky",
     "1 when the collection refuses writes until reopened (sticky error).",
     F_GAUGE, G_STICKY, NULL, NULL, 1, 0},
};

typedef struct coll_view {
    vex_collection *c;
    double g[G_N];
} coll_view;

static void series_labels(mbuf *b, const char *db, const coll_view *v,
                          const fam *f, int i, const char *le)
{
    mb_printf(b, "{");
    mb_label(b, "db", db);
    mb_printf(b, ",");
    mb_label(b, "collection", v->c->name);
    if (f->label) {
        mb_printf(b, ",");
        mb_label(b, f->label, f->values[i]);
    }
    if (le)
        mb_printf(b, ",le=\"%s\"", le);
    mb_printf(b, "}");
}

static void hist_bound(char *out, size_t size, uint64_t unit, unsigned i)
{
    if (unit == VX_UNIT_TIME)
        snprintf(out, size, "%.9g", 1e-6 * (double)((uint64_t)1 << i));
    else
        snprintf(out, size, "%" PRIu64, (uint64_t)1 << i);
}

static void render_hist(mbuf *b, const char *db, const coll_view *v,
                        const fam *f, int i)
{
    vx_hist *h = &v->c->met.h[f->slot + i];
    uint64_t cum = 0, sum = atomic_load_explicit(&h->sum, memory_order_relaxed);
    char le[32];
    for (unsigned j = 0; j <= VX_HIST_BOUNDS; j++) {
        cum += atomic_load_explicit(&h->b[j], memory_order_relaxed);
        if (j < VX_HIST_BOUNDS)
            hist_bound(le, sizeof le, f->unit, j);
        else
            snprintf(le, sizeof le, "+Inf");
        mb_printf(b, "%s_bucket", f->name);
        series_labels(b, db, v, f, i, le);
        mb_printf(b, " %" PRIu64 "\n", cum);
    }
    mb_printf(b, "%s_sum", f->name);
    series_labels(b, db, v, f, i, NULL);
    if (f->unit == VX_UNIT_TIME)
        mb_printf(b, " %.9g\n", (double)sum * 1e-9);
    else
        mb_printf(b, " %" PRIu64 "\n", sum);
    mb_printf(b, "%s_count", f->name);
    series_labels(b, db, v, f, i, NULL);
    mb_printf(b, " %" PRIu64 "\n", cum);
}

static void render_fam(mbuf *b, const char *db, const coll_view *views,
                       size_t n, const fam *f)
{
    static const char *const type_names[] = {"counter", "gauge", "histogram"};
    mb_printf(b, "# HELP %s %s\n# TYPE %s %s\n", f->name, f->help, f->name,
              type_names[f->type]);
    for (size_t k = 0; k < n; k++)
        for (int i = 0; i < f->n; i++) {
            const coll_view *v = &views[k];
            if (f->type == F_HIST) {
                render_hist(b, db, v, f, i);
                continue;
            }
            mb_printf(b, "%s", f->name);
            series_labels(b, db, v, f, i, NULL);
            if (f->type == F_COUNTER)
                mb_printf(b, " %" PRIu64 "\n",
                          atomic_load_explicit(&v->c->met.c[f->slot + i],
                                               memory_order_relaxed));
            else
                mb_printf(b, " %.17g\n", v->g[f->slot + i]);
        }
}

static void render_db(mbuf *b, vex_db *db, size_t n_open)
{
    size_t sets = 0, bytes = 0;
    uint64_t errors;
    vex_health h;
    vx_mcache_usage(db->mcache, &sets, &bytes);
    pthread_mutex_lock(&db->obs.mu);
    errors = db->obs.bg_errors;
    pthread_mutex_unlock(&db->obs.mu);
    vex_health_init(&h);
    (void)vex_db_health(db, &h);
    mb_printf(b, "# HELP vex_db_open_collections Collections open now.\n"
                 "# TYPE vex_db_open_collections gauge\n"
                 "vex_db_open_collections{");
    mb_label(b, "db", db->path);
    mb_printf(b, "} %zu\n", n_open);
    mb_printf(b,
              "# HELP vex_db_background_errors_total Background failures since "
              "the database opened, closed collections' included.\n"
              "# TYPE vex_db_background_errors_total counter\n"
              "vex_db_background_errors_total{");
    mb_label(b, "db", db->path);
    mb_printf(b, "} %" PRIu64 "\n", errors);
    mb_printf(b, "# HELP vex_db_degraded 1 when vex_db_health reports the "
                 "database degraded.\n"
                 "# TYPE vex_db_degraded gauge\n"
                 "vex_db_degraded{");
    mb_label(b, "db", db->path);
    mb_printf(b, "} %d\n", h.degraded);
    mb_printf(b, "# HELP vex_match_cache_bytes Bytes of filter match sets "
                 "cached.\n"
                 "# TYPE vex_match_cache_bytes gauge\n"
                 "vex_match_cache_bytes{");
    mb_label(b, "db", db->path);
    mb_printf(b, "} %zu\n", bytes);
}

int vex_metrics_text(vex_db *db, char **text, size_t *len)
{
    coll_view *views = NULL;
    size_t n = 0;
    mbuf b;
    if (db == NULL)
        return VEX_MISUSE;
    if (text == NULL)
        return vx_err_set(&db->err, VEX_MISUSE, "text is NULL");
    *text = NULL;
    if (db->path == NULL || db->mcache == NULL || db->jobs == NULL)
        return vx_err_set(&db->err, VEX_MISUSE,
                          "the database is not open (vex_db_open failed)");
    if (len)
        *len = 0;
    memset(&b, 0, sizeof b);
    b.mem = &db->mem;
    pthread_mutex_lock(&db->mu);
    if (db->n_open) {
        views = vx_mem_calloc(&db->mem, db->n_open, sizeof *views);
        if (views == NULL) {
            pthread_mutex_unlock(&db->mu);
            return vx_err_set(&db->err, VEX_NOMEM, "out of memory");
        }
        for (size_t i = 0; i < db->n_open; i++) {
            vex_collection *c = db->open[i];
            if (vx_coll_state_now(c) == VX_COLL_CLOSING)
                continue;
            vx_coll_ref(c);
            views[n++].c = c;
        }
    }
    pthread_mutex_unlock(&db->mu);
    for (size_t i = 0; i < n; i++)
        gauges_of(views[i].c, views[i].g);
    render_db(&b, db, n);
    for (size_t f = 0; f < sizeof fams / sizeof fams[0]; f++)
        render_fam(&b, db->path, views, n, &fams[f]);
    for (size_t i = 0; i < n; i++)
        (void)vx_db_release(db, views[i].c);
    vx_mem_free(&db->mem, views);
    if (b.nomem || b.p == NULL) {
        vx_mem_free(&db->mem, b.p);
        return vx_err_set(&db->err, VEX_NOMEM, "out of memory");
    }
    *text = b.p;
    if (len)
        *len = b.len;
    return VEX_OK;
}

void vex_metrics_free(vex_db *db, char *text)
{
    if (db && text)
        vx_mem_free(&db->mem, text);
}

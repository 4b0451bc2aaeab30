/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_db_faults.c - the database under failing I/O and power loss.
 *
 * Fault sweeps: for open, insert, batch, flush, compact and delete by
 * filter (every record at once, in a segment and in the log), fail the Nth
 * I/O call (N = 1, 2, ... until the operation no longer reaches call N)
 * with each fault kind, transient and persistent: the call returns an
 * error (never crashes or leaks), and reopening on the undamaged files
 * shows either the state before the operation or the state after it.
 *
 * Crash simulation: a scripted workload runs on the power-loss vfs; the
 * K-th sync (file or directory) and everything after it fails, then the
 * power is cut with unsynced data kept, dropped or garbled. The database
 * must open, with every acknowledged write present and nothing that was
 * never written.
 *
 * Both run twice: on a flat collection of bare vectors, and on a "rich"
 * one (HNSW on SQ8 codes, a schema, every record with metadata whose
 * value repeats the vector's tag and a payload that is a function of the
 * id and the tag, and most with a text naming both), so that metadata
 * in log records and segment columns, payloads and texts in log records
 * and segment payload, text and postings sections (also carried by
 * metadata-only updates), and the quantizer trained at flush and
 * compaction go through the same failures; a record whose metadata,
 * payload or text disagrees with its vector, or that a keyword search
 * for its text does not find alone, counts as damaged. The crash
 * simulation runs the rich collection once per index kind and quantizer
 * (rich_kinds: HNSW bare, on SQ8, BQ and OPQ; FLAT on PQ and SQ8), every
 * crash point of each. Sweeps also cover
 * a metadata-only update of a segment row and vex_insert_many.
 */
#include <string.h>

#include "engine/db.h"
#include "io/vfs.h"
/* storage suite: each case in its own process, with a time limit */
#define TEST_ISOLATE
#include "test.h"
#include "vexdb.h"

#define DIM    4
#define MAX_ID 400

/* 1: the rich collection (see the top) */
static int g_rich;

/* The index and quantizer of the rich collection. The sweeps use the
 * first; the crash simulation runs every one (with the bare flat
 * collection before them): each index kind, and each quantizer, trained
 * at flush and compaction (PQ and OPQ with 4-bit codes, which train on
 * 16 vectors: the workload's segments are smaller than the 256 that
 * 8-bit codes need). */
typedef struct rich_kind {
    const char *name;
    vex_index_kind kind;
    vex_quant quant;
    uint32_t quant_m, quant_bits;
    uint64_t diskann_min_rows; /* 0: no DiskANN segments */
} rich_kind;

static const rich_kind rich_kinds[] = {
    {"HNSW on SQ8", VEX_INDEX_HNSW, VEX_QUANT_SQ8, 0, 0, 0},
    {"HNSW", VEX_INDEX_HNSW, VEX_QUANT_NONE, 0, 0, 0},
    {"HNSW on BQ", VEX_INDEX_HNSW, VEX_QUANT_BQ, 0, 0, 0},
    {"HNSW on OPQ", VEX_INDEX_HNSW, VEX_QUANT_OPQ, 2, 4, 0},
    {"FLAT on PQ", VEX_INDEX_FLAT, VEX_QUANT_PQ, 2, 4, 0},
    {"FLAT on SQ8", VEX_INDEX_FLAT, VEX_QUANT_SQ8, 0, 0, 0},
    /* compactions of 16 rows or more write DiskANN segments (and the
     * policy converts flushed ones in the background) */
    {"HNSW, DiskANN from 16 rows", VEX_INDEX_HNSW, VEX_QUANT_NONE, 0, 0, 16},
};
static const rich_kind *g_kind = &rich_kinds[0];
/* compactions of the DiskANN variant that left a DiskANN segment */
static int g_dann_seen;
/* vex_db_options.flush_on_close of open_on: 0 except for the close sweep,
 * so that the sweeps' pre-state keeps rows in the log only */
static int g_flush_on_close;

/* expected[id]: 0 absent, else the record's first component */
typedef struct state {
    float v[MAX_ID];
} state;

static void vec_of(uint64_t id, float tag, float *v)
{
    v[0] = tag;
    v[1] = (float)id;
    v[2] = 1.0f;
    v[3] = -(float)id;
}

/* The metadata of a record written with vector v: its tag, as an int. */
static vex_meta *meta_of(const float *v)
{
    vex_meta *m = NULL;
    if (vex_meta_create(NULL, &m) != VEX_OK ||
        vex_meta_set_int(m, "tag", (int64_t)v[0]) != VEX_OK) {
        vex_meta_free(m);
        return NULL;
    }
    return m;
}

/* The payload of a rich record (id, vector tag): 0..39 bytes. */
#define MAX_PAY 40
static size_t pay_of(uint64_t id, float tag, unsigned char *p)
{
    size_t len = (size_t)(id * 3 + (uint64_t)tag * 5) % MAX_PAY;
    for (size_t i = 0; i < len; i++)
        p[i] = (unsigned char)(id * 17 + (uint64_t)tag * 3 + i);
    return len;
}

/* The text of a rich record (id, vector tag): none for a quarter of
 * them, else words naming both, so a keyword search for "id<id>" finds
 * the record alone. */
#define MAX_TXT 64
static size_t txt_of(uint64_t id, float tag, char *t)
{
    if ((id + (uint64_t)tag) % 4 == 0)
        return 0;
    return (size_t)snprintf(t, MAX_TXT, "record id%llu tag%llu rich text",
                            (unsigned long long)id, (unsigned long long)tag);
}

/* The record of a rich put of id with v (meta: its metadata). */
static void rec_of(uint64_t id, const float *v, vex_meta *meta,
                   unsigned char *p, char *t, vex_record *r)
{
    vex_record_init(r);
    r->id = id;
    r->vector = v;
    r->meta = meta;
    r->payload = p;
    r->payload_len = pay_of(id, v[0], p);
    r->text = t;
    r->text_len = txt_of(id, v[0], t);
}

/* insert (upsert 0) or upsert (1) of id with v, with metadata and a
 * payload when rich */
static int put_rec(vex_collection *c, int upsert, uint64_t id, const float *v)
{
    vex_meta *m;
    vex_record r;
    unsigned char p[MAX_PAY];
    char t[MAX_TXT];
    int rc;
    if (!g_rich)
        return upsert ? vex_upsert(c, id, v) : vex_insert(c, id, v);
    if ((m = meta_of(v)) == NULL)
        return VEX_NOMEM;
    rec_of(id, v, m, p, t, &r);
    rc = upsert ? vex_upsert_record(c, &r) : vex_insert_record(c, &r);
    vex_meta_free(m);
    return rc;
}

static int batch_put(vex_batch *b, int upsert, uint64_t id, const float *v)
{
    vex_meta *m;
    vex_record r;
    unsigned char p[MAX_PAY];
    char t[MAX_TXT];
    int rc;
    if (!g_rich)
        return upsert ? vex_batch_upsert(b, id, v) : vex_batch_insert(b, id, v);
    if ((m = meta_of(v)) == NULL)
        return VEX_NOMEM;
    rec_of(id, v, m, p, t, &r);
    rc = upsert ? vex_batch_upsert_record(b, &r)
                : vex_batch_insert_record(b, &r);
    vex_meta_free(m);
    return rc;
}

/* The collection of the variant. */
static int create_coll(vex_db *db, vex_collection **c)
{
    static const vex_schema_field fields[] = {{"tag", VEX_TYPE_INT, 0}};
    vex_collection_config cfg;
    vex_collection_config_init(&cfg);
    cfg.dim = DIM;
    cfg.index_kind = VEX_INDEX_FLAT;
    if (g_rich) {
        cfg.index_kind = g_kind->kind;
        cfg.quant = g_kind->quant;
        cfg.quant_m = g_kind->quant_m;
        cfg.quant_bits = g_kind->quant_bits;
        cfg.diskann_min_rows = g_kind->diskann_min_rows;
        cfg.schema_fields = fields;
        cfg.n_schema_fields = 1;
        cfg.text = 1;
    }
    return vex_collection_create(db, "c", &cfg, c);
}

/* manifest_retention of every open (test_power_loss_kept sets it) */
static uint32_t g_keep;

static vex_db *open_on(vex_vfs *vfs, int *rc_out)
{
    vex_db_options o;
    vex_db *db = NULL;
    int rc;
    vex_db_options_init(&o);
    o.manifest_retention = g_keep;
    o.create_if_missing = 1;
    o.n_threads = 1;
    o.memtable_exact_rows = 0;
    o.flush_on_close = g_flush_on_close;
    /* no background compaction: the sweeps count the I/O calls of one
     * operation */
    o.compact_min_merge = 0;
    o.compact_deleted_pct = 0;
    rc = vx_db_open_vfs("db", &o, vfs, &db);
    if (rc_out)
        *rc_out = rc;
    if (rc != VEX_OK) {
        vex_db_close(db);
        return NULL;
    }
    return db;
}

/* Read the whole visible state through `vfs`; 0 if it does not open. */
static int read_state(vex_vfs *vfs, state *s)
{
    int rc;
    vex_db *db = open_on(vfs, &rc);
    vex_collection *c = NULL;
    float v[DIM];
    memset(s, 0, sizeof *s);
    if (db == NULL) {
        fprintf(stderr, "reopen failed: %s\n", vex_status_name(rc));
        return 0;
    }
    rc = vex_collection_open(db, "c", &c);
    if (rc != VEX_OK) {
        if (rc != VEX_NOTFOUND) /* never created: the caller decides */
            fprintf(stderr, "collection open failed: %s: %s\n",
                    vex_status_name(rc), vex_db_errmsg(db));
        vex_db_close(db);
        return 0;
    }
    for (uint64_t id = 0; id < MAX_ID; id++)
        if (vex_get(c, id, v) == VEX_OK) {
            s->v[id] = v[0];
            if (v[1] != (float)id || v[3] != -(float)id)
                s->v[id] = -1; /* damaged */
            if (g_rich) {      /* the metadata must match the vector */
                vex_meta *m = NULL;
                vex_field f;
                size_t i;
                if (vex_meta_create(NULL, &m) != VEX_OK ||
                    vex_get_meta(c, id, m) != VEX_OK ||
                    vex_meta_find(m, "tag", &i) != VEX_OK ||
                    vex_meta_field(m, i, &f) != VEX_OK ||
                    f.type != VEX_TYPE_INT || f.i != (int64_t)v[0])
                    s->v[id] = -1;
                vex_meta_free(m);
            }
            if (g_rich) { /* and so must the payload */
                unsigned char p[MAX_PAY + 1], want[MAX_PAY];
                size_t len = 0, wlen = pay_of(id, v[0], want);
                if (vex_get_payload(c, id, p, sizeof p, &len) != VEX_OK ||
                    len != wlen || memcmp(p, want, len) != 0)
                    s->v[id] = -1;
            }
            if (g_rich) { /* and so must the text, and the keyword index */
                char t[MAX_TXT + 1], want[MAX_TXT], q[32];
                size_t len = 0, wlen = txt_of(id, v[0], want), nh = 0;
                vex_search_params sp;
                vex_hit h[2];
                if (vex_get_text(c, id, t, sizeof t, &len) != VEX_OK ||
                    len != wlen || memcmp(t, want, len) != 0)
                    s->v[id] = -1;
                vex_search_params_init(&sp);
                snprintf(q, sizeof q, "id%u", (unsigned)id);
                sp.text = q;
                if (vex_search(c, NULL, 2, &sp, h, NULL, &nh) != VEX_OK ||
                    nh != (wlen ? 1u : 0u) || (nh && h[0].id != id))
                    s->v[id] = -1;
            }
        }
    vex_db_close(db);
    return 1;
}

static int same(const state *a, const state *b)
{
    return memcmp(a, b, sizeof *a) == 0;
}

/* The pre-state of every sweep: a segment with rows 1..20 (row 5
 * deleted after the flush) and rows 21..30 in the log only. */
static int setup(vex_vfs *vfs, state *s)
{
    vex_db *db = open_on(vfs, NULL);
    vex_collection *c = NULL;
    float v[DIM];
    int rc;
    memset(s, 0, sizeof *s);
    if (db == NULL)
        return 0;
    rc = create_coll(db, &c);
    for (uint64_t id = 1; id <= 30 && rc == VEX_OK; id++) {
        vec_of(id, 1.0f, v);
        rc = put_rec(c, 0, id, v);
        s->v[id] = 1.0f;
        if (id == 20 && rc == VEX_OK)
            rc = vex_flush(c);
    }
    if (rc == VEX_OK)
        rc = vex_delete(c, 5);
    s->v[5] = 0;
    vex_db_close(db);
    return rc == VEX_OK;
}

enum {
    OP_OPEN,
    OP_INSERT,
    OP_BATCH,
    OP_FLUSH,
    OP_UPSERT_SEG,
    OP_COMPACT,
    OP_DELETE_WHERE,
    OP_CLOSE,
    OP_UPDATE_META,
    OP_MANY,
    N_OPS
};
static const char *op_names[] = {"open",
                                 "insert",
                                 "batch",
                                 "flush",
                                 "upsert-segment-row",
                                 "compact",
                                 "delete-where",
                                 "close (flushing)",
                                 "update-meta-segment-row",
                                 "insert-many"};

/* Run one operation on an open collection (or the open itself). */
static int run_op(int op, vex_vfs *vfs, vex_db **dbp, vex_collection **cp)
{
    float v[DIM];
    vex_batch *b = NULL;
    int rc;
    switch (op) {
    case OP_OPEN:
        *dbp = open_on(vfs, &rc);
        if (*dbp == NULL)
            return rc;
        return vex_collection_open(*dbp, "c", cp);
    case OP_INSERT:
        vec_of(100, 2.0f, v);
        return put_rec(*cp, 0, 100, v);
    case OP_BATCH:
        rc = vex_batch_create(sizeof v, NULL, &b);
        if (rc != VEX_OK)
            return rc;
        vec_of(1, 3.0f, v);
        batch_put(b, 1, 1, v);
        vex_batch_delete(b, 2);
        vec_of(101, 3.0f, v);
        batch_put(b, 0, 101, v);
        vec_of(25, 3.0f, v);
        batch_put(b, 1, 25, v);
        rc = vex_batch_commit(*cp, b);
        vex_batch_free(b);
        return rc;
    case OP_FLUSH:
        return vex_flush(*cp);
    case OP_UPSERT_SEG:
        vec_of(7, 4.0f, v);
        return put_rec(*cp, 1, 7, v);
    case OP_COMPACT:
        /* one segment with a deleted row (5): rewritten without it */
        return vex_compact(*cp);
    case OP_DELETE_WHERE: {
        /* rich: every record (tag 1), in the segment and in the log, in
         * one commit; bare vectors have no metadata: nothing matches */
        uint64_t n = 0;
        rc = vex_delete_where_text(*cp, "tag = 1", &n);
        if (rc == VEX_OK && n != (g_rich ? 29u : 0u))
            return VEX_INTERNAL;
        return rc;
    }
    case OP_CLOSE:
        /* flushes rows 21..30 from the memtable to a segment first */
        rc = vex_db_close(*dbp);
        *dbp = NULL;
        *cp = NULL;
        return rc;
    case OP_UPDATE_META: {
        /* the same tag again: the state stays, the vector and payload
         * must be carried by the logged update */
        vex_meta *m;
        vec_of(8, 1.0f, v);
        if ((m = meta_of(v)) == NULL)
            return VEX_NOMEM;
        rc = vex_update_meta(*cp, 8, m);
        vex_meta_free(m);
        return rc;
    }
    case OP_MANY: {
        uint64_t ids[3] = {102, 103, 104};
        float vs[3 * DIM];
        unsigned char ps[3][MAX_PAY];
        char ts[3][MAX_TXT];
        vex_payload pays[3], txts[3];
        vex_meta *ms[3] = {NULL, NULL, NULL};
        size_t done = 0;
        rc = VEX_OK;
        for (int i = 0; i < 3; i++) {
            vec_of(ids[i], 5.0f, vs + i * DIM);
            pays[i].data = ps[i];
            pays[i].len = pay_of(ids[i], 5.0f, ps[i]);
            txts[i].data = ts[i];
            txts[i].len = txt_of(ids[i], 5.0f, ts[i]);
            if ((ms[i] = meta_of(vs + i * DIM)) == NULL)
                rc = VEX_NOMEM;
        }
        if (rc == VEX_OK)
            rc = vex_insert_many_text(
                *cp, 3, ids, vs, g_rich ? (const vex_meta *const *)ms : NULL,
                g_rich ? pays : NULL, g_rich ? txts : NULL, &done);
        for (int i = 0; i < 3; i++)
            vex_meta_free(ms[i]);
        return rc;
    }
    }
    return VEX_INTERNAL;
}

static void after_op(int op, const state *pre, state *post)
{
    *post = *pre;
    switch (op) {
    case OP_INSERT:
        post->v[100] = 2.0f;
        break;
    case OP_BATCH:
        post->v[1] = 3.0f;
        post->v[2] = 0;
        post->v[101] = 3.0f;
        post->v[25] = 3.0f;
        break;
    case OP_UPSERT_SEG:
        post->v[7] = 4.0f;
        break;
    case OP_DELETE_WHERE:
        if (g_rich)
            memset(post, 0, sizeof *post);
        break;
    case OP_MANY:
        post->v[102] = post->v[103] = post->v[104] = 5.0f;
        break;
    }
}

static void sweep(int op, int kind, int persistent)
{
    state pre, post, got;
    int done = 0;
    for (uint64_t n = 1; !done && n < 400; n++) {
        vex_vfs *mem = NULL, *fault = NULL;
        vex_db *db = NULL;
        vex_collection *c = NULL;
        vex_fault_config fc = {VEX_FAULT_ALL, n, persistent, kind};
        vex_fault_config off = {0, 0, 0, 0};
        vex_fault_stats st;
        int rc;
        vx_vfs_mem_create(NULL, &mem);
        vx_vfs_fault_create(mem, NULL, &fault);
        g_flush_on_close = 0;
        if (!setup(fault, &pre)) {
            CHECK_MSG(0, "setup failed");
            break;
        }
        after_op(op, &pre, &post);
        if (op != OP_OPEN) {
            g_flush_on_close = op == OP_CLOSE;
            db = open_on(fault, &rc);
            g_flush_on_close = 0;
            CHECK(db != NULL);
            if (db == NULL)
                break;
            CHECK_RC(vex_collection_open(db, "c", &c), VEX_OK);
        }
        vx_vfs_fault_set(fault, &fc);
        rc = run_op(op, fault, &db, &c);
        vx_vfs_fault_stats(fault, &st);
        vx_vfs_fault_set(fault, &off);
        if (st.n_faults == 0) {
            done = 1;
            CHECK_MSG(rc == VEX_OK, "%s without faults: %s", op_names[op],
                      vex_status_name(rc));
        } else if (rc != VEX_OK) {
            CHECK_MSG(rc == VEX_IOERR || rc == VEX_FULL,
                      "%s, fault %d at call %llu: %s", op_names[op], kind,
                      (unsigned long long)n, vex_status_name(rc));
            /* the handle explains itself */
            if (op == OP_OPEN)
                CHECK(db == NULL || strlen(vex_db_errmsg(db)) > 0);
            else if (op != OP_CLOSE) /* a close frees the handle anyway */
                CHECK(strlen(vex_collection_errmsg(c)) > 0);
        }
        vex_db_close(db);
        CHECK_MSG(read_state(mem, &got),
                  "%s, fault %d at call %llu: the "
                  "database does not reopen",
                  op_names[op], kind, (unsigned long long)n);
        if (rc == VEX_OK || op == OP_OPEN || op == OP_FLUSH ||
            op == OP_COMPACT || op == OP_CLOSE)
            CHECK_MSG(same(&got, rc == VEX_OK ? &post : &pre) ||
                          (op == OP_OPEN || op == OP_FLUSH ||
                           op == OP_COMPACT || op == OP_CLOSE),
                      "%s ok but state differs", op_names[op]);
        CHECK_MSG(same(&got, &pre) || same(&got, &post),
                  "%s, fault kind %d%s at call %llu: reopened state is "
                  "neither the old nor the new one",
                  op_names[op], kind, persistent ? " (persistent)" : "",
                  (unsigned long long)n);
        fault->methods->destroy(fault);
        mem->methods->destroy(mem);
    }
    CHECK_MSG(done, "%s: the sweep did not finish", op_names[op]);
}

static void test_fault_sweeps(void)
{
    for (g_rich = 0; g_rich < 2; g_rich++)
        for (int op = 0; op < N_OPS; op++)
            for (int kind = VEX_FAULT_IOERR; kind <= VEX_FAULT_SYNC; kind++)
                for (int persistent = 0; persistent < 2; persistent++)
                    sweep(op, kind, persistent);
    g_rich = 0;
}

/* A delete by filter whose log write fails deletes nothing: not in the
 * open handle (reads and counts see every record), not after a reopen;
 * the handle is sticky afterwards, like any failed commit. */
static void test_delete_where_log_fault(void)
{
    vex_vfs *mem = NULL, *fault = NULL;
    vex_db *db;
    vex_collection *c = NULL;
    vex_filter *f = NULL;
    state pre, got;
    float v[DIM];
    uint64_t n = 99;
    vex_fault_config fc = {VEX_FAULT_BIT(VEX_FAULT_M_WRITE), 1, 1,
                           VEX_FAULT_IOERR};
    vex_fault_config off = {0, 0, 0, 0};
    g_rich = 1;
    vx_vfs_mem_create(NULL, &mem);
    vx_vfs_fault_create(mem, NULL, &fault);
    CHECK(setup(fault, &pre));
    db = open_on(fault, NULL);
    CHECK_RC(vex_collection_open(db, "c", &c), VEX_OK);
    CHECK_RC(vex_filter_parse(c, "tag = 1", &f), VEX_OK);
    vx_vfs_fault_set(fault, &fc);
    CHECK_RC(vex_delete_where(c, f, &n), VEX_IOERR);
    vx_vfs_fault_set(fault, &off);
    CHECK(n == 0);
    CHECK(strstr(vex_collection_errmsg(c), "injected") != NULL);
    CHECK_RC(vex_count_where(c, f, &n), VEX_OK);
    CHECK(n == 29);
    CHECK(vex_collection_count(c) == 29);
    CHECK_RC(vex_get(c, 3, v), VEX_OK);
    CHECK_RC(vex_get(c, 25, v), VEX_OK);
    CHECK_RC(vex_delete_where(c, f, &n), VEX_IOERR); /* sticky */
    vex_filter_free(f);
    vex_db_close(db);
    CHECK(read_state(mem, &got));
    CHECK(same(&got, &pre));
    fault->methods->destroy(fault);
    mem->methods->destroy(mem);
    g_rich = 0;
}

/* ------------------------------------------------------------------
 * Power loss
 * ------------------------------------------------------------------ */

/* A scripted workload; stops at the first failure. model[] holds the
 * acknowledged state; *maybe_id is the id of the operation in flight when
 * it failed (its outcome is unknown), or UINT64_MAX. */
static void workload(vex_vfs *vfs, vex_durability dur, state *model,
                     uint64_t *maybe_id, float *maybe_val, state *maybe_post)
{
    vex_db_options o;
    vex_db *db = NULL;
    vex_collection *c = NULL;
    float v[DIM];
    int rc;
    memset(model, 0, sizeof *model);
    *maybe_id = UINT64_MAX;
    vex_db_options_init(&o);
    o.manifest_retention = g_keep;
    o.create_if_missing = 1;
    o.n_threads = 1;
    o.durability = dur;
    o.compact_min_merge = 0;
    o.compact_deleted_pct = 0;
    rc = vx_db_open_vfs("db", &o, vfs, &db);
    if (rc == VEX_OK)
        rc = create_coll(db, &c);
    for (uint64_t i = 1; i < 120 && rc == VEX_OK; i++) {
        if (g_rich && i % 40 == 0) {
            /* delete by filter: the records whose tag is in [i-30, i-10),
             * all or none (maybe_post: the state if it was applied) */
            char text[64];
            uint64_t n = 0, want = 0;
            *maybe_post = *model;
            for (uint64_t id = 0; id < MAX_ID; id++)
                if (model->v[id] >= (float)(i - 30) &&
                    model->v[id] < (float)(i - 10)) {
                    maybe_post->v[id] = 0;
                    want++;
                }
            snprintf(text, sizeof text, "tag >= %d AND tag < %d", (int)i - 30,
                     (int)i - 10);
            *maybe_id = UINT64_MAX - 1; /* the where delete */
            rc = vex_delete_where_text(c, text, &n);
            if (rc == VEX_OK) {
                CHECK_MSG(n == want, "%s: %llu deleted, %llu match", text,
                          (unsigned long long)n, (unsigned long long)want);
                *model = *maybe_post;
            }
        } else if (i % 7 == 0 && model->v[i - 3] != 0) {
            *maybe_id = i - 3;
            *maybe_val = 0;
            rc = vex_delete(c, i - 3);
            if (rc == VEX_OK)
                model->v[i - 3] = 0;
        } else if (i % 11 == 0 && model->v[i / 2] != 0) {
            vec_of(i / 2, (float)i, v);
            *maybe_id = i / 2;
            *maybe_val = (float)i;
            rc = put_rec(c, 1, i / 2, v);
            if (rc == VEX_OK)
                model->v[i / 2] = (float)i;
        } else {
            vec_of(i, (float)i, v);
            *maybe_id = i;
            *maybe_val = (float)i;
            rc = put_rec(c, 0, i, v);
            if (rc == VEX_OK)
                model->v[i] = (float)i;
        }
        if (rc == VEX_OK && i % 13 == 0 && model->v[i / 3] != 0) {
            /* a metadata-only update with the same tag: nothing visible
             * changes, but the log record carries vector and payload */
            vex_meta *m;
            vec_of(i / 3, model->v[i / 3], v);
            *maybe_id = UINT64_MAX;
            if ((m = meta_of(v)) == NULL)
                rc = VEX_NOMEM;
            else
                rc = vex_update_meta(c, i / 3, m);
            vex_meta_free(m);
        }
        if (rc == VEX_OK && i % 25 == 0) {
            *maybe_id = UINT64_MAX;
            rc = vex_flush(c);
        }
        if (rc == VEX_OK && i % 50 == 0) {
            /* merge the segments so far (and drop their deleted rows) */
            *maybe_id = UINT64_MAX;
            rc = vex_compact(c);
            if (rc == VEX_OK && g_rich && g_kind->diskann_min_rows) {
                /* the variant really has a DiskANN segment now */
                vex_stats st;
                vex_stats_init(&st);
                if (vex_stats_get(c, &st) == VEX_OK)
                    g_dann_seen += st.diskann_segments > 0;
            }
        }
    }
    if (rc == VEX_OK)
        *maybe_id = UINT64_MAX;
    /* Closing flushes the memtable (flush_on_close), so a workload that
     * got this far without a failure may meet the failing sync in that
     * flush: the power is then cut inside a close, which must lose
     * nothing either (the rows are still in the log). After a failure the
     * sticky handle is not flushed and writes nothing more. */
    vex_db_close(db);
}

static void test_power_loss(void)
{
    static const int modes[] = {VEX_CRASH_KEEP_ALL, VEX_CRASH_DROP_UNSYNCED,
                                VEX_CRASH_GARBLE_UNSYNCED};
    static const vex_durability durs[] = {VEX_DURABILITY_GROUP,
                                          VEX_DURABILITY_FULL};
    int cases = 0, where_cases = 0;
    const int n_kinds = (int)(sizeof rich_kinds / sizeof rich_kinds[0]);
    for (int variant = 0; variant <= n_kinds; variant++)
        for (int d = 0; d < 2; d++)
            for (int m = 0; m < 3; m++) {
                int done = 0;
                /* variant 0: the bare flat collection; then each kind */
                g_rich = variant > 0;
                g_kind = &rich_kinds[variant > 0 ? variant - 1 : 0];
                for (uint64_t k = 1; !done && k < 2000; k++) {
                    vex_vfs *mem = NULL, *crash = NULL, *fault = NULL;
                    vex_fault_config fc = {
                        VEX_FAULT_BIT(VEX_FAULT_M_SYNC) |
                            VEX_FAULT_BIT(VEX_FAULT_M_SYNC_DIR),
                        k, 1, VEX_FAULT_SYNC};
                    vex_fault_stats st;
                    state model, got, maybe_post;
                    uint64_t maybe;
                    float maybe_val = 0;
                    vx_vfs_mem_create(NULL, &mem);
                    vx_vfs_crash_create(mem, NULL, 1000 + k, &crash);
                    vx_vfs_fault_create(crash, NULL, &fault);
                    vx_vfs_fault_set(fault, &fc);
                    workload(fault, durs[d], &model, &maybe, &maybe_val,
                             &maybe_post);
                    vx_vfs_fault_stats(fault, &st);
                    done = st.n_faults == 0;
                    vx_vfs_crash_now(crash, modes[m], NULL);
                    int opened;
                    opened = read_state(mem, &got);
                    if (opened && maybe == UINT64_MAX - 1) {
                        where_cases++;
                        /* a delete by filter in flight: all or nothing */
                        CHECK_MSG(same(&got, &model) || same(&got, &maybe_post),
                                  "durability %d, crash mode %d after sync "
                                  "%llu: a delete by filter in flight is "
                                  "half applied or other records changed",
                                  (int)durs[d], modes[m],
                                  (unsigned long long)k);
                    } else if (opened) {
                        for (uint64_t id = 1; id < MAX_ID; id++) {
                            if (id == maybe && (got.v[id] == maybe_val ||
                                                got.v[id] == model.v[id]))
                                continue;
                            CHECK_MSG(
                                got.v[id] == model.v[id],
                                "%s, durability %d, crash mode %d after "
                                "sync %llu: id %llu is %g, acknowledged %g",
                                g_rich ? g_kind->name : "bare FLAT",
                                (int)durs[d], modes[m], (unsigned long long)k,
                                (unsigned long long)id, got.v[id], model.v[id]);
                        }
                    } else {
                        /* a database whose creation was never acknowledged
                         * may be missing: only then may it fail to open */
                        int any = 0;
                        for (uint64_t id = 1; id < MAX_ID; id++)
                            any |= model.v[id] != 0;
                        CHECK_MSG(
                            !any,
                            "durability %d, crash mode %d after sync %llu: "
                            "acknowledged writes but the database does "
                            "not open",
                            (int)durs[d], modes[m], (unsigned long long)k);
                    }
                    cases++;
                    fault->methods->destroy(fault);
                    crash->methods->destroy(crash);
                    mem->methods->destroy(mem);
                }
                CHECK(done);
            }
    g_rich = 0;
    g_kind = &rich_kinds[0];
    fprintf(stderr,
            "power loss: %d crash points, %d with a delete by filter in "
            "flight, %d compactions leaving a DiskANN segment\n",
            cases, where_cases, g_dann_seen);
    CHECK(where_cases > 0);
    CHECK(g_dann_seen > 0);
}

/* Versions kept for point-in-time reads across power loss: after every
 * crash point, the recovered state is still the acknowledged one, and
 * every version the directory lists after recovery opens read-only (no
 * kept manifest lost a segment or log file it needs). */
typedef struct kv_list {
    uint64_t v[64];
    int n;
} kv_list;

static int kv_collect(void *ctx, const vex_version_info *info)
{
    kv_list *l = ctx;
    if (l->n < 64)
        l->v[l->n++] = info->publish_unix ? info->version : 0;
    return 0;
}

static void test_power_loss_kept(void)
{
    static const int modes[] = {VEX_CRASH_KEEP_ALL, VEX_CRASH_DROP_UNSYNCED,
                                VEX_CRASH_GARBLE_UNSYNCED};
    int cases = 0, opened = 0;
    g_keep = 3;
    for (int m = 0; m < 3; m++) {
        int done = 0;
        for (uint64_t k = 1; !done && k < 2000; k += 3) {
            vex_vfs *mem = NULL, *crash = NULL, *fault = NULL;
            vex_fault_config fc = {VEX_FAULT_BIT(VEX_FAULT_M_SYNC) |
                                       VEX_FAULT_BIT(VEX_FAULT_M_SYNC_DIR),
                                   k, 1, VEX_FAULT_SYNC};
            vex_fault_stats st;
            state model, got, maybe_post;
            uint64_t maybe;
            float maybe_val = 0;
            vx_vfs_mem_create(NULL, &mem);
            vx_vfs_crash_create(mem, NULL, 5000 + k, &crash);
            vx_vfs_fault_create(crash, NULL, &fault);
            vx_vfs_fault_set(fault, &fc);
            workload(fault, VEX_DURABILITY_GROUP, &model, &maybe, &maybe_val,
                     &maybe_post);
            vx_vfs_fault_stats(fault, &st);
            done = st.n_faults == 0;
            vx_vfs_crash_now(crash, modes[m], NULL);
            if (read_state(mem, &got)) {
                vex_db_options o;
                vex_db *ro = NULL;
                kv_list l;
                /* a delete by filter in flight: all or nothing */
                if (maybe == UINT64_MAX - 1)
                    CHECK_MSG(same(&got, &model) || same(&got, &maybe_post),
                              "kept versions, crash mode %d after sync %llu: "
                              "a delete by filter in flight is half applied",
                              modes[m], (unsigned long long)k);
                for (uint64_t id = 1; maybe != UINT64_MAX - 1 && id < MAX_ID;
                     id++) {
                    if (id == maybe &&
                        (got.v[id] == maybe_val || got.v[id] == model.v[id]))
                        continue;
                    CHECK_MSG(got.v[id] == model.v[id],
                              "kept versions, crash mode %d after sync %llu: "
                              "id %llu is %g, acknowledged %g",
                              modes[m], (unsigned long long)k,
                              (unsigned long long)id, got.v[id], model.v[id]);
                }
                vex_db_options_init(&o);
                o.read_only = 1;
                o.n_threads = 1;
                memset(&l, 0, sizeof l);
                CHECK_RC(vx_db_open_vfs("db", &o, mem, &ro), VEX_OK);
                CHECK_RC(vex_collection_versions(ro, "c", kv_collect, &l),
                         VEX_OK);
                CHECK(l.n <= 3);
                for (int i = 0; i < l.n; i++) {
                    vex_collection *at = NULL;
                    int rc;
                    if (l.v[i] == 0)
                        continue;
                    rc = vex_collection_open_at(ro, "c", l.v[i], &at);
                    CHECK_MSG(rc == VEX_OK,
                              "crash mode %d after sync %llu: version %llu: "
                              "%s",
                              modes[m], (unsigned long long)k,
                              (unsigned long long)l.v[i], vex_db_errmsg(ro));
                    opened += rc == VEX_OK;
                    vex_collection_close(at);
                }
                vex_db_close(ro);
            }
            cases++;
            fault->methods->destroy(fault);
            crash->methods->destroy(crash);
            mem->methods->destroy(mem);
        }
        CHECK(done);
    }
    g_keep = 0;
    CHECK(opened > 0);
    fprintf(stderr,
            "power loss with kept versions: %d crash points, %d "
            "versions opened\n",
            cases, opened);
}

/* A failed log write leaves the outcome unknown: the handle refuses
 * writes with the original error until reopened; reads keep working. */
static void test_sticky(void)
{
    vex_vfs *mem = NULL, *fault = NULL;
    vex_db *db;
    vex_collection *c = NULL;
    state pre, got;
    float v[DIM];
    vex_fault_config fc = {VEX_FAULT_BIT(VEX_FAULT_M_SYNC), 1, 0,
                           VEX_FAULT_SYNC};
    vex_fault_config off = {0, 0, 0, 0};
    vx_vfs_mem_create(NULL, &mem);
    vx_vfs_fault_create(mem, NULL, &fault);
    CHECK(setup(fault, &pre));
    db = open_on(fault, NULL);
    CHECK_RC(vex_collection_open(db, "c", &c), VEX_OK);
    vx_vfs_fault_set(fault, &fc); /* transient: only this sync fails */
    vec_of(200, 9.0f, v);
    CHECK_RC(vex_insert(c, 200, v), VEX_IOERR);
    vx_vfs_fault_set(fault, &off);
    vec_of(201, 9.0f, v);
    CHECK_RC(vex_insert(c, 201, v), VEX_IOERR);
    CHECK(strstr(vex_collection_errmsg(c), "refuses writes") != NULL);
    CHECK(strstr(vex_collection_errmsg(c), "injected") != NULL);
    CHECK_RC(vex_delete(c, 1), VEX_IOERR);
    CHECK_RC(vex_flush(c), VEX_IOERR);
    CHECK_RC(vex_get(c, 3, v), VEX_OK); /* reads still work */
    vex_db_close(db);
    /* reopened: the old rows, and 200 or not (unknown outcome), never 201 */
    CHECK(read_state(mem, &got));
    CHECK(got.v[201] == 0);
    got.v[200] = 0;
    CHECK(same(&got, &pre));
    fault->methods->destroy(fault);
    mem->methods->destroy(mem);
}

/* ------------------------------------------------------------------
 * Damaged files
 * ------------------------------------------------------------------ */

typedef struct file_list {
    char names[16][128];
    int n;
    const char *dir;
} file_list;

static int list_file(void *ctx, const char *name, int kind)
{
    file_list *l = ctx;
    if (kind == VEX_VFS_FILE && l->n < 16)
        snprintf(l->names[l->n++], sizeof l->names[0], "%s/%s", l->dir, name);
    return 0;
}

static unsigned char *slurp(vex_vfs *vfs, const char *path, size_t *n)
{
    vex_file *f = NULL;
    uint64_t size = 0;
    unsigned char *b;
    vfs->methods->open(vfs, path, VX_FILE_READONLY, &f, NULL);
    vfs->methods->size(f, &size, NULL);
    b = malloc(size ? size : 1);
    vx_file_read_exact(f, b, size, 0, NULL);
    vfs->methods->close(f, NULL);
    *n = size;
    return b;
}

static void put(vex_vfs *vfs, const char *path, const unsigned char *b,
                size_t n)
{
    vex_file *f = NULL;
    vfs->methods->open(vfs, path, VX_FILE_READWRITE | VX_FILE_TRUNCATE, &f,
                       NULL);
    if (n)
        vfs->methods->write(f, b, n, 0, NULL);
    vfs->methods->close(f, NULL);
}

/* Open the damaged database and read everything: only VEX_OK or
 * VEX_CORRUPT, and whatever is returned is right. */
static void probe_damage(vex_vfs *vfs, const char *file, size_t off, int *n_ok,
                         int *n_corrupt)
{
    vex_db *db = NULL;
    vex_collection *c = NULL;
    vex_db_options o;
    float v[DIM];
    vex_hit hits[8];
    size_t nh;
    int rc;
    vex_db_options_init(&o);
    o.n_threads = 1;
    o.flush_on_close = 0; /* the probe reads; the sweep owns the files */
    rc = vx_db_open_vfs("db", &o, vfs, &db);
    if (rc == VEX_OK)
        rc = vex_collection_open(db, "c", &c);
    if (rc != VEX_OK) {
        CHECK_MSG(rc == VEX_CORRUPT, "%s damaged at %zu: open gave %s: %s",
                  file, off, vex_status_name(rc), vex_db_errmsg(db));
        CHECK_MSG(strstr(vex_db_errmsg(db), "offset") ||
                      strstr(vex_db_errmsg(db), "record") ||
                      strstr(vex_db_errmsg(db), "MANIFEST") ||
                      strstr(vex_db_errmsg(db), "seg-"),
                  "%s damaged at %zu: message names no place: %s", file, off,
                  vex_db_errmsg(db));
        (*n_corrupt)++;
        vex_db_close(db);
        return;
    }
    (*n_ok)++;
    for (uint64_t id = 0; id < MAX_ID; id++) {
        rc = vex_get(c, id, v);
        CHECK_MSG(rc == VEX_OK || rc == VEX_NOTFOUND || rc == VEX_CORRUPT,
                  "%s damaged at %zu: get %llu gave %s", file, off,
                  (unsigned long long)id, vex_status_name(rc));
        /* every version setup() wrote has tag 1; a cut log may show an
         * earlier state (a deleted row back), never a wrong vector */
        if (rc == VEX_OK)
            CHECK_MSG(v[0] == 1.0f && v[1] == (float)id && v[3] == -(float)id &&
                          id >= 1 && id <= 30,
                      "%s damaged at %zu: id %llu has a wrong vector", file,
                      off, (unsigned long long)id);
    }
    vec_of(3, 1.0f, v);
    rc = vex_search(c, v, 8, NULL, hits, NULL, &nh);
    CHECK_MSG(rc == VEX_OK || rc == VEX_CORRUPT,
              "%s damaged at %zu: search gave %s", file, off,
              vex_status_name(rc));
    vex_db_close(db);
}

static void test_damaged_files(void)
{
    vex_vfs *mem = NULL;
    state good;
    file_list l = {.n = 0};
    int n_ok = 0, n_corrupt = 0;
    vx_vfs_mem_create(NULL, &mem);
    CHECK(setup(mem, &good));
    l.dir = "db/collections/c";
    mem->methods->list(mem, l.dir, list_file, &l, NULL);
    l.dir = "db/collections/c/wal";
    mem->methods->list(mem, l.dir, list_file, &l, NULL);
    CHECK(l.n >= 4); /* CURRENT, MANIFEST, a segment, a log file */
    for (int i = 0; i < l.n; i++) {
        size_t n, stride;
        unsigned char *orig = slurp(mem, l.names[i], &n);
        unsigned char *b = malloc(n ? n : 1);
        stride = n > 2048 ? n / 512 : 1;
        for (size_t off = 0; off < n; off += (off < 1024 ? 1 : stride)) {
            /* one flipped bit */
            memcpy(b, orig, n);
            b[off] ^= (unsigned char)(1u << (off % 8));
            put(mem, l.names[i], b, n);
            probe_damage(mem, l.names[i], off, &n_ok, &n_corrupt);
            /* truncated here (a stride of cuts) */
            if (off % 7 == 0) {
                put(mem, l.names[i], orig, off);
                probe_damage(mem, l.names[i], off, &n_ok, &n_corrupt);
            }
            /* 64 zero bytes */
            if (off % 64 == 0 && off + 64 <= n) {
                memcpy(b, orig, n);
                memset(b + off, 0, 64);
                put(mem, l.names[i], b, n);
                probe_damage(mem, l.names[i], off, &n_ok, &n_corrupt);
            }
        }
        put(mem, l.names[i], orig, n);
        free(orig);
        free(b);
    }
    fprintf(stderr,
            "damage: %d files, %d opened (tail or lazy section), %d "
            "VEX_CORRUPT\n",
            l.n, n_ok, n_corrupt);
    CHECK(n_corrupt > 0);
    mem->methods->destroy(mem);
}

int main(void)
{
    TEST_RUN(test_fault_sweeps);
    TEST_RUN(test_sticky);
    TEST_RUN(test_delete_where_log_fault);
    TEST_RUN(test_power_loss);
    TEST_RUN(test_power_loss_kept);
    TEST_RUN(test_damaged_files);
    return TEST_EXIT();
}

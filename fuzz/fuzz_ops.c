/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_ops.c - operation-sequence fuzzer over the public collection API,
 * checked against a model (issue 26): the input is a program of
 * operations on one collection in an in-memory file system, and after
 * each one the collection must agree with a tiny in-memory model (64 ids,
 * each absent or holding a vector, an optional int field "g" and an
 * optional text of two words "w<a> w<b>", a function of the put's value
 * byte; the collection has a text field).
 *
 * Input: byte 0 picks the collection: bit 0 flat or HNSW, bit 1 SQ8
 * segments (HNSW only), bit 2 memtable_exact_rows 0 or 8, bit 3
 * flush_on_close, bit 4 a sparse graph (hnsw_m 4, ef_construction 16;
 * else 16 and 64). Then operations, each an opcode byte and argument bytes
 * (missing bytes read as 0):
 *   insert / upsert / delete / upsert with g / update g   (id, value)
 *   a batch of up to 4 of those, committed atomically
 *   delete where g = v, count where g = v, get, flush, compact,
 *   close and reopen, search (k = all, exact for flat, large ef for HNSW),
 *   keyword search for one word (opcode 14).
 * Checked: each call's status is what the model predicts (VEX_EXISTS,
 * VEX_NOTFOUND, VEX_OK), get returns the model's vector and field,
 * counts and deletes by filter match the model, a search for more than
 * every record returns exactly the live ids with their true distances in
 * ascending order, get_text returns the model's text (kept by metadata
 * updates, replaced by puts), and a keyword search returns exactly the
 * live records whose text holds the word with the model's BM25 scores
 * (every text is 2 terms long), best first. Any disagreement aborts.
 *
 * The corpus is replayed by ctest (fuzz_replay_ops); test_ops_model runs
 * thousands of seeded random programs through the same entry point.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/db.h"
#include "fuzz.h"
#include "io/vfs.h"
#include "vexdb.h"

#define IDS 64
#define DIM 4

typedef struct model {
    int live[IDS];
    float v[IDS][DIM];
    int has_g[IDS];
    int64_t g[IDS];
    char txt[IDS][16]; /* "" = no text */
} model;

typedef struct run {
    vex_vfs *vfs;
    vex_db *db;
    vex_collection *c;
    vex_meta *meta, *got;
    int hnsw, quant, exact_rows, flush_close, sparse;
    model m;
} run;

static void fail(const char *what, long a, long b)
{
    fprintf(stderr, "fuzz_ops: %s (%ld, %ld)\n", what, a, b);
    abort();
}

#define CHECK(cond, what, a, b)                                                \
    do {                                                                       \
        if (!(cond))                                                           \
            fail(what, (long)(a), (long)(b));                                  \
    } while (0)

static void vec_of(unsigned char b, float *v)
{
    for (int d = 0; d < DIM; d++)
        v[d] = (float)((b * 7u + (unsigned)d * 13u) % 31u) - 15.0f +
               (float)d * 0.25f;
}

/* The text a put with value byte b carries: none for a third of them. */
static void txt_of(unsigned char b, char *t)
{
    if (b % 3 == 0)
        t[0] = '\0';
    else
        snprintf(t, 16, "w%u w%u", b % 7u, (b / 7u) % 5u);
}

static void open_all(run *r)
{
    vex_db_options o;
    vex_collection_config cfg;
    int rc;
    vex_db_options_init(&o);
    o.create_if_missing = 1;
    o.n_threads = 1;
    o.background_threads = 1;
    o.memtable_exact_rows = (uint32_t)r->exact_rows;
    o.flush_on_close = r->flush_close;
    o.compact_min_merge = 2;
    /* FUZZ_OPS_DIR=DIR: a real database in DIR, kept when a check fails,
     * to look at with the vex tool and tests/hnsw_reach */
    const char *dir = getenv("FUZZ_OPS_DIR");
    CHECK(vx_db_open_vfs(dir ? dir : "db", &o, r->vfs, &r->db) == VEX_OK,
          "open db", 0, 0);
    vex_collection_config_init(&cfg);
    cfg.dim = DIM;
    cfg.index_kind = r->hnsw ? VEX_INDEX_HNSW : VEX_INDEX_FLAT;
    cfg.text = 1;
    if (r->hnsw) {
        cfg.hnsw_m = r->sparse ? 4 : 16;
        cfg.hnsw_ef_construction = r->sparse ? 16 : 64;
        cfg.quant = r->quant ? VEX_QUANT_SQ8 : VEX_QUANT_NONE;
    }
    rc = vex_collection_open_or_create(r->db, "c", &cfg, &r->c, NULL);
    CHECK(rc == VEX_OK, "open collection", rc, 0);
}

static void close_all(run *r)
{
    vex_collection_close(r->c);
    r->c = NULL;
    CHECK(vex_db_close(r->db) == VEX_OK, "close db", 0, 0);
    r->db = NULL;
}

static void set_meta(run *r, int with_g, int64_t g)
{
    vex_meta_clear(r->meta);
    if (with_g)
        CHECK(vex_meta_set_int(r->meta, "g", g) == VEX_OK, "meta", 0, 0);
}

/* One write through the API (kind 0 insert, 1 upsert, 2 delete, 3 upsert
 * with g, 4 update g), its status checked against the model, which it
 * then updates. */
static void write_one(run *r, int kind, unsigned id, unsigned char val)
{
    float v[DIM];
    char t[16];
    vex_record rec;
    int rc, want;
    vec_of(val, v);
    txt_of(val, t);
    vex_record_init(&rec);
    rec.id = id;
    rec.vector = v;
    rec.text = t;
    rec.text_len = strlen(t);
    switch (kind) {
    case 0:
        want = r->m.live[id] ? VEX_EXISTS : VEX_OK;
        rc = vex_insert_record(r->c, &rec);
        break;
    case 1:
        want = VEX_OK;
        rc = vex_upsert_record(r->c, &rec);
        break;
    case 2:
        want = r->m.live[id] ? VEX_OK : VEX_NOTFOUND;
        rc = vex_delete(r->c, id);
        break;
    case 3:
        want = VEX_OK;
        set_meta(r, 1, val % 5);
        rec.meta = r->meta;
        rc = vex_upsert_record(r->c, &rec);
        break;
    default:
        want = r->m.live[id] ? VEX_OK : VEX_NOTFOUND;
        set_meta(r, 1, val % 5);
        rc = vex_update_meta(r->c, id, r->meta);
        break;
    }
    CHECK(rc == want, "write status", rc, want);
    if (rc != VEX_OK)
        return;
    if (kind == 2) {
        r->m.live[id] = 0;
    } else if (kind == 4) {
        r->m.has_g[id] = 1;
        r->m.g[id] = val % 5;
    } else {
        r->m.live[id] = 1;
        memcpy(r->m.v[id], v, sizeof v);
        r->m.has_g[id] = kind == 3;
        r->m.g[id] = val % 5;
        memcpy(r->m.txt[id], t, sizeof t);
    }
}

/* A batch of n writes (no inserts of live ids or deletes of absent ones,
 * which would fail the whole commit): all applied or none. */
static void write_batch(run *r, const unsigned char *a, int n)
{
    vex_batch *b = NULL;
    model next = r->m;
    int rc;
    CHECK(vex_batch_create(DIM * sizeof(float), NULL, &b) == VEX_OK, "batch", 0,
          0);
    for (int i = 0; i < n; i++) {
        unsigned id = a[2 * i] % IDS;
        unsigned char val = a[2 * i + 1];
        float v[DIM];
        vec_of(val, v);
        if (next.live[id] && (val & 1)) {
            CHECK(vex_batch_delete(b, id) == VEX_OK, "batch delete", id, 0);
            next.live[id] = 0;
        } else {
            vex_record rec;
            set_meta(r, val & 2, val % 5);
            vex_record_init(&rec);
            rec.id = id;
            rec.vector = v;
            rec.meta = r->meta;
            txt_of(val, next.txt[id]);
            rec.text = next.txt[id];
            rec.text_len = strlen(next.txt[id]);
            CHECK(vex_batch_upsert_record(b, &rec) == VEX_OK, "batch upsert",
                  id, 0);
            next.live[id] = 1;
            memcpy(next.v[id], v, sizeof v);
            next.has_g[id] = (val & 2) != 0;
            next.g[id] = val % 5;
        }
    }
    rc = vex_batch_commit(r->c, b);
    CHECK(rc == VEX_OK, "batch commit", rc, 0);
    r->m = next;
    vex_batch_free(b);
}

static uint64_t model_count(const run *r, int by_g, int64_t g)
{
    uint64_t n = 0;
    for (int i = 0; i < IDS; i++)
        n += r->m.live[i] && (!by_g || (r->m.has_g[i] && r->m.g[i] == g));
    return n;
}

static void check_get(run *r, unsigned id)
{
    float v[DIM];
    int rc = vex_get(r->c, id, v);
    CHECK(rc == (r->m.live[id] ? VEX_OK : VEX_NOTFOUND), "get", rc, id);
    if (rc != VEX_OK)
        return;
    CHECK(memcmp(v, r->m.v[id], sizeof v) == 0, "get vector", id, 0);
    {
        char t[32];
        size_t len = 0;
        CHECK(vex_get_text(r->c, id, t, sizeof t, &len) == VEX_OK, "get text",
              id, 0);
        CHECK(len == strlen(r->m.txt[id]) && memcmp(t, r->m.txt[id], len) == 0,
              "get text value", id, len);
    }
    CHECK(vex_get_meta(r->c, id, r->got) == VEX_OK, "get meta", id, 0);
    size_t at;
    int has = vex_meta_find(r->got, "g", &at) == VEX_OK;
    CHECK(has == r->m.has_g[id], "get meta field", has, id);
    if (has) {
        vex_field f;
        CHECK(vex_meta_field(r->got, at, &f) == VEX_OK &&
                  f.type == VEX_TYPE_INT && f.i == r->m.g[id],
              "get meta value", id, f.i);
    }
}

static void where(run *r, int64_t g, int del)
{
    char text[32];
    vex_filter *f = NULL;
    uint64_t n = 0, want = model_count(r, 1, g);
    snprintf(text, sizeof text, "g = %d", (int)g);
    CHECK(vex_filter_parse(r->c, text, &f) == VEX_OK, "filter", g, 0);
    if (!del) {
        CHECK(vex_count_where(r->c, f, &n) == VEX_OK, "count where", g, 0);
        CHECK(n == want, "count where result", n, want);
    } else {
        CHECK(vex_delete_where(r->c, f, &n) == VEX_OK, "delete where", g, 0);
        CHECK(n == want, "delete where result", n, want);
        for (int i = 0; i < IDS; i++)
            if (r->m.live[i] && r->m.has_g[i] && r->m.g[i] == g)
                r->m.live[i] = 0;
    }
    vex_filter_free(f);
}

static float l2(const float *a, const float *b)
{
    float s = 0;
    for (int d = 0; d < DIM; d++)
        s += (a[d] - b[d]) * (a[d] - b[d]);
    return s;
}

/* A search for more than every record returns each live id once, with its
 * true distance, ascending. */
static void check_search(run *r, unsigned char qb)
{
    vex_search_params p;
    vex_hit hits[IDS + 8];
    float q[DIM];
    size_t n = 0;
    int seen[IDS] = {0};
    uint64_t live = model_count(r, 0, 0);
    int rc;
    vec_of(qb, q);
    vex_search_params_init(&p);
    if (r->hnsw)
        p.ef_search = 200;
    rc = vex_search(r->c, q, IDS + 8, &p, hits, NULL, &n);
    CHECK(rc == VEX_OK, "search", rc, 0);
    if (n != live && getenv("FUZZ_OPS_TRACE")) {
        vex_stats st;
        vex_stats_init(&st);
        vex_stats_get(r->c, &st);
        fprintf(stderr,
                "search: %zu of %llu; segments %u, memtable rows %llu, "
                "unindexed %llu, deleted %llu; missing:",
                n, (unsigned long long)live, st.segments,
                (unsigned long long)st.memtable_rows,
                (unsigned long long)st.unindexed_rows,
                (unsigned long long)st.deleted_rows);
        for (unsigned id = 0; id < IDS; id++) {
            int got = 0;
            for (size_t i = 0; i < n; i++)
                got |= hits[i].id == id;
            if (r->m.live[id] && !got)
                fprintf(stderr, " %u", id);
        }
        fprintf(stderr, "\n");
    }
    CHECK(n == live, "search count", n, live);
    for (size_t i = 0; i < n; i++) {
        unsigned id = (unsigned)hits[i].id;
        CHECK(id < IDS && r->m.live[id] && !seen[id], "search id", id, i);
        seen[id] = 1;
        CHECK(fabsf(hits[i].distance - l2(q, r->m.v[id])) <=
                  1e-3f * (1.0f + l2(q, r->m.v[id])),
              "search distance", id, i);
        CHECK(i == 0 || hits[i].distance >= hits[i - 1].distance,
              "search order", i, 0);
    }
}

/* Occurrences of word w in a model text of two words. */
static unsigned tf_in(const char *t, const char *w)
{
    char a[8], b[8];
    if (t[0] == '\0' || sscanf(t, "%7s %7s", a, b) != 2)
        return 0;
    return (unsigned)(strcmp(a, w) == 0) + (unsigned)(strcmp(b, w) == 0);
}

/* A keyword search for "w<qb % 7>": exactly the live records whose text
 * holds it, with BM25 (k1 1.2, b 0.75; every text is 2 terms, so the
 * length factor is 1) as FTS5 computes it, best first. */
static void check_text(run *r, unsigned char qb)
{
    vex_search_params p;
    vex_hit hits[IDS + 8];
    char w[8];
    size_t n = 0;
    double docs = 0, df = 0, idf;
    int seen[IDS] = {0}, rc;
    snprintf(w, sizeof w, "w%u", qb % 7u);
    for (int i = 0; i < IDS; i++) {
        if (!r->m.live[i] || r->m.txt[i][0] == '\0')
            continue;
        docs++;
        df += tf_in(r->m.txt[i], w) > 0;
    }
    idf = log((docs - df + 0.5) / (df + 0.5));
    if (idf <= 0)
        idf = 1e-6;
    vex_search_params_init(&p);
    p.text = w;
    rc = vex_search(r->c, NULL, IDS + 8, &p, hits, NULL, &n);
    CHECK(rc == VEX_OK, "text search", rc, 0);
    CHECK(n == (size_t)df, "text search count", n, df);
    for (size_t i = 0; i < n; i++) {
        unsigned id = (unsigned)hits[i].id;
        unsigned tf;
        double want;
        CHECK(id < IDS && r->m.live[id] && !seen[id], "text search id", id, i);
        seen[id] = 1;
        tf = tf_in(r->m.txt[id], w);
        CHECK(tf > 0, "text search hit without the word", id, i);
        want = idf * tf * 2.2 / (tf + 1.2);
        CHECK(fabs(-(double)hits[i].distance - want) <= 1e-4 * (1 + want),
              "text search score", id, i);
        CHECK(i == 0 || hits[i].distance >= hits[i - 1].distance,
              "text search order", i, 0);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    run r;
    size_t at = 1;
    int trace;
    if (size < 1 || size > 4096)
        return 0;
    memset(&r, 0, sizeof r);
    r.hnsw = data[0] & 1;
    r.quant = (data[0] >> 1) & 1;
    r.exact_rows = data[0] & 4 ? 0 : 8;
    r.flush_close = (data[0] >> 3) & 1;
    r.sparse = (data[0] >> 4) & 1;
    CHECK((getenv("FUZZ_OPS_DIR") ? vx_vfs_posix_create(NULL, &r.vfs)
                                  : vx_vfs_mem_create(NULL, &r.vfs)) == VEX_OK,
          "vfs", 0, 0);
    CHECK(vex_meta_create(NULL, &r.meta) == VEX_OK &&
              vex_meta_create(NULL, &r.got) == VEX_OK,
          "meta create", 0, 0);
    open_all(&r);
    trace = getenv("FUZZ_OPS_TRACE") != NULL;
    while (at < size) {
        unsigned char op = data[at++];
        if (trace) /* FUZZ_OPS_TRACE=1: each operation, to follow a failure */
            fprintf(stderr, "op %u args %u %u (live %llu)\n", op % 16u,
                    at < size ? data[at] : 0u,
                    at + 1 < size ? data[at + 1] : 0u,
                    (unsigned long long)model_count(&r, 0, 0));
        unsigned char a[9] = {0};
        for (int i = 0; i < 9 && at + (size_t)i < size; i++)
            a[i] = data[at + (size_t)i];
        switch (op % 16) {
        case 0:
        case 1:
        case 2:
        case 3:
        case 4:
        case 5:
            write_one(&r, op % 16 % 5, a[0] % IDS, a[1]);
            at += 2;
            break;
        case 6:
            write_batch(&r, a + 1, 1 + a[0] % 4);
            at += 1 + 2 * (size_t)(1 + a[0] % 4);
            break;
        case 7:
            where(&r, a[0] % 5, 1);
            at += 1;
            break;
        case 8:
            where(&r, a[0] % 5, 0);
            at += 1;
            break;
        case 9:
            check_get(&r, a[0] % IDS);
            at += 1;
            break;
        case 10:
            CHECK(vex_flush(r.c) == VEX_OK, "flush", 0, 0);
            break;
        case 11:
            CHECK(vex_compact(r.c) == VEX_OK, "compact", 0, 0);
            break;
        case 12:
            close_all(&r);
            open_all(&r);
            break;
        case 14:
            check_text(&r, a[0]);
            at += 1;
            break;
        default:
            check_search(&r, a[0]);
            at += 1;
            break;
        }
        CHECK(vex_collection_count(r.c) == model_count(&r, 0, 0), "count",
              vex_collection_count(r.c), model_count(&r, 0, 0));
    }
    /* the end state survives a close and reopen */
    close_all(&r);
    open_all(&r);
    for (unsigned id = 0; id < IDS; id++)
        check_get(&r, id);
    check_search(&r, 3);
    for (unsigned char w = 0; w < 7; w++)
        check_text(&r, w);
    close_all(&r);
    vex_meta_free(r.meta);
    vex_meta_free(r.got);
    vex_vfs_destroy(r.vfs);
    return 0;
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_payload.c - record payloads and bulk writes through the public
 * API: payloads round trip through insert/upsert records, batches and
 * vex_insert_many, in the memtable, after a flush (segment), after a
 * compaction and after reopening (log replay and segments), for flat and
 * HNSW collections, checked against a model after every phase; a
 * metadata-only update keeps the payload (in a memtable row, a segment
 * row, and through replay of its log record); an upsert without one drops
 * it; bad input (oversized payloads, NULL with a length, NULL records and
 * arrays, struct_size, n 0, a repeated or existing id, a schema violation
 * in record 537); the batch limit as VEX_FULL with the batch's message;
 * vex_insert_many in several chunks; a batch of metadata updates whose
 * carried payloads exceed a log record's limit; concurrent metadata
 * updates whose carried payloads make the leader end its group early.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test.h"
#include "util/rng.h"
#include "vexdb.h"

#define DIM 8

static char tmp_root[256];

static void make_root(void)
{
    snprintf(tmp_root, sizeof tmp_root, "/tmp/vex_test_payload_XXXXXX");
    if (mkdtemp(tmp_root) == NULL) {
        perror("mkdtemp");
        exit(2);
    }
}

static vex_db *open_db(const char *name)
{
    char path[512];
    vex_db_options o;
    vex_db *db = NULL;
    snprintf(path, sizeof path, "%s/%s", tmp_root, name);
    vex_db_options_init(&o);
    o.create_if_missing = 1;
    o.n_threads = 2;
    o.background_threads = 1;
    o.memtable_bytes = 1 << 20;
    /* no fsync per commit: durability is test_kill_loop's and
     * test_db_faults' subject; these tests are about contents */
    o.durability = VEX_DURABILITY_NONE;
    CHECK_RC(vex_db_open(path, &o, &db), VEX_OK);
    return db;
}

static int coll_has(vex_collection *c, const char *s)
{
    const char *m = vex_collection_errmsg(c);
    if (strstr(m, s) == NULL) {
        fprintf(stderr, "message \"%s\" lacks \"%s\"\n", m, s);
        return 0;
    }
    return 1;
}

static int batch_has(vex_batch *b, const char *s)
{
    const char *m = vex_batch_errmsg(b);
    if (strstr(m, s) == NULL) {
        fprintf(stderr, "batch message \"%s\" lacks \"%s\"\n", m, s);
        return 0;
    }
    return 1;
}

/* ---- a model of ids -> payload -------------------------------------- */

#define N_IDS 600

typedef struct model {
    int live[N_IDS];
    size_t len[N_IDS];
    unsigned char *pay[N_IDS];
} model;

/* The int field `name` of m, or -1. */
static int64_t meta_int(vex_meta *m, const char *name)
{
    size_t i;
    vex_field f;
    if (vex_meta_find(m, name, &i) != VEX_OK ||
        vex_meta_field(m, i, &f) != VEX_OK || f.type != VEX_TYPE_INT)
        return -1;
    return f.i;
}

static void vec_of(uint64_t id, unsigned gen, float *v)
{
    for (int j = 0; j < DIM; j++)
        v[j] = (float)((id * 31 + (uint64_t)j * 7 + gen) % 97) + 0.5f;
}

/* A payload for (id, gen): lengths from 0 to ~5000, some 0 (none). */
static size_t pay_of(uint64_t id, unsigned gen, unsigned char *buf)
{
    size_t len = (id * 131 + gen * 17) % 5;
    len = len == 0 ? 0 : len * len * len * 40 + id % 13;
    for (size_t i = 0; i < len; i++)
        buf[i] = (unsigned char)(id * 7 + i * 3 + gen);
    return len;
}

static void model_set(model *mo, uint64_t id, const unsigned char *p,
                      size_t len)
{
    free(mo->pay[id]);
    mo->pay[id] = NULL;
    mo->live[id] = 1;
    mo->len[id] = len;
    if (len) {
        mo->pay[id] = malloc(len);
        memcpy(mo->pay[id], p, len);
    }
}

static void model_free(model *mo)
{
    for (int i = 0; i < N_IDS; i++)
        free(mo->pay[i]);
}

static void check_model(vex_collection *c, const model *mo, const char *when)
{
    static unsigned char buf[8192];
    int bad = 0;
    for (uint64_t id = 0; id < N_IDS && bad < 5; id++) {
        size_t len = 12345;
        int rc = vex_get_payload(c, id, buf, sizeof buf, &len);
        if (!mo->live[id]) {
            if (rc != VEX_NOTFOUND || len != 0) {
                fprintf(stderr, "%s: id %llu: rc %d len %zu, wanted absent\n",
                        when, (unsigned long long)id, rc, len);
                bad++;
            }
            continue;
        }
        if (rc != VEX_OK || len != mo->len[id] ||
            (len && memcmp(buf, mo->pay[id], len) != 0)) {
            fprintf(stderr, "%s: id %llu: rc %d len %zu, wanted %zu\n", when,
                    (unsigned long long)id, rc, len, mo->len[id]);
            bad++;
        }
    }
    CHECK_MSG(bad == 0, "%s", when);
}

/* Phases: records (single writes), a batch, insert_many, metadata-only
 * updates, upserts that drop payloads, deletes; flush, compact, reopen
 * between them; the model checked after each. */
static void run_phases(vex_index_kind kind)
{
    vex_db *db = open_db(kind == VEX_INDEX_HNSW ? "ph_hnsw" : "ph_flat");
    vex_collection_config cfg;
    vex_collection *c = NULL;
    vex_meta *m = NULL;
    vex_batch *b = NULL;
    model *mo = calloc(1, sizeof *mo);
    static unsigned char pbuf[8192];
    float v[DIM];
    vex_record r;
    if (db == NULL || mo == NULL)
        goto out;
    vex_collection_config_init(&cfg);
    cfg.dim = DIM;
    cfg.index_kind = kind;
    CHECK_RC(vex_collection_create(db, "c", &cfg, &c), VEX_OK);
    CHECK_RC(vex_meta_create(NULL, &m), VEX_OK);
    CHECK_RC(vex_batch_create(DIM * sizeof(float), NULL, &b), VEX_OK);
    if (c == NULL || m == NULL || b == NULL)
        goto out;
    /* 1. single records 0..199 */
    for (uint64_t id = 0; id < 200; id++) {
        vex_record_init(&r);
        vec_of(id, 0, v);
        r.id = id;
        r.vector = v;
        r.payload = pbuf;
        r.payload_len = pay_of(id, 0, pbuf);
        vex_meta_clear(m);
        CHECK_RC(vex_meta_set_int(m, "n", (int64_t)id), VEX_OK);
        r.meta = id % 3 ? m : NULL;
        CHECK_RC(vex_insert_record(c, &r), VEX_OK);
        model_set(mo, id, pbuf, r.payload_len);
    }
    check_model(c, mo, "records");
    /* 2. a batch 200..299, with one upsert of an earlier id */
    for (uint64_t id = 200; id < 300; id++) {
        vex_record_init(&r);
        vec_of(id, 0, v);
        r.id = id;
        r.vector = v;
        r.payload = pbuf;
        r.payload_len = pay_of(id, 0, pbuf);
        CHECK_RC(vex_batch_insert_record(b, &r), VEX_OK);
        model_set(mo, id, pbuf, r.payload_len);
    }
    vex_record_init(&r);
    vec_of(5, 1, v);
    r.id = 5;
    r.vector = v;
    r.payload = pbuf;
    r.payload_len = pay_of(5, 1, pbuf);
    CHECK_RC(vex_batch_upsert_record(b, &r), VEX_OK);
    model_set(mo, 5, pbuf, r.payload_len);
    CHECK_RC(vex_batch_commit(c, b), VEX_OK);
    vex_batch_clear(b);
    check_model(c, mo, "batch");
    CHECK_RC(vex_flush(c), VEX_OK);
    check_model(c, mo, "flush 1");
    /* 3. insert_many 300..599 with payloads and some metadata */
    {
        uint64_t ids[300];
        float *vecs = malloc(300 * DIM * sizeof(float));
        vex_payload pays[300];
        unsigned char *store = malloc(300 * 5200);
        const vex_meta *metas[300];
        size_t done = 99;
        for (int i = 0; i < 300; i++) {
            ids[i] = 300 + (uint64_t)i;
            vec_of(ids[i], 0, vecs + i * DIM);
            pays[i].data = store + i * 5200;
            pays[i].len = pay_of(ids[i], 0, store + i * 5200);
            metas[i] = i % 2 ? m : NULL;
            model_set(mo, ids[i], pays[i].data, pays[i].len);
        }
        CHECK_RC(vex_insert_many(c, 300, ids, vecs, metas, pays, &done),
                 VEX_OK);
        CHECK_EQ_INT(done, 300);
        free(vecs);
        free(store);
    }
    check_model(c, mo, "insert_many");
    /* 4. metadata-only updates keep payloads: rows in the segment (0..)
     * and in the memtable (300..), also twice in one batch */
    for (uint64_t id = 0; id < N_IDS; id += 7) {
        vex_meta_clear(m);
        CHECK_RC(vex_meta_set_int(m, "u", 1), VEX_OK);
        CHECK_RC(vex_update_meta(c, id, m), VEX_OK);
    }
    CHECK_RC(vex_batch_update_meta(b, 8, m), VEX_OK);
    CHECK_RC(vex_batch_update_meta(b, 8, m), VEX_OK);
    vec_of(9, 2, v);
    vex_record_init(&r);
    r.id = 9;
    r.vector = v;
    r.payload = "nine";
    r.payload_len = 4;
    CHECK_RC(vex_batch_upsert_record(b, &r), VEX_OK);
    CHECK_RC(vex_batch_update_meta(b, 9, m), VEX_OK); /* after a put */
    CHECK_RC(vex_batch_commit(c, b), VEX_OK);
    vex_batch_clear(b);
    model_set(mo, 9, (const unsigned char *)"nine", 4);
    check_model(c, mo, "update_meta");
    {
        vex_meta *got = NULL;
        CHECK_RC(vex_meta_create(NULL, &got), VEX_OK);
        CHECK_RC(vex_get_meta(c, 14, got), VEX_OK);
        CHECK(meta_int(got, "u") == 1);
        vex_meta_free(got);
    }
    /* 5. upserts without payloads drop them; deletes */
    for (uint64_t id = 1; id < N_IDS; id += 11) {
        vec_of(id, 3, v);
        CHECK_RC(vex_upsert(c, id, v), VEX_OK);
        model_set(mo, id, NULL, 0);
    }
    for (uint64_t id = 2; id < N_IDS; id += 13) {
        CHECK_RC(vex_delete(c, id), VEX_OK);
        free(mo->pay[id]);
        mo->pay[id] = NULL;
        mo->live[id] = 0;
    }
    check_model(c, mo, "upsert/delete");
    /* 6. reopen with the last phases only in the log */
    vex_collection_close(c);
    c = NULL;
    CHECK_RC(vex_collection_open(db, "c", &c), VEX_OK);
    if (c == NULL)
        goto out;
    check_model(c, mo, "reopen (replay)");
    /* 7. updates again after reopen (rows replayed from the log), then
     * flush, compact, reopen */
    vex_meta_clear(m);
    CHECK_RC(vex_meta_set_int(m, "u", 2), VEX_OK);
    for (uint64_t id = 3; id < N_IDS; id += 17)
        if (mo->live[id])
            CHECK_RC(vex_update_meta(c, id, m), VEX_OK);
    CHECK_RC(vex_flush(c), VEX_OK);
    check_model(c, mo, "flush 2");
    CHECK_RC(vex_compact(c), VEX_OK);
    check_model(c, mo, "compact");
    vex_collection_close(c);
    c = NULL;
    CHECK_RC(vex_collection_open(db, "c", &c), VEX_OK);
    if (c)
        check_model(c, mo, "reopen (segments)");
out:
    vex_batch_free(b);
    vex_meta_free(m);
    vex_collection_close(c);
    vex_db_close(db);
    if (mo)
        model_free(mo);
    free(mo);
}

static void test_phases_flat(void)
{
    run_phases(VEX_INDEX_FLAT);
}

static void test_phases_hnsw(void)
{
    run_phases(VEX_INDEX_HNSW);
}

/* ---- bad input -------------------------------------------------------- */

static void test_bad_input(void)
{
    vex_db *db = open_db("bad");
    vex_collection_config cfg;
    vex_collection *c = NULL;
    vex_batch *b = NULL;
    vex_schema_field fields[] = {{"year", VEX_TYPE_INT, 0}};
    vex_meta *ok = NULL, *wrong = NULL;
    float v[DIM], vecs[2 * DIM];
    uint64_t ids[2] = {1, 2};
    vex_record r;
    size_t len = 77, done = 77;
    unsigned char buf[4];
    char *big = calloc(1, VEX_MAX_PAYLOAD + 1);
    if (db == NULL || big == NULL)
        goto out;
    vex_collection_config_init(&cfg);
    cfg.dim = DIM;
    cfg.schema_fields = fields;
    cfg.n_schema_fields = 1;
    CHECK_RC(vex_collection_create(db, "c", &cfg, &c), VEX_OK);
    CHECK_RC(vex_batch_create(DIM * sizeof(float), NULL, &b), VEX_OK);
    CHECK_RC(vex_meta_create(NULL, &ok), VEX_OK);
    CHECK_RC(vex_meta_create(NULL, &wrong), VEX_OK);
    if (c == NULL || b == NULL || ok == NULL || wrong == NULL)
        goto out;
    CHECK_RC(vex_meta_set_int(ok, "year", 2020), VEX_OK);
    CHECK_RC(vex_meta_set_string(wrong, "year", "x", 1), VEX_OK);
    vec_of(1, 0, v);
    vec_of(1, 0, vecs);
    vec_of(2, 0, vecs + DIM);
    /* records */
    CHECK_RC(vex_insert_record(c, NULL), VEX_MISUSE);
    CHECK(coll_has(c, "record is NULL"));
    vex_record_init(&r);
    r.id = 1;
    r.vector = v;
    r.meta = ok;
    r.struct_size = 8;
    CHECK_RC(vex_insert_record(c, &r), VEX_MISUSE);
    CHECK(coll_has(c, "struct_size"));
    r.struct_size = sizeof r;
    r.payload = big;
    r.payload_len = VEX_MAX_PAYLOAD + 1;
    CHECK_RC(vex_insert_record(c, &r), VEX_INVALID);
    CHECK(coll_has(c, "VEX_MAX_PAYLOAD") && coll_has(c, "id 1"));
    r.payload = NULL;
    r.payload_len = 3;
    CHECK_RC(vex_upsert_record(c, &r), VEX_INVALID);
    CHECK(coll_has(c, "payload is NULL with length 3"));
    r.vector = NULL;
    r.payload_len = 0;
    CHECK_RC(vex_insert_record(c, &r), VEX_MISUSE);
    r.vector = v;
    r.payload = big; /* exactly the maximum is fine */
    r.payload_len = VEX_MAX_PAYLOAD;
    CHECK_RC(vex_insert_record(c, &r), VEX_OK);
    CHECK_RC(vex_insert_record(c, &r), VEX_EXISTS);
    CHECK_RC(vex_get_payload(c, 1, NULL, 0, &len), VEX_OK);
    CHECK(len == VEX_MAX_PAYLOAD);
    CHECK_RC(vex_get_payload(c, 1, buf, sizeof buf, &len), VEX_OK);
    CHECK(len == VEX_MAX_PAYLOAD && buf[0] == 0);
    CHECK_RC(vex_get_payload(c, 1, NULL, 4, &len), VEX_MISUSE);
    CHECK_RC(vex_get_payload(c, 1, buf, 4, NULL), VEX_MISUSE);
    CHECK_RC(vex_get_payload(c, 999, buf, 4, &len), VEX_NOTFOUND);
    CHECK(len == 0);
    /* batch records */
    CHECK_RC(vex_batch_insert_record(b, NULL), VEX_MISUSE);
    CHECK(batch_has(b, "record is NULL"));
    r.payload_len = VEX_MAX_PAYLOAD + 1;
    CHECK_RC(vex_batch_insert_record(b, &r), VEX_INVALID);
    CHECK(batch_has(b, "VEX_MAX_PAYLOAD"));
    r.payload = NULL;
    r.payload_len = 1;
    CHECK_RC(vex_batch_upsert_record(b, &r), VEX_INVALID);
    CHECK(batch_has(b, "NULL"));
    CHECK_EQ_INT(vex_batch_count(b), 0);
    CHECK_RC(vex_batch_insert(b, 5, NULL), VEX_MISUSE);
    CHECK(batch_has(b, "vector is NULL"));
    CHECK(strcmp(vex_batch_errmsg(NULL), "") != 0);
    /* insert_many: n 0, NULL arrays, payloads, duplicates, existing ids */
    CHECK_RC(vex_insert_many(c, 0, NULL, NULL, NULL, NULL, &done), VEX_OK);
    CHECK_EQ_INT(done, 0);
    CHECK_RC(vex_insert_many(c, 2, NULL, vecs, NULL, NULL, &done), VEX_MISUSE);
    CHECK(coll_has(c, "ids is NULL"));
    CHECK_RC(vex_upsert_many(c, 2, ids, NULL, NULL, NULL, &done), VEX_MISUSE);
    CHECK(coll_has(c, "vectors is NULL"));
    {
        vex_payload pays[2] = {{"ok", 2}, {NULL, 5}};
        const vex_meta *metas[2] = {ok, ok};
        uint64_t dup[2] = {7, 7};
        uint64_t fresh[2] = {2, 3};
        CHECK_RC(vex_insert_many(c, 2, fresh, vecs, metas, pays, &done),
                 VEX_INVALID); /* record 1 has NULL data */
        CHECK(coll_has(c, "operation 1") && coll_has(c, "payload is NULL"));
        pays[1].data = big;
        pays[1].len = VEX_MAX_PAYLOAD + 1;
        CHECK_RC(vex_upsert_many(c, 2, ids, vecs, metas, pays, &done),
                 VEX_INVALID);
        CHECK(coll_has(c, "VEX_MAX_PAYLOAD"));
        pays[1].len = 3;
        CHECK_RC(vex_insert_many(c, 2, dup, vecs, metas, pays, &done),
                 VEX_INVALID);
        CHECK(coll_has(c, "id 7") && coll_has(c, "also record 0"));
        CHECK_RC(vex_insert_many(c, 2, ids, vecs, metas, pays, &done),
                 VEX_EXISTS); /* id 1 exists */
        CHECK(coll_has(c, "id 1 (operation 0)"));
        CHECK_EQ_INT(done, 0);
        CHECK_RC(vex_upsert_many(c, 2, dup, vecs, metas, pays, &done), VEX_OK);
        CHECK_EQ_INT(done, 2);
        CHECK_RC(vex_get_payload(c, 7, buf, sizeof buf, &len), VEX_OK);
        CHECK(len == 3 && memcmp(buf, big, 3) == 0); /* the later one */
        metas[1] = NULL; /* the schema requires "year" */
        CHECK_RC(vex_upsert_many(c, 2, dup, vecs, metas, pays, &done),
                 VEX_INVALID);
        CHECK(coll_has(c, "operation 1") && coll_has(c, "year"));
    }
    /* a schema violation in record 537 of 1000: named, nothing written */
    {
        enum { N = 1000 };
        uint64_t *mids = malloc(N * sizeof *mids);
        float *mv = malloc(N * DIM * sizeof(float));
        const vex_meta **metas = malloc(N * sizeof *metas);
        for (int i = 0; i < N; i++) {
            mids[i] = 1000 + (uint64_t)i;
            vec_of(mids[i], 0, mv + i * DIM);
            metas[i] = i == 537 ? wrong : ok;
        }
        CHECK_RC(vex_insert_many(c, N, mids, mv, metas, NULL, &done),
                 VEX_INVALID);
        CHECK(coll_has(c, "id 1537") && coll_has(c, "operation 537") &&
              coll_has(c, "year"));
        CHECK_EQ_INT(done, 0);
        CHECK_RC(vex_get(c, 1000, v), VEX_NOTFOUND);
        metas[537] = ok;
        CHECK_RC(vex_insert_many(c, N, mids, mv, metas, NULL, &done), VEX_OK);
        CHECK_EQ_INT(done, N);
        CHECK_RC(vex_get_payload(c, 1537, buf, sizeof buf, &len), VEX_OK);
        CHECK(len == 0);
        free(mids);
        free(mv);
        free(metas);
    }
out:
    free(big);
    vex_meta_free(ok);
    vex_meta_free(wrong);
    vex_batch_free(b);
    vex_collection_close(c);
    vex_db_close(db);
}

/* ---- limits ----------------------------------------------------------- */

/* The batch limit at dim 4096: 1,023 rows fit, the 1,024th is VEX_FULL
 * with a message saying what to do, and the batch is unchanged. */
static void test_batch_full(void)
{
    vex_batch *b = NULL;
    float *v = calloc(4096, sizeof(float));
    size_t i;
    v[0] = 1.0f;
    CHECK_RC(vex_batch_create(4096 * sizeof(float), NULL, &b), VEX_OK);
    if (b == NULL)
        goto out;
    for (i = 0; i < 1023; i++)
        CHECK_RC(vex_batch_insert(b, i, v), VEX_OK);
    CHECK(strcmp(vex_batch_errmsg(b), "") == 0);
    CHECK_RC(vex_batch_insert(b, i, v), VEX_FULL);
    CHECK(batch_has(b, "batch is full") && batch_has(b, "16777216") &&
          batch_has(b, "vex_insert_many") && batch_has(b, "id 1023"));
    CHECK_EQ_INT(vex_batch_count(b), 1023);
    vex_batch_clear(b);
    CHECK_RC(vex_batch_insert(b, i, v), VEX_OK);
out:
    free(v);
    vex_batch_free(b);
}

/* vex_insert_many at dim 1024 over 16 MiB: several chunks, all there. */
static void test_many_chunks(void)
{
    enum { D = 1024, N = 5000 };
    vex_db *db = open_db("chunks");
    vex_collection_config cfg;
    vex_collection *c = NULL;
    uint64_t *ids = malloc(N * sizeof *ids);
    float *vecs = malloc((size_t)N * D * sizeof(float));
    vex_payload *pays = calloc(N, sizeof *pays);
    float got[D];
    size_t done = 0, len = 0;
    char buf[32];
    vex_stats st;
    if (db == NULL || ids == NULL || vecs == NULL || pays == NULL)
        goto out;
    vex_collection_config_init(&cfg);
    cfg.dim = D;
    cfg.index_kind = VEX_INDEX_FLAT;
    CHECK_RC(vex_collection_create(db, "c", &cfg, &c), VEX_OK);
    if (c == NULL)
        goto out;
    for (size_t i = 0; i < N; i++) {
        ids[i] = i * 3;
        for (int j = 0; j < D; j++)
            vecs[i * D + j] = (float)((i + (size_t)j) % 11);
        vecs[i * D] = 1.0f + (float)i;
        pays[i].data = "0123456789";
        pays[i].len = i % 11;
    }
    vex_stats_init(&st);
    CHECK_RC(vex_stats_get(c, &st), VEX_OK);
    CHECK_RC(vex_insert_many(c, N, ids, vecs, NULL, pays, &done), VEX_OK);
    CHECK_EQ_INT(done, N);
    CHECK_EQ_INT(vex_collection_count(c), N);
    {
        uint64_t before = st.last_seq;
        CHECK_RC(vex_stats_get(c, &st), VEX_OK);
        /* 5000 x 4 KiB in chunks of 16 MiB: 2 log records */
        CHECK_MSG(st.last_seq - before == 2, "%llu log records",
                  (unsigned long long)(st.last_seq - before));
        /* every payload counted once, in a memtable or a segment */
        uint64_t want = 0;
        for (size_t i = 0; i < N; i++)
            want += i % 11;
        CHECK_MSG(st.payload_bytes == want, "payload_bytes %llu, want %llu",
                  (unsigned long long)st.payload_bytes,
                  (unsigned long long)want);
        CHECK_RC(vex_flush(c), VEX_OK);
        CHECK_RC(vex_stats_get(c, &st), VEX_OK);
        CHECK(st.payload_bytes == want && st.memtable_rows == 0);
    }
    for (size_t i = 0; i < N; i += 997) {
        CHECK_RC(vex_get(c, ids[i], got), VEX_OK);
        CHECK(memcmp(got, vecs + i * D, sizeof got) == 0);
        CHECK_RC(vex_get_payload(c, ids[i], buf, sizeof buf, &len), VEX_OK);
        CHECK(len == i % 11 && memcmp(buf, "0123456789", len) == 0);
    }
out:
    free(ids);
    free(vecs);
    free(pays);
    vex_collection_close(c);
    vex_db_close(db);
}

/* Metadata updates carry payloads: 40 records of 1 MiB each, then one
 * batch updating all of them would log 40 MiB, more than a record may
 * hold: VEX_FULL naming the limit, nothing applied; half of them fit. */
static void test_setmeta_too_big(void)
{
    vex_db *db = open_db("setmeta");
    vex_collection_config cfg;
    vex_collection *c = NULL;
    vex_batch *b = NULL;
    vex_meta *m = NULL;
    unsigned char *big = malloc(VEX_MAX_PAYLOAD);
    float v[DIM];
    size_t len = 0;
    if (db == NULL || big == NULL)
        goto out;
    memset(big, 0xab, VEX_MAX_PAYLOAD);
    vex_collection_config_init(&cfg);
    cfg.dim = DIM;
    CHECK_RC(vex_collection_create(db, "c", &cfg, &c), VEX_OK);
    CHECK_RC(vex_batch_create(DIM * sizeof(float), NULL, &b), VEX_OK);
    CHECK_RC(vex_meta_create(NULL, &m), VEX_OK);
    if (c == NULL || b == NULL || m == NULL)
        goto out;
    for (uint64_t id = 0; id < 40; id++) {
        vex_record r;
        vex_record_init(&r);
        vec_of(id, 0, v);
        r.id = id;
        r.vector = v;
        r.payload = big;
        r.payload_len = VEX_MAX_PAYLOAD;
        CHECK_RC(vex_insert_record(c, &r), VEX_OK);
    }
    CHECK_RC(vex_meta_set_int(m, "x", 5), VEX_OK);
    for (uint64_t id = 0; id < 40; id++)
        CHECK_RC(vex_batch_update_meta(b, id, m), VEX_OK);
    CHECK_RC(vex_batch_commit(c, b), VEX_FULL);
    CHECK(coll_has(c, "metadata updates"));
    CHECK_RC(vex_get_meta(c, 3, m), VEX_OK);
    CHECK(vex_meta_count(m) == 0);
    vex_batch_clear(b);
    CHECK_RC(vex_meta_set_int(m, "x", 5), VEX_OK);
    for (uint64_t id = 0; id < 20; id++)
        CHECK_RC(vex_batch_update_meta(b, id, m), VEX_OK);
    CHECK_RC(vex_batch_commit(c, b), VEX_OK);
    CHECK_RC(vex_get_meta(c, 3, m), VEX_OK);
    CHECK(meta_int(m, "x") == 5);
    CHECK_RC(vex_get_payload(c, 3, NULL, 0, &len), VEX_OK);
    CHECK(len == VEX_MAX_PAYLOAD);
out:
    free(big);
    vex_meta_free(m);
    vex_batch_free(b);
    vex_collection_close(c);
    vex_db_close(db);
}

/* Concurrent metadata updates of records with 1 MiB payloads under
 * group commit: the queue's estimate of a request does not count the
 * payload its update carries, so a leader finding 48 of them queued must
 * end its group before the record passes 32 MiB and leave the rest to
 * the next leader; every update succeeds and keeps its payload. */
typedef struct upd_arg {
    vex_collection *c;
    uint64_t id;
    int rc;
} upd_arg;

static void *upd_main(void *p)
{
    upd_arg *a = p;
    vex_meta *m = NULL;
    a->rc = vex_meta_create(NULL, &m);
    for (int i = 0; i < 2 && a->rc == VEX_OK; i++) {
        a->rc = vex_meta_set_int(m, "round", i);
        if (a->rc == VEX_OK)
            a->rc = vex_update_meta(a->c, a->id, m);
    }
    vex_meta_free(m);
    return NULL;
}

static void test_group_cut(void)
{
    enum { T = 72 };
    vex_db *db = NULL;
    vex_collection_config cfg;
    vex_collection *c = NULL;
    unsigned char *big = malloc(VEX_MAX_PAYLOAD), *got = NULL;
    pthread_t th[T];
    upd_arg args[T];
    vex_meta *m = NULL;
    size_t len = 0;
    char path[512];
    vex_db_options o;
    snprintf(path, sizeof path, "%s/%s", tmp_root, "cut");
    vex_db_options_init(&o);
    o.create_if_missing = 1;
    o.n_threads = 2;
    o.background_threads = 1;
    o.memtable_bytes = 256u << 20; /* no flush in the way */
    CHECK_RC(vex_db_open(path, &o, &db), VEX_OK);
    got = malloc(VEX_MAX_PAYLOAD);
    if (db == NULL || big == NULL || got == NULL)
        goto out;
    vex_collection_config_init(&cfg);
    cfg.dim = DIM;
    cfg.index_kind = VEX_INDEX_FLAT;
    CHECK_RC(vex_collection_create(db, "c", &cfg, &c), VEX_OK);
    if (c == NULL)
        goto out;
    {
        /* the records, in a few 16 MiB chunks */
        uint64_t ids[T];
        float vs[T * DIM];
        vex_payload pays[T];
        unsigned char *store = malloc((size_t)T * VEX_MAX_PAYLOAD);
        size_t done = 0;
        if (store == NULL)
            goto out;
        for (uint64_t id = 0; id < T; id++) {
            ids[id] = id;
            vec_of(id, 0, vs + id * DIM);
            memset(store + id * VEX_MAX_PAYLOAD, (int)id + 1, VEX_MAX_PAYLOAD);
            pays[id].data = store + id * VEX_MAX_PAYLOAD;
            pays[id].len = VEX_MAX_PAYLOAD - id;
        }
        CHECK_RC(vex_insert_many(c, T, ids, vs, NULL, pays, &done), VEX_OK);
        free(store);
    }
    for (int t = 0; t < T; t++) {
        args[t].c = c;
        args[t].id = (uint64_t)t;
        args[t].rc = -1;
        CHECK(pthread_create(&th[t], NULL, upd_main, &args[t]) == 0);
    }
    for (int t = 0; t < T; t++) {
        pthread_join(th[t], NULL);
        CHECK_MSG(args[t].rc == VEX_OK, "thread %d: %s: %s", t,
                  vex_status_name(args[t].rc), vex_collection_errmsg(c));
    }
    CHECK_RC(vex_meta_create(NULL, &m), VEX_OK);
    for (uint64_t id = 0; m && id < T; id++) {
        CHECK_RC(vex_get_payload(c, id, got, VEX_MAX_PAYLOAD, &len), VEX_OK);
        memset(big, (int)id + 1, VEX_MAX_PAYLOAD);
        CHECK_MSG(len == VEX_MAX_PAYLOAD - id && memcmp(got, big, len) == 0,
                  "id %llu", (unsigned long long)id);
        CHECK_RC(vex_get_meta(c, id, m), VEX_OK);
        CHECK(meta_int(m, "round") == 1);
    }
out:
    vex_meta_free(m);
    free(big);
    free(got);
    vex_collection_close(c);
    vex_db_close(db);
}

int main(void)
{
    make_root();
    TEST_RUN(test_phases_flat);
    TEST_RUN(test_phases_hnsw);
    TEST_RUN(test_bad_input);
    TEST_RUN(test_batch_full);
    TEST_RUN(test_many_chunks);
    TEST_RUN(test_setmeta_too_big);
    TEST_RUN(test_group_cut);
    rm_rf(tmp_root);
    return TEST_EXIT();
}

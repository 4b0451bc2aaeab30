/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_meta_db.c - record metadata through the public API: the vex_meta
 * handle (set, replace, remove, read back, bad input with messages);
 * metadata round trips through insert, upsert, metadata-only update,
 * batches, get, flush (memtable -> segment), compaction, reopen (log
 * replay and manifest) for flat and HNSW collections, checked after every
 * phase against a model; metadata-only updates of rows in segments whose
 * log records are replayed after a compaction dropped the old row; and
 * schemas: stored and restored, every kind of violation refused with a
 * message naming the field (and the operation in a batch), bad schema
 * declarations refused at create.
 */
#include <math.h>
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
    snprintf(tmp_root, sizeof tmp_root, "/tmp/vex_test_meta_db_XXXXXX");
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
    o.memtable_bytes = 1 << 20; /* the smallest */
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

static int meta_has(vex_meta *m, const char *s)
{
    const char *msg = vex_meta_errmsg(m);
    if (strstr(msg, s) == NULL) {
        fprintf(stderr, "message \"%s\" lacks \"%s\"\n", msg, s);
        return 0;
    }
    return 1;
}

/* ---- the handle ------------------------------------------------------ */

static void test_handle(void)
{
    vex_meta *m = NULL;
    vex_field f;
    size_t i;
    const char *p;
    size_t len;
    const char *tags[] = {"a", "bc", ""};
    CHECK_RC(vex_meta_create(NULL, &m), VEX_OK);
    if (m == NULL)
        return;
    CHECK_EQ_INT(vex_meta_count(m), 0);
    CHECK_RC(vex_meta_set_int(m, "year", 2020), VEX_OK);
    CHECK_RC(vex_meta_set_string(m, "lang", "de", 2), VEX_OK);
    CHECK_RC(vex_meta_set_double(m, "score", 0.5), VEX_OK);
    CHECK_RC(vex_meta_set_bool(m, "ok", 7), VEX_OK);
    CHECK_RC(vex_meta_set_tags(m, "tags", tags, 3), VEX_OK);
    CHECK_RC(vex_meta_set_null(m, "gone"), VEX_OK);
    CHECK_EQ_INT(vex_meta_count(m), 6);
    /* name order: gone lang ok score tags year */
    CHECK_RC(vex_meta_field(m, 0, &f), VEX_OK);
    CHECK(f.name_len == 4 && memcmp(f.name, "gone", 4) == 0 &&
          f.type == VEX_TYPE_NULL);
    CHECK_RC(vex_meta_find(m, "ok", &i), VEX_OK);
    CHECK_EQ_INT(i, 2);
    CHECK_RC(vex_meta_field(m, i, &f), VEX_OK);
    CHECK(f.type == VEX_TYPE_BOOL && f.b == 1);
    CHECK_RC(vex_meta_find(m, "tags", &i), VEX_OK);
    CHECK_RC(vex_meta_field(m, i, &f), VEX_OK);
    CHECK(f.type == VEX_TYPE_TAGS && f.n_tags == 3);
    CHECK_RC(vex_meta_tag(m, i, 1, &p, &len), VEX_OK);
    CHECK(len == 2 && memcmp(p, "bc", 2) == 0);
    CHECK_RC(vex_meta_tag(m, i, 3, &p, &len), VEX_NOTFOUND);
    CHECK_RC(vex_meta_tag(m, 0, 0, &p, &len), VEX_INVALID);
    /* replace keeps one field of the name */
    CHECK_RC(vex_meta_set_int(m, "year", 1999), VEX_OK);
    CHECK_EQ_INT(vex_meta_count(m), 6);
    CHECK_RC(vex_meta_find(m, "year", &i), VEX_OK);
    CHECK_RC(vex_meta_field(m, i, &f), VEX_OK);
    CHECK(f.type == VEX_TYPE_INT && f.i == 1999);
    CHECK_RC(vex_meta_remove(m, "gone"), VEX_OK);
    CHECK_RC(vex_meta_remove(m, "gone"), VEX_NOTFOUND);
    CHECK_EQ_INT(vex_meta_count(m), 5);
    CHECK_RC(vex_meta_find(m, "gone", &i), VEX_NOTFOUND);
    CHECK_RC(vex_meta_field(m, 5, &f), VEX_NOTFOUND);
    /* bad input: refused, the handle unchanged, the message names it */
    CHECK_RC(vex_meta_set_int(m, "", 1), VEX_INVALID);
    CHECK_RC(vex_meta_set_int(m, "a\nb", 1), VEX_INVALID);
    CHECK_RC(vex_meta_set_string(m, "bad", "\xff\xfe", 2), VEX_INVALID);
    CHECK(meta_has(m, "\"bad\""));
    CHECK_RC(vex_meta_set_double(m, "nan", NAN), VEX_INVALID);
    CHECK(meta_has(m, "\"nan\""));
    CHECK_RC(vex_meta_set_int(m,
                              "an_overly_long_field_name_that_goes_on_and_on_"
                              "past_sixty_four_bytes",
                              1),
             VEX_INVALID);
    CHECK_RC(vex_meta_set_int(m, NULL, 1), VEX_MISUSE);
    CHECK_EQ_INT(vex_meta_count(m), 5);
    vex_meta_clear(m);
    CHECK_EQ_INT(vex_meta_count(m), 0);
    vex_meta_free(m);
    vex_meta_free(NULL);
}

/* ---- a model --------------------------------------------------------- */

/* Model of one record: present, its vector, and the generation of its
 * metadata (-1: none). The metadata of generation g for id is a function
 * of (id, g), so it can be rebuilt and compared. */
#define N_IDS 600

typedef struct model {
    int present[N_IDS];
    int gen[N_IDS];
    float vec[N_IDS][DIM];
} model;

static void meta_of(vex_meta *m, uint64_t id, int gen)
{
    char s[32];
    const char *tags[3];
    char t0[16], t1[16];
    vex_meta_clear(m);
    if (gen < 0)
        return;
    snprintf(s, sizeof s, "s%d", (int)(id % 7));
    snprintf(t0, sizeof t0, "t%d", (int)(id % 5));
    snprintf(t1, sizeof t1, "g%d", gen % 3);
    tags[0] = t0;
    tags[1] = t1;
    tags[2] = "all";
    CHECK_RC(vex_meta_set_int(m, "id", (int64_t)id), VEX_OK);
    CHECK_RC(vex_meta_set_int(m, "gen", gen), VEX_OK);
    CHECK_RC(vex_meta_set_string(m, "s", s, strlen(s)), VEX_OK);
    CHECK_RC(vex_meta_set_double(m, "half", (double)id * 0.5 + gen), VEX_OK);
    CHECK_RC(vex_meta_set_bool(m, "odd", (int)(id & 1)), VEX_OK);
    if (gen % 2 == 0)
        CHECK_RC(vex_meta_set_tags(m, "tags", tags, 3), VEX_OK);
    if (gen % 3 == 0)
        CHECK_RC(vex_meta_set_null(m, "nothing"), VEX_OK);
}

static int meta_same(const vex_meta *a, const vex_meta *b)
{
    size_t n = vex_meta_count(a);
    if (n != vex_meta_count(b))
        return 0;
    for (size_t i = 0; i < n; i++) {
        vex_field x, y;
        vex_meta_field(a, i, &x);
        vex_meta_field(b, i, &y);
        if (x.name_len != y.name_len || memcmp(x.name, y.name, x.name_len) ||
            x.type != y.type)
            return 0;
        switch (x.type) {
        case VEX_TYPE_BOOL:
            if (x.b != y.b)
                return 0;
            break;
        case VEX_TYPE_INT:
            if (x.i != y.i)
                return 0;
            break;
        case VEX_TYPE_DOUBLE:
            if (x.d != y.d)
                return 0;
            break;
        case VEX_TYPE_STRING:
            if (x.len != y.len || memcmp(x.s, y.s, x.len))
                return 0;
            break;
        case VEX_TYPE_TAGS:
            if (x.n_tags != y.n_tags)
                return 0;
            for (size_t j = 0; j < x.n_tags; j++) {
                const char *p, *q;
                size_t lp, lq;
                vex_meta_tag(a, i, j, &p, &lp);
                vex_meta_tag(b, i, j, &q, &lq);
                if (lp != lq || memcmp(p, q, lp))
                    return 0;
            }
            break;
        default:
            break;
        }
    }
    return 1;
}

/* Every id's vector and metadata agree with the model. */
static void check_model(vex_collection *c, const model *mo, const char *when)
{
    vex_meta *want = NULL, *got = NULL;
    float v[DIM];
    int bad = 0;
    CHECK_RC(vex_meta_create(NULL, &want), VEX_OK);
    CHECK_RC(vex_meta_create(NULL, &got), VEX_OK);
    for (uint64_t id = 0; id < N_IDS && bad < 5; id++) {
        int rc = vex_get_meta(c, id, got);
        if (!mo->present[id]) {
            if (rc != VEX_NOTFOUND) {
                CHECK_MSG(0, "%s: id %d: absent but get_meta gave %d", when,
                          (int)id, rc);
                bad++;
            }
            continue;
        }
        meta_of(want, id, mo->gen[id]);
        if (rc != VEX_OK || !meta_same(want, got)) {
            CHECK_MSG(0, "%s: id %d: metadata differs (rc %d, %zu vs %zu)",
                      when, (int)id, rc, vex_meta_count(got),
                      vex_meta_count(want));
            bad++;
        }
        if (vex_get(c, id, v) != VEX_OK ||
            memcmp(v, mo->vec[id], sizeof v) != 0) {
            CHECK_MSG(0, "%s: id %d: vector differs", when, (int)id);
            bad++;
        }
    }
    {
        uint64_t n = 0;
        for (int i = 0; i < N_IDS; i++)
            n += (uint64_t)mo->present[i];
        CHECK_EQ_INT(vex_collection_count(c), n);
    }
    vex_meta_free(want);
    vex_meta_free(got);
}

static void rand_vec(vex_rng *r, float *v)
{
    for (int i = 0; i < DIM; i++)
        v[i] = (float)vex_rng_double(r) * 2.0f - 1.0f;
}

/* Random operations (single and batched) against the model, with
 * flushes, compactions and reopens between rounds. */
static void model_run(vex_index_kind kind, const char *dbname)
{
    vex_db *db = open_db(dbname);
    vex_collection *c = NULL;
    vex_collection_config cfg;
    vex_meta *m = NULL;
    vex_batch *b = NULL;
    vex_rng r;
    model *mo = calloc(1, sizeof *mo);
    char when[64];
    if (db == NULL || mo == NULL)
        goto out;
    vex_rng_seed(&r, 0x5eed0000u + (unsigned)kind);
    vex_collection_config_init(&cfg);
    cfg.dim = DIM;
    cfg.index_kind = kind;
    CHECK_RC(vex_collection_create(db, "c", &cfg, &c), VEX_OK);
    CHECK_RC(vex_meta_create(NULL, &m), VEX_OK);
    CHECK_RC(vex_batch_create(DIM * sizeof(float), NULL, &b), VEX_OK);
    if (c == NULL || m == NULL || b == NULL)
        goto out;
    for (int round = 0; round < 8; round++) {
        for (int op = 0; op < 400; op++) {
            uint64_t id = vex_rng_next(&r) % N_IDS;
            int what = (int)(vex_rng_next(&r) % 10);
            float v[DIM];
            int gen = (int)(vex_rng_next(&r) % 50) - 5; /* < 0: none */
            int rc;
            rand_vec(&r, v);
            meta_of(m, id, gen);
            if (what < 3) {
                rc = vex_insert_meta(c, id, v, gen < 0 ? NULL : m);
                CHECK_RC(rc, mo->present[id] ? VEX_EXISTS : VEX_OK);
                if (rc == VEX_OK) {
                    mo->present[id] = 1;
                    mo->gen[id] = gen;
                    memcpy(mo->vec[id], v, sizeof v);
                }
            } else if (what < 5) {
                CHECK_RC(vex_upsert_meta(c, id, v, m), VEX_OK);
                mo->present[id] = 1;
                mo->gen[id] = gen;
                memcpy(mo->vec[id], v, sizeof v);
            } else if (what < 8) {
                rc = vex_update_meta(c, id, m);
                CHECK_RC(rc, mo->present[id] ? VEX_OK : VEX_NOTFOUND);
                if (rc == VEX_OK)
                    mo->gen[id] = gen;
            } else if (what < 9) {
                rc = vex_delete(c, id);
                CHECK_RC(rc, mo->present[id] ? VEX_OK : VEX_NOTFOUND);
                mo->present[id] = 0;
            } else {
                /* a batch: upsert, update of the same id, then another */
                uint64_t id2 = (id + 1) % N_IDS;
                vex_batch_clear(b);
                CHECK_RC(vex_batch_upsert_meta(b, id, v, m), VEX_OK);
                meta_of(m, id, gen + 1);
                CHECK_RC(vex_batch_update_meta(b, id, m), VEX_OK);
                meta_of(m, id2, gen + 2);
                CHECK_RC(vex_batch_update_meta(b, id2, m), VEX_OK);
                rc = vex_batch_commit(c, b);
                CHECK_RC(rc,
                         mo->present[id2] || id2 == id ? VEX_OK : VEX_NOTFOUND);
                if (rc == VEX_OK) {
                    mo->present[id] = 1;
                    mo->gen[id] = gen + 1;
                    memcpy(mo->vec[id], v, sizeof v);
                    mo->gen[id2] = gen + 2;
                } else {
                    CHECK(coll_has(c, "operation 2"));
                }
            }
        }
        snprintf(when, sizeof when, "round %d", round);
        check_model(c, mo, when);
        if (round % 2 == 0) {
            CHECK_RC(vex_flush(c), VEX_OK);
            snprintf(when, sizeof when, "round %d flushed", round);
            check_model(c, mo, when);
        }
        if (round % 3 == 2) {
            CHECK_RC(vex_compact(c), VEX_OK);
            snprintf(when, sizeof when, "round %d compacted", round);
            check_model(c, mo, when);
        }
        if (round % 2 == 1) {
            /* reopen: the log replays what was not flushed */
            CHECK_RC(vex_collection_close(c), VEX_OK);
            c = NULL;
            CHECK_RC(vex_db_close(db), VEX_OK);
            db = open_db(dbname);
            if (db == NULL)
                goto out;
            CHECK_RC(vex_collection_open(db, "c", &c), VEX_OK);
            if (c == NULL)
                goto out;
            snprintf(when, sizeof when, "round %d reopened", round);
            check_model(c, mo, when);
        }
    }
out:
    vex_batch_free(b);
    vex_meta_free(m);
    if (c)
        vex_collection_close(c);
    if (db)
        vex_db_close(db);
    free(mo);
}

static void test_model_flat(void)
{
    model_run(VEX_INDEX_FLAT, "model_flat");
}

static void test_model_hnsw(void)
{
    model_run(VEX_INDEX_HNSW, "model_hnsw");
}

/* A metadata-only update of a row in a segment, then a compaction that
 * drops the old row, then a reopen that replays the update: the update's
 * log record carries the vector, so nothing is lost. */
static void test_update_replay_after_compaction(void)
{
    vex_db *db = open_db("replay");
    vex_collection *c = NULL;
    vex_collection_config cfg;
    vex_meta *m = NULL, *got = NULL;
    float v[DIM] = {1, 2, 3, 4, 5, 6, 7, 8}, w[DIM];
    vex_field f;
    size_t i;
    vex_collection_config_init(&cfg);
    cfg.dim = DIM;
    cfg.index_kind = VEX_INDEX_FLAT;
    CHECK_RC(vex_collection_create(db, "c", &cfg, &c), VEX_OK);
    CHECK_RC(vex_meta_create(NULL, &m), VEX_OK);
    CHECK_RC(vex_meta_create(NULL, &got), VEX_OK);
    if (c == NULL || m == NULL || got == NULL)
        goto out;
    CHECK_RC(vex_meta_set_int(m, "v", 1), VEX_OK);
    CHECK_RC(vex_insert_meta(c, 1, v, m), VEX_OK);
    CHECK_RC(vex_flush(c), VEX_OK);
    v[0] = 9;
    CHECK_RC(vex_insert(c, 2, v), VEX_OK);
    CHECK_RC(vex_flush(c), VEX_OK);
    CHECK_RC(vex_meta_set_int(m, "v", 2), VEX_OK);
    CHECK_RC(vex_update_meta(c, 1, m), VEX_OK); /* ends the segment row */
    CHECK_RC(vex_compact(c), VEX_OK);           /* drops it */
    CHECK_RC(vex_collection_close(c), VEX_OK);
    c = NULL;
    CHECK_RC(vex_db_close(db), VEX_OK);
    db = open_db("replay");
    CHECK_RC(vex_collection_open(db, "c", &c), VEX_OK);
    if (c == NULL)
        goto out;
    CHECK_RC(vex_get_meta(c, 1, got), VEX_OK);
    CHECK_RC(vex_meta_find(got, "v", &i), VEX_OK);
    CHECK_RC(vex_meta_field(got, i, &f), VEX_OK);
    CHECK_EQ_INT(f.i, 2);
    CHECK_RC(vex_get(c, 1, w), VEX_OK);
    CHECK(w[0] == 1 && w[7] == 8);
    CHECK_RC(vex_get_meta(c, 2, got), VEX_OK);
    CHECK_EQ_INT(vex_meta_count(got), 0);
    CHECK_RC(vex_get_meta(c, 3, got), VEX_NOTFOUND);
    CHECK_RC(vex_update_meta(c, 3, m), VEX_NOTFOUND);
    CHECK(coll_has(c, "id 3"));
    CHECK_EQ_INT(vex_collection_count(c), 2);
out:
    vex_meta_free(m);
    vex_meta_free(got);
    if (c)
        vex_collection_close(c);
    if (db)
        vex_db_close(db);
}

/* ---- schemas --------------------------------------------------------- */

static void test_schema(void)
{
    vex_db *db = open_db("schema");
    vex_collection *c = NULL;
    vex_collection_config cfg, back;
    vex_schema_field fields[] = {{"year", VEX_TYPE_INT, 0},
                                 {"lang", VEX_TYPE_STRING, 1},
                                 {"score", VEX_TYPE_DOUBLE, 1},
                                 {"tags", VEX_TYPE_TAGS, 1}};
    vex_meta *m = NULL;
    vex_batch *b = NULL;
    float v[DIM] = {1, 0, 0, 0, 0, 0, 0, 0};
    vex_collection_config_init(&cfg);
    cfg.dim = DIM;
    cfg.index_kind = VEX_INDEX_FLAT;
    cfg.schema_fields = fields;
    cfg.n_schema_fields = 4;
    cfg.schema_closed = 1;
    CHECK_RC(vex_meta_create(NULL, &m), VEX_OK);
    CHECK_RC(vex_batch_create(sizeof v, NULL, &b), VEX_OK);
    if (db == NULL || m == NULL || b == NULL)
        goto out;
    /* bad declarations */
    {
        vex_schema_field dup[] = {{"a", VEX_TYPE_INT, 0},
                                  {"a", VEX_TYPE_BOOL, 0}};
        vex_schema_field badtype[] = {{"a", (vex_type)9, 0}};
        vex_schema_field nulltype[] = {{"a", VEX_TYPE_NULL, 0}};
        vex_schema_field badname[] = {{"", VEX_TYPE_INT, 0}};
        vex_collection_config x = cfg;
        x.schema_fields = dup;
        x.n_schema_fields = 2;
        CHECK_RC(vex_collection_create(db, "bad", &x, NULL), VEX_INVALID);
        x.schema_fields = badtype;
        x.n_schema_fields = 1;
        CHECK_RC(vex_collection_create(db, "bad", &x, NULL), VEX_INVALID);
        x.schema_fields = nulltype;
        CHECK_RC(vex_collection_create(db, "bad", &x, NULL), VEX_INVALID);
        x.schema_fields = badname;
        CHECK_RC(vex_collection_create(db, "bad", &x, NULL), VEX_INVALID);
        x.schema_fields = NULL;
        x.n_schema_fields = 0;
        x.schema_closed = 2;
        CHECK_RC(vex_collection_create(db, "bad", &x, NULL), VEX_INVALID);
        x.schema_closed = 1;
        CHECK_RC(vex_collection_create(db, "bad", &x, NULL), VEX_INVALID);
    }
    CHECK_RC(vex_collection_create(db, "s", &cfg, &c), VEX_OK);
    if (c == NULL)
        goto out;
    for (int pass = 0; pass < 2; pass++) {
        /* the schema is restored on reopen */
        vex_collection_get_config(c, &back);
        CHECK_EQ_INT(back.n_schema_fields, 4);
        CHECK_EQ_INT(back.schema_closed, 1);
        CHECK(back.schema_fields != NULL &&
              strcmp(back.schema_fields[0].name, "lang") == 0 &&
              back.schema_fields[0].type == VEX_TYPE_STRING &&
              back.schema_fields[0].nullable == 1 &&
              strcmp(back.schema_fields[3].name, "year") == 0 &&
              back.schema_fields[3].type == VEX_TYPE_INT &&
              back.schema_fields[3].nullable == 0);
        vex_meta_clear(m);
        CHECK_RC(vex_insert(c, 100 + pass, v), VEX_INVALID);
        CHECK(coll_has(c, "\"year\"") && coll_has(c, "required"));
        CHECK_RC(vex_meta_set_string(m, "year", "2020", 4), VEX_OK);
        CHECK_RC(vex_insert_meta(c, 100 + pass, v, m), VEX_INVALID);
        CHECK(coll_has(c, "\"year\"") && coll_has(c, "expected int64"));
        CHECK_RC(vex_meta_set_null(m, "year"), VEX_OK);
        CHECK_RC(vex_insert_meta(c, 100 + pass, v, m), VEX_INVALID);
        CHECK(coll_has(c, "\"year\"") && coll_has(c, "null"));
        CHECK_RC(vex_meta_set_int(m, "year", 2020), VEX_OK);
        CHECK_RC(vex_meta_set_int(m, "score", 3), VEX_OK);
        CHECK_RC(vex_insert_meta(c, 100 + pass, v, m), VEX_INVALID);
        CHECK(coll_has(c, "\"score\"") && coll_has(c, "double"));
        CHECK_RC(vex_meta_set_double(m, "score", 3), VEX_OK);
        CHECK_RC(vex_meta_set_bool(m, "extra", 1), VEX_OK);
        CHECK_RC(vex_insert_meta(c, 100 + pass, v, m), VEX_INVALID);
        CHECK(coll_has(c, "\"extra\"") && coll_has(c, "not in the schema"));
        CHECK_RC(vex_meta_remove(m, "extra"), VEX_OK);
        CHECK_RC(vex_insert_meta(c, 100 + pass, v, m), VEX_OK);
        CHECK_EQ_INT(vex_collection_count(c), 1 + pass);
        /* metadata-only update: checked too */
        CHECK_RC(vex_meta_remove(m, "year"), VEX_OK);
        CHECK_RC(vex_update_meta(c, 100 + pass, m), VEX_INVALID);
        CHECK(coll_has(c, "metadata update of id") && coll_has(c, "\"year\""));
        /* a batch: the operation's index in the message; nothing applied */
        vex_batch_clear(b);
        CHECK_RC(vex_meta_set_int(m, "year", 1), VEX_OK);
        CHECK_RC(vex_batch_insert_meta(b, 200 + pass, v, m), VEX_OK);
        CHECK_RC(vex_batch_insert(b, 300 + pass, v), VEX_OK);
        CHECK_RC(vex_batch_commit(c, b), VEX_INVALID);
        CHECK(coll_has(c, "operation 1") && coll_has(c, "id 30"));
        CHECK_EQ_INT(vex_collection_count(c), 1 + pass);
        if (pass == 0) {
            CHECK_RC(vex_flush(c), VEX_OK);
            CHECK_RC(vex_collection_close(c), VEX_OK);
            c = NULL;
            CHECK_RC(vex_db_close(db), VEX_OK);
            db = open_db("schema");
            if (db == NULL)
                goto out;
            CHECK_RC(vex_collection_open(db, "s", &c), VEX_OK);
            if (c == NULL)
                goto out;
        }
    }
out:
    vex_batch_free(b);
    vex_meta_free(m);
    if (c)
        vex_collection_close(c);
    if (db)
        vex_db_close(db);
}

int main(void)
{
    make_root();
    TEST_RUN(test_handle);
    TEST_RUN(test_model_flat);
    TEST_RUN(test_model_hnsw);
    TEST_RUN(test_update_replay_after_compaction);
    TEST_RUN(test_schema);
    if (!test_failures_)
        rm_rf(tmp_root);
    return TEST_EXIT();
}

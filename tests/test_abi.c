/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_abi.c - a program built against the first release's vexdb.h keeps
 * working with this library, and one built against a newer header is
 * refused with a clear message (util/abi.h).
 *
 * The structs below are copies of vexdb.h 0.1.0's options, parameters and
 * statistics structs, which is what an older program has compiled into
 * it. The test calls the library through the exported functions an older
 * program links (the init functions by their own names, not this
 * header's macros) and through the current calls, with each older struct
 * placed at the start of a buffer followed by a canary: the library must
 * never write past the older struct (the canary stays intact, and ASan
 * builds see any overrun), and must take the fields the older struct
 * lacks as their defaults.
 *
 * Uses only include/vexdb.h and links the shared library, as users do.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test.h"
#include "vexdb.h"

/* ---- vexdb.h 0.1.0 layouts ---- */

typedef struct v1_search_params {
    uint32_t struct_size;
    uint32_t n_threads;
    uint32_t ef_search;
    vex_filter_fn filter;
    void *filter_ctx;
    uint32_t filter_max_ef;
    float refine;
    const vex_filter *where;
    vex_search_stats *stats;
    vex_meta *const *meta_out;
} v1_search_params;

typedef struct v1_index_options {
    uint32_t struct_size;
    vex_index_kind kind;
    vex_elem elem;
    vex_metric metric;
    uint32_t dim;
    uint32_t n_threads;
    uint64_t capacity;
    const vex_allocator *allocator;
    uint32_t hnsw_m;
    uint32_t hnsw_ef_construction;
    uint32_t hnsw_ef_search;
    uint64_t hnsw_seed;
    vex_quant quant;
    uint32_t quant_m;
    uint32_t quant_bits;
    float quant_refine;
} v1_index_options;

typedef struct v1_open_options {
    uint32_t struct_size;
    uint32_t n_threads;
    const vex_allocator *allocator;
    uint32_t flags;
} v1_open_options;

typedef struct v1_db_options {
    uint32_t struct_size;
    int create_if_missing;
    vex_durability durability;
    uint32_t n_threads;
    uint32_t background_threads;
    uint64_t memtable_bytes;
    uint32_t max_frozen_memtables;
    vex_write_stall write_stall;
    uint32_t memtable_exact_rows;
    uint64_t wal_file_bytes;
    uint32_t compact_min_merge;
    uint32_t compact_max_merge;
    uint32_t compact_deleted_pct;
    uint64_t match_cache_bytes;
    const vex_allocator *allocator;
} v1_db_options;

typedef struct v1_collection_config {
    uint32_t struct_size;
    uint32_t dim;
    vex_elem elem;
    vex_metric metric;
    vex_index_kind index_kind;
    uint32_t hnsw_m;
    uint32_t hnsw_ef_construction;
    uint32_t hnsw_ef_search;
    uint64_t hnsw_seed;
    vex_quant quant;
    uint32_t quant_m;
    uint32_t quant_bits;
    float quant_refine;
    const vex_schema_field *schema_fields;
    uint32_t n_schema_fields;
    uint32_t schema_closed;
} v1_collection_config;

typedef struct v1_stats {
    uint32_t struct_size;
    uint64_t live_rows;
    uint64_t deleted_rows;
    uint64_t memtable_rows;
    uint64_t memtable_bytes;
    uint32_t memtables;
    uint32_t frozen_memtables;
    uint64_t unindexed_rows;
    uint32_t segments;
    uint64_t segment_rows;
    uint64_t segment_bytes;
    uint64_t disk_bytes;
    uint64_t last_seq;
    uint64_t flushed_seq;
    uint64_t flushes, compactions;
    uint64_t compacted_rows;
    uint64_t write_stalls;
} v1_stats;

typedef struct v1_search_stats {
    uint32_t struct_size;
    uint32_t sources;
    uint64_t rows_matched;
    uint32_t plan_exact;
    uint32_t plan_graph;
    uint32_t plan_post;
    uint32_t fallbacks;
    uint32_t match_sets_built;
} v1_search_stats;

/* vex_search_stats as 0.3.0 had it (before explain) */
typedef struct v3_search_stats {
    uint32_t struct_size;
    uint32_t sources;
    uint64_t rows_matched;
    uint32_t plan_exact;
    uint32_t plan_graph;
    uint32_t plan_post;
    uint32_t fallbacks;
    uint32_t match_sets_built;
    uint32_t unknown_fields;
    char unknown_field[VEX_FIELD_NAME_MAX + 1];
} v3_search_stats;

/* The 0.4.0 layouts of the structs 0.5.0 grew (text search). */
typedef struct v4_collection_config {
    v1_collection_config v1;
    vex_compression compression;
} v4_collection_config;

typedef struct v4_record {
    uint32_t struct_size;
    uint64_t id;
    const void *vector;
    const vex_meta *meta;
    const void *payload;
    size_t payload_len;
} v4_record;

typedef struct v4_search_stats {
    v3_search_stats v3;
    vex_source_explain *explain;
    uint32_t explain_cap;
    uint32_t n_explain;
} v4_search_stats;

_Static_assert(sizeof(v4_collection_config) < sizeof(vex_collection_config),
               "0.5.0's config fields must make the struct larger");
_Static_assert(offsetof(vex_collection_config, compression) ==
                   offsetof(v4_collection_config, compression),
               "compression moved");
_Static_assert(offsetof(vex_record, payload_len) ==
                   offsetof(v4_record, payload_len),
               "payload_len moved");
_Static_assert(offsetof(vex_search_stats, n_explain) ==
                   offsetof(v4_search_stats, n_explain),
               "n_explain moved");

/* Every 0.1.0 field is where it was: a reordered or retyped field breaks
 * every older program, so it fails the build here. */
#define SAME(v1, cur, f)                                                       \
    _Static_assert(offsetof(v1, f) == offsetof(cur, f) &&                      \
                       sizeof(((v1 *)0)->f) == sizeof(((cur *)0)->f),          \
                   #cur "." #f " moved")
SAME(v1_search_params, vex_search_params, n_threads);
SAME(v1_search_params, vex_search_params, filter);
SAME(v1_search_params, vex_search_params, refine);
SAME(v1_search_params, vex_search_params, where);
SAME(v1_search_params, vex_search_params, stats);
SAME(v1_search_params, vex_search_params, meta_out);
SAME(v1_index_options, vex_index_options, capacity);
SAME(v1_index_options, vex_index_options, allocator);
SAME(v1_index_options, vex_index_options, hnsw_seed);
SAME(v1_index_options, vex_index_options, quant_refine);
SAME(v1_open_options, vex_open_options, allocator);
SAME(v1_open_options, vex_open_options, flags);
SAME(v1_db_options, vex_db_options, memtable_bytes);
SAME(v1_db_options, vex_db_options, wal_file_bytes);
SAME(v1_db_options, vex_db_options, match_cache_bytes);
SAME(v1_db_options, vex_db_options, allocator);
SAME(v1_collection_config, vex_collection_config, hnsw_seed);
SAME(v1_collection_config, vex_collection_config, quant_refine);
SAME(v1_collection_config, vex_collection_config, schema_fields);
SAME(v1_collection_config, vex_collection_config, schema_closed);
SAME(v1_stats, vex_stats, live_rows);
SAME(v1_stats, vex_stats, disk_bytes);
SAME(v1_stats, vex_stats, write_stalls);
SAME(v1_search_stats, vex_search_stats, rows_matched);
SAME(v1_search_stats, vex_search_stats, match_sets_built);
SAME(v3_search_stats, vex_search_stats, unknown_fields);
SAME(v3_search_stats, vex_search_stats, unknown_field);

/* ---- an older struct with a canary after it ---- */

#define CANARY 64

/* A buffer of `size` bytes of garbage (the older program's struct before
 * init) followed by the canary. */
static void *old_struct(size_t size)
{
    unsigned char *p = malloc(size + CANARY);
    if (p == NULL)
        exit(2);
    memset(p, 0x5A, size);
    memset(p + size, 0xA5, CANARY);
    return p;
}

static int canary_ok(const void *p, size_t size)
{
    const unsigned char *c = (const unsigned char *)p + size;
    for (size_t i = 0; i < CANARY; i++)
        if (c[i] != 0xA5)
            return 0;
    return 1;
}

/* The exported init functions, as an older program calls them (this
 * header makes the names macros; the parentheses reach the functions). */
static void old_init_db(v1_db_options *o)
{
    (vex_db_options_init)((vex_db_options *)o);
}

static char root[256];

static void test_old_init_writes_old_layout(void)
{
    /* each 0.1.0 init writes no byte past the 0.1.0 struct and records a
     * struct_size the library accepts */
    v1_db_options *d = old_struct(sizeof *d);
    v1_search_params *sp = old_struct(sizeof *sp);
    v1_index_options *io = old_struct(sizeof *io);
    v1_open_options *oo = old_struct(sizeof *oo);
    v1_collection_config *cc = old_struct(sizeof *cc);
    v1_stats *st = old_struct(sizeof *st);
    v1_search_stats *ss = old_struct(sizeof *ss);

    old_init_db(d);
    (vex_search_params_init)((vex_search_params *)sp);
    (vex_index_options_init)((vex_index_options *)io);
    (vex_open_options_init)((vex_open_options *)oo);
    (vex_collection_config_init)((vex_collection_config *)cc);
    (vex_stats_init)((vex_stats *)st);
    (vex_search_stats_init)((vex_search_stats *)ss);

    CHECK(canary_ok(d, sizeof *d));
    CHECK(canary_ok(sp, sizeof *sp));
    CHECK(canary_ok(io, sizeof *io));
    CHECK(canary_ok(oo, sizeof *oo));
    CHECK(canary_ok(cc, sizeof *cc));
    CHECK(canary_ok(st, sizeof *st));
    CHECK(canary_ok(ss, sizeof *ss));
    CHECK(d->struct_size <= sizeof *d && d->struct_size > 0);
    CHECK(sp->struct_size <= sizeof *sp && sp->struct_size > 0);
    CHECK(cc->struct_size <= sizeof *cc && cc->struct_size > 0);
    /* the defaults of 0.1.0's fields */
    CHECK_EQ_INT(d->memtable_bytes, UINT64_C(64) << 20);
    CHECK_EQ_INT(d->background_threads, 2);
    CHECK_EQ_INT(d->compact_min_merge, 4);
    CHECK(d->allocator == NULL);
    CHECK_EQ_INT(cc->index_kind, VEX_INDEX_HNSW);
    CHECK_EQ_INT(cc->metric, VEX_METRIC_L2);
    CHECK_EQ_INT(io->kind, VEX_INDEX_FLAT);
    CHECK(sp->meta_out == NULL && sp->where == NULL);
    free(d);
    free(sp);
    free(io);
    free(oo);
    free(cc);
    free(st);
    free(ss);
}

static void test_new_init_matches_header(void)
{
    /* this header's macros pass sizeof: the whole struct, nothing more */
    vex_db_options d;
    vex_search_params p;
    memset(&d, 0x5A, sizeof d);
    vex_db_options_init(&d);
    CHECK_EQ_INT(d.struct_size, sizeof d);
    CHECK_EQ_INT(d.memtable_bytes, UINT64_C(64) << 20);
    memset(&p, 0x5A, sizeof p);
    vex_search_params_init(&p);
    CHECK_EQ_INT(p.struct_size, sizeof p);
    CHECK(p.stats == NULL && p.where == NULL);
}

/* A database session driven entirely through 0.1.0 structs. */
static void test_old_program_session(void)
{
    char path[300];
    const uint32_t dim = 8;
    vex_db *db = NULL;
    vex_collection *c = NULL;
    float v[8], q[8];
    vex_hit hits[4];
    size_t n = 0;

    snprintf(path, sizeof path, "%s/db", root);
    v1_db_options *o = old_struct(sizeof *o);
    old_init_db(o);
    o->create_if_missing = 1;
    o->background_threads = 1;
    o->memtable_bytes = UINT64_C(1) << 20;
    CHECK_RC(vex_db_open(path, (const vex_db_options *)o, &db), VEX_OK);
    CHECK(canary_ok(o, sizeof *o));

    v1_collection_config *cc = old_struct(sizeof *cc);
    (vex_collection_config_init)((vex_collection_config *)cc);
    cc->dim = dim;
    cc->index_kind = VEX_INDEX_FLAT;
    CHECK_RC(
        vex_collection_create(db, "c", (const vex_collection_config *)cc, &c),
        VEX_OK);
    if (c == NULL) {
        vex_db_close(db);
        return;
    }
    for (uint64_t id = 1; id <= 20; id++) {
        for (uint32_t j = 0; j < dim; j++)
            v[j] = (float)(id * 10 + j);
        CHECK_RC(vex_insert(c, id, v), VEX_OK);
    }
    for (uint32_t j = 0; j < dim; j++)
        q[j] = (float)(70 + j);

    /* get-or-create with the older config: the same collection */
    {
        vex_collection *c2 = NULL;
        int created = -1;
        CHECK_RC(vex_collection_open_or_create(
                     db, "c", (const vex_collection_config *)cc, &c2, &created),
                 VEX_OK);
        CHECK(c2 == c && created == 0);
        vex_collection_close(c2);
    }
    /* the older config read back: nothing written past it */
    v1_collection_config *back = old_struct(sizeof *back);
    memset(back, 0, sizeof *back);
    (vex_collection_get_config)(c, (vex_collection_config *)back);
    CHECK(canary_ok(back, sizeof *back));
    CHECK_EQ_INT(back->dim, dim);
    CHECK_EQ_INT(back->index_kind, VEX_INDEX_FLAT);

    /* a search with 0.1.0 params and 0.1.0 search stats */
    v1_search_params *sp = old_struct(sizeof *sp);
    v1_search_stats *ss = old_struct(sizeof *ss);
    (vex_search_params_init)((vex_search_params *)sp);
    (vex_search_stats_init)((vex_search_stats *)ss);
    sp->n_threads = 1;
    sp->stats = (vex_search_stats *)ss;
    CHECK_RC(vex_search(c, q, 3, (const vex_search_params *)sp, hits, NULL, &n),
             VEX_OK);
    CHECK_EQ_INT(n, 3);
    CHECK(n > 0 && hits[0].id == 7 && hits[0].distance == 0.0f);
    CHECK_EQ_INT(ss->sources, 1);
    CHECK(canary_ok(ss, sizeof *ss));
    CHECK(canary_ok(sp, sizeof *sp));

    /* 0.3.0 search stats (the init macro passed its sizeof): filled up to
     * unknown_field, nothing written past it */
    {
        v3_search_stats *s3 = old_struct(sizeof *s3);
        vex_search_stats_init_size((vex_search_stats *)s3, sizeof *s3);
        CHECK_EQ_INT(s3->struct_size, sizeof *s3);
        sp->stats = (vex_search_stats *)s3;
        CHECK_RC(
            vex_search(c, q, 3, (const vex_search_params *)sp, hits, NULL, &n),
            VEX_OK);
        CHECK_EQ_INT(s3->sources, 1);
        CHECK(s3->unknown_field[0] == '\0');
        CHECK(canary_ok(s3, sizeof *s3));
        sp->stats = (vex_search_stats *)ss;
        free(s3);
    }

    /* statistics into a 0.1.0 struct */
    v1_stats *st = old_struct(sizeof *st);
    (vex_stats_init)((vex_stats *)st);
    CHECK_RC(vex_stats_get(c, (vex_stats *)st), VEX_OK);
    CHECK_EQ_INT(st->live_rows, 20);
    CHECK_EQ_INT(st->memtable_rows, 20);
    CHECK(canary_ok(st, sizeof *st));

    /* an uninitialised struct_size and a newer header's are refused */
    vex_stats cur;
    vex_stats_init(&cur);
    cur.struct_size = 4;
    CHECK_RC(vex_stats_get(c, &cur), VEX_MISUSE);
    CHECK(strstr(vex_collection_errmsg(c), "vex_stats_init") != NULL);
    cur.struct_size = (uint32_t)sizeof cur + 16;
    CHECK_RC(vex_stats_get(c, &cur), VEX_MISUSE);
    CHECK(strstr(vex_collection_errmsg(c), "newer") != NULL);
    vex_search_params p;
    vex_search_params_init(&p);
    p.struct_size = 3;
    CHECK_RC(vex_search(c, q, 3, &p, hits, NULL, &n), VEX_MISUSE);
    CHECK(strstr(vex_collection_errmsg(c), "params.struct_size") != NULL);

    vex_collection_close(c);
    CHECK_RC(vex_db_close(db), VEX_OK);

    /* reopen with a struct_size between the 0.1.0 and current layouts
     * (only 0.1.0's fields are read: the rest take defaults) */
    vex_db_options mid;
    vex_db_options_init(&mid);
    mid.struct_size = (uint32_t)sizeof *o;
    if (mid.struct_size < sizeof mid) {
        db = NULL;
        CHECK_RC(vex_db_open(path, &mid, &db), VEX_OK);
        CHECK_RC(vex_db_close(db), VEX_OK);
    }
    vex_db_options bad;
    vex_db_options_init(&bad);
    bad.struct_size = 0;
    db = NULL;
    CHECK_RC(vex_db_open(path, &bad, &db), VEX_MISUSE);
    CHECK(db && strstr(vex_db_errmsg(db), "vex_db_options_init") != NULL);
    vex_db_close(db);

    free(o);
    free(cc);
    free(back);
    free(sp);
    free(ss);
    free(st);
}

/* The standalone index through 0.1.0 structs. */
static void test_old_program_index(void)
{
    vex_index *ix = NULL, *ox = NULL;
    float v[4] = {1, 2, 3, 4};
    vex_hit h[2];
    size_t n = 0;
    void *blob = NULL;
    uint64_t blob_len = 0;

    v1_index_options *io = old_struct(sizeof *io);
    (vex_index_options_init)((vex_index_options *)io);
    io->dim = 4;
    io->n_threads = 1;
    CHECK_RC(vex_index_create((const vex_index_options *)io, &ix), VEX_OK);
    CHECK(canary_ok(io, sizeof *io));
    if (ix == NULL)
        return;
    uint64_t id5 = 5;
    CHECK_RC(vex_index_add(ix, &id5, v, 1), VEX_OK);
    v1_search_params *sp = old_struct(sizeof *sp);
    (vex_search_params_init)((vex_search_params *)sp);
    CHECK_RC(vex_index_search(ix, v, 1, (const vex_search_params *)sp, h, &n),
             VEX_OK);
    CHECK(n == 1 && h[0].id == 5);

    v1_index_options *back = old_struct(sizeof *back);
    (vex_index_get_options)(ix, (vex_index_options *)back);
    CHECK(canary_ok(back, sizeof *back));
    CHECK_EQ_INT(back->dim, 4);

    CHECK_RC(vex_index_serialize(ix, NULL, 0, &blob_len), VEX_FULL);
    blob = malloc(blob_len);
    CHECK_RC(vex_index_serialize(ix, blob, blob_len, NULL), VEX_OK);
    v1_open_options *oo = old_struct(sizeof *oo);
    (vex_open_options_init)((vex_open_options *)oo);
    oo->n_threads = 1;
    oo->flags = VEX_OPEN_COPY;
    CHECK_RC(vex_index_open_buffer(blob, blob_len, (const vex_open_options *)oo,
                                   &ox),
             VEX_OK);
    CHECK_EQ_INT(vex_index_count(ox), 1);
    CHECK(canary_ok(oo, sizeof *oo));
    vex_index_free(ox);
    free(blob);
    vex_index_free(ix);
    free(io);
    free(sp);
    free(back);
    free(oo);
}

/* A 0.4.0 program: its config, record and search stats (whose trailing
 * padding is garbage) work, the text fields take their defaults, and
 * nothing is written past them. */
static void test_v4_program(void)
{
    char path[300];
    vex_db_options o;
    vex_db *db = NULL;
    vex_collection *c = NULL;
    float v[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    vex_hit hits[2];
    size_t n = 0;
    v4_collection_config *cc = old_struct(sizeof *cc);
    v4_record *r = old_struct(sizeof *r);
    v4_search_stats *ss = old_struct(sizeof *ss);
    vex_search_params p;
    vex_collection_config back;
    snprintf(path, sizeof path, "%s/db4", root);
    vex_db_options_init(&o);
    o.create_if_missing = 1;
    o.background_threads = 1;
    CHECK_RC(vex_db_open(path, &o, &db), VEX_OK);
    vex_collection_config_init_size((vex_collection_config *)cc, sizeof *cc);
    CHECK_EQ_INT(cc->v1.struct_size, sizeof *cc);
    CHECK(canary_ok(cc, sizeof *cc));
    /* the padding after compression holds garbage again, as in a struct
     * an older program filled field by field */
    memset((char *)cc + offsetof(v4_collection_config, compression) +
               sizeof cc->compression,
           0x5A,
           sizeof *cc - offsetof(v4_collection_config, compression) -
               sizeof cc->compression);
    cc->v1.dim = 8;
    CHECK_RC(vex_collection_create(db, "c4", (vex_collection_config *)cc, &c),
             VEX_OK);
    vex_collection_get_config(c, &back);
    CHECK_EQ_INT(back.text, 0);
    vex_collection_get_config_size(c, (vex_collection_config *)cc, sizeof *cc);
    CHECK(canary_ok(cc, sizeof *cc));
    vex_record_init_size((vex_record *)r, sizeof *r);
    CHECK(canary_ok(r, sizeof *r));
    r->id = 3;
    r->vector = v;
    CHECK_RC(vex_insert_record(c, (const vex_record *)r), VEX_OK);
    vex_search_stats_init_size((vex_search_stats *)ss, sizeof *ss);
    vex_search_params_init(&p);
    p.stats = (vex_search_stats *)ss;
    CHECK_RC(vex_search(c, v, 2, &p, hits, NULL, &n), VEX_OK);
    CHECK_EQ_INT(n, 1);
    CHECK_EQ_INT(ss->v3.sources, 1);
    CHECK_EQ_INT(ss->n_explain, 1);
    CHECK(canary_ok(ss, sizeof *ss));
    vex_collection_close(c);
    CHECK_RC(vex_db_close(db), VEX_OK);
    free(cc);
    free(r);
    free(ss);
}

int main(void)
{
    snprintf(root, sizeof root, "/tmp/vex_test_abi_XXXXXX");
    if (mkdtemp(root) == NULL) {
        perror("mkdtemp");
        return 2;
    }
    TEST_RUN(test_old_init_writes_old_layout);
    TEST_RUN(test_new_init_matches_header);
    TEST_RUN(test_old_program_session);
    TEST_RUN(test_old_program_index);
    TEST_RUN(test_v4_program);
    if (test_failures_ == 0)
        rm_rf(root);
    return TEST_EXIT();
}

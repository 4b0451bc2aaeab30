/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_oom.c - out of memory at every allocation of every public call of
 * the database API.
 *
 * Each case is one call (or a short sequence a user makes in one go: open
 * a database and a collection, parse a filter and search with it) on a
 * copy of one template database: a collection with an HNSW segment of 300
 * records and 100 more in the log only, each with metadata and a payload
 * (the copy is opened first with an allocator that never fails, so the
 * log is replayed and the state is the same every time). The call then
 * runs with an allocator (tests/test_alloc.h) that lets `budget`
 * allocations succeed and fails every later one, for budget = 0, 1, 2, ...
 * until the call completes without meeting a failure. For every budget:
 *  - the call returns VEX_OK or VEX_NOMEM, never another code, a crash or
 *    a hang, and a VEX_NOMEM has a message that says so;
 *  - after the handles are closed no block is left allocated;
 *  - the database opens again (with memory) and holds exactly the state
 *    before the call or, for a write, the state after it (a write that
 *    failed may have reached the log first: replay then applies it
 *    whole), all or nothing across the records a call writes; a write
 *    that returned VEX_OK is there.
 * The number of budgets each case needed is printed: the count of
 * allocations the call makes.
 *
 * With --sparse (the sanitizer builds' ctest), budgets above 64 are
 * sampled with growing steps instead of taken one by one.
 * OOM_CASE=name runs one case; OOM_BUDGET=N runs only budget N (to find
 * a leak with ASan's report).
 */
#define TEST_ISOLATE
#include <dirent.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test.h"
#include "test_alloc.h"
#include "vexdb.h"

#define DIM   8
#define N_SEG 300 /* records flushed into the segment */
#define N_LOG 100 /* records after it, in the log only */
#define N_IDS 512 /* ids the model tracks */
#define MAXP  64

static char tmp_root[256], tmpl[600], seg_name[300];
/* --sparse: every budget up to 64, then steps growing with the budget
 * (1 + budget / 64): a third of the budgets of the largest calls, for the
 * sanitizer builds, where each budget costs several times more */
static int g_sparse;

/* The model: the version of each id (0 = absent) before the call and
 * after it succeeded. Versions give the vector, metadata and payload;
 * PLAIN marks a record written without either, NO_PAY one written with
 * metadata but no payload. */
#define PLAIN  0x80000000u
#define NO_PAY 0x40000000u
#define VER    0x3fffffffu
static uint32_t before[N_IDS], after[N_IDS];

static void vec_of(uint64_t id, uint32_t ver, float *v)
{
    uint64_t x = id * 0x9e3779b97f4a7c15ULL ^ ((uint64_t)ver << 40);
    for (int i = 0; i < DIM; i++) {
        x ^= x >> 29;
        x *= 0xbf58476d1ce4e5b9ULL;
        x ^= x >> 32;
        v[i] = (float)(x >> 40) / (float)(1 << 24);
    }
}

static size_t pay_of(uint64_t id, uint32_t ver, unsigned char *p)
{
    size_t n = (id + ver) % MAXP;
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)(id * 3 + ver + i);
    return n;
}

static void meta_of(vex_meta *m, uint64_t id, uint32_t ver)
{
    char s[8];
    vex_meta_clear(m);
    vex_meta_set_int(m, "g", (int64_t)(id % 10));
    vex_meta_set_int(m, "ver", ver);
    snprintf(s, sizeof s, "s%u", (unsigned)(id % 3));
    vex_meta_set_string(m, "s", s, strlen(s));
}

static void db_opts(vex_db_options *o, const vex_allocator *al)
{
    vex_db_options_init(o);
    o->create_if_missing = 1;
    o->n_threads = 1;
    o->background_threads = 1;
    o->durability = VEX_DURABILITY_NONE;
    o->memtable_exact_rows = 100000; /* no background indexing */
    o->compact_min_merge = 0;        /* no background compaction */
    o->compact_deleted_pct = 0;
    o->flush_on_close = 0;
    o->allocator = al;
}

static int put(vex_collection *c, vex_meta *m, uint64_t id, uint32_t ver,
               int upsert)
{
    float v[DIM];
    unsigned char p[MAXP];
    vex_record r;
    vec_of(id, ver, v);
    meta_of(m, id, ver);
    vex_record_init(&r);
    r.id = id;
    r.vector = v;
    r.meta = m;
    r.payload = p;
    r.payload_len = pay_of(id, ver, p);
    return upsert ? vex_upsert_record(c, &r) : vex_insert_record(c, &r);
}

static void make_template(void)
{
    vex_db_options o;
    vex_db *db = NULL;
    vex_collection_config cfg;
    vex_collection *c = NULL;
    vex_meta *m = NULL;
    snprintf(tmpl, sizeof tmpl, "%s/template", tmp_root);
    db_opts(&o, NULL);
    CHECK_RC(vex_db_open(tmpl, &o, &db), VEX_OK);
    vex_collection_config_init(&cfg);
    cfg.dim = DIM;
    cfg.index_kind = VEX_INDEX_HNSW;
    cfg.hnsw_m = 8;
    CHECK_RC(vex_collection_create(db, "c", &cfg, &c), VEX_OK);
    CHECK_RC(vex_meta_create(NULL, &m), VEX_OK);
    for (uint64_t id = 0; id < N_SEG + N_LOG; id++) {
        CHECK_RC(put(c, m, id, 1, 0), VEX_OK);
        before[id] = 1;
        if (id + 1 == N_SEG / 2 || id + 1 == N_SEG)
            CHECK_RC(vex_flush(c), VEX_OK);
    }
    vex_meta_free(m);
    CHECK_RC(vex_collection_close(c), VEX_OK);
    CHECK_RC(vex_db_close(db), VEX_OK);
    {
        char dir[700];
        DIR *d;
        struct dirent *de;
        snprintf(dir, sizeof dir, "%s/collections/c", tmpl);
        d = opendir(dir);
        CHECK(d != NULL);
        while (d && (de = readdir(d)) != NULL)
            if (strncmp(de->d_name, "seg-", 4) == 0 &&
                (seg_name[0] == 0 || strcmp(de->d_name, seg_name) < 0))
                snprintf(seg_name, sizeof seg_name, "%s", de->d_name);
        if (d)
            closedir(d);
        CHECK(seg_name[0] != 0);
    }
}

/* ---- one iteration ----------------------------------------------------- */

typedef struct env {
    fail_alloc fa;
    vex_allocator al;
    char path[600];
    vex_db *db;
    vex_collection *c;
    vex_meta *m;   /* the caller's metadata handle (its own allocator) */
    char msg[512]; /* the message of the failed call, if it had a handle */
    int has_msg;
} env;

/* Record the message a failed call left on its handle. */
static int failed_with(env *e, int rc, const char *msg)
{
    if (rc != VEX_OK && !e->has_msg) {
        snprintf(e->msg, sizeof e->msg, "%s", msg ? msg : "");
        e->has_msg = 1;
    }
    return rc;
}

static int on_c(env *e, int rc)
{
    return failed_with(e, rc, vex_collection_errmsg(e->c));
}

static int on_db(env *e, int rc)
{
    /* a failed vex_db_open leaves no handle only when it had no memory
     * for one: then there is no message either */
    return e->db ? failed_with(e, rc, vex_db_errmsg(e->db)) : rc;
}

/* Remove a tree in process (a shell per budget is most of a sanitizer
 * build's time). */
static void remove_tree(const char *path)
{
    DIR *d = opendir(path);
    struct dirent *de;
    if (d == NULL) {
        unlink(path);
        return;
    }
    while ((de = readdir(d)) != NULL) {
        char sub[1200];
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        snprintf(sub, sizeof sub, "%s/%s", path, de->d_name);
        remove_tree(sub);
    }
    closedir(d);
    rmdir(path);
}

/* Copy a tree of directories and regular files. */
static void copy_tree(const char *from, const char *to)
{
    DIR *d = opendir(from);
    struct dirent *de;
    CHECK(d != NULL);
    CHECK(mkdir(to, 0755) == 0);
    while (d && (de = readdir(d)) != NULL) {
        char a[1200], b[1200];
        struct stat sb;
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        snprintf(a, sizeof a, "%s/%s", from, de->d_name);
        snprintf(b, sizeof b, "%s/%s", to, de->d_name);
        CHECK(stat(a, &sb) == 0);
        if (S_ISDIR(sb.st_mode)) {
            copy_tree(a, b);
        } else {
            FILE *in = fopen(a, "rb"), *out = fopen(b, "wb");
            char buf[1 << 16];
            size_t n;
            CHECK(in != NULL && out != NULL);
            while (in && out && (n = fread(buf, 1, sizeof buf, in)) > 0)
                CHECK(fwrite(buf, 1, n, out) == n);
            if (in)
                fclose(in);
            if (out)
                fclose(out);
        }
    }
    if (d)
        closedir(d);
}

static void copy_template(const char *to)
{
    remove_tree(to);
    copy_tree(tmpl, to);
}

static void set_budget(env *e, long b)
{
    pthread_mutex_lock(&e->fa.lock);
    e->fa.budget = b;
    pthread_mutex_unlock(&e->fa.lock);
}

/* Open the copy with the iteration's allocator, not failing yet. */
static void env_open(env *e, int flush_on_close)
{
    vex_db_options o;
    db_opts(&o, &e->al);
    o.flush_on_close = flush_on_close;
    CHECK_RC(vex_db_open(e->path, &o, &e->db), VEX_OK);
    CHECK_RC(vex_collection_open(e->db, "c", &e->c), VEX_OK);
}

/* ---- the cases ------------------------------------------------------- */

typedef struct oom_case {
    const char *name;
    int opens;           /* the call opens the database itself */
    int (*call)(env *e); /* returns the status the user sees */
    void (*model)(void); /* applies a successful call to after[] */
} oom_case;

static int c_db_open(env *e)
{
    vex_db_options o;
    int rc;
    db_opts(&o, &e->al);
    rc = on_db(e, vex_db_open(e->path, &o, &e->db));
    if (rc == VEX_OK)
        rc = on_db(e, vex_collection_open(e->db, "c", &e->c));
    return rc;
}

static int c_db_create(env *e)
{
    vex_db_options o;
    vex_collection_config cfg;
    int rc;
    remove_tree(e->path);
    db_opts(&o, &e->al);
    rc = on_db(e, vex_db_open(e->path, &o, &e->db));
    if (rc != VEX_OK)
        return rc;
    vex_collection_config_init(&cfg);
    cfg.dim = DIM;
    rc = on_db(e, vex_collection_create(e->db, "c", &cfg, &e->c));
    if (rc == VEX_OK)
        rc = on_c(e, put(e->c, e->m, 7, 1, 0));
    return rc;
}

static void m_db_create(void)
{
    memset(after, 0, sizeof after);
    after[7] = 1;
}

static int c_insert(env *e)
{
    return on_c(e, put(e->c, e->m, 450, 1, 0));
}

static void m_insert(void)
{
    after[450] = 1;
}

static int c_upsert(env *e)
{
    return on_c(e, put(e->c, e->m, 10, 2, 1)); /* a record of a segment */
}

static void m_upsert(void)
{
    after[10] = 2;
}

static int c_delete(env *e)
{
    return on_c(e, vex_delete(e->c, 20));
}

static void m_delete(void)
{
    after[20] = 0;
}

static int c_update_meta(env *e)
{
    /* the metadata of version 1 again: the records stay as the model has
     * them, the call goes through the whole write path */
    meta_of(e->m, 30, 1);
    return on_c(e, vex_update_meta(e->c, 30, e->m));
}

static int c_batch(env *e)
{
    vex_batch *b = NULL;
    float v[DIM];
    int rc = vex_batch_create(DIM * sizeof(float), &e->al, &b);
    for (uint64_t id = 460; rc == VEX_OK && id < 470; id++) {
        vec_of(id, 1, v);
        meta_of(e->m, id, 1);
        rc = failed_with(e, vex_batch_insert_meta(b, id, v, e->m),
                         vex_batch_errmsg(b));
    }
    if (rc == VEX_OK)
        rc = failed_with(e, vex_batch_delete(b, 40), vex_batch_errmsg(b));
    if (rc == VEX_OK) {
        vec_of(350, 2, v); /* a record in the memtable */
        rc = failed_with(e, vex_batch_upsert(b, 350, v), vex_batch_errmsg(b));
    }
    if (rc == VEX_OK)
        rc = on_c(e, vex_batch_commit(e->c, b));
    vex_batch_free(b);
    return rc;
}

static void m_batch(void)
{
    for (int id = 460; id < 470; id++)
        after[id] = 1 | NO_PAY;
    after[40] = 0;
    after[350] = 2 | PLAIN;
}

static int c_delete_where(env *e)
{
    uint64_t n = 0;
    int rc = on_c(e, vex_delete_where_text(e->c, "g = 3", &n));
    if (rc == VEX_OK)
        CHECK_EQ_INT(n, 40);
    return rc;
}

static void m_delete_where(void)
{
    for (int id = 3; id < N_SEG + N_LOG; id += 10)
        after[id] = 0;
}

static int c_flush(env *e)
{
    return on_c(e, vex_flush(e->c));
}

static int c_compact(env *e)
{
    /* two segments and a third from the log: merged into one */
    int rc = on_c(e, vex_flush(e->c));
    if (rc == VEX_OK)
        rc = on_c(e, vex_compact(e->c));
    return rc;
}

static int c_search(env *e)
{
    float q[DIM];
    vex_hit hits[10];
    float vecs[10 * DIM];
    size_t n = 0;
    vex_search_params p;
    int rc;
    vec_of(123, 1, q);
    vex_search_params_init(&p);
    p.ef_search = 64;
    rc = on_c(e, vex_search(e->c, q, 10, &p, hits, vecs, &n));
    if (rc == VEX_OK) {
        CHECK_EQ_INT(n, 10);
        CHECK(hits[0].id == 123);
    }
    return rc;
}

static int c_search_filter(env *e)
{
    float q[DIM];
    vex_hit hits[10];
    size_t n = 0;
    vex_search_params p;
    vex_filter *f = NULL;
    int rc;
    vec_of(125, 1, q);
    rc = on_c(e, vex_filter_parse(e->c, "g = 5 AND s IN ('s0', 's2')", &f));
    if (rc != VEX_OK)
        return rc;
    vex_search_params_init(&p);
    p.where = f;
    rc = on_c(e, vex_search(e->c, q, 10, &p, hits, NULL, &n));
    if (rc == VEX_OK) {
        CHECK_EQ_INT(n, 10);
        CHECK(hits[0].id == 125);
    }
    vex_filter_free(f);
    return rc;
}

static int c_search_batch(env *e)
{
    float q[3 * DIM];
    vex_hit hits[3 * 5];
    size_t n[3];
    int rc;
    for (int i = 0; i < 3; i++)
        vec_of(100 + (uint64_t)i * 100, 1, q + i * DIM);
    rc = on_c(e, vex_search_batch(e->c, q, 3, 5, NULL, hits, n));
    if (rc == VEX_OK)
        CHECK(hits[0].id == 100 && hits[5].id == 200 && hits[10].id == 300);
    return rc;
}

static int c_results(env *e)
{
    float q[DIM];
    vex_results *r = NULL;
    int rc;
    vec_of(77, 1, q);
    /* no handle to carry a message when the handle itself is not had */
    rc = vex_results_create(&e->al, &r);
    if (rc == VEX_OK)
        rc = on_c(e, vex_search_results(e->c, q, 20, NULL, VEX_WITH_ALL, r));
    if (rc == VEX_OK)
        rc = on_c(e,
                  vex_range_search(e->c, q, 1e30f, 50, NULL, VEX_WITH_ALL, r));
    if (rc == VEX_OK)
        CHECK_EQ_INT(vex_results_count(r), 50);
    vex_results_free(r);
    return rc;
}

static int c_get(env *e)
{
    float v[DIM], want[DIM];
    unsigned char p[MAXP];
    size_t len = 0;
    int rc = VEX_OK;
    for (uint64_t id = 290; rc == VEX_OK && id < 310; id++) {
        rc = on_c(e, vex_get(e->c, id, v));
        if (rc == VEX_OK)
            rc = on_c(e, vex_get_meta(e->c, id, e->m));
        if (rc == VEX_OK)
            rc = on_c(e, vex_get_payload(e->c, id, p, sizeof p, &len));
        if (rc == VEX_OK) {
            vec_of(id, 1, want);
            CHECK(memcmp(v, want, sizeof v) == 0);
        }
    }
    return rc;
}

static int scan_count(void *ctx, uint64_t id, const vex_meta *meta)
{
    (void)id;
    (void)meta;
    ++*(uint64_t *)ctx;
    return 0;
}

static int c_scan(env *e)
{
    vex_filter *f = NULL;
    uint64_t n = 0, m = 0;
    int rc = on_c(e, vex_filter_parse(e->c, "g >= 5", &f));
    if (rc == VEX_OK)
        rc = on_c(e, vex_scan(e->c, f, scan_count, &n));
    if (rc == VEX_OK)
        rc = on_c(e, vex_count_where(e->c, f, &m));
    if (rc == VEX_OK)
        CHECK(n == 200 && m == 200);
    vex_filter_free(f);
    return rc;
}

static int c_stats(env *e)
{
    vex_stats st;
    vex_segment_stats seg[4];
    size_t n = 0;
    int rc;
    vex_stats_init(&st);
    rc = on_c(e, vex_stats_get(e->c, &st));
    if (rc == VEX_OK)
        rc = on_c(e, vex_stats_segments(e->c, seg, 4, &n));
    if (rc == VEX_OK)
        CHECK_EQ_INT(n, 2);
    return rc;
}

static int list_fn(void *ctx, const char *name)
{
    (void)name;
    ++*(int *)ctx;
    return 0;
}

static int versions_fn(void *ctx, const vex_version_info *info)
{
    (void)info;
    ++*(int *)ctx;
    return 0;
}

static int c_catalog(env *e)
{
    int n = 0, v = 0;
    int rc = on_db(e, vex_collection_list(e->db, list_fn, &n));
    if (rc == VEX_OK)
        rc = on_db(e, vex_collection_versions(e->db, "c", versions_fn, &v));
    if (rc == VEX_OK)
        CHECK(n == 1 && v >= 1);
    return rc;
}

static int c_create_drop(env *e)
{
    vex_collection_config cfg;
    vex_collection *d = NULL;
    int rc;
    vex_collection_config_init(&cfg);
    cfg.dim = 4;
    cfg.index_kind = VEX_INDEX_FLAT;
    rc = on_db(e, vex_collection_create(e->db, "d", &cfg, &d));
    if (rc == VEX_OK) {
        rc = failed_with(e, vex_collection_close(d), "");
        if (rc == VEX_OK)
            rc = on_db(e, vex_collection_drop(e->db, "d"));
    }
    return rc;
}

static int c_reopen_collection(env *e)
{
    /* a second open: loads the manifest, maps the segments, replays */
    int rc = failed_with(e, vex_collection_close(e->c), "");
    e->c = NULL;
    if (rc == VEX_OK)
        rc = on_db(e, vex_collection_open(e->db, "c", &e->c));
    return rc;
}

static int finding_fn(void *ctx, const vex_finding *f)
{
    /* the message of a run that could not finish */
    if (f->status == VEX_NOMEM)
        failed_with(ctx, VEX_NOMEM, f->message);
    return 0;
}

static int c_verify(env *e)
{
    vex_verify_options o;
    vex_verify_report r;
    int rc;
    /* reads the files while the database is open, like vex verify */
    vex_verify_options_init(&o);
    o.allocator = &e->al;
    o.on_finding = finding_fn;
    o.ctx = e;
    vex_verify_report_init(&r);
    rc = vex_db_verify(e->path, &o, &r);
    if (rc == VEX_OK)
        CHECK_EQ_INT(r.errors, 0);
    return rc;
}

static int c_backup(env *e)
{
    char dest[700], part[720];
    struct stat sb;
    int rc;
    snprintf(dest, sizeof dest, "%s.bak", e->path);
    snprintf(part, sizeof part, "%s.partial", dest);
    remove_tree(dest);
    remove_tree(part);
    rc = on_db(e, vex_backup(e->db, dest, NULL, NULL));
    /* a failed backup removes its unfinished copy, or says it is left
     * (removing a tree needs memory too) */
    if (stat(part, &sb) == 0)
        CHECK_MSG(rc != VEX_OK && strstr(e->msg, "is left") != NULL,
                  "%s left by a backup that said: %s", part, e->msg);
    remove_tree(dest);
    remove_tree(part);
    return rc;
}

static int dump_line(void *ctx, const char *line)
{
    if (strncmp(line, "error: ", 7) == 0)
        failed_with(ctx, VEX_NOMEM, line);
    return 0;
}

static int c_dump(env *e)
{
    vex_dump_options o;
    char path[1000];
    /* the segment written by the template's first flush */
    snprintf(path, sizeof path, "%s/collections/c/%s", e->path, seg_name);
    vex_dump_options_init(&o);
    o.allocator = &e->al;
    return vex_dump_file(path, &o, dump_line, e);
}

static int c_close_flush(env *e)
{
    /* closing with flush_on_close: the memtable is flushed (or, out of
     * memory, left in the log; nothing is lost either way) */
    int rc = failed_with(e, vex_collection_close(e->c), "");
    int rc2;
    e->c = NULL;
    rc2 = on_db(e, vex_db_close(e->db));
    e->db = NULL;
    return rc == VEX_OK ? rc2 : rc;
}

static const oom_case cases[] = {
    {"db_open", 1, c_db_open, NULL},
    {"db_create", 1, c_db_create, m_db_create},
    {"insert", 0, c_insert, m_insert},
    {"upsert", 0, c_upsert, m_upsert},
    {"delete", 0, c_delete, m_delete},
    {"update_meta", 0, c_update_meta, NULL},
    {"batch", 0, c_batch, m_batch},
    {"delete_where", 0, c_delete_where, m_delete_where},
    {"flush", 0, c_flush, NULL},
    {"compact", 0, c_compact, NULL},
    {"search", 0, c_search, NULL},
    {"search_filter", 0, c_search_filter, NULL},
    {"search_batch", 0, c_search_batch, NULL},
    {"results", 0, c_results, NULL},
    {"get", 0, c_get, NULL},
    {"scan", 0, c_scan, NULL},
    {"stats", 0, c_stats, NULL},
    {"catalog", 0, c_catalog, NULL},
    {"create_drop", 0, c_create_drop, NULL},
    {"collection_open", 0, c_reopen_collection, NULL},
    {"verify", 0, c_verify, NULL},
    {"backup", 0, c_backup, NULL},
    {"dump", 0, c_dump, NULL},
    {"close_flush", 0, c_close_flush, NULL},
};

/* ---- the driver ------------------------------------------------------ */

/* Every tracked id as the model says: state `want`. */
static int state_is(vex_collection *c, const uint32_t *want, uint64_t *bad)
{
    vex_meta *m = NULL;
    float v[DIM], w[DIM];
    unsigned char p[MAXP], q[MAXP];
    int ok = 1;
    CHECK_RC(vex_meta_create(NULL, &m), VEX_OK);
    for (uint64_t id = 0; id < N_IDS && ok; id++) {
        uint32_t ver = want[id] & VER;
        int rc = vex_get(c, id, v);
        if (ver == 0) {
            ok = rc == VEX_NOTFOUND;
        } else if (rc != VEX_OK) {
            ok = 0;
        } else {
            size_t len = 0, wl, fi = 0;
            vex_field x;
            vec_of(id, ver, w);
            ok = memcmp(v, w, sizeof v) == 0 &&
                 vex_get_meta(c, id, m) == VEX_OK &&
                 vex_get_payload(c, id, p, sizeof p, &len) == VEX_OK;
            if (ok && (want[id] & PLAIN)) {
                ok = vex_meta_count(m) == 0 && len == 0;
            } else if (ok) {
                wl = want[id] & NO_PAY ? 0 : pay_of(id, ver, q);
                ok = len == wl && memcmp(p, q, len) == 0 &&
                     vex_meta_find(m, "ver", &fi) == VEX_OK &&
                     vex_meta_field(m, fi, &x) == VEX_OK &&
                     x.type == VEX_TYPE_INT && x.i == (int64_t)ver;
            }
        }
        if (!ok)
            *bad = id;
    }
    vex_meta_free(m);
    return ok;
}

static void check_reopen(const oom_case *k, long budget, int rc)
{
    vex_db_options o;
    vex_db *db = NULL;
    vex_collection *c = NULL;
    char path[600];
    uint64_t bad_before = 0, bad_after = 0;
    int is_before, is_after, rc2;
    snprintf(path, sizeof path, "%s/work", tmp_root);
    db_opts(&o, NULL);
    o.create_if_missing = 0;
    rc2 = vex_db_open(path, &o, &db);
    /* a database whose creation failed may not be there */
    if (rc2 == VEX_NOTFOUND && k->call == c_db_create && rc != VEX_OK) {
        vex_db_close(db);
        return;
    }
    CHECK_MSG(rc2 == VEX_OK, "%s budget %ld: reopen: %s", k->name, budget,
              vex_db_errmsg(db));
    if (rc2 != VEX_OK) {
        vex_db_close(db);
        return;
    }
    if (vex_collection_open(db, "c", &c) != VEX_OK) {
        /* only a database the call created may lack the collection */
        CHECK_MSG(k->call == c_db_create && rc != VEX_OK,
                  "%s budget %ld: collection: %s", k->name, budget,
                  vex_db_errmsg(db));
        vex_db_close(db);
        return;
    }
    is_before = state_is(
        c, k->call == c_db_create ? (uint32_t[N_IDS]){0} : before, &bad_before);
    is_after = state_is(c, after, &bad_after);
    if (rc == VEX_OK)
        CHECK_MSG(is_after, "%s budget %ld: VEX_OK but id %llu differs",
                  k->name, budget, (unsigned long long)bad_after);
    else
        CHECK_MSG(is_before || is_after,
                  "%s budget %ld: neither before (id %llu) nor after (id "
                  "%llu)",
                  k->name, budget, (unsigned long long)bad_before,
                  (unsigned long long)bad_after);
    vex_collection_close(c);
    CHECK_RC(vex_db_close(db), VEX_OK);
}

static void run_case(const oom_case *k)
{
    const char *only = getenv("OOM_BUDGET");
    long first = only ? atol(only) : 0, budget, clean = -1;
    int done = 0;
    memcpy(after, before, sizeof after);
    if (k->model)
        k->model();
    for (budget = first; !done && budget < 20000;
         budget += g_sparse && budget >= 64 ? 1 + budget / 64 : 1) {
        env e;
        int rc;
        memset(&e, 0, sizeof e);
        pthread_mutex_init(&e.fa.lock, NULL);
        e.fa.budget = -1;
        e.al.alloc = fa_alloc;
        e.al.realloc = fa_realloc;
        e.al.free = fa_free;
        e.al.user = &e.fa;
        snprintf(e.path, sizeof e.path, "%s/work", tmp_root);
        copy_template(e.path);
        CHECK_RC(vex_meta_create(NULL, &e.m), VEX_OK);
        if (!k->opens)
            env_open(&e, k->call == c_close_flush);
        set_budget(&e, budget);
        rc = k->call(&e);
        pthread_mutex_lock(&e.fa.lock);
        done = e.fa.budget != 0; /* the call met no failure */
        if (done)
            clean = budget;
        e.fa.budget = -1;
        pthread_mutex_unlock(&e.fa.lock);
        CHECK_MSG(rc == VEX_OK || rc == VEX_NOMEM, "%s budget %ld: %s (%s)",
                  k->name, budget, vex_status_name(rc), e.msg);
        /* a failure with a handle to say why says it was memory (a
         * close has no handle left to carry a message) */
        if (rc == VEX_NOMEM && e.has_msg && k->call != c_close_flush)
            CHECK_MSG(strstr(e.msg, "memory") != NULL,
                      "%s budget %ld: VEX_NOMEM with message \"%s\"", k->name,
                      budget, e.msg);
        if (e.c)
            vex_collection_close(e.c);
        if (e.db)
            vex_db_close(e.db);
        vex_meta_free(e.m);
        CHECK_MSG(e.fa.live == 0, "%s budget %ld: %ld blocks leaked", k->name,
                  budget, e.fa.live);
        check_reopen(k, budget, rc);
        pthread_mutex_destroy(&e.fa.lock);
        if (only || test_failures_)
            break;
    }
    CHECK_MSG(done || only, "%s: still failing at budget %ld", k->name, budget);
    fprintf(stderr, "  %-16s %s%ld allocations\n", k->name,
            g_sparse ? "at most " : "", clean);
}

static void test_every_call(void)
{
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *sel = getenv("OOM_CASE");
        if (sel && strcmp(sel, cases[i].name) != 0)
            continue;
        run_case(&cases[i]);
    }
}

int main(int argc, char **argv)
{
    g_sparse = argc > 1 && strcmp(argv[1], "--sparse") == 0;
    snprintf(tmp_root, sizeof tmp_root, "/tmp/vex_test_oom_XXXXXX");
    if (mkdtemp(tmp_root) == NULL) {
        perror("mkdtemp");
        return 2;
    }
    make_template();
    TEST_RUN(test_every_call);
    rm_rf(tmp_root);
    return TEST_EXIT();
}

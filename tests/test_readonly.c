/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_readonly.c - read-only opens (vex_db_options.read_only) and
 * vex_collection_refresh: errors and refused writes, a reader that
 * changes no byte of the directory (and never calls a mutating vfs
 * method), refresh across flushes, compactions and a drop, and a writer
 * PROCESS (fork) writing, flushing and compacting while readers in the
 * parent open, read, search and refresh: every snapshot must be the state
 * after some prefix of the writer's operations, and the writer must never
 * fail.
 *
 * The writer's operations are a pure function of a seed: operation i
 * inserts a new id, upserts or deletes a live one, and the vector it
 * writes for id x is vec_of(x, i) (component 0 = i, component 1 = x, the
 * rest hashed from both), so a snapshot read back as id -> i can be
 * matched against the state after each prefix in one pass.
 */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "engine/db.h"
#include "io/vfs.h"
#include "test.h"
#include "util/rng.h"
#include "vexdb.h"

#define DIM    8
#define N_IDS  300   /* ids 1..N_IDS */
#define N_OPS  3000  /* operations of the writer process */
#define K_ALL  N_IDS /* a search for every record */
#define OP_INS 1
#define OP_UPS 2
#define OP_DEL 3

static char tmp_root[256];

static void make_root(void)
{
    snprintf(tmp_root, sizeof tmp_root, "/tmp/vex_test_ro_XXXXXX");
    if (mkdtemp(tmp_root) == NULL) {
        perror("mkdtemp");
        exit(2);
    }
}

static void db_path(char *buf, size_t n, const char *name)
{
    snprintf(buf, n, "%s/%s", tmp_root, name);
    rm_rf(buf);
}

static vex_db *open_rw(const char *path, int create, uint32_t min_merge)
{
    vex_db_options o;
    vex_db *db = NULL;
    int rc;
    vex_db_options_init(&o);
    o.create_if_missing = create;
    o.n_threads = 2;
    o.background_threads = 1;
    o.memtable_bytes = 1u << 20;
    o.compact_min_merge = min_merge;
    o.durability = VEX_DURABILITY_NONE;
    rc = vex_db_open(path, &o, &db);
    if (rc != VEX_OK) {
        fprintf(stderr, "vex_db_open(%s): %s: %s\n", path, vex_status_name(rc),
                vex_db_errmsg(db));
        vex_db_close(db);
        return NULL;
    }
    return db;
}

static int open_ro_vfs(const char *path, vex_vfs *vfs, vex_db **out)
{
    vex_db_options o;
    vex_db_options_init(&o);
    o.read_only = 1;
    o.n_threads = 2;
    o.background_threads = 1;
    return vx_db_open_vfs(path, &o, vfs, out);
}

static uint64_t mix(uint64_t x)
{
    x ^= x >> 33;
    x *= UINT64_C(0xff51afd7ed558ccd);
    x ^= x >> 33;
    x *= UINT64_C(0xc4ceb9fe1a85ec53);
    x ^= x >> 33;
    return x;
}

static void vec_of(uint64_t id, uint32_t op, float *v)
{
    v[0] = (float)op;
    v[1] = (float)id;
    for (int i = 2; i < DIM; i++)
        v[i] = (float)(mix(id * 1000003u + op * 31u + (uint64_t)i) >> 40) /
                   (float)(1 << 24) -
               0.5f;
}

static int make_coll(vex_db *db, const char *name, vex_collection **out)
{
    vex_collection_config cfg;
    vex_collection_config_init(&cfg);
    cfg.dim = DIM;
    cfg.index_kind = VEX_INDEX_FLAT;
    return vex_collection_create(db, name, &cfg, out);
}

/* ------------------------------------------------------------------ */
/* The writer's operation sequence and the prefix check                 */

typedef struct op {
    uint8_t kind;
    uint32_t id;
} op;

static op ops[N_OPS + 1]; /* 1-based */

static void gen_ops(uint64_t seed)
{
    uint32_t live[N_IDS], n_live = 0, next_id = 1;
    vex_rng r;
    vex_rng_seed(&r, seed);
    for (uint32_t i = 1; i <= N_OPS; i++) {
        uint64_t x = vex_rng_next(&r) % 10;
        if (n_live == 0 || (x < 4 && next_id <= N_IDS)) {
            ops[i].kind = OP_INS;
            ops[i].id = next_id;
            live[n_live++] = next_id++;
        } else if (x < 8 || n_live < 20) {
            ops[i].kind = OP_UPS;
            ops[i].id = live[vex_rng_next(&r) % n_live];
        } else {
            uint32_t at = (uint32_t)(vex_rng_next(&r) % n_live);
            ops[i].kind = OP_DEL;
            ops[i].id = live[at];
            live[at] = live[--n_live];
        }
    }
}

/* snap[id] = the operation whose vector id holds, 0 = absent. Returns the
 * smallest prefix p >= lo (0..N_OPS) after which the state equals snap,
 * or -1. */
static long prefix_of(const uint32_t *snap, long lo)
{
    uint32_t state[N_IDS + 1];
    long mismatch = 0, found = -1;
    memset(state, 0, sizeof state);
    for (uint32_t x = 1; x <= N_IDS; x++)
        mismatch += snap[x] != 0;
    if (mismatch == 0 && lo <= 0)
        return 0;
    for (uint32_t p = 1; p <= N_OPS; p++) {
        uint32_t x = ops[p].id, after = ops[p].kind == OP_DEL ? 0 : p;
        mismatch -= state[x] != snap[x];
        state[x] = after;
        mismatch += state[x] != snap[x];
        if (mismatch == 0 && (long)p >= lo)
            return p;
    }
    return found;
}

/* Check one snapshot of `c` (the handle's, fixed between refreshes): get
 * of every id, the count, an exhaustive search (its own snapshot, the
 * same one) with vectors. Returns the prefix or -1. */
static long check_snapshot(vex_collection *c, long lo)
{
    static uint32_t snap[N_IDS + 1], snap2[N_IDS + 1];
    static vex_hit hits[K_ALL];
    static float vecs[K_ALL * DIM];
    float v[DIM], want[DIM], q[DIM] = {0};
    uint64_t n = 0;
    size_t n_hits = 0;
    long p;
    int bad = 0;
    memset(snap, 0, sizeof snap);
    memset(snap2, 0, sizeof snap2);
    for (uint32_t x = 1; x <= N_IDS; x++) {
        int rc = vex_get(c, x, v);
        if (rc == VEX_NOTFOUND)
            continue;
        CHECK_MSG(rc == VEX_OK, "get %u: %s: %s", x, vex_status_name(rc),
                  vex_collection_errmsg(c));
        if (rc != VEX_OK)
            return -1;
        snap[x] = (uint32_t)v[0];
        vec_of(x, snap[x], want);
        if (memcmp(v, want, sizeof v) != 0 || snap[x] == 0 || snap[x] > N_OPS)
            bad = 1;
        n++;
    }
    CHECK_MSG(!bad, "a record's vector is not one the writer wrote");
    CHECK_EQ_INT(vex_collection_count(c), n);
    CHECK_RC(vex_search(c, q, K_ALL, NULL, hits, vecs, &n_hits), VEX_OK);
    CHECK_EQ_INT(n_hits, n);
    for (size_t i = 0; i < n_hits; i++) {
        uint64_t x = hits[i].id;
        if (x >= 1 && x <= N_IDS)
            snap2[x] = (uint32_t)vecs[i * DIM];
    }
    CHECK_MSG(memcmp(snap, snap2, sizeof snap) == 0,
              "the search saw another state than the gets");
    p = prefix_of(snap, lo);
    CHECK_MSG(p >= 0,
              "a snapshot of %llu records is no prefix (from %ld) of "
              "the writer's operations",
              (unsigned long long)n, lo);
    return p;
}

/* ------------------------------------------------------------------ */
/* A directory listing with sizes and modification times                */

typedef struct dent {
    char name[300];
    long long size, mtime_ns;
    int is_dir;
} dent;

typedef struct listing {
    dent e[512];
    int n;
} listing;

static int cmp_dent(const void *a, const void *b)
{
    return strcmp(((const dent *)a)->name, ((const dent *)b)->name);
}

static void list_rec(listing *l, const char *root, const char *rel)
{
    char path[600];
    DIR *d;
    struct dirent *de;
    snprintf(path, sizeof path, "%s%s%s", root, rel[0] ? "/" : "", rel);
    d = opendir(path);
    if (d == NULL)
        return;
    while ((de = readdir(d)) != NULL && l->n < 512) {
        char sub[300], full[900];
        struct stat st;
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        snprintf(sub, sizeof sub, "%s%s%s", rel, rel[0] ? "/" : "", de->d_name);
        snprintf(full, sizeof full, "%s/%s", root, sub);
        if (stat(full, &st) != 0)
            continue;
        snprintf(l->e[l->n].name, sizeof l->e[l->n].name, "%s", sub);
        l->e[l->n].size = (long long)st.st_size;
        l->e[l->n].mtime_ns =
            (long long)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec;
        l->e[l->n].is_dir = S_ISDIR(st.st_mode);
        l->n++;
        if (S_ISDIR(st.st_mode))
            list_rec(l, root, sub);
    }
    closedir(d);
    qsort(l->e, (size_t)l->n, sizeof l->e[0], cmp_dent);
}

static int same_listing(const listing *a, const listing *b)
{
    if (a->n != b->n)
        return 0;
    for (int i = 0; i < a->n; i++)
        if (strcmp(a->e[i].name, b->e[i].name) != 0 ||
            a->e[i].size != b->e[i].size ||
            (!a->e[i].is_dir && a->e[i].mtime_ns != b->e[i].mtime_ns))
            return 0;
    return 1;
}

/* A posix vfs under a fault wrapper that fails every mutating call: a
 * reader that never calls one sees no difference. */
#define MUTATING                                                               \
    (VEX_FAULT_BIT(VEX_FAULT_M_WRITE) | VEX_FAULT_BIT(VEX_FAULT_M_TRUNCATE) |  \
     VEX_FAULT_BIT(VEX_FAULT_M_SYNC) | VEX_FAULT_BIT(VEX_FAULT_M_LOCK) |       \
     VEX_FAULT_BIT(VEX_FAULT_M_REMOVE) | VEX_FAULT_BIT(VEX_FAULT_M_RENAME) |   \
     VEX_FAULT_BIT(VEX_FAULT_M_SYNC_DIR) | VEX_FAULT_BIT(VEX_FAULT_M_MKDIR))

typedef struct guard_vfs {
    vex_vfs *posix, *fault;
} guard_vfs;

static void guard_open(guard_vfs *g)
{
    vex_fault_config fc;
    CHECK_RC(vx_vfs_posix_create(NULL, &g->posix), VEX_OK);
    CHECK_RC(vx_vfs_fault_create(g->posix, NULL, &g->fault), VEX_OK);
    memset(&fc, 0, sizeof fc);
    fc.mask = MUTATING;
    fc.fail_at = 1;
    fc.persistent = 1;
    fc.kind = VEX_FAULT_IOERR;
    vx_vfs_fault_set(g->fault, &fc);
}

static uint64_t guard_close(guard_vfs *g)
{
    vex_fault_stats st;
    vx_vfs_fault_stats(g->fault, &st);
    g->fault->methods->destroy(g->fault);
    g->posix->methods->destroy(g->posix);
    return st.n_selected;
}

/* ------------------------------------------------------------------ */

static void test_ro_errors(void)
{
    char path[300], p2[300];
    vex_db_options o;
    vex_db *db = NULL, *ro = NULL;
    vex_collection *c = NULL, *rd = NULL;
    vex_batch *b = NULL;
    float v[DIM];
    int changed = -1;

    db_path(path, sizeof path, "errors");
    vex_db_options_init(&o);
    o.read_only = 1;
    CHECK_RC(vex_db_open(path, &o, &ro), VEX_NOTFOUND); /* no directory */
    CHECK(strstr(vex_db_errmsg(ro), "creates nothing") != NULL);
    vex_db_close(ro);
    ro = NULL;
    o.create_if_missing = 1;
    CHECK_RC(vex_db_open(path, &o, &ro), VEX_INVALID);
    CHECK(strstr(vex_db_errmsg(ro), "read_only") != NULL);
    vex_db_close(ro);
    ro = NULL;
    o.create_if_missing = 0;
    o.read_only = 2;
    CHECK_RC(vex_db_open(path, &o, &ro), VEX_INVALID);
    vex_db_close(ro);
    ro = NULL;
    /* an empty directory is no database for a reader (and stays empty) */
    CHECK(mkdir(path, 0755) == 0);
    o.read_only = 1;
    CHECK_RC(vex_db_open(path, &o, &ro), VEX_NOTFOUND);
    vex_db_close(ro);
    ro = NULL;
    {
        DIR *d = opendir(path);
        int n = 0;
        struct dirent *de;
        while (d && (de = readdir(d)) != NULL)
            n += de->d_name[0] != '.';
        if (d)
            closedir(d);
        CHECK_EQ_INT(n, 0);
    }

    /* a reader while no writer holds the database */
    db = open_rw(path, 1, 4);
    CHECK(db != NULL);
    if (db == NULL)
        return;
    CHECK_RC(make_coll(db, "c", &c), VEX_OK);
    vec_of(1, 1, v);
    CHECK_RC(vex_insert(c, 1, v), VEX_OK);
    CHECK_RC(vex_db_close(db), VEX_OK);
    CHECK_RC(vex_db_open(path, &o, &ro), VEX_OK);
    CHECK_RC(vex_collection_open(ro, "nope", &rd), VEX_NOTFOUND);
    CHECK(rd == NULL);
    CHECK_RC(vex_collection_open(ro, "c", &rd), VEX_OK);
    CHECK_EQ_INT(vex_collection_count(rd), 1);
    /* a writer opens beside the reader: no lock in the way */
    db = open_rw(path, 0, 4);
    CHECK(db != NULL);
    CHECK_RC(vex_collection_open(db, "c", &c), VEX_OK);
    vec_of(2, 2, v);
    CHECK_RC(vex_insert(c, 2, v), VEX_OK);
    CHECK_EQ_INT(vex_collection_count(rd), 1); /* its snapshot */
    CHECK_RC(vex_collection_refresh(rd, &changed), VEX_OK);
    CHECK_EQ_INT(changed, 1);
    CHECK_EQ_INT(vex_collection_count(rd), 2);
    CHECK_RC(vex_collection_refresh(rd, &changed), VEX_OK);
    CHECK_EQ_INT(changed, 0);
    /* refresh of a writable handle: nothing to do */
    changed = -1;
    CHECK_RC(vex_collection_refresh(c, &changed), VEX_OK);
    CHECK_EQ_INT(changed, 0);

    /* every write is refused, with a message, and logs nothing */
    CHECK_RC(vex_insert(rd, 3, v), VEX_READONLY);
    CHECK(strstr(vex_collection_errmsg(rd), "read-only") != NULL);
    CHECK_RC(vex_upsert(rd, 1, v), VEX_READONLY);
    CHECK_RC(vex_delete(rd, 1), VEX_READONLY);
    CHECK_RC(vex_insert_meta(rd, 3, v, NULL), VEX_READONLY);
    CHECK_RC(vex_upsert_meta(rd, 3, v, NULL), VEX_READONLY);
    CHECK_RC(vex_update_meta(rd, 1, NULL), VEX_READONLY);
    CHECK_RC(vex_batch_create(sizeof v, NULL, &b), VEX_OK);
    CHECK_RC(vex_batch_insert(b, 9, v), VEX_OK);
    CHECK_RC(vex_batch_commit(rd, b), VEX_READONLY);
    vex_batch_free(b);
    CHECK_RC(vex_flush(rd), VEX_READONLY);
    CHECK_RC(vex_compact(rd), VEX_READONLY);
    CHECK(strstr(vex_collection_errmsg(rd), "compact") != NULL);
    {
        vex_collection_config cfg;
        vex_collection *x = NULL;
        vex_collection_config_init(&cfg);
        cfg.dim = DIM;
        CHECK_RC(vex_collection_create(ro, "d", &cfg, &x), VEX_READONLY);
        CHECK(x == NULL);
        CHECK(strstr(vex_db_errmsg(ro), "read-only") != NULL);
        CHECK_RC(vex_collection_drop(ro, "c"), VEX_READONLY);
    }
    CHECK_EQ_INT(vex_collection_count(c), 2);
    CHECK_RC(vex_get(rd, 3, v), VEX_NOTFOUND);

    /* dropped (and created again) under the reader */
    CHECK_RC(vex_collection_close(c), VEX_OK);
    CHECK_RC(vex_collection_drop(db, "c"), VEX_OK);
    CHECK_EQ_INT(vex_collection_count(rd), 2); /* still its snapshot */
    CHECK_RC(vex_get(rd, 1, v), VEX_OK);
    CHECK_RC(vex_collection_refresh(rd, &changed), VEX_NOTFOUND);
    CHECK_RC(make_coll(db, "c", &c), VEX_OK);
    vec_of(5, 5, v);
    CHECK_RC(vex_insert(c, 5, v), VEX_OK);
    CHECK_RC(vex_collection_refresh(rd, &changed), VEX_NOTFOUND);
    CHECK(strstr(vex_collection_errmsg(rd), "created again") != NULL);
    CHECK_EQ_INT(vex_collection_count(rd), 2);
    CHECK_RC(vex_collection_close(rd), VEX_OK);
    CHECK_RC(vex_collection_open(ro, "c", &rd), VEX_OK);
    CHECK_EQ_INT(vex_collection_count(rd), 1);
    CHECK_RC(vex_collection_close(rd), VEX_OK);
    CHECK_RC(vex_db_close(db), VEX_OK);
    CHECK_RC(vex_db_close(ro), VEX_OK);

    /* a non-database directory */
    db_path(p2, sizeof p2, "other");
    CHECK(mkdir(p2, 0755) == 0);
    {
        char f[400];
        FILE *fp;
        snprintf(f, sizeof f, "%s/x", p2);
        fp = fopen(f, "w");
        if (fp)
            fclose(fp);
    }
    CHECK_RC(vex_db_open(p2, &o, &ro), VEX_NOTFOUND);
    CHECK(strstr(vex_db_errmsg(ro), "VEXDB") != NULL);
    vex_db_close(ro);
}

/* A database with segments, deletes, a log tail with a torn record, an
 * orphan segment file and a CURRENT.tmp: a reader reads it all and
 * changes nothing (no byte, no mtime, no file created or removed). */
static void test_ro_writes_nothing(void)
{
    char path[300], wal[400], f[700];
    vex_db *db, *ro = NULL;
    vex_collection *c = NULL, *rd = NULL;
    listing before, after;
    guard_vfs g;
    float v[DIM];
    int changed;
    FILE *fp;
    long p;

    gen_ops(11);
    db_path(path, sizeof path, "nothing");
    db = open_rw(path, 1, 0);
    CHECK(db != NULL);
    if (db == NULL)
        return;
    CHECK_RC(make_coll(db, "c", &c), VEX_OK);
    for (uint32_t i = 1; i <= 600; i++) {
        vec_of(ops[i].id, i, v);
        if (ops[i].kind == OP_INS)
            CHECK_RC(vex_insert(c, ops[i].id, v), VEX_OK);
        else if (ops[i].kind == OP_UPS)
            CHECK_RC(vex_upsert(c, ops[i].id, v), VEX_OK);
        else
            CHECK_RC(vex_delete(c, ops[i].id), VEX_OK);
        if (i % 200 == 0)
            CHECK_RC(vex_flush(c), VEX_OK);
    }
    for (uint32_t i = 601; i <= 700; i++) { /* the log tail */
        vec_of(ops[i].id, i, v);
        if (ops[i].kind == OP_INS)
            CHECK_RC(vex_insert(c, ops[i].id, v), VEX_OK);
        else if (ops[i].kind == OP_UPS)
            CHECK_RC(vex_upsert(c, ops[i].id, v), VEX_OK);
        else
            CHECK_RC(vex_delete(c, ops[i].id), VEX_OK);
    }
    CHECK_RC(vex_db_close(db), VEX_OK);
    /* leftovers a writer's open would clean: a torn record at the end of
     * the log, an orphan segment, a CURRENT.tmp */
    snprintf(wal, sizeof wal, "%s/collections/c/wal", path);
    {
        DIR *d = opendir(wal);
        struct dirent *de;
        char last[256] = "";
        while (d && (de = readdir(d)) != NULL)
            if (strncmp(de->d_name, "wal-", 4) == 0 &&
                strcmp(de->d_name, last) > 0)
                snprintf(last, sizeof last, "%s", de->d_name);
        if (d)
            closedir(d);
        snprintf(f, sizeof f, "%s/%s", wal, last);
        fp = fopen(f, "ab");
        CHECK(fp != NULL);
        if (fp) {
            fwrite("torn record bytes", 1, 17, fp);
            fclose(fp);
        }
    }
    snprintf(f, sizeof f, "%s/collections/c/seg-00000000000000ff.vseg", path);
    fp = fopen(f, "wb");
    if (fp)
        fclose(fp);
    snprintf(f, sizeof f, "%s/collections/c/CURRENT.tmp", path);
    fp = fopen(f, "wb");
    if (fp)
        fclose(fp);

    memset(&before, 0, sizeof before);
    memset(&after, 0, sizeof after);
    list_rec(&before, path, "");
    guard_open(&g);
    CHECK_RC(open_ro_vfs(path, g.fault, &ro), VEX_OK);
    CHECK_RC(vex_collection_open(ro, "c", &rd), VEX_OK);
    if (rd) {
        vex_stats st;
        p = check_snapshot(rd, 700);
        CHECK_EQ_INT(p, 700);
        CHECK_RC(vex_collection_refresh(rd, &changed), VEX_OK);
        CHECK_EQ_INT(changed, 0);
        vex_stats_init(&st);
        CHECK_RC(vex_stats_get(rd, &st), VEX_OK);
        CHECK(st.segments >= 1);
        CHECK_EQ_INT(st.last_seq, 700);
        usleep(100000); /* let the background indexing run */
        CHECK_RC(vex_collection_close(rd), VEX_OK);
    }
    CHECK_RC(vex_db_close(ro), VEX_OK);
    CHECK_EQ_INT(guard_close(&g), 0); /* no mutating vfs call at all */
    list_rec(&after, path, "");
    CHECK_MSG(same_listing(&before, &after),
              "the directory changed under a reader (%d vs %d entries)",
              before.n, after.n);
    /* the failing vfs also proves the check can fail: a writer open
     * through it is refused */
    guard_open(&g);
    {
        vex_db_options o;
        vex_db *w = NULL;
        vex_db_options_init(&o);
        CHECK(vx_db_open_vfs(path, &o, g.fault, &w) != VEX_OK);
        vex_db_close(w);
    }
    CHECK(guard_close(&g) > 0);
}

/* Refresh across flushes and compactions in one process, a search thread
 * running on the reader meanwhile. */
typedef struct searcher {
    vex_collection *c;
    _Atomic int stop;
    int bad, n;
} searcher;

static void *search_loop(void *arg)
{
    searcher *s = arg;
    static vex_hit hits[K_ALL];
    static float vecs[K_ALL * DIM];
    static uint32_t snap[N_IDS + 1];
    float q[DIM] = {0};
    while (!atomic_load(&s->stop)) {
        size_t n = 0;
        if (vex_search(s->c, q, K_ALL, NULL, hits, vecs, &n) != VEX_OK) {
            s->bad++;
            break;
        }
        memset(snap, 0, sizeof snap);
        for (size_t i = 0; i < n; i++)
            if (hits[i].id >= 1 && hits[i].id <= N_IDS)
                snap[hits[i].id] = (uint32_t)vecs[i * DIM];
        if (prefix_of(snap, 0) < 0)
            s->bad++;
        s->n++;
    }
    return NULL;
}

static int apply_op(vex_collection *c, uint32_t i)
{
    float v[DIM];
    vec_of(ops[i].id, i, v);
    if (ops[i].kind == OP_INS)
        return vex_insert(c, ops[i].id, v);
    if (ops[i].kind == OP_UPS)
        return vex_upsert(c, ops[i].id, v);
    return vex_delete(c, ops[i].id);
}

static void test_ro_refresh_in_process(void)
{
    char path[300];
    vex_db *db, *ro = NULL;
    vex_collection *c = NULL, *rd = NULL;
    searcher s;
    pthread_t th;
    long last = 0;
    int changed;

    gen_ops(23);
    db_path(path, sizeof path, "refresh");
    db = open_rw(path, 1, 2);
    CHECK(db != NULL);
    if (db == NULL)
        return;
    CHECK_RC(make_coll(db, "c", &c), VEX_OK);
    CHECK_RC(open_ro_vfs(path, NULL, &ro), VEX_OK);
    CHECK_RC(vex_collection_open(ro, "c", &rd), VEX_OK);
    if (rd == NULL)
        return;
    CHECK_EQ_INT(check_snapshot(rd, 0), 0);
    memset(&s, 0, sizeof s);
    s.c = rd;
    pthread_create(&th, NULL, search_loop, &s);
    for (uint32_t i = 1; i <= 1500; i++) {
        long p;
        CHECK_RC(apply_op(c, i), VEX_OK);
        if (i % 97 == 0)
            CHECK_RC(vex_flush(c), VEX_OK);
        if (i % 301 == 0)
            CHECK_RC(vex_compact(c), VEX_OK);
        if (i % 50 != 0)
            continue;
        CHECK_RC(vex_collection_refresh(rd, &changed), VEX_OK);
        CHECK_EQ_INT(changed, 1);
        p = check_snapshot(rd, i);
        CHECK_EQ_INT(p, i); /* in-process: every write is complete */
        CHECK(p >= last);
        last = p;
    }
    atomic_store(&s.stop, 1);
    pthread_join(th, NULL);
    CHECK_EQ_INT(s.bad, 0);
    CHECK(s.n > 0);
    CHECK_RC(vex_collection_close(rd), VEX_OK);
    CHECK_RC(vex_db_close(ro), VEX_OK);
    CHECK_RC(vex_db_close(db), VEX_OK);
}

/* The writer process: runs the operations with flushes and compactions
 * (segment files deleted all along), pausing a little between them so
 * readers overlap it; exits 0 when every call succeeded. */
static int writer_main(const char *path)
{
    vex_db *db = open_rw(path, 0, 2);
    vex_collection *c = NULL;
    int rc;
    if (db == NULL)
        return 10;
    rc = vex_collection_open(db, "c", &c);
    for (uint32_t i = 1; i <= N_OPS && rc == VEX_OK; i++) {
        rc = apply_op(c, i);
        if (rc == VEX_OK && i % 83 == 0)
            rc = vex_flush(c);
        if (rc == VEX_OK && i % 701 == 0)
            rc = vex_compact(c);
        if (i % 8 == 0)
            usleep(1000);
    }
    if (rc != VEX_OK)
        fprintf(stderr, "writer: %s: %s\n", vex_status_name(rc),
                vex_collection_errmsg(c));
    if (vex_db_close(db) != VEX_OK && rc == VEX_OK)
        rc = VEX_IOERR;
    return rc == VEX_OK ? 0 : 11;
}

static void test_ro_writer_process(void)
{
    char path[300];
    vex_db *db;
    vex_collection *c = NULL;
    pid_t pid;
    int status = 0, done = 0, n_snap = 0, n_open = 0, n_changed = 0;
    long last = -1, max_p = 0;
    guard_vfs g;
    time_t t0 = time(NULL);

    gen_ops(37);
    db_path(path, sizeof path, "process");
    db = open_rw(path, 1, 2);
    CHECK(db != NULL);
    if (db == NULL)
        return;
    CHECK_RC(make_coll(db, "c", &c), VEX_OK);
    CHECK_RC(vex_db_close(db), VEX_OK);
    fflush(NULL);
    pid = fork();
    if (pid == 0)
        _exit(writer_main(path));
    CHECK(pid > 0);
    guard_open(&g);
    while (!done && time(NULL) - t0 < 60) {
        vex_db *ro = NULL;
        vex_collection *rd = NULL;
        int rc;
        done = waitpid(pid, &status, WNOHANG) == pid;
        rc = open_ro_vfs(path, g.fault, &ro);
        CHECK_MSG(rc == VEX_OK, "%s", vex_db_errmsg(ro));
        if (rc == VEX_OK)
            rc = vex_collection_open(ro, "c", &rd);
        CHECK_MSG(rc == VEX_OK, "open: %s: %s", vex_status_name(rc),
                  vex_db_errmsg(ro));
        n_open++;
        last = -1;
        /* a few refreshes on this handle, each snapshot checked */
        for (int r = 0; rc == VEX_OK && r < 6; r++) {
            int changed = 0;
            /* from the last prefix on: a refresh never goes back */
            long p = check_snapshot(rd, last < 0 ? 0 : last);
            n_snap++;
            if (p < 0)
                break;
            last = p;
            if (p > max_p)
                max_p = p;
            usleep(2000);
            rc = vex_collection_refresh(rd, &changed);
            CHECK_MSG(rc == VEX_OK, "refresh: %s: %s", vex_status_name(rc),
                      vex_collection_errmsg(rd));
            n_changed += changed;
        }
        vex_collection_close(rd);
        vex_db_close(ro);
        if (test_case_failed_)
            break;
    }
    if (!done) {
        if (waitpid(pid, &status, 0) != pid) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
        }
    }
    CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0,
              "the writer process failed (status %d)", status);
    CHECK_EQ_INT(guard_close(&g), 0);
    /* the final state, once more, must be the whole sequence */
    {
        vex_db *ro = NULL;
        vex_collection *rd = NULL;
        CHECK_RC(open_ro_vfs(path, NULL, &ro), VEX_OK);
        CHECK_RC(vex_collection_open(ro, "c", &rd), VEX_OK);
        if (rd)
            CHECK_EQ_INT(check_snapshot(rd, N_OPS), N_OPS);
        vex_collection_close(rd);
        vex_db_close(ro);
    }
    fprintf(stderr,
            "     %d opens, %d snapshots, %d refreshes changed, "
            "largest prefix seen while writing %ld\n",
            n_open, n_snap, n_changed, max_p);
    CHECK(n_snap >= 10);
    CHECK(n_changed >= 3);
}

/* ------------------------------------------------------------------ */
/* Deterministic races: a vfs for the reader that, when armed, runs the  */
/* writer's next step (in the same thread) just before the reader lists  */
/* the log directory or opens a segment file                             */

typedef struct hook_vfs {
    vex_vfs v;
    vex_vfs_methods m;
    vex_vfs *base;
    int arm_list, arm_seg; /* one-shot */
    void (*step)(void *ctx, int what);
    void *ctx;
} hook_vfs;

static vex_vfs *hbase(vex_vfs *v)
{
    return ((hook_vfs *)v)->base;
}

static int ends_with(const char *s, const char *t)
{
    size_t a = strlen(s), b = strlen(t);
    return a >= b && strcmp(s + a - b, t) == 0;
}

static int h_open(vex_vfs *v, const char *path, int flags, vex_file **out,
                  vex_err *err)
{
    hook_vfs *h = (hook_vfs *)v;
    if (h->arm_seg && ends_with(path, ".vseg")) {
        h->arm_seg = 0;
        h->step(h->ctx, 2);
    }
    return h->base->methods->open(h->base, path, flags, out, err);
}
static int h_remove(vex_vfs *v, const char *p, vex_err *e)
{
    return hbase(v)->methods->remove(hbase(v), p, e);
}
static int h_rename(vex_vfs *v, const char *a, const char *b, vex_err *e)
{
    return hbase(v)->methods->rename(hbase(v), a, b, e);
}
static int h_sync_dir(vex_vfs *v, const char *p, vex_err *e)
{
    return hbase(v)->methods->sync_dir(hbase(v), p, e);
}
static int h_list(vex_vfs *v, const char *dir, vex_vfs_list_fn fn, void *ctx,
                  vex_err *e)
{
    hook_vfs *h = (hook_vfs *)v;
    if (h->arm_list && ends_with(dir, "/wal")) {
        h->arm_list = 0;
        h->step(h->ctx, 1);
    }
    return h->base->methods->list(h->base, dir, fn, ctx, e);
}
static int h_mkdir(vex_vfs *v, const char *p, vex_err *e)
{
    return hbase(v)->methods->mkdir(hbase(v), p, e);
}
static int h_exists(vex_vfs *v, const char *p, int *k, vex_err *e)
{
    return hbase(v)->methods->exists(hbase(v), p, k, e);
}
static void h_destroy(vex_vfs *v)
{
    (void)v;
}

static void hook_init(hook_vfs *h, vex_vfs *base)
{
    memset(h, 0, sizeof *h);
    h->base = base;
    h->m = *base->methods;
    h->m.open = h_open;
    h->m.remove = h_remove;
    h->m.rename = h_rename;
    h->m.sync_dir = h_sync_dir;
    h->m.list = h_list;
    h->m.mkdir = h_mkdir;
    h->m.exists = h_exists;
    h->m.destroy = h_destroy;
    h->v.name = "hook";
    h->v.methods = &h->m;
    h->v.user = h;
}

typedef struct race {
    vex_collection *w; /* the writer's handle */
    uint32_t next;     /* next operation to apply */
    uint32_t n_step;   /* operations a step applies */
    int flush, compact;
    int seg_gone; /* a step removed the segment about to be opened */
} race;

static void race_ops(race *r, uint32_t n)
{
    for (uint32_t k = 0; k < n; k++, r->next++)
        CHECK_RC(apply_op(r->w, r->next), VEX_OK);
}

static void race_step(void *ctx, int what)
{
    race *r = ctx;
    if (r->flush)
        CHECK_RC(vex_flush(r->w), VEX_OK);
    if (r->compact)
        CHECK_RC(vex_compact(r->w), VEX_OK);
    race_ops(r, r->n_step);
    (void)what;
}

static void test_ro_races(void)
{
    char path[300];
    vex_db *db, *ro = NULL;
    vex_collection *rd = NULL;
    vex_vfs *posix = NULL;
    hook_vfs h;
    race r;
    int changed = 0;

    gen_ops(51);
    db_path(path, sizeof path, "races");
    db = open_rw(path, 1, 0);
    CHECK(db != NULL);
    if (db == NULL)
        return;
    memset(&r, 0, sizeof r);
    r.next = 1;
    CHECK_RC(make_coll(db, "c", &r.w), VEX_OK);
    race_ops(&r, 100);
    CHECK_RC(vex_flush(r.w), VEX_OK);
    race_ops(&r, 50);
    CHECK_RC(vx_vfs_posix_create(NULL, &posix), VEX_OK);
    hook_init(&h, posix);
    h.step = race_step;
    h.ctx = &r;

    /* 1. open: the writer flushes (dropping the log the reader's manifest
     * needs) and writes on just before the reader lists the log */
    r.flush = 1;
    r.n_step = 10;
    h.arm_list = 1;
    CHECK_RC(open_ro_vfs(path, &h.v, &ro), VEX_OK);
    CHECK_RC(vex_collection_open(ro, "c", &rd), VEX_OK);
    CHECK(!h.arm_list); /* the step ran */
    if (rd)
        CHECK_EQ_INT(check_snapshot(rd, 160), 160);

    /* 2. refresh with the same manifest (catch-up from the log) while the
     * writer flushes and drops the records it needs */
    race_ops(&r, 10);
    h.arm_list = 1;
    r.n_step = 5;
    if (rd) {
        CHECK_RC(vex_collection_refresh(rd, &changed), VEX_OK);
        CHECK_EQ_INT(changed, 1);
        CHECK_EQ_INT(check_snapshot(rd, 175), 175);
    }

    /* 3. refresh to a new manifest while the writer compacts away the
     * segments the reader is about to open */
    race_ops(&r, 30);
    CHECK_RC(vex_flush(r.w), VEX_OK);
    r.flush = 0;
    r.compact = 1;
    r.n_step = 7;
    h.arm_seg = 1;
    if (rd) {
        CHECK_RC(vex_collection_refresh(rd, &changed), VEX_OK);
        CHECK(!h.arm_seg);
        CHECK_EQ_INT(changed, 1);
        CHECK_EQ_INT(check_snapshot(rd, 212), 212);
    }
    /* 4. a second handle opened while the compaction races it */
    {
        vex_db *ro2 = NULL;
        vex_collection *rd2 = NULL;
        h.arm_seg = 1;
        race_ops(&r, 20);
        CHECK_RC(vex_flush(r.w), VEX_OK);
        CHECK_RC(open_ro_vfs(path, &h.v, &ro2), VEX_OK);
        CHECK_RC(vex_collection_open(ro2, "c", &rd2), VEX_OK);
        if (rd2)
            CHECK_EQ_INT(check_snapshot(rd2, 239), 239);
        vex_collection_close(rd2);
        vex_db_close(ro2);
    }
    CHECK_RC(vex_collection_close(rd), VEX_OK);
    CHECK_RC(vex_db_close(ro), VEX_OK);
    CHECK_RC(vex_db_close(db), VEX_OK);
    posix->methods->destroy(posix);
}

/* ------------------------------------------------------------------ */
/* Point-in-time reads                                                   */

typedef struct vlist {
    vex_version_info v[64];
    int n;
} vlist;

static int collect_version(void *ctx, const vex_version_info *info)
{
    vlist *l = ctx;
    if (l->n < 64)
        l->v[l->n++] = *info;
    return 0;
}

static vlist versions_of(vex_db *db)
{
    vlist l;
    memset(&l, 0, sizeof l);
    CHECK_RC(vex_collection_versions(db, "c", collect_version, &l), VEX_OK);
    return l;
}

static int count_files(const char *dir, const char *prefix)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    int n = 0;
    while (d && (de = readdir(d)) != NULL)
        n += strncmp(de->d_name, prefix, strlen(prefix)) == 0;
    if (d)
        closedir(d);
    return n;
}

static vex_db *open_rw_keep(const char *path, int create, uint32_t keep)
{
    vex_db_options o;
    vex_db *db = NULL;
    vex_db_options_init(&o);
    o.create_if_missing = create;
    o.n_threads = 2;
    o.background_threads = 1;
    o.memtable_bytes = 1u << 20;
    o.compact_min_merge = 0; /* publishes only where the test asks */
    o.compact_deleted_pct = 0;
    o.durability = VEX_DURABILITY_NONE;
    o.manifest_retention = keep;
    if (vex_db_open(path, &o, &db) != VEX_OK) {
        fprintf(stderr, "open: %s\n", vex_db_errmsg(db));
        vex_db_close(db);
        return NULL;
    }
    return db;
}

/* Open every listed version read-only and compare it exactly with the
 * state after its as_of_seq operations. */
static void check_versions(const char *path, const vlist *l)
{
    vex_db *ro = NULL;
    CHECK_RC(open_ro_vfs(path, NULL, &ro), VEX_OK);
    for (int i = 0; i < l->n; i++) {
        vex_collection *at = NULL;
        int rc = vex_collection_open_at(ro, "c", l->v[i].version, &at);
        CHECK_MSG(rc == VEX_OK, "open_at %llu: %s: %s",
                  (unsigned long long)l->v[i].version, vex_status_name(rc),
                  vex_db_errmsg(ro));
        if (at == NULL)
            continue;
        CHECK_EQ_INT(check_snapshot(at, (long)l->v[i].as_of_seq),
                     l->v[i].as_of_seq);
        vex_collection_close(at);
    }
    vex_db_close(ro);
}

static void test_ro_time_travel(void)
{
    static const struct {
        uint32_t ops;
        int flush, compact;
    } steps[] = {{80, 1, 0}, {60, 1, 0}, {40, 0, 1}, {70, 1, 0}, {30, 1, 0},
                 {50, 0, 1}, {20, 1, 0}, {60, 1, 1}, {25, 1, 0}, {35, 0, 1}};
    char path[300], cdir[400], wdir[450];
    uint64_t pub_ver[32], pub_seq[32];
    int n_pub = 0;
    vex_db *db, *ro = NULL;
    vex_collection *c = NULL, *at = NULL;
    uint32_t next = 1;
    vlist l;
    float v[DIM];

    gen_ops(61);
    db_path(path, sizeof path, "travel");
    snprintf(cdir, sizeof cdir, "%s/collections/c", path);
    snprintf(wdir, sizeof wdir, "%s/wal", cdir);
    db = open_rw_keep(path, 1, 4);
    CHECK(db != NULL);
    if (db == NULL)
        return;
    CHECK_RC(make_coll(db, "c", &c), VEX_OK);
    for (size_t s = 0; s < sizeof steps / sizeof steps[0]; s++) {
        for (uint32_t k = 0; k < steps[s].ops; k++, next++)
            CHECK_RC(apply_op(c, next), VEX_OK);
        for (int what = 0; what < 2; what++) {
            if (what == 0 && steps[s].flush)
                CHECK_RC(vex_flush(c), VEX_OK);
            else if (what == 1 && steps[s].compact)
                CHECK_RC(vex_compact(c), VEX_OK);
            else
                continue;
            l = versions_of(db);
            CHECK(l.n >= 1 && l.n <= 4 && l.v[l.n - 1].current);
            if (l.n >= 1 && n_pub < 32 &&
                (n_pub == 0 || l.v[l.n - 1].version != pub_ver[n_pub - 1])) {
                pub_ver[n_pub] = l.v[l.n - 1].version;
                pub_seq[n_pub] = l.v[l.n - 1].as_of_seq;
                CHECK_EQ_INT(pub_seq[n_pub], next - 1);
                n_pub++;
            }
        }
    }
    CHECK(n_pub >= 8);
    l = versions_of(db);
    CHECK_EQ_INT(l.n, 4);
    CHECK_EQ_INT(count_files(cdir, "MANIFEST-"), 4);
    for (int i = 0; i < l.n; i++) /* the newest four, oldest first */
        CHECK_EQ_INT(l.v[i].version, pub_ver[n_pub - 4 + i]);
    check_versions(path, &l);

    /* versions beyond the window are gone */
    CHECK_RC(open_ro_vfs(path, NULL, &ro), VEX_OK);
    CHECK_RC(vex_collection_open_at(ro, "c", pub_ver[0], &at), VEX_NOTFOUND);
    CHECK(strstr(vex_db_errmsg(ro), "not kept") != NULL);
    CHECK(at == NULL);
    CHECK_RC(vex_collection_open_at(ro, "c", pub_ver[n_pub - 4], &at), VEX_OK);
    if (at) {
        int changed;
        /* a pinned handle: no refresh, no writes; a plain open is another
         * handle, at the current state */
        vex_collection *cur = NULL;
        CHECK_RC(vex_collection_refresh(at, &changed), VEX_MISUSE);
        vec_of(1, 1, v);
        CHECK_RC(vex_upsert(at, 1, v), VEX_READONLY);
        CHECK_RC(vex_collection_open(ro, "c", &cur), VEX_OK);
        CHECK(cur != at);
        if (cur)
            CHECK_EQ_INT(check_snapshot(cur, next - 1), next - 1);
        vex_collection_close(cur);
        vex_collection_close(at);
    }
    CHECK_RC(vex_collection_open_at(db, "c", pub_ver[n_pub - 1], &at),
             VEX_MISUSE); /* a writable database */
    CHECK_RC(vex_db_close(ro), VEX_OK);

    /* reopening the writer (its orphan sweep) keeps the window */
    CHECK_RC(vex_db_close(db), VEX_OK);
    db = open_rw_keep(path, 0, 4);
    CHECK(db != NULL);
    if (db == NULL)
        return;
    CHECK_RC(vex_collection_open(db, "c", &c), VEX_OK);
    l = versions_of(db);
    CHECK_EQ_INT(l.n, 4);
    check_versions(path, &l);
    CHECK_RC(vex_db_close(db), VEX_OK);

    /* a smaller window: the versions beyond it go at the next open, and
     * with it their files */
    db = open_rw_keep(path, 0, 2);
    CHECK(db != NULL);
    if (db == NULL)
        return;
    CHECK_RC(vex_collection_open(db, "c", &c), VEX_OK);
    l = versions_of(db);
    CHECK_EQ_INT(l.n, 2);
    CHECK_EQ_INT(count_files(cdir, "MANIFEST-"), 2);
    check_versions(path, &l);
    /* retention 1 (as before point-in-time reads): one manifest, and after
     * a flush one log file */
    CHECK_RC(vex_db_close(db), VEX_OK);
    db = open_rw_keep(path, 0, 1);
    CHECK(db != NULL);
    if (db == NULL)
        return;
    CHECK_RC(vex_collection_open(db, "c", &c), VEX_OK);
    for (uint32_t k = 0; k < 30; k++, next++)
        CHECK_RC(apply_op(c, next), VEX_OK);
    CHECK_RC(vex_flush(c), VEX_OK);
    CHECK_RC(vex_compact(c), VEX_OK);
    l = versions_of(db);
    CHECK_EQ_INT(l.n, 1);
    CHECK_EQ_INT(count_files(cdir, "MANIFEST-"), 1);
    /* replaced segments go with the last snapshot reading them (a
     * background job may hold one for a moment) */
    for (int t = 0; t < 200 && count_files(cdir, "seg-") > 1; t++)
        usleep(10000);
    CHECK_EQ_INT(count_files(cdir, "seg-"), 1);
    CHECK_EQ_INT(count_files(wdir, "wal-"), 1);
    check_versions(path, &l);
    CHECK_RC(vex_db_close(db), VEX_OK);
}

/* The window's removals are best effort: with every remove failing, the
 * publishes still succeed and every kept version still reads right; the
 * next open removes what is beyond the window. */
static void test_ro_keep_remove_faults(void)
{
    char path[300], cdir[400];
    vex_db_options o;
    vex_db *db = NULL;
    vex_collection *c = NULL;
    vex_vfs *posix = NULL, *fault = NULL;
    vex_fault_config fc;
    vex_fault_stats st;
    uint32_t next = 1;
    vlist l;

    gen_ops(71);
    db_path(path, sizeof path, "keepfault");
    snprintf(cdir, sizeof cdir, "%s/collections/c", path);
    CHECK_RC(vx_vfs_posix_create(NULL, &posix), VEX_OK);
    CHECK_RC(vx_vfs_fault_create(posix, NULL, &fault), VEX_OK);
    vex_db_options_init(&o);
    o.create_if_missing = 1;
    o.n_threads = 2;
    o.background_threads = 1;
    o.compact_min_merge = 0;
    o.compact_deleted_pct = 0;
    o.manifest_retention = 3;
    CHECK_RC(vx_db_open_vfs(path, &o, fault, &db), VEX_OK);
    CHECK_RC(make_coll(db, "c", &c), VEX_OK);
    memset(&fc, 0, sizeof fc);
    fc.mask = VEX_FAULT_BIT(VEX_FAULT_M_REMOVE);
    fc.fail_at = 1;
    fc.persistent = 1;
    vx_vfs_fault_set(fault, &fc);
    for (int s = 0; s < 6 && c; s++) {
        for (uint32_t k = 0; k < 40; k++, next++)
            CHECK_RC(apply_op(c, next), VEX_OK);
        CHECK_RC(vex_flush(c), VEX_OK);
        if (s % 2)
            CHECK_RC(vex_compact(c), VEX_OK);
    }
    vx_vfs_fault_stats(fault, &st);
    CHECK(st.n_faults > 0); /* removals were attempted and failed */
    l = versions_of(db);
    CHECK(l.n > 3); /* the files beyond the window are still there */
    CHECK_RC(vex_db_close(db), VEX_OK);
    db = NULL;
    /* what is kept reads right even so (the newest three) */
    if (l.n > 3) {
        vlist k = l;
        memmove(k.v, k.v + (k.n - 3), 3 * sizeof k.v[0]);
        k.n = 3;
        check_versions(path, &k);
    }
    /* the next writable open sweeps the rest */
    vx_vfs_fault_set(fault, &(vex_fault_config){0, 0, 0, 0});
    o.create_if_missing = 0;
    CHECK_RC(vx_db_open_vfs(path, &o, fault, &db), VEX_OK);
    CHECK_RC(vex_collection_open(db, "c", &c), VEX_OK);
    l = versions_of(db);
    CHECK_EQ_INT(l.n, 3);
    CHECK_EQ_INT(count_files(cdir, "MANIFEST-"), 3);
    check_versions(path, &l);
    CHECK_RC(vex_db_close(db), VEX_OK);
    fault->methods->destroy(fault);
    posix->methods->destroy(posix);
}

int main(void)
{
    make_root();
    TEST_RUN(test_ro_errors);
    TEST_RUN(test_ro_writes_nothing);
    TEST_RUN(test_ro_refresh_in_process);
    TEST_RUN(test_ro_races);
    TEST_RUN(test_ro_time_travel);
    TEST_RUN(test_ro_keep_remove_faults);
    TEST_RUN(test_ro_writer_process);
    if (test_failures_ == 0)
        rm_rf(tmp_root);
    return TEST_EXIT();
}

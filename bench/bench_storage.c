/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench_storage.c - storage benchmarks of a VexDB database directory
 * (issue 4): durable insert throughput and acknowledgement latency per
 * durability mode and writer count, next to SQLite in the same run; WAL
 * replay speed; the time to open a database whose vectors sit in flushed
 * segments; and a bare pwrite+fdatasync probe of the disk under --dir,
 * since no commit protocol can acknowledge faster than the device syncs.
 *
 * Uses only include/vexdb.h (plus SQLite for the peer, when CMake found
 * it). Prints one JSON object per line on stdout; progress on stderr.
 * bench/storage_bench.py runs everything and prints the tables.
 *
 * usage: bench_storage [options] fsync|ingest|sqlite|replay|open ...
 *   --dir DIR          where databases are made (default
 *                      /tmp/vexdb-storagebench); each config gets a
 *                      fresh subdirectory, removed afterwards
 *   --seconds S        ingest: seconds per config (default 3)
 *   --max-ops N        ingest: at most N commits per config (default 2M)
 *   --threads LIST     ingest: writer threads (default 1,2,8)
 *   --modes LIST       ingest: group,full,none (default all three)
 *   --kinds LIST       ingest: flat,hnsw (default both)
 *   --batch B          ingest: B inserts per commit (vex_batch; default 1
 *                      = vex_insert)
 *   --prefill N        ingest: rows loaded before timing (default 12000,
 *                      past memtable_exact_rows so an HNSW collection's
 *                      memtable is already a graph)
 *   --replay-n N       replay: rows (default 200000)
 *   --replay-hnsw-n N  replay: rows of the HNSW case (default 50000, 0 off)
 *   --open-sizes LIST  open: rows of FLAT collections in one segment
 *                      (default 100000,300000,1000000)
 *   --open-hnsw-n N    open: rows of an HNSW collection (default 100000,
 *                      0 = skip)
 *   --open-wal-mb LIST open: wal_file_bytes in MiB (default 64,1: the
 *                      default, and small log files, because a flush keeps
 *                      the log file it was appending to and open reads it)
 *   --reps R           open/replay: repetitions (default 20 / 3)
 *   --keep             keep the databases
 * Environment: VEX_BENCH_EXACT_ROWS=N sets memtable_exact_rows (an HNSW
 * memtable below N rows is not indexed in the background).
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifdef VEX_BENCH_HAVE_SQLITE
#include <sqlite3.h>
#endif

#include "vexdb.h"

#define DIM       128
#define POOL      65536 /* pre-generated vectors */
#define MAX_LISTS 8

/* ---------------------------------------------------------------------
 * Options and helpers
 * ------------------------------------------------------------------- */

typedef struct bopts {
    char dir[1024];
    double seconds;
    uint64_t max_ops;
    int threads[MAX_LISTS], n_threads;
    int modes[MAX_LISTS], n_modes;
    int kinds[MAX_LISTS], n_kinds;
    uint32_t batch;
    uint64_t prefill;
    uint64_t replay_n, replay_hnsw_n;
    uint64_t open_sizes[MAX_LISTS];
    int n_open_sizes;
    uint64_t open_hnsw_n;
    uint64_t open_wal_mb[MAX_LISTS];
    int n_open_wal;
    int reps;
    int keep;
    char fs[64];
} bopts;

static float *g_pool; /* POOL x DIM random vectors */
static const size_t vec_bytes = DIM * sizeof(float);

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void die(const char *what, const char *msg)
{
    fprintf(stderr, "bench_storage: %s: %s\n", what, msg);
    exit(1);
}

static const float *vec_of(uint64_t id)
{
    return g_pool + (size_t)(id % POOL) * DIM;
}

static void make_pool(void)
{
    uint64_t s = 0x9e3779b97f4a7c15ull;
    g_pool = malloc((size_t)POOL * vec_bytes);
    if (g_pool == NULL)
        die("pool", "out of memory");
    for (size_t i = 0; i < (size_t)POOL * DIM; i++) {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        g_pool[i] = (float)((double)(s >> 11) / 9007199254740992.0 * 2 - 1);
    }
}

static int rm_entry(const char *path, const struct stat *sb, int flag,
                    struct FTW *f)
{
    (void)sb;
    (void)flag;
    (void)f;
    remove(path);
    return 0;
}

static void rm_tree(const char *path)
{
    nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* bytes and count of files under a tree whose name starts with `prefix`
 * and ends with `suffix` */
static const char *g_pre, *g_suf;
static uint64_t g_bytes, g_files;
static int sum_entry(const char *path, const struct stat *sb, int flag,
                     struct FTW *f)
{
    const char *name = path + f->base;
    size_t n = strlen(name), ns = strlen(g_suf);
    if (flag == FTW_F && strncmp(name, g_pre, strlen(g_pre)) == 0 && n >= ns &&
        strcmp(name + n - ns, g_suf) == 0) {
        g_bytes += (uint64_t)sb->st_size;
        g_files++;
    }
    return 0;
}

static uint64_t sum_files(const char *root, const char *prefix,
                          const char *suffix, uint64_t *n_files)
{
    g_pre = prefix;
    g_suf = suffix;
    g_bytes = g_files = 0;
    nftw(root, sum_entry, 16, FTW_PHYS);
    if (n_files)
        *n_files = g_files;
    return g_bytes;
}

static void fs_name(const char *dir, char *out, size_t size)
{
    struct statfs sf;
    const char *n = "unknown";
    if (statfs(dir, &sf) != 0) {
        snprintf(out, size, "unknown");
        return;
    }
    switch ((unsigned long)sf.f_type) {
    case 0xEF53:
        n = "ext2/ext3/ext4";
        break;
    case 0x01021994:
        n = "tmpfs";
        break;
    case 0x58465342:
        n = "xfs";
        break;
    case 0x9123683E:
        n = "btrfs";
        break;
    case 0x794c7630:
        n = "overlayfs";
        break;
    }
    snprintf(out, size, "%s (f_type 0x%lx)", n, (unsigned long)sf.f_type);
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static int cmp_dbl(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

typedef struct lat {
    double p50, p99, p999, max, mean; /* microseconds */
} lat;

/* sorts v */
static lat lat_stats(uint32_t *v, size_t n)
{
    lat l = {0, 0, 0, 0, 0};
    double sum = 0;
    if (n == 0)
        return l;
    qsort(v, n, sizeof *v, cmp_u32);
    for (size_t i = 0; i < n; i++)
        sum += v[i];
    l.p50 = v[(size_t)(0.50 * (double)(n - 1))] / 1e3;
    l.p99 = v[(size_t)(0.99 * (double)(n - 1))] / 1e3;
    l.p999 = v[(size_t)(0.999 * (double)(n - 1))] / 1e3;
    l.max = v[n - 1] / 1e3;
    l.mean = sum / (double)n / 1e3;
    return l;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_dbl);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static const char *mode_name(int m)
{
    return m == VEX_DURABILITY_GROUP  ? "group"
           : m == VEX_DURABILITY_FULL ? "full"
                                      : "none";
}

static const char *kind_name(int k)
{
    return k == VEX_INDEX_FLAT ? "flat" : "hnsw";
}

static void db_opts(vex_db_options *o, int mode)
{
    const char *e = getenv("VEX_BENCH_EXACT_ROWS");
    vex_db_options_init(o);
    o->create_if_missing = 1;
    o->durability = (vex_durability)mode;
    if (e) /* experiments: keep memtables out of the graph builder */
        o->memtable_exact_rows = (uint32_t)strtoul(e, NULL, 10);
}

static vex_db *db_open(const char *path, const vex_db_options *o)
{
    vex_db *db = NULL;
    if (vex_db_open(path, o, &db) != VEX_OK)
        die(path, db ? vex_db_errmsg(db) : "out of memory");
    return db;
}

static vex_collection *coll_create(vex_db *db, int kind, uint32_t efc)
{
    vex_collection_config cfg;
    vex_collection *c = NULL;
    vex_collection_config_init(&cfg);
    cfg.dim = DIM;
    cfg.index_kind = (vex_index_kind)kind;
    if (kind == VEX_INDEX_HNSW)
        cfg.hnsw_ef_construction = efc;
    if (vex_collection_create(db, "c", &cfg, &c) != VEX_OK)
        die("create", vex_db_errmsg(db));
    return c;
}

/* insert ids [first, first+n) in batches of `per` */
static void load(vex_collection *c, uint64_t first, uint64_t n, uint32_t per)
{
    vex_batch *b = NULL;
    if (vex_batch_create(vec_bytes, NULL, &b) != VEX_OK)
        die("batch", "create");
    for (uint64_t i = 0; i < n;) {
        vex_batch_clear(b);
        for (uint32_t j = 0; j < per && i < n; j++, i++)
            if (vex_batch_insert(b, first + i, vec_of(first + i)) != VEX_OK)
                die("batch", "insert");
        if (vex_batch_commit(c, b) != VEX_OK)
            die("load", vex_collection_errmsg(c));
    }
    vex_batch_free(b);
}

/* ---------------------------------------------------------------------
 * A timed run of T writer threads (VexDB or SQLite)
 * ------------------------------------------------------------------- */

typedef struct run run;
typedef struct worker {
    run *r;
    int t;
    uint32_t *lat; /* ns per commit */
    uint64_t n, cap;
    double end;
    void *conn; /* per-thread peer state */
    int failed;
    char msg[256];
} worker;

/* one commit of `n` inserts of ids from `first` on; 0 on success */
typedef int (*commit_fn)(worker *w, uint64_t first, uint32_t n);

struct run {
    int n_threads;
    uint32_t batch;
    double seconds;
    uint64_t base; /* first id */
    commit_fn commit;
    vex_collection *c;
    pthread_barrier_t bar;
    double start;
    worker *w;
};

static void *worker_main(void *arg)
{
    worker *w = arg;
    run *r = w->r;
    double deadline;
    uint64_t k = 0;
    pthread_barrier_wait(&r->bar);
    deadline = r->start + r->seconds;
    while (w->n < w->cap) {
        /* commit k of thread t: ids base + (k*T + t)*B .. +B */
        uint64_t first =
            r->base + (k * (uint64_t)r->n_threads + (uint64_t)w->t) * r->batch;
        uint64_t t0 = now_ns(), t1;
        if (r->commit(w, first, r->batch) != 0) {
            w->failed = 1;
            break;
        }
        t1 = now_ns();
        w->lat[w->n++] =
            t1 - t0 > UINT32_MAX ? UINT32_MAX : (uint32_t)(t1 - t0);
        k++;
        if ((double)t1 * 1e-9 >= deadline)
            break;
    }
    w->end = now();
    return NULL;
}

/* Runs the threads; fills ops/s and latency; returns commits done. */
static uint64_t run_threads(run *r, uint64_t max_ops, double *secs, lat *l,
                            void *(*conn_open)(run *, int),
                            void (*conn_close)(void *))
{
    pthread_t th[64];
    uint64_t total = 0, per = max_ops / (uint64_t)r->n_threads;
    uint32_t *all;
    double end = 0;
    r->w = calloc((size_t)r->n_threads, sizeof *r->w);
    pthread_barrier_init(&r->bar, NULL, (unsigned)r->n_threads + 1);
    for (int t = 0; t < r->n_threads; t++) {
        worker *w = &r->w[t];
        w->r = r;
        w->t = t;
        w->cap = per;
        w->lat = malloc(per * sizeof *w->lat);
        if (w->lat == NULL)
            die("latencies", "out of memory");
        w->conn = conn_open ? conn_open(r, t) : NULL;
        pthread_create(&th[t], NULL, worker_main, w);
    }
    r->start = now();
    pthread_barrier_wait(&r->bar);
    for (int t = 0; t < r->n_threads; t++) {
        pthread_join(th[t], NULL);
        if (r->w[t].failed)
            die("commit", r->w[t].msg);
        total += r->w[t].n;
        if (r->w[t].end > end)
            end = r->w[t].end;
    }
    all = malloc((total ? total : 1) * sizeof *all);
    total = 0;
    for (int t = 0; t < r->n_threads; t++) {
        memcpy(all + total, r->w[t].lat, r->w[t].n * sizeof *all);
        total += r->w[t].n;
        free(r->w[t].lat);
        if (conn_close)
            conn_close(r->w[t].conn);
    }
    *l = lat_stats(all, total);
    *secs = end - r->start;
    free(all);
    free(r->w);
    pthread_barrier_destroy(&r->bar);
    return total;
}

/* ---------------------------------------------------------------------
 * fsync probe
 * ------------------------------------------------------------------- */

static void bench_fsync(const bopts *o)
{
    static const char *kinds[] = {"append", "overwrite"};
    char path[1100];
    char buf[512];
    memset(buf, 0x5a, sizeof buf);
    snprintf(path, sizeof path, "%s/fsync-probe", o->dir);
    for (int k = 0; k < 2; k++) {
        int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
        uint64_t n = 0, cap = 100000;
        uint32_t *v = malloc(cap * sizeof *v);
        double t0, el;
        lat l;
        if (fd < 0 || v == NULL)
            die(path, strerror(errno));
        if (k == 1) { /* a preallocated, synced 1 MiB file */
            for (int i = 0; i < 2048; i++)
                if (pwrite(fd, buf, sizeof buf, (off_t)i * 512) != 512)
                    die(path, strerror(errno));
            fsync(fd);
        }
        t0 = now();
        while (n < cap && now() - t0 < 2.0) {
            off_t off = (off_t)(k == 0 ? n : n % 2048) * 512;
            uint64_t a = now_ns();
            if (pwrite(fd, buf, sizeof buf, off) != 512 || fdatasync(fd) != 0)
                die(path, strerror(errno));
            v[n++] = (uint32_t)(now_ns() - a);
        }
        el = now() - t0;
        l = lat_stats(v, n);
        printf("{\"bench\":\"storage_fsync_probe\",\"write\":\"%s\","
               "\"bytes\":512,\"fs\":\"%s\",\"syncs\":%llu,\"syncs_per_s\":"
               "%.0f,\"p50_us\":%.1f,\"p99_us\":%.1f,\"p999_us\":%.1f,"
               "\"max_us\":%.1f,\"mean_us\":%.1f}\n",
               kinds[k], o->fs, (unsigned long long)n, (double)n / el, l.p50,
               l.p99, l.p999, l.max, l.mean);
        fflush(stdout);
        close(fd);
        free(v);
        unlink(path);
    }
}

/* ---------------------------------------------------------------------
 * ingest: VexDB
 * ------------------------------------------------------------------- */

static int vex_commit(worker *w, uint64_t first, uint32_t n)
{
    vex_collection *c = w->r->c;
    int rc;
    if (n == 1) {
        rc = vex_insert(c, first, vec_of(first));
    } else {
        vex_batch *b = w->conn;
        vex_batch_clear(b);
        for (uint32_t i = 0; i < n; i++)
            vex_batch_insert(b, first + i, vec_of(first + i));
        rc = vex_batch_commit(c, b);
    }
    if (rc != VEX_OK)
        vex_collection_errmsg_copy(c, w->msg, sizeof w->msg);
    return rc;
}

static void *vex_conn_open(run *r, int t)
{
    vex_batch *b = NULL;
    (void)t;
    if (r->batch > 1 && vex_batch_create(vec_bytes, NULL, &b) != VEX_OK)
        die("batch", "create");
    return b;
}

static void vex_conn_close(void *p)
{
    vex_batch_free(p);
}

static void print_ingest(const char *engine, const char *kind, const char *mode,
                         int threads, uint32_t batch, uint64_t commits,
                         double secs, const lat *l, uint64_t segs,
                         const bopts *o)
{
    printf("{\"bench\":\"storage_ingest\",\"engine\":\"%s\",\"kind\":\"%s\","
           "\"mode\":\"%s\",\"threads\":%d,\"batch\":%u,\"dim\":%d,"
           "\"commits\":%llu,\"seconds\":%.3f,\"rows_per_s\":%.0f,"
           "\"commits_per_s\":%.0f,\"p50_us\":%.1f,\"p99_us\":%.1f,"
           "\"p999_us\":%.1f,\"max_us\":%.1f,\"mean_us\":%.1f,"
           "\"segments_flushed\":%llu,\"fs\":\"%s\"}\n",
           engine, kind, mode, threads, batch, DIM, (unsigned long long)commits,
           secs, (double)commits * batch / secs, (double)commits / secs, l->p50,
           l->p99, l->p999, l->max, l->mean, (unsigned long long)segs, o->fs);
    fflush(stdout);
}

static void bench_ingest(const bopts *o)
{
    char path[1100];
    for (int ki = 0; ki < o->n_kinds; ki++)
        for (int mi = 0; mi < o->n_modes; mi++)
            for (int ti = 0; ti < o->n_threads; ti++) {
                vex_db_options dbo;
                vex_db *db;
                run r;
                lat l;
                double secs;
                uint64_t commits, segs;
                int kind = o->kinds[ki], mode = o->modes[mi];
                snprintf(path, sizeof path, "%s/ingest-%s-%s-%d", o->dir,
                         kind_name(kind), mode_name(mode), o->threads[ti]);
                rm_tree(path);
                db_opts(&dbo, mode);
                db = db_open(path, &dbo);
                memset(&r, 0, sizeof r);
                r.c = coll_create(db, kind, 0);
                if (o->prefill)
                    load(r.c, 0, o->prefill, 1000);
                r.n_threads = o->threads[ti];
                r.batch = o->batch;
                r.seconds = o->seconds;
                r.base = 1000000000ull;
                r.commit = vex_commit;
                fprintf(stderr, "ingest vexdb %s %s threads=%d batch=%u\n",
                        kind_name(kind), mode_name(mode), r.n_threads, r.batch);
                commits = run_threads(&r, o->max_ops, &secs, &l, vex_conn_open,
                                      vex_conn_close);
                vex_collection_close(r.c);
                vex_db_close(db);
                sum_files(path, "seg-", ".vseg", &segs);
                print_ingest("vexdb", kind_name(kind), mode_name(mode),
                             r.n_threads, r.batch, commits, secs, &l, segs, o);
                if (!o->keep)
                    rm_tree(path);
            }
}

/* ---------------------------------------------------------------------
 * ingest: SQLite peer
 * ------------------------------------------------------------------- */

#ifdef VEX_BENCH_HAVE_SQLITE
typedef struct sq {
    sqlite3 *db;
    sqlite3_stmt *ins, *begin, *commit;
} sq;

static const char *g_sq_path;
static const char *g_sq_sync;

static void sq_exec(sqlite3 *db, const char *sql)
{
    char *err = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK)
        die(sql, err ? err : "?");
}

static void *sq_conn_open(run *r, int t)
{
    sq *s = calloc(1, sizeof *s);
    char sql[128];
    (void)r;
    (void)t;
    if (sqlite3_open(g_sq_path, &s->db) != SQLITE_OK)
        die(g_sq_path, sqlite3_errmsg(s->db));
    sqlite3_busy_timeout(s->db, 60000);
    snprintf(sql, sizeof sql, "PRAGMA synchronous=%s", g_sq_sync);
    sq_exec(s->db, sql);
    if (sqlite3_prepare_v2(s->db, "INSERT INTO t(id, v) VALUES(?, ?)", -1,
                           &s->ins, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(s->db, "BEGIN IMMEDIATE", -1, &s->begin, NULL) !=
            SQLITE_OK ||
        sqlite3_prepare_v2(s->db, "COMMIT", -1, &s->commit, NULL) != SQLITE_OK)
        die("prepare", sqlite3_errmsg(s->db));
    return s;
}

static void sq_conn_close(void *p)
{
    sq *s = p;
    sqlite3_finalize(s->ins);
    sqlite3_finalize(s->begin);
    sqlite3_finalize(s->commit);
    sqlite3_close(s->db);
    free(s);
}

static int sq_step(worker *w, sqlite3_stmt *st)
{
    sq *s = w->conn;
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        snprintf(w->msg, sizeof w->msg, "sqlite: %s", sqlite3_errmsg(s->db));
        return 1;
    }
    return 0;
}

static int sq_commit(worker *w, uint64_t first, uint32_t n)
{
    sq *s = w->conn;
    if (n > 1 && sq_step(w, s->begin))
        return 1;
    for (uint32_t i = 0; i < n; i++) {
        sqlite3_bind_int64(s->ins, 1, (sqlite3_int64)(first + i));
        sqlite3_bind_blob(s->ins, 2, vec_of(first + i), (int)vec_bytes,
                          SQLITE_STATIC);
        if (sq_step(w, s->ins))
            return 1;
    }
    return n > 1 ? sq_step(w, s->commit) : 0;
}

static void bench_sqlite(const bopts *o)
{
    static const char *syncs[] = {"FULL", "NORMAL"};
    char dir[1100], path[1200];
    for (int si = 0; si < 2; si++)
        for (int ti = 0; ti < o->n_threads; ti++) {
            run r;
            lat l;
            double secs;
            uint64_t commits;
            sq *s;
            snprintf(dir, sizeof dir, "%s/sqlite-%s-%d", o->dir, syncs[si],
                     o->threads[ti]);
            rm_tree(dir);
            if (mkdir(dir, 0755) != 0)
                die(dir, strerror(errno));
            snprintf(path, sizeof path, "%s/db.sqlite", dir);
            g_sq_path = path;
            g_sq_sync = syncs[si];
            {
                sqlite3 *setup = NULL;
                if (sqlite3_open(path, &setup) != SQLITE_OK)
                    die(path, sqlite3_errmsg(setup));
                sq_exec(setup, "PRAGMA journal_mode=WAL");
                sq_exec(setup, "CREATE TABLE t(id INTEGER PRIMARY KEY, "
                               "v BLOB NOT NULL)");
                sqlite3_close(setup);
            }
            s = sq_conn_open(NULL, 0);
            if (o->prefill) {
                worker w;
                memset(&w, 0, sizeof w);
                w.conn = s;
                if (sq_commit(&w, 0, (uint32_t)o->prefill))
                    die("prefill", w.msg);
            }
            memset(&r, 0, sizeof r);
            r.n_threads = o->threads[ti];
            r.batch = o->batch;
            r.seconds = o->seconds;
            r.base = 1000000000ull;
            r.commit = sq_commit;
            fprintf(stderr,
                    "ingest sqlite synchronous=%s threads=%d batch=%u\n",
                    syncs[si], r.n_threads, r.batch);
            commits = run_threads(&r, o->max_ops, &secs, &l, sq_conn_open,
                                  sq_conn_close);
            sq_conn_close(s);
            print_ingest("sqlite", "blob",
                         si == 0 ? "wal+sync_full" : "wal+sync_normal",
                         r.n_threads, r.batch, commits, secs, &l, 0, o);
            if (!o->keep)
                rm_tree(dir);
        }
}
#else
static void bench_sqlite(const bopts *o)
{
    (void)o;
    fprintf(stderr, "bench_storage: built without SQLite; peer skipped\n");
    printf("{\"bench\":\"storage_ingest\",\"engine\":\"sqlite\","
           "\"skipped\":\"not built with SQLite\"}\n");
}
#endif

/* ---------------------------------------------------------------------
 * replay
 * ------------------------------------------------------------------- */

static void replay_case(const bopts *o, int kind, uint64_t n, uint32_t per)
{
    char path[1100];
    vex_db_options dbo;
    vex_db *db;
    vex_collection *c;
    double t0, write_s, *open_s, *coll_s, *close_s;
    uint64_t log_bytes, log_files;
    int reps = o->reps;
    snprintf(path, sizeof path, "%s/replay-%s-%u", o->dir, kind_name(kind),
             per);
    rm_tree(path);
    db_opts(&dbo, VEX_DURABILITY_NONE);
    dbo.memtable_bytes = 1ull << 30;
    db = db_open(path, &dbo);
    c = coll_create(db, kind, 0);
    fprintf(stderr, "replay %s: writing %llu rows, %u per commit\n",
            kind_name(kind), (unsigned long long)n, per);
    t0 = now();
    if (per == 1) {
        for (uint64_t i = 0; i < n; i++)
            if (vex_insert(c, i, vec_of(i)) != VEX_OK)
                die("insert", vex_collection_errmsg(c));
    } else {
        load(c, 0, n, per);
    }
    write_s = now() - t0;
    vex_collection_close(c);
    vex_db_close(db);
    log_bytes = sum_files(path, "wal-", ".log", &log_files);
    open_s = calloc((size_t)reps, sizeof *open_s);
    coll_s = calloc((size_t)reps, sizeof *coll_s);
    close_s = calloc((size_t)reps, sizeof *close_s);
    for (int i = 0; i < reps; i++) {
        double a = now(), b, d;
        db = db_open(path, &dbo);
        b = now();
        if (vex_collection_open(db, "c", &c) != VEX_OK)
            die("open", vex_db_errmsg(db));
        d = now();
        if (vex_collection_count(c) != n)
            die("replay", "wrong row count");
        open_s[i] = b - a;
        coll_s[i] = d - b;
        a = now();
        vex_collection_close(c);
        vex_db_close(db);
        close_s[i] = now() - a;
    }
    {
        double best = 1e30, tot;
        for (int i = 0; i < reps; i++)
            if (open_s[i] + coll_s[i] < best)
                best = open_s[i] + coll_s[i];
        tot = median(coll_s, reps) + median(open_s, reps);
        printf("{\"bench\":\"storage_replay\",\"kind\":\"%s\",\"rows\":%llu,"
               "\"rows_per_record\":%u,\"dim\":%d,\"log_bytes\":%llu,"
               "\"log_files\":%llu,\"write_s\":%.3f,\"reps\":%d,"
               "\"db_open_ms_median\":%.3f,\"open_ms_median\":%.1f,"
               "\"open_ms_best\":%.1f,\"rows_per_s\":%.0f,\"log_mb_per_s\":"
               "%.1f,\"close_ms_median\":%.1f,\"fs\":\"%s\"}\n",
               kind_name(kind), (unsigned long long)n, per, DIM,
               (unsigned long long)log_bytes, (unsigned long long)log_files,
               write_s, reps, median(open_s, reps) * 1e3, tot * 1e3, best * 1e3,
               (double)n / tot, (double)log_bytes / tot / 1e6,
               median(close_s, reps) * 1e3, o->fs);
        fflush(stdout);
    }
    free(open_s);
    free(coll_s);
    free(close_s);
    if (!o->keep)
        rm_tree(path);
}

static void bench_replay(const bopts *o)
{
    replay_case(o, VEX_INDEX_FLAT, o->replay_n, 1000);
    replay_case(o, VEX_INDEX_FLAT, o->replay_n, 1);
    if (o->replay_hnsw_n)
        replay_case(o, VEX_INDEX_HNSW, o->replay_hnsw_n, 1000);
}

/* ---------------------------------------------------------------------
 * open
 * ------------------------------------------------------------------- */

#define N_STEADY 20

/* One repetition in a fresh child process: db open, collection open,
 * first search, then N_STEADY searches. Writes 4 doubles to fd. */
static void open_child(const char *path, int fd, uint64_t q)
{
    vex_db_options dbo;
    vex_db *db;
    vex_collection *c;
    vex_hit hits[10];
    size_t nh;
    double r[4], t0, t1, t2, t3, st[N_STEADY];
    db_opts(&dbo, VEX_DURABILITY_GROUP);
    dbo.create_if_missing = 0;
    dbo.memtable_bytes = 1ull << 30;
    t0 = now();
    db = db_open(path, &dbo);
    t1 = now();
    if (vex_collection_open(db, "c", &c) != VEX_OK)
        die("open", vex_db_errmsg(db));
    t2 = now();
    if (vex_search(c, vec_of(q), 10, NULL, hits, NULL, &nh) != VEX_OK ||
        nh != 10)
        die("search", vex_collection_errmsg(c));
    t3 = now();
    for (int i = 0; i < N_STEADY; i++) {
        double a = now();
        vex_search(c, vec_of(q + 1 + (uint64_t)i), 10, NULL, hits, NULL, &nh);
        st[i] = now() - a;
    }
    r[0] = t1 - t0;
    r[1] = t2 - t1;
    r[2] = t3 - t2;
    r[3] = median(st, N_STEADY);
    if (write(fd, r, sizeof r) != (ssize_t)sizeof r)
        _exit(1);
    vex_collection_close(c);
    vex_db_close(db);
}

static void open_case(const bopts *o, int kind, uint64_t n, uint64_t mt_bytes,
                      uint64_t wal_mb)
{
    char path[1100];
    vex_db_options dbo;
    vex_db *db;
    vex_collection *c;
    double t0, build_s, *db_s, *coll_s, *tot_s, *first_s, *steady_s;
    uint64_t seg_bytes, n_segs, log_bytes, log_files;
    int reps = o->reps;
    snprintf(path, sizeof path, "%s/open-%s-%llu-%llu-%llu", o->dir,
             kind_name(kind), (unsigned long long)n,
             (unsigned long long)(mt_bytes >> 20), (unsigned long long)wal_mb);
    rm_tree(path);
    db_opts(&dbo, VEX_DURABILITY_NONE);
    dbo.memtable_bytes = mt_bytes;
    dbo.wal_file_bytes = wal_mb << 20;
    fprintf(stderr,
            "open %s: building %llu rows (memtable %llu MiB, log files of "
            "%llu MiB)\n",
            kind_name(kind), (unsigned long long)n,
            (unsigned long long)(mt_bytes >> 20), (unsigned long long)wal_mb);
    t0 = now();
    db = db_open(path, &dbo);
    c = coll_create(db, kind, 100);
    load(c, 0, n, 1000);
    if (vex_flush(c) != VEX_OK)
        die("flush", vex_collection_errmsg(c));
    vex_collection_close(c);
    vex_db_close(db);
    build_s = now() - t0;
    seg_bytes = sum_files(path, "seg-", ".vseg", &n_segs);
    log_bytes = sum_files(path, "wal-", ".log", &log_files);
    db_s = calloc((size_t)reps, sizeof *db_s);
    coll_s = calloc((size_t)reps, sizeof *coll_s);
    tot_s = calloc((size_t)reps, sizeof *tot_s);
    first_s = calloc((size_t)reps, sizeof *first_s);
    steady_s = calloc((size_t)reps, sizeof *steady_s);
    for (int i = 0; i < reps; i++) {
        int fds[2];
        double r[4];
        pid_t pid;
        int status;
        if (pipe(fds) != 0)
            die("pipe", strerror(errno));
        fflush(stdout);
        fflush(stderr);
        pid = fork();
        if (pid < 0)
            die("fork", strerror(errno));
        if (pid == 0) {
            close(fds[0]);
            open_child(path, fds[1], (uint64_t)i * 97);
            _exit(0);
        }
        close(fds[1]);
        if (read(fds[0], r, sizeof r) != (ssize_t)sizeof r)
            die("open", "child failed");
        close(fds[0]);
        waitpid(pid, &status, 0);
        db_s[i] = r[0] * 1e3;
        coll_s[i] = r[1] * 1e3;
        tot_s[i] = (r[0] + r[1]) * 1e3;
        first_s[i] = r[2] * 1e3;
        steady_s[i] = r[3] * 1e3;
    }
    qsort(tot_s, (size_t)reps, sizeof *tot_s, cmp_dbl);
    qsort(first_s, (size_t)reps, sizeof *first_s, cmp_dbl);
    printf("{\"bench\":\"storage_open\",\"kind\":\"%s\",\"rows\":%llu,"
           "\"memtable_mb\":%llu,\"wal_file_mb\":%llu,\"dim\":%d,\"segments\":%"
           "llu,\"segment_bytes\":%llu,"
           "\"log_files\":%llu,\"log_bytes\":%llu,\"build_s\":%.1f,"
           "\"reps\":%d,\"page_cache\":\"warm\",\"process\":\"fresh (fork)\","
           "\"db_open_ms_median\":%.3f,\"coll_open_ms_median\":%.3f,"
           "\"open_ms_best\":%.3f,\"open_ms_median\":%.3f,",
           kind_name(kind), (unsigned long long)n,
           (unsigned long long)(mt_bytes >> 20), (unsigned long long)wal_mb,
           DIM, (unsigned long long)n_segs, (unsigned long long)seg_bytes,
           (unsigned long long)log_files, (unsigned long long)log_bytes,
           build_s, reps, median(db_s, reps), median(coll_s, reps), tot_s[0],
           median(tot_s, reps));
    printf("\"open_ms_max\":%.3f,\"first_search_ms_best\":%.2f,"
           "\"first_search_ms_median\":%.2f,\"search_ms_median\":%.3f,"
           "\"fs\":\"%s\"}\n",
           tot_s[reps - 1], first_s[0], median(first_s, reps),
           median(steady_s, reps), o->fs);
    fflush(stdout);
    free(db_s);
    free(coll_s);
    free(tot_s);
    free(first_s);
    free(steady_s);
    if (!o->keep)
        rm_tree(path);
}

static void bench_open(const bopts *o)
{
    /* each size in one segment, for each log file size (the log file
     * being appended to is kept by a flush, and open reads it) */
    for (int w = 0; w < o->n_open_wal; w++)
        for (int i = 0; i < o->n_open_sizes; i++)
            open_case(o, VEX_INDEX_FLAT, o->open_sizes[i], 1ull << 30,
                      o->open_wal_mb[w]);
    /* the largest again with the default 64 MiB memtable: many segments */
    if (o->n_open_sizes)
        open_case(o, VEX_INDEX_FLAT, o->open_sizes[o->n_open_sizes - 1],
                  64ull << 20, o->open_wal_mb[0]);
    if (o->open_hnsw_n)
        for (int w = 0; w < o->n_open_wal; w++)
            open_case(o, VEX_INDEX_HNSW, o->open_hnsw_n, 1ull << 30,
                      o->open_wal_mb[w]);
}

/* ---------------------------------------------------------------------
 * main
 * ------------------------------------------------------------------- */

static int parse_list(const char *s, uint64_t *out, int max)
{
    int n = 0;
    char *end;
    while (*s && n < max) {
        out[n++] = strtoull(s, &end, 10);
        if (end == s)
            die("list", s);
        s = *end == ',' ? end + 1 : end;
    }
    return n;
}

static int parse_names(const char *s, int *out, const char *const *names,
                       const int *vals, int n_names)
{
    int n = 0;
    char tok[32];
    while (*s && n < MAX_LISTS) {
        size_t len = strcspn(s, ",");
        int found = 0;
        snprintf(tok, sizeof tok, "%.*s", (int)len, s);
        for (int i = 0; i < n_names; i++)
            if (strcmp(tok, names[i]) == 0) {
                out[n++] = vals[i];
                found = 1;
            }
        if (!found)
            die("unknown name", tok);
        s += len;
        if (*s == ',')
            s++;
    }
    return n;
}

int main(int argc, char **argv)
{
    static const char *const mnames[] = {"group", "full", "none"};
    static const int mvals[] = {VEX_DURABILITY_GROUP, VEX_DURABILITY_FULL,
                                VEX_DURABILITY_NONE};
    static const char *const knames[] = {"flat", "hnsw"};
    static const int kvals[] = {VEX_INDEX_FLAT, VEX_INDEX_HNSW};
    bopts o;
    uint64_t tmp[MAX_LISTS];
    int i, reps_set = 0, n_cmds = 0;
    const char *cmds[16];

    memset(&o, 0, sizeof o);
    snprintf(o.dir, sizeof o.dir, "/tmp/vexdb-storagebench");
    o.seconds = 3;
    o.max_ops = 2000000;
    o.threads[0] = 1;
    o.threads[1] = 2;
    o.threads[2] = 8;
    o.n_threads = 3;
    o.n_modes = parse_names("group,full,none", o.modes, mnames, mvals, 3);
    o.n_kinds = parse_names("flat,hnsw", o.kinds, knames, kvals, 2);
    o.batch = 1;
    o.prefill = 12000;
    o.replay_n = 200000;
    o.replay_hnsw_n = 50000;
    o.n_open_sizes = parse_list("100000,300000,1000000", o.open_sizes, 8);
    o.open_hnsw_n = 100000;
    o.n_open_wal = parse_list("64,1", o.open_wal_mb, MAX_LISTS);

    for (i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int used = 1;
        if (strcmp(a, "--keep") == 0) {
            o.keep = 1;
            continue;
        }
        if (a[0] != '-') {
            if (n_cmds < 16)
                cmds[n_cmds++] = a;
            continue;
        }
        if (v == NULL)
            die(a, "needs a value");
        if (strcmp(a, "--dir") == 0)
            snprintf(o.dir, sizeof o.dir, "%s", v);
        else if (strcmp(a, "--seconds") == 0)
            o.seconds = atof(v);
        else if (strcmp(a, "--max-ops") == 0)
            o.max_ops = strtoull(v, NULL, 10);
        else if (strcmp(a, "--threads") == 0) {
            o.n_threads = parse_list(v, tmp, MAX_LISTS);
            for (int j = 0; j < o.n_threads; j++)
                o.threads[j] = (int)tmp[j] > 64 ? 64 : (int)tmp[j];
        } else if (strcmp(a, "--modes") == 0)
            o.n_modes = parse_names(v, o.modes, mnames, mvals, 3);
        else if (strcmp(a, "--kinds") == 0)
            o.n_kinds = parse_names(v, o.kinds, knames, kvals, 2);
        else if (strcmp(a, "--batch") == 0)
            o.batch = (uint32_t)strtoul(v, NULL, 10);
        else if (strcmp(a, "--prefill") == 0)
            o.prefill = strtoull(v, NULL, 10);
        else if (strcmp(a, "--replay-n") == 0)
            o.replay_n = strtoull(v, NULL, 10);
        else if (strcmp(a, "--replay-hnsw-n") == 0)
            o.replay_hnsw_n = strtoull(v, NULL, 10);
        else if (strcmp(a, "--open-sizes") == 0)
            o.n_open_sizes = parse_list(v, o.open_sizes, MAX_LISTS);
        else if (strcmp(a, "--open-wal-mb") == 0)
            o.n_open_wal = parse_list(v, o.open_wal_mb, MAX_LISTS);
        else if (strcmp(a, "--open-hnsw-n") == 0)
            o.open_hnsw_n = strtoull(v, NULL, 10);
        else if (strcmp(a, "--reps") == 0) {
            o.reps = atoi(v);
            reps_set = 1;
        } else
            used = 0;
        if (!used)
            die("unknown option", a);
        i++;
    }
    if (n_cmds == 0 || o.batch == 0 || o.seconds <= 0) {
        fprintf(stderr,
                "usage: %s [options] fsync|ingest|sqlite|replay|open "
                "... (see the header of bench_storage.c)\n",
                argv[0]);
        return 2;
    }
    if (mkdir(o.dir, 0755) != 0 && errno != EEXIST)
        die(o.dir, strerror(errno));
    fs_name(o.dir, o.fs, sizeof o.fs);
    make_pool();
    for (i = 0; i < n_cmds; i++) {
        if (strcmp(cmds[i], "fsync") == 0)
            bench_fsync(&o);
        else if (strcmp(cmds[i], "ingest") == 0)
            bench_ingest(&o);
        else if (strcmp(cmds[i], "sqlite") == 0)
            bench_sqlite(&o);
        else if (strcmp(cmds[i], "replay") == 0) {
            bopts r = o;
            if (!reps_set)
                r.reps = 3;
            bench_replay(&r);
        } else if (strcmp(cmds[i], "open") == 0) {
            bopts r = o;
            if (!reps_set)
                r.reps = 20;
            bench_open(&r);
        } else
            die("unknown command", cmds[i]);
    }
    free(g_pool);
    return 0;
}

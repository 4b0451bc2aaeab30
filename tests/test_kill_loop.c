/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_kill_loop.c - real kill -9 of a writing process, over and over, on
 * one database: every acknowledged write must survive.
 *
 * Each cycle the parent forks a child that opens the database (GROUP or
 * FULL durability, by a seeded coin), opens or creates two collections
 * ("flat", FLAT index, and "hnsw", HNSW index; 1 KiB vectors and a 1 MiB
 * memtable, so a flush comes every ~1000 rows, plus an explicit vex_flush
 * now and then, half of them followed by vex_compact; background
 * compaction merges every two segments of a tier) and runs 1..4 writer threads:
 * inserts of absent ids, upserts, deletes, atomic batches of 2..8
 * operations and deletes by filter (vex_delete_where_text) over 8 ids the
 * thread owns, selecting on metadata every put carries (k = id,
 * m = id % 12, p = version % 3): the child knows from its model which ids
 * match, sends them as the INTENT's deletes, and fails unless the call
 * reports exactly that many; the parent checks them as a batch (all or
 * none). Collections are opened with vex_collection_open_or_create. Thread t
 * owns the ids with id % n_threads == t, so it knows their state exactly (it
 * starts from the parent's model, inherited by fork) and every call it makes
 * must return VEX_OK. Around each call it writes a fixed-size record to a pipe
 * with one write(2) (atomic, < PIPE_BUF): an INTENT (the operations, ids and
 * versions) before the call, an ACK after VEX_OK.
 *
 * The parent reads the pipe while it sleeps a seeded random time (0, a few
 * ms, up to 80 ms, so kills land in opening, in writes, in group commits
 * and in flushes), then kill(SIGKILL)s the child, reaps it, drains the
 * pipe and opens the database itself. The vector of (id, version) is a
 * pure function of both (v[0] = version, v[1] = id, the rest a hash), and
 * so are its payload (none for every third version, else 1..700 bytes of
 * a hash) and its text (none for every fourth version, else words naming
 * id and version; puts go through vex_insert_record/vex_upsert_record and
 * the batch's _record calls), so every record read back, payload and text
 * included, is checked bit for bit, and a keyword search for the word
 * only its text holds must find it alone (or, without a text, nothing). Rules
 * checked:
 *  - the database and both collections open (never VEX_CORRUPT; a
 *    collection whose creation was acknowledged exists);
 *  - every id with no operation in flight is exactly as last acknowledged
 *    (present with that version's vector, or absent): no acknowledged
 *    write is lost and nothing never acknowledged appears;
 *  - an id with an operation in flight (an INTENT without ACK) holds the
 *    state before it or after it, never anything else, and all operations
 *    of an in-flight batch are applied together or not at all;
 *  - vex_collection_count equals the live ids; an exact (FLAT) search for
 *    a live vector finds its id at distance 0; every search hit, in both
 *    collections, is a live id with its current vector.
 *  - with point-in-time retention (every other run of 10 cycles keeps 3
 *    manifest versions), every version a collection lists opens
 *    read-only at that version: a kill never leaves a kept version
 *    whose segment or log files are gone.
 * Then the model takes what the database shows for the in-flight
 * operations (so it is exact again) and the next cycle continues on the
 * same database, so recovery of recovered databases is tested too.
 *
 * Usage: test_kill_loop [--cycles N] [--seed S] [--dir D] [--reset-every N]
 *                       [--progress N] [--random-options]
 *                       [--selftest-early-ack]
 *                       [--selftest-split-batch] [--selftest-none]
 * Defaults: 120 cycles (the ctest run), seed VEX_TEST_SEED or 4, a mkdtemp
 * directory under $TMPDIR or /tmp (removed when the run passes), no reset.
 * --reset-every N starts a fresh database every N cycles (segments are
 * never compacted, so long runs would otherwise grow without bound).
 * tests/kill_loop.sh runs long loops. --random-options draws the database
 * options every cycle and the second collection's configuration with
 * every new database (see pick_cycle_opts and pick_coll_opts; the crash
 * campaign, tests/kill_loop.sh -R, and the ctest test_kill_loop_random).
 *
 * Self-tests: these break a guarantee on purpose and must make the test
 * FAIL, proving that the checks can see the failure they exist for.
 *   --selftest-early-ack    the child acknowledges before calling, so a
 *                           kill between the ACK and the commit loses an
 *                           "acknowledged" write;
 *   --selftest-split-batch  the child commits a batch's operations one
 *                           call at a time, so a kill can leave half;
 *   --selftest-none         the child opens with VEX_DURABILITY_NONE while
 *                           the parent believes GROUP/FULL. Expected to
 *                           PASS: under NONE a record is still written to
 *                           the file (page cache) by the call, only not
 *                           synced, and kill -9 does not lose the page
 *                           cache; only power loss does (test_db_faults'
 *                           crash vfs covers that).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include "test.h"
#include "util/rng.h"
#include "vexdb.h"

#define DIM         256  /* 1 KiB vectors: a 1 MiB memtable is 1024 rows */
#define N_IDS       1536 /* per collection; divisible by 1, 2, 3 and 4 */
#define N_COLL      2
#define MAX_THREADS 4
#define MAX_BATCH   8
#define VEC_BYTES   (DIM * sizeof(float))

static const char *const coll_names[N_COLL] = {"flat", "hnsw"};

/* ------------------------------------------------------------------
 * Pipe records
 * ------------------------------------------------------------------ */

enum { M_READY = 1, M_CREATED, M_INTENT, M_ACK, M_ERROR };
enum { K_INSERT = 1, K_UPSERT, K_DELETE };

typedef struct kop {
    uint32_t id, ver, kind;
} kop;

typedef struct msg {
    uint32_t type, thread, coll, n_ops;
    uint32_t batch, flush; /* a vex_batch_commit / a vex_flush */
    uint32_t where;        /* a vex_delete_where_text (ops: its deletes) */
    uint64_t txn;          /* per thread, from 1 */
    kop ops[MAX_BATCH];
    char text[256]; /* M_ERROR */
} msg;

_Static_assert(sizeof(msg) <= PIPE_BUF, "one write(2) must be atomic");

/* ------------------------------------------------------------------
 * The model: what the parent knows (and the child starts from)
 * ------------------------------------------------------------------ */

typedef struct slot {
    uint32_t live;   /* acknowledged state: present? */
    uint32_t ver;    /* its version when present */
    uint32_t maxver; /* highest version ever issued for the id */
    uint32_t gone;   /* the version the last acknowledged delete removed */
} slot;

static slot model[N_COLL][N_IDS];
static int coll_created[N_COLL]; /* creation acknowledged */

typedef struct run_opts {
    long cycles, reset_every, progress;
    uint64_t seed;
    const char *dir;
    int early_ack, split_batch, none;
    int random; /* --random-options: the crash campaign */
} run_opts;

static run_opts opt = {120, 0, 0, 4, NULL, 0, 0, 0, 0};

/* --random-options. The database options of a cycle are drawn by the
 * parent before it forks (the child inherits them; the parent reopens
 * with them too): durability GROUP, FULL or NONE (a kill -9 keeps the
 * page cache, so NONE must keep every acknowledged write as well; only
 * power loss may not, which test_db_faults' crash vfs covers), memtable
 * size, exact-row threshold, log file size, compaction (automatic off,
 * or merging 2..4 segments), background threads and frozen memtables.
 * The second collection's configuration is drawn when its database is
 * (re)created and holds until the next reset: HNSW or FLAT, L2 or inner
 * product, no quantizer or SQ8, BQ, PQ, OPQ, hnsw_m 4..16, a schema over
 * the metadata every put carries (open or closed), zstd-compressed
 * columns when the build has zstd, and (L2, one time in three) DiskANN
 * segments from 100..499 rows. Without the flag every choice is the
 * fixed one the ctest run has always used. */
typedef struct cycle_opts {
    vex_durability dur;
    uint64_t memtable_bytes, wal_file_bytes;
    uint32_t exact_rows, min_merge, max_merge, bg_threads, frozen;
} cycle_opts;

typedef struct coll_opts {
    vex_index_kind kind;
    vex_metric metric;
    vex_quant quant;
    uint32_t hnsw_m, quant_m, schema; /* schema: 0 none, 1 open, 2 closed */
    vex_compression compression;
    uint64_t diskann_min_rows; /* 0: no DiskANN segments */
} coll_opts;

static cycle_opts cyc;
static coll_opts run_coll = {VEX_INDEX_HNSW,
                             VEX_METRIC_L2,
                             VEX_QUANT_NONE,
                             8,
                             0,
                             0,
                             VEX_COMPRESS_NONE,
                             0};

static struct stats {
    long cycles, resets, kills_before_ready, child_ready;
    long dur_group, dur_full, dur_none;
    long runs_quant[5], runs_flat, runs_ip, runs_schema, runs_zstd;
    long runs_diskann;
    long cycles_no_compact;
    uint64_t acked_txns, acked_ops, acked_batches, acked_flushes;
    uint64_t acked_wheres;
    uint64_t inflight_txns, inflight_applied, inflight_not_applied;
    uint64_t inflight_batches_applied, inflight_batches_not_applied;
    uint64_t inflight_flushes;
    uint64_t segments_seen, colls_created;
    uint64_t dann_checks; /* verifications that met a DiskANN segment */
    uint64_t searches, hnsw_self_found, hnsw_self_checked;
    uint64_t ids_checked;
    uint64_t versions_opened, old_versions_opened;
} st;

static char root[512], db_dir[600];
static int failed;
static long cur_cycle;

#if defined(__GNUC__)
#define PRINTF_LIKE(a, b) __attribute__((format(printf, a, b)))
#else
#define PRINTF_LIKE(a, b)
#endif

static void fail(const char *fmt, ...) PRINTF_LIKE(1, 2);
static void fail(const char *fmt, ...)
{
    va_list ap;
    if (++failed > 30)
        return;
    fprintf(stderr,
            "kill_loop: FAIL cycle %ld (seed %" PRIu64 ", db %s): ", cur_cycle,
            opt.seed, db_dir);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    test_case_failed_ = 1;
}

/* The vector of version `ver` of record `id`: exact floats only. */
static void make_vec(uint32_t id, uint32_t ver, float *v)
{
    uint64_t x = ((uint64_t)id << 32) ^ ver ^ 0x5eedf00dULL;
    v[0] = (float)ver;
    v[1] = (float)id;
    for (int i = 2; i < DIM; i++) {
        uint64_t h = vex_splitmix64(&x);
        v[i] = (float)((int32_t)(h >> 40) - (1 << 23)) / (float)(1 << 23);
    }
}

/* The payload of version `ver` of record `id`: its length (0: none). */
#define MAX_PAY 700
static size_t make_pay(uint32_t id, uint32_t ver, unsigned char *p)
{
    uint64_t x = ((uint64_t)ver << 32) ^ id ^ 0xfeedbeefULL;
    size_t len = ver % 3 == 0 ? 0 : (id * 7u + ver * 13u) % MAX_PAY + 1;
    for (size_t i = 0; i < len; i++)
        p[i] = (unsigned char)(vex_splitmix64(&x) >> 56);
    return len;
}

/* The text of version `ver` of record `id`: none for every fourth
 * version, else words naming both ("i<id>" is the record's alone). */
#define MAX_TXT 64
static size_t make_txt(uint32_t id, uint32_t ver, char *t)
{
    if (ver % 4 == 1)
        return 0;
    return (size_t)snprintf(t, MAX_TXT, "i%u v%u kill loop text", id, ver);
}

static void make_rec(uint32_t id, uint32_t ver, float *v, unsigned char *p,
                     char *t, vex_record *r)
{
    make_vec(id, ver, v);
    vex_record_init(r);
    r->id = id;
    r->vector = v;
    r->payload = p;
    r->payload_len = make_pay(id, ver, p);
    r->text = t;
    r->text_len = make_txt(id, ver, t);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void db_options(vex_db_options *o, vex_durability d)
{
    vex_db_options_init(o);
    o->create_if_missing = 1;
    o->durability = d;
    o->n_threads = 2;
    o->memtable_bytes = 1 << 20;
    o->memtable_exact_rows = 200;
    o->wal_file_bytes = 256 << 10; /* rotations every ~250 records */
    o->compact_min_merge = 2;      /* background compactions often */
    if (opt.random) {
        o->memtable_bytes = cyc.memtable_bytes;
        o->memtable_exact_rows = cyc.exact_rows;
        o->wal_file_bytes = cyc.wal_file_bytes;
        o->compact_min_merge = cyc.min_merge;
        o->compact_max_merge = cyc.max_merge;
        o->background_threads = cyc.bg_threads;
        o->max_frozen_memtables = cyc.frozen;
    }
    /* every other run of 10 cycles keeps 3 versions for point-in-time
     * reads (the child and the parent of a cycle agree), so kept
     * manifests, segments and logs go through the kills too */
    o->manifest_retention = (cur_cycle / 10) % 2 ? 3 : 0;
}

/* ------------------------------------------------------------------
 * Child
 * ------------------------------------------------------------------ */

typedef struct child_cfg {
    int fd;
    int n_threads;
    vex_durability dur;
    uint64_t seed;
} child_cfg;

typedef struct wctx {
    const child_cfg *cc;
    vex_collection *c[N_COLL];
    int t;
} wctx;

static void send_msg(int fd, const msg *m)
{
    ssize_t n;
    do
        n = write(fd, m, sizeof *m);
    while (n < 0 && errno == EINTR);
    if (n != (ssize_t)sizeof *m)
        _exit(3); /* the parent is gone */
}

static void child_error(int fd, int thread, const char *fmt, ...)
    PRINTF_LIKE(3, 4);
static void child_error(int fd, int thread, const char *fmt, ...)
{
    msg m;
    va_list ap;
    memset(&m, 0, sizeof m);
    m.type = M_ERROR;
    m.thread = (uint32_t)thread;
    va_start(ap, fmt);
    vsnprintf(m.text, sizeof m.text, fmt, ap);
    va_end(ap);
    send_msg(fd, &m);
    _exit(1);
}

/* A random id owned by thread t that is live (want 1), absent (0) or
 * either (-1); -1 when none was found in a few tries. */
static int64_t pick_id(vex_rng *r, int coll, int t, int n_threads, int want)
{
    for (int tries = 0; tries < 24; tries++) {
        uint32_t id = (uint32_t)t + (uint32_t)n_threads *
                                        (uint32_t)vex_rng_below(
                                            r, (uint64_t)(N_IDS / n_threads));
        if (want < 0 || (int)model[coll][id].live == want)
            return id;
    }
    return -1;
}

/* The metadata of version `ver` of record `id`, which deletes by filter
 * select on: k = id, m = id % 12 (12 = lcm(1..4): thread t of n owns the
 * ids whose m % n == t), p = ver % 3. */
static void make_meta(vex_meta *meta, uint32_t id, uint32_t ver)
{
    vex_meta_clear(meta);
    vex_meta_set_int(meta, "k", id);
    vex_meta_set_int(meta, "m", id % 12);
    vex_meta_set_int(meta, "p", ver % 3);
}

static int do_op(vex_collection *c, vex_meta *meta, const kop *o)
{
    float v[DIM];
    unsigned char p[MAX_PAY];
    char t[MAX_TXT];
    vex_record r;
    if (o->kind == K_DELETE)
        return vex_delete(c, o->id);
    make_rec(o->id, o->ver, v, p, t, &r);
    make_meta(meta, o->id, o->ver);
    r.meta = meta;
    return o->kind == K_INSERT ? vex_insert_record(c, &r)
                               : vex_upsert_record(c, &r);
}

/* A delete by filter of thread t's ids among 8 consecutive ones it owns
 * whose version is p modulo 3: the text into buf, and into m->ops the
 * deletes it must make (from the model, exact for the ids t owns). */
static void where_delete(vex_rng *r, int coll, int t, int nt, msg *m, char *buf,
                         size_t size)
{
    uint32_t j0 = (uint32_t)vex_rng_below(r, (uint64_t)(N_IDS / nt - 7));
    uint32_t lo = (uint32_t)t + (uint32_t)nt * j0, hi = lo + 7u * (uint32_t)nt;
    uint32_t x = (uint32_t)vex_rng_below(r, 3);
    size_t len = (size_t)snprintf(buf, size, "m IN (");
    for (int res = 0, first = 1; res < 12; res++)
        if (res % nt == t) {
            len += (size_t)snprintf(buf + len, size - len, "%s%d",
                                    first ? "" : ", ", res);
            first = 0;
        }
    snprintf(buf + len, size - len, ") AND k BETWEEN %u AND %u AND p = %u", lo,
             hi, x);
    m->where = 1;
    m->batch = 1;
    for (uint32_t i = 0; i < 8; i++) {
        uint32_t id = lo + i * (uint32_t)nt;
        if (model[coll][id].live && model[coll][id].ver % 3 == x) {
            m->ops[m->n_ops].id = id;
            m->ops[m->n_ops].kind = K_DELETE;
            m->n_ops++;
        }
    }
}

static void *writer_main(void *arg)
{
    wctx *w = arg;
    const child_cfg *cc = w->cc;
    int nt = cc->n_threads, t = w->t;
    vex_rng r;
    vex_batch *b = NULL;
    vex_meta *meta = NULL;
    float v[DIM];
    char where[256];
    unsigned char pay[MAX_PAY];
    char txt[MAX_TXT];
    uint64_t txn = 0;
    vex_rng_seed(&r, cc->seed * 31 + (uint64_t)t);
    if (vex_batch_create(VEC_BYTES, NULL, &b) != VEX_OK ||
        vex_meta_create(NULL, &meta) != VEX_OK)
        child_error(cc->fd, t, "vex_batch_create failed");
    for (;;) {
        msg m;
        int coll = (int)(vex_rng_next(&r) & 1), rc = VEX_OK;
        unsigned what = (unsigned)vex_rng_below(&r, 1000);
        vex_collection *c = w->c[coll];
        memset(&m, 0, sizeof m);
        m.type = M_INTENT;
        m.thread = (uint32_t)t;
        m.coll = (uint32_t)coll;
        m.txn = ++txn;
        if (what < 995 && what >= 750) {
            /* a batch of 2..8 operations on distinct ids */
            int n = 2 + (int)vex_rng_below(&r, MAX_BATCH - 1);
            m.batch = 1;
            for (int tries = 0; tries < 64 && (int)m.n_ops < n; tries++) {
                int64_t id = pick_id(&r, coll, t, nt, -1);
                int dup = 0;
                kop *o = &m.ops[m.n_ops];
                for (uint32_t i = 0; i < m.n_ops; i++)
                    dup |= m.ops[i].id == (uint32_t)id;
                if (id < 0 || dup)
                    continue;
                o->id = (uint32_t)id;
                if (model[coll][id].live)
                    o->kind = (vex_rng_next(&r) & 1) ? K_DELETE : K_UPSERT;
                else
                    o->kind = (vex_rng_next(&r) & 1) ? K_INSERT : K_UPSERT;
                m.n_ops++;
            }
        } else if (what >= 995) {
            m.flush = 1 + (what & 1); /* 2: flush and compact */
        } else if (what >= 720 && what < 750) {
            where_delete(&r, coll, t, nt, &m, where, sizeof where);
        } else {
            int64_t id = -1;
            kop *o = &m.ops[0];
            if (what < 350) {
                id = pick_id(&r, coll, t, nt, 0);
                o->kind = K_INSERT;
            } else if (what >= 600) {
                id = pick_id(&r, coll, t, nt, 1);
                o->kind = K_DELETE;
            }
            if (id < 0) {
                id = pick_id(&r, coll, t, nt, -1);
                o->kind = K_UPSERT;
            }
            o->id = (uint32_t)id;
            m.n_ops = 1;
        }
        for (uint32_t i = 0; i < m.n_ops; i++)
            if (m.ops[i].kind != K_DELETE)
                m.ops[i].ver = ++model[coll][m.ops[i].id].maxver;
        send_msg(cc->fd, &m);
        if (opt.early_ack) { /* self-test: acknowledge too early */
            m.type = M_ACK;
            send_msg(cc->fd, &m);
        }
        if (m.where) {
            uint64_t n_del = 0;
            rc = vex_delete_where_text(c, where, &n_del);
            if (rc == VEX_OK && n_del != m.n_ops)
                child_error(cc->fd, t,
                            "delete where %s on %s: %" PRIu64
                            " deleted, the model says %u",
                            where, coll_names[coll], n_del, m.n_ops);
        } else if (m.flush) {
            /* every other one also merges all segments */
            rc = vex_flush(c);
            if (rc == VEX_OK && m.flush == 2)
                rc = vex_compact(c);
        } else if (m.batch && !opt.split_batch) {
            vex_batch_clear(b);
            for (uint32_t i = 0; i < m.n_ops && rc == VEX_OK; i++) {
                const kop *o = &m.ops[i];
                vex_record rec;
                make_rec(o->id, o->ver, v, pay, txt, &rec);
                make_meta(meta, o->id, o->ver);
                rec.meta = meta;
                rc = o->kind == K_DELETE   ? vex_batch_delete(b, o->id)
                     : o->kind == K_INSERT ? vex_batch_insert_record(b, &rec)
                                           : vex_batch_upsert_record(b, &rec);
            }
            if (rc == VEX_OK)
                rc = vex_batch_commit(c, b);
        } else {
            for (uint32_t i = 0; i < m.n_ops && rc == VEX_OK; i++)
                rc = do_op(c, meta, &m.ops[i]);
        }
        if (rc != VEX_OK)
            child_error(cc->fd, t, "%s txn %" PRIu64 " on %s: %s: %s",
                        m.flush ? "flush" : "commit", m.txn, coll_names[coll],
                        vex_status_name(rc), vex_collection_errmsg(c));
        for (uint32_t i = 0; i < m.n_ops; i++) {
            slot *s = &model[coll][m.ops[i].id];
            s->live = m.ops[i].kind != K_DELETE;
            s->ver = s->live ? m.ops[i].ver : 0;
        }
        if (!opt.early_ack) {
            m.type = M_ACK;
            send_msg(cc->fd, &m);
        }
    }
    return NULL;
}

static void child_main(const child_cfg *cc)
{
    vex_db_options o;
    vex_db *db = NULL;
    pthread_t th[MAX_THREADS];
    wctx w[MAX_THREADS];
    vex_collection *c[N_COLL];
    msg m;
    int rc;
#ifdef __linux__
    prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive a failed parent */
#endif
    alarm(30); /* nor run for long in any case */
    if (getppid() == 1)
        _exit(4);
    db_options(&o, opt.none ? VEX_DURABILITY_NONE : cc->dur);
    rc = vex_db_open(db_dir, &o, &db);
    if (rc != VEX_OK)
        child_error(cc->fd, -1, "vex_db_open: %s: %s", vex_status_name(rc),
                    vex_db_errmsg(db));
    for (int k = 0; k < N_COLL; k++) {
        vex_collection_config cfg;
        int created = 0;
        vex_collection_config_init(&cfg);
        cfg.dim = DIM;
        cfg.index_kind = k == 0 ? VEX_INDEX_FLAT : run_coll.kind;
        cfg.text = 1; /* every record's text is checked, and found */
        if (k == 1 && run_coll.kind == VEX_INDEX_HNSW) {
            cfg.hnsw_m = run_coll.hnsw_m;
            cfg.hnsw_ef_construction = 64;
            cfg.hnsw_seed = 7;
        }
        if (k == 1) {
            static const vex_schema_field fields[] = {{"k", VEX_TYPE_INT, 0},
                                                      {"m", VEX_TYPE_INT, 0},
                                                      {"p", VEX_TYPE_INT, 0}};
            cfg.metric = run_coll.metric;
            cfg.quant = run_coll.quant;
            cfg.quant_m = run_coll.quant_m;
            cfg.compression = run_coll.compression;
            cfg.diskann_min_rows = run_coll.diskann_min_rows;
            if (run_coll.schema) {
                cfg.schema_fields = fields;
                cfg.n_schema_fields = 3;
                cfg.schema_closed = run_coll.schema == 2;
            }
        }
        /* get-or-create: an existing collection is compared with cfg */
        rc = vex_collection_open_or_create(db, coll_names[k], &cfg, &c[k],
                                           &created);
        if (rc == VEX_OK && created) {
            memset(&m, 0, sizeof m);
            m.type = M_CREATED;
            m.coll = (uint32_t)k;
            send_msg(cc->fd, &m);
        }
        if (rc != VEX_OK)
            child_error(cc->fd, -1, "collection %s: %s: %s", coll_names[k],
                        vex_status_name(rc), vex_db_errmsg(db));
    }
    memset(&m, 0, sizeof m);
    m.type = M_READY;
    send_msg(cc->fd, &m);
    for (int t = 0; t < cc->n_threads; t++) {
        w[t].cc = cc;
        w[t].t = t;
        memcpy(w[t].c, c, sizeof c);
        if (pthread_create(&th[t], NULL, writer_main, &w[t]) != 0)
            child_error(cc->fd, t, "pthread_create failed");
    }
    for (int t = 0; t < cc->n_threads; t++)
        pthread_join(th[t], NULL);
    _exit(5); /* not reached: writers run until killed */
}

/* ------------------------------------------------------------------
 * Parent: reading the pipe
 * ------------------------------------------------------------------ */

typedef struct pend {
    int active;
    msg m;
} pend;

static pend pending[MAX_THREADS];
static int child_ready, child_errors;

static void handle_msg(const msg *m)
{
    if (m->type == M_ERROR) {
        child_errors++;
        fail("child thread %d: %s", (int)m->thread, m->text);
        return;
    }
    if (m->type == M_READY) {
        child_ready = 1;
        return;
    }
    if (m->type == M_CREATED) {
        coll_created[m->coll] = 1;
        st.colls_created++;
        return;
    }
    if (m->thread >= MAX_THREADS || m->coll >= N_COLL || m->n_ops > MAX_BATCH) {
        fail("bad pipe record (type %u)", m->type);
        return;
    }
    if (m->type == M_INTENT) {
        pend *p = &pending[m->thread];
        if (p->active)
            fail("thread %u: intent %" PRIu64 " while %" PRIu64 " is in flight",
                 m->thread, m->txn, p->m.txn);
        p->active = 1;
        p->m = *m;
        for (uint32_t i = 0; i < m->n_ops; i++) {
            slot *s = &model[m->coll][m->ops[i].id];
            if (m->ops[i].ver > s->maxver)
                s->maxver = m->ops[i].ver;
        }
        return;
    }
    if (m->type == M_ACK) {
        pend *p = &pending[m->thread];
        if (!p->active || p->m.txn != m->txn) {
            fail("thread %u: ack of %" PRIu64 " without its intent", m->thread,
                 m->txn);
            return;
        }
        p->active = 0;
        for (uint32_t i = 0; i < m->n_ops; i++) {
            slot *s = &model[m->coll][m->ops[i].id];
            if (m->ops[i].kind == K_DELETE)
                s->gone = s->ver;
            s->live = m->ops[i].kind != K_DELETE;
            s->ver = s->live ? m->ops[i].ver : 0;
        }
        st.acked_txns++;
        st.acked_ops += m->n_ops;
        st.acked_batches += m->batch;
        st.acked_flushes += m->flush;
        st.acked_wheres += m->where;
        return;
    }
    fail("unknown pipe record type %u", m->type);
}

typedef struct reader {
    int fd;
    unsigned char buf[64 * sizeof(msg)];
    size_t have;
} reader;

/* Read what is there; 1 at end of file. */
static int read_some(reader *rd)
{
    for (;;) {
        ssize_t n = read(rd->fd, rd->buf + rd->have, sizeof rd->buf - rd->have);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return 0;
        if (n < 0) {
            fail("read(pipe): %s", strerror(errno));
            return 1;
        }
        if (n == 0) {
            if (rd->have)
                fail("pipe ends inside a record (%zu bytes)", rd->have);
            return 1;
        }
        rd->have += (size_t)n;
        while (rd->have >= sizeof(msg)) {
            msg m;
            memcpy(&m, rd->buf, sizeof m);
            memmove(rd->buf, rd->buf + sizeof m, rd->have - sizeof m);
            rd->have -= sizeof m;
            handle_msg(&m);
        }
    }
}

/* ------------------------------------------------------------------
 * Parent: verification
 * ------------------------------------------------------------------ */

typedef struct obs {
    uint32_t live, ver;
} obs;

static obs seen[N_COLL][N_IDS];
static int in_flight[N_COLL][N_IDS]; /* 1 + thread, 0 = none */
static uint64_t max_seg[N_COLL];

static void count_segments(void)
{
    for (int k = 0; k < N_COLL; k++) {
        char p[700];
        DIR *d;
        struct dirent *e;
        uint64_t top = max_seg[k];
        snprintf(p, sizeof p, "%s/collections/%s", db_dir, coll_names[k]);
        d = opendir(p);
        if (d == NULL)
            continue;
        while ((e = readdir(d)) != NULL) {
            uint64_t no;
            if (strncmp(e->d_name, "seg-", 4) != 0)
                continue;
            no = strtoull(e->d_name + 4, NULL, 16);
            if (no > max_seg[k]) {
                st.segments_seen++;
                if (no > top)
                    top = no;
            }
        }
        closedir(d);
        max_seg[k] = top;
    }
}

/* Read every id of collection k into seen[k]; check each vector. */
static void read_all(vex_collection *c, int k)
{
    float v[DIM], want[DIM];
    for (uint32_t id = 0; id < N_IDS; id++) {
        int rc = vex_get(c, id, v);
        seen[k][id].live = 0;
        seen[k][id].ver = 0;
        st.ids_checked++;
        if (rc == VEX_NOTFOUND)
            continue;
        if (rc != VEX_OK) {
            fail("%s: vex_get(%u): %s: %s", coll_names[k], id,
                 vex_status_name(rc), vex_collection_errmsg(c));
            continue;
        }
        if (!(v[0] >= 1 && v[0] <= (float)model[k][id].maxver &&
              v[0] == (float)(uint32_t)v[0])) {
            fail("%s: id %u holds a vector of no version ever written "
                 "(v[0] = %g, v[1] = %g)",
                 coll_names[k], id, (double)v[0], (double)v[1]);
            continue;
        }
        make_vec(id, (uint32_t)v[0], want);
        if (memcmp(v, want, sizeof v) != 0) {
            fail("%s: id %u version %u: the vector is damaged or mixed",
                 coll_names[k], id, (uint32_t)v[0]);
            continue;
        }
        {
            unsigned char pay[MAX_PAY + 1], pwant[MAX_PAY];
            size_t len = 0, wlen = make_pay(id, (uint32_t)v[0], pwant);
            rc = vex_get_payload(c, id, pay, sizeof pay, &len);
            if (rc != VEX_OK || len != wlen || memcmp(pay, pwant, len) != 0) {
                fail("%s: id %u version %u: payload %s, %zu bytes (wanted "
                     "%zu)%s",
                     coll_names[k], id, (uint32_t)v[0], vex_status_name(rc),
                     len, wlen,
                     rc == VEX_OK && len == wlen ? ", damaged or mixed" : "");
                continue;
            }
        }
        {
            /* the text, and the keyword index: "i<id>" finds it alone */
            char txt[MAX_TXT + 1], twant[MAX_TXT], q[16];
            size_t len = 0, wlen = make_txt(id, (uint32_t)v[0], twant), nh = 0;
            vex_search_params sp;
            vex_hit h[2];
            rc = vex_get_text(c, id, txt, sizeof txt, &len);
            if (rc != VEX_OK || len != wlen || memcmp(txt, twant, len) != 0) {
                fail("%s: id %u version %u: text %s, %zu bytes (wanted %zu)",
                     coll_names[k], id, (uint32_t)v[0], vex_status_name(rc),
                     len, wlen);
                continue;
            }
            vex_search_params_init(&sp);
            snprintf(q, sizeof q, "i%u", id);
            sp.text = q;
            rc = vex_search(c, NULL, 2, &sp, h, NULL, &nh);
            if (rc != VEX_OK || nh != (wlen ? 1u : 0u) ||
                (nh && h[0].id != id)) {
                fail("%s: id %u version %u: keyword search \"%s\": %s, %zu "
                     "hits (first %llu)",
                     coll_names[k], id, (uint32_t)v[0], q, vex_status_name(rc),
                     nh, nh ? (unsigned long long)h[0].id : 0ULL);
                continue;
            }
        }
        seen[k][id].live = 1;
        seen[k][id].ver = (uint32_t)v[0];
    }
}

static const char *state_str(char *buf, size_t n, uint32_t live, uint32_t ver)
{
    if (live)
        snprintf(buf, n, "version %u", ver);
    else
        snprintf(buf, n, "absent");
    return buf;
}

/* Searches: hits are live ids with their current vectors; exact search
 * finds a live vector's own id at distance 0. */
static void check_search(vex_collection *c, int k, vex_rng *r)
{
    float q[DIM], vecs[8 * DIM], want[DIM];
    vex_hit hits[8];
    size_t nh;
    if (k == 1 && run_coll.diskann_min_rows) {
        vex_stats vs;
        vex_stats_init(&vs);
        if (vex_stats_get(c, &vs) == VEX_OK && vs.diskann_segments)
            st.dann_checks++;
    }
    for (int s = 0; s < 6; s++) {
        int64_t self = -1;
        int rc;
        if (s < 4) {
            for (int tries = 0; tries < 32 && self < 0; tries++) {
                uint32_t id = (uint32_t)vex_rng_below(r, N_IDS);
                if (model[k][id].live)
                    self = id;
            }
            if (self < 0)
                continue;
            make_vec((uint32_t)self, model[k][self].ver, q);
        } else {
            for (int i = 0; i < DIM; i++)
                q[i] = (float)vex_rng_double(r) * 2 - 1;
            q[0] = (float)vex_rng_below(r, 64);
            q[1] = (float)vex_rng_below(r, N_IDS);
        }
        st.searches++;
        rc = vex_search(c, q, 8, NULL, hits, vecs, &nh);
        if (rc != VEX_OK) {
            fail("%s: vex_search: %s: %s", coll_names[k], vex_status_name(rc),
                 vex_collection_errmsg(c));
            continue;
        }
        if (k == 0 && self >= 0 &&
            (nh == 0 || hits[0].id != (uint64_t)self ||
             hits[0].distance != 0.0f))
            fail("%s: exact search for id %" PRId64 "'s vector: %zu hits, "
                 "first %" PRIu64 " at %g",
                 coll_names[k], self, nh, nh ? hits[0].id : 0,
                 nh ? (double)hits[0].distance : -1.0);
        if (k == 1 && self >= 0) {
            st.hnsw_self_checked++;
            for (size_t i = 0; i < nh; i++)
                if (hits[i].id == (uint64_t)self) {
                    st.hnsw_self_found++;
                    break;
                }
        }
        for (size_t i = 0; i < nh; i++) {
            uint64_t id = hits[i].id;
            if (id >= N_IDS || !model[k][id].live) {
                fail("%s: search hit %" PRIu64 " is not a live id",
                     coll_names[k], id);
                continue;
            }
            make_vec((uint32_t)id, model[k][id].ver, want);
            if (memcmp(vecs + i * DIM, want, sizeof want) != 0)
                fail("%s: search hit %" PRIu64 " has not its current vector",
                     coll_names[k], id);
            if (k == 0 && i > 0 && hits[i].distance < hits[i - 1].distance)
                fail("%s: exact hits out of order", coll_names[k]);
        }
    }
}

/* Check collection k against the model, then resolve its in-flight
 * operations to what the database shows. */
static void verify_collection(vex_collection *c, int k, vex_rng *r)
{
    char a[40], b[40], o[40];
    uint64_t live = 0, count;
    read_all(c, k);
    memset(in_flight[k], 0, sizeof in_flight[k]);
    for (int t = 0; t < MAX_THREADS; t++) {
        const msg *m = &pending[t].m;
        if (!pending[t].active || (int)m->coll != k)
            continue;
        for (uint32_t i = 0; i < m->n_ops; i++) {
            if (in_flight[k][m->ops[i].id])
                fail("%s: id %u in flight in two threads", coll_names[k],
                     m->ops[i].id);
            in_flight[k][m->ops[i].id] = 1 + t;
        }
    }
    /* ids with nothing in flight: exactly as acknowledged */
    for (uint32_t id = 0; id < N_IDS; id++) {
        const slot *s = &model[k][id];
        const obs *x = &seen[k][id];
        if (in_flight[k][id])
            continue;
        if (s->live != x->live || s->ver != x->ver) {
            const char *what = !s->live && x->ver == s->gone && s->gone != 0
                                   ? "an acknowledged delete was LOST"
                               : !s->live ? "an unacknowledged write appeared"
                               : !x->live || x->ver < s->ver
                                   ? "an acknowledged write was LOST"
                                   : "a newer unacknowledged version "
                                     "appeared";
            fail("%s: id %u: %s: acknowledged %s, database has %s",
                 coll_names[k], id, what,
                 state_str(a, sizeof a, s->live, s->ver),
                 state_str(b, sizeof b, x->live, x->ver));
        }
    }
    /* in-flight transactions: before or after, all or nothing */
    for (int t = 0; t < MAX_THREADS; t++) {
        const msg *m = &pending[t].m;
        int n_applied = 0, n_not = 0;
        if (!pending[t].active || (int)m->coll != k)
            continue;
        for (uint32_t i = 0; i < m->n_ops; i++) {
            const kop *op = &m->ops[i];
            const slot *s = &model[k][op->id];
            const obs *x = &seen[k][op->id];
            uint32_t post_live = op->kind != K_DELETE;
            uint32_t post_ver = post_live ? op->ver : 0;
            if (x->live == post_live && x->ver == post_ver)
                n_applied++;
            else if (x->live == s->live && x->ver == s->ver)
                n_not++;
            else
                fail("%s: id %u: in-flight %s to %s: database has %s, "
                     "neither before (%s) nor after",
                     coll_names[k], op->id,
                     op->kind == K_DELETE   ? "delete"
                     : op->kind == K_INSERT ? "insert"
                                            : "upsert",
                     state_str(o, sizeof o, post_live, post_ver),
                     state_str(b, sizeof b, x->live, x->ver),
                     state_str(a, sizeof a, s->live, s->ver));
        }
        if (n_applied && n_not)
            fail("%s: in-flight batch (thread %d, txn %" PRIu64
                 ") is HALF applied: %d of %u operations",
                 coll_names[k], t, m->txn, n_applied, m->n_ops);
        st.inflight_txns++;
        if (m->flush)
            st.inflight_flushes++;
        else if (n_applied && !n_not) {
            st.inflight_applied++;
            st.inflight_batches_applied += m->batch;
        } else {
            st.inflight_not_applied++;
            st.inflight_batches_not_applied += m->batch;
        }
        pending[t].active = 0;
    }
    /* the model takes what the database shows (checked above) */
    for (uint32_t id = 0; id < N_IDS; id++) {
        model[k][id].live = seen[k][id].live;
        model[k][id].ver = seen[k][id].ver;
        live += seen[k][id].live;
    }
    count = vex_collection_count(c);
    if (count != live)
        fail("%s: vex_collection_count %" PRIu64 ", %" PRIu64 " live ids",
             coll_names[k], count, live);
    check_search(c, k, r);
}

/* Every version a collection lists opens read-only at that version and
 * holds no more than N_IDS records (a kept version whose files a kill
 * lost would fail to open). */
typedef struct ver_list {
    uint64_t v[16];
    int current[16];
    int n;
} ver_list;

static int ver_collect(void *ctx, const vex_version_info *info)
{
    ver_list *l = ctx;
    if (l->n < 16 && info->publish_unix) {
        l->current[l->n] = info->current;
        l->v[l->n++] = info->version;
    }
    return 0;
}

static void verify_versions(void)
{
    vex_db_options o;
    vex_db *db = NULL;
    int rc;
    db_options(&o, VEX_DURABILITY_GROUP);
    o.create_if_missing = 0;
    o.read_only = 1;
    rc = vex_db_open(db_dir, &o, &db);
    if (rc != VEX_OK) {
        fail("read-only vex_db_open: %s: %s", vex_status_name(rc),
             vex_db_errmsg(db));
        vex_db_close(db);
        return;
    }
    for (int k = 0; k < N_COLL; k++) {
        ver_list l = {{0}, {0}, 0};
        if (!coll_created[k])
            continue;
        rc = vex_collection_versions(db, coll_names[k], ver_collect, &l);
        if (rc != VEX_OK)
            fail("%s: vex_collection_versions: %s: %s", coll_names[k],
                 vex_status_name(rc), vex_db_errmsg(db));
        if (o.manifest_retention > 1 && l.n > (int)o.manifest_retention)
            fail("%s: %d versions kept, retention %u", coll_names[k], l.n,
                 o.manifest_retention);
        for (int i = 0; i < l.n; i++) {
            vex_collection *c = NULL;
            rc = vex_collection_open_at(db, coll_names[k], l.v[i], &c);
            if (rc != VEX_OK)
                fail("%s: version %" PRIu64 " is listed but does not open: "
                     "%s: %s",
                     coll_names[k], l.v[i], vex_status_name(rc),
                     vex_db_errmsg(db));
            else
                st.versions_opened++, st.old_versions_opened += !l.current[i];
            if (rc == VEX_OK && vex_collection_count(c) > N_IDS)
                fail("%s: version %" PRIu64 " holds %" PRIu64 " records",
                     coll_names[k], l.v[i], vex_collection_count(c));
            vex_collection_close(c);
        }
    }
    vex_db_close(db);
}

static void verify(vex_rng *r)
{
    vex_db_options o;
    vex_db *db = NULL;
    int rc;
    db_options(&o, VEX_DURABILITY_GROUP);
    rc = vex_db_open(db_dir, &o, &db);
    if (rc != VEX_OK) {
        fail("vex_db_open: %s: %s", vex_status_name(rc), vex_db_errmsg(db));
        vex_db_close(db);
        return;
    }
    for (int k = 0; k < N_COLL; k++) {
        vex_collection *c = NULL;
        rc = vex_collection_open(db, coll_names[k], &c);
        if (rc == VEX_NOTFOUND && !coll_created[k]) {
            /* never acknowledged: must hold nothing acknowledged */
            for (uint32_t id = 0; id < N_IDS; id++)
                if (model[k][id].live)
                    fail("%s: missing, with acknowledged records",
                         coll_names[k]);
            for (int t = 0; t < MAX_THREADS; t++)
                if (pending[t].active && (int)pending[t].m.coll == k)
                    fail("%s: missing, with writes in flight", coll_names[k]);
            continue;
        }
        if (rc != VEX_OK) {
            fail("vex_collection_open(%s): %s: %s%s", coll_names[k],
                 vex_status_name(rc), vex_db_errmsg(db),
                 coll_created[k] ? " (its creation was acknowledged)" : "");
            continue;
        }
        coll_created[k] = 1;
        verify_collection(c, k, r);
        rc = vex_collection_close(c);
        if (rc != VEX_OK)
            fail("vex_collection_close(%s): %s", coll_names[k],
                 vex_status_name(rc));
    }
    rc = vex_db_close(db);
    if (rc != VEX_OK)
        fail("vex_db_close: %s", vex_status_name(rc));
    verify_versions();
}

/* ------------------------------------------------------------------
 * Parent: one cycle
 * ------------------------------------------------------------------ */

/* How long the child runs: sometimes not at all, sometimes long enough
 * for flushes. */
static uint64_t pick_delay_us(vex_rng *r)
{
    unsigned p = (unsigned)vex_rng_below(r, 100);
    if (p < 12)
        return 0;
    if (p < 30)
        return vex_rng_below(r, 2000);
    if (p < 85)
        return 2000 + vex_rng_below(r, 28000);
    return 30000 + vex_rng_below(r, 50000);
}

static void pick_cycle_opts(vex_rng *r, child_cfg *cc)
{
    static const uint64_t mt[] = {1u << 20, 2u << 20, 4u << 20};
    static const uint64_t wal[] = {64u << 10, 256u << 10, 4u << 20};
    static const uint32_t exact[] = {0, 64, 200, 2000};
    static const vex_durability dur[] = {
        VEX_DURABILITY_GROUP, VEX_DURABILITY_FULL, VEX_DURABILITY_NONE};
    cc->dur = dur[vex_rng_below(r, 3)];
    cyc.memtable_bytes = mt[vex_rng_below(r, 3)];
    cyc.wal_file_bytes = wal[vex_rng_below(r, 3)];
    cyc.exact_rows = exact[vex_rng_below(r, 4)];
    /* automatic compaction off one cycle in four (segments pile up, and
     * explicit vex_compact calls still merge them) */
    cyc.min_merge = vex_rng_below(r, 4) == 0 ? 0 : 2 + vex_rng_below(r, 3);
    cyc.max_merge = cyc.min_merge ? cyc.min_merge + vex_rng_below(r, 4) : 16;
    cyc.bg_threads = 1 + vex_rng_below(r, 2);
    cyc.frozen = 1 + vex_rng_below(r, 3);
    st.cycles_no_compact += cyc.min_merge == 0;
}

/* A new database: draw the second collection's configuration. */
static void pick_coll_opts(vex_rng *r)
{
    static const uint32_t ms[] = {4, 8, 16};
    coll_opts *c = &run_coll;
    c->kind = vex_rng_below(r, 4) == 0 ? VEX_INDEX_FLAT : VEX_INDEX_HNSW;
    c->metric = vex_rng_below(r, 3) == 0 ? VEX_METRIC_IP : VEX_METRIC_L2;
    c->quant = (vex_quant)vex_rng_below(r, 5); /* NONE, SQ8, BQ, PQ, OPQ */
    c->quant_m = c->quant == VEX_QUANT_PQ || c->quant == VEX_QUANT_OPQ
                     ? (vex_rng_below(r, 2) ? 16 : 32)
                     : 0;
    c->hnsw_m = c->kind == VEX_INDEX_HNSW ? ms[vex_rng_below(r, 3)] : 0;
    c->schema = (uint32_t)vex_rng_below(r, 3);
    c->compression = (vex_features() & VEX_FEATURE_ZSTD) && vex_rng_below(r, 2)
                         ? VEX_COMPRESS_ZSTD
                         : VEX_COMPRESS_NONE;
    /* L2 collections: DiskANN segments from a few hundred rows one time
     * in three (compactions write them; flushes are converted) */
    c->diskann_min_rows = c->metric == VEX_METRIC_L2 && vex_rng_below(r, 3) == 0
                              ? 100 + vex_rng_below(r, 400)
                              : 0;
    st.runs_quant[c->quant]++;
    st.runs_diskann += c->diskann_min_rows != 0;
    st.runs_flat += c->kind == VEX_INDEX_FLAT;
    st.runs_ip += c->metric == VEX_METRIC_IP;
    st.runs_schema += c->schema != 0;
    st.runs_zstd += c->compression == VEX_COMPRESS_ZSTD;
}

static void one_cycle(vex_rng *r)
{
    child_cfg cc;
    reader rd;
    int fds[2], status = 0;
    pid_t pid;
    uint64_t delay;
    double start, end;
    int armed;
    memset(&cc, 0, sizeof cc);
    cc.n_threads = 1 + (int)vex_rng_below(r, MAX_THREADS);
    cc.dur = (vex_rng_next(r) & 1) ? VEX_DURABILITY_FULL : VEX_DURABILITY_GROUP;
    cc.seed = vex_rng_next(r);
    delay = pick_delay_us(r);
    if (opt.random)
        pick_cycle_opts(r, &cc);
    if (cc.dur == VEX_DURABILITY_FULL)
        st.dur_full++;
    else if (cc.dur == VEX_DURABILITY_NONE)
        st.dur_none++;
    else
        st.dur_group++;
    if (pipe(fds) != 0) {
        fail("pipe: %s", strerror(errno));
        return;
    }
    fflush(NULL); /* the child must not repeat buffered output */
    pid = fork();
    if (pid < 0) {
        fail("fork: %s", strerror(errno));
        close(fds[0]);
        close(fds[1]);
        return;
    }
    if (pid == 0) {
        close(fds[0]);
        cc.fd = fds[1];
        child_main(&cc);
    }
    close(fds[1]);
    fcntl(fds[0], F_SETFL, fcntl(fds[0], F_GETFL) | O_NONBLOCK);
    memset(&rd, 0, sizeof rd);
    rd.fd = fds[0];
    child_ready = 0;
    child_errors = 0;
    /* the delay runs from the fork (so the kill may land in opening and
     * recovery) or, three times in four, from the child's READY */
    armed = vex_rng_below(r, 4) == 0; /* from the fork */
    start = now_s();
    end = start + (double)delay * 1e-6;
    for (;;) {
        double left;
        struct pollfd pf = {fds[0], POLLIN, 0};
        if (!armed && child_ready) {
            armed = 1;
            end = now_s() + (double)delay * 1e-6;
        }
        if (armed) {
            left = end - now_s();
            if (left <= 0)
                break;
        } else if (now_s() - start > 20.0) {
            fail("the child did not open the database in 20 s");
            break;
        } else {
            left = 0.05; /* wait for READY */
        }
        if (left >= 0.001) {
            if (poll(&pf, 1, (int)(left * 1000)) > 0 && read_some(&rd))
                break; /* the child is gone by itself */
        } else {
            struct timespec ts = {0, (long)(left * 1e9)};
            nanosleep(&ts, NULL);
        }
    }
    kill(pid, SIGKILL);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    while (!read_some(&rd)) /* all writers are gone: reads end at EOF */
        ;
    close(fds[0]);
    if (!(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL))
        fail("the child ended by itself (%s %d)%s",
             WIFSIGNALED(status) ? "signal" : "exit status",
             WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status),
             child_errors ? "" : " without reporting an error");
    if (child_ready)
        st.child_ready++;
    else
        st.kills_before_ready++;
    verify(r);
    count_segments();
    st.cycles++;
}

static void print_stats(FILE *f, double t0)
{
    fprintf(
        f,
        "kill_loop: %ld cycles in %.1f s (seed %" PRIu64
        ", %ld resets; %ld GROUP, %ld FULL; %ld killed before ready)\n"
        "  acknowledged: %" PRIu64 " commits, %" PRIu64 " operations, %" PRIu64
        " batches (%" PRIu64 " deletes by filter), %" PRIu64 " flush calls\n"
        "  in flight at the kill: %" PRIu64 " commits: %" PRIu64
        " applied, %" PRIu64 " not applied (batches %" PRIu64 " / %" PRIu64
        "), %" PRIu64 " flushes\n"
        "  segments observed: %" PRIu64 "; ids checked: %" PRIu64
        "; searches: %" PRIu64 " (hnsw found self %" PRIu64 "/%" PRIu64 ")\n"
        "  kept versions opened read-only: %" PRIu64 " (older than current: "
        "%" PRIu64 ")\n",
        st.cycles, now_s() - t0, opt.seed, st.resets, st.dur_group, st.dur_full,
        st.kills_before_ready, st.acked_txns, st.acked_ops, st.acked_batches,
        st.acked_wheres, st.acked_flushes, st.inflight_txns,
        st.inflight_applied, st.inflight_not_applied,
        st.inflight_batches_applied, st.inflight_batches_not_applied,
        st.inflight_flushes, st.segments_seen, st.ids_checked, st.searches,
        st.hnsw_self_found, st.hnsw_self_checked, st.versions_opened,
        st.old_versions_opened);
    if (opt.random)
        fprintf(f,
                "  random options: %ld NONE cycles, %ld without automatic "
                "compaction; databases: quantizer none/SQ8/BQ/PQ/OPQ "
                "%ld/%ld/%ld/%ld/%ld, %ld FLAT, %ld inner product, %ld with "
                "a schema, %ld zstd, %ld with DiskANN segments (searched "
                "while holding one after %" PRIu64 " restarts)\n",
                st.dur_none, st.cycles_no_compact, st.runs_quant[0],
                st.runs_quant[1], st.runs_quant[2], st.runs_quant[3],
                st.runs_quant[4], st.runs_flat, st.runs_ip, st.runs_schema,
                st.runs_zstd, st.runs_diskann, st.dann_checks);
}

static void reset_db(vex_rng *r)
{
    if (opt.random)
        pick_coll_opts(r);
    rm_rf(db_dir);
    memset(model, 0, sizeof model);
    memset(coll_created, 0, sizeof coll_created);
    memset(max_seg, 0, sizeof max_seg);
}

static void test_kill_loop(void)
{
    vex_rng r;
    double t0 = now_s();
    vex_rng_seed(&r, opt.seed);
    snprintf(db_dir, sizeof db_dir, "%s/db", root);
    reset_db(&r);
    fprintf(stderr, "kill_loop: %ld cycles, seed %" PRIu64 ", db %s%s%s%s\n",
            opt.cycles, opt.seed, db_dir,
            opt.early_ack ? " [selftest: early ack]" : "",
            opt.split_batch ? " [selftest: split batches]" : "",
            opt.none ? " [selftest: durability NONE]" : "");
    for (cur_cycle = 0; cur_cycle < opt.cycles && !failed; cur_cycle++) {
        if (opt.reset_every > 0 && cur_cycle > 0 &&
            cur_cycle % opt.reset_every == 0) {
            reset_db(&r);
            st.resets++;
        }
        one_cycle(&r);
        if (opt.progress > 0 && (cur_cycle + 1) % opt.progress == 0)
            print_stats(stderr, t0);
    }
    if (failed || opt.progress <= 0 || cur_cycle % opt.progress != 0)
        print_stats(stderr, t0);
    if (failed)
        fprintf(stderr,
                "kill_loop: FAILED at cycle %ld; repeat with --seed %" PRIu64
                " (timing differs from run to run)%s%s\n",
                cur_cycle - 1, opt.seed,
                opt.early_ack || opt.split_batch || opt.none
                    ? ""
                    : "; database kept in ",
                opt.early_ack || opt.split_batch || opt.none ? "" : db_dir);
}

static void usage(void)
{
    fprintf(stderr, "usage: test_kill_loop [--cycles N] [--seed S] [--dir D] "
                    "[--reset-every N] [--progress N] [--random-options] "
                    "[--selftest-early-ack] "
                    "[--selftest-split-batch] [--selftest-none]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    const char *tmp = getenv("TMPDIR");
    opt.seed = test_seed(4);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--selftest-early-ack"))
            opt.early_ack = 1;
        else if (!strcmp(a, "--selftest-split-batch"))
            opt.split_batch = 1;
        else if (!strcmp(a, "--selftest-none"))
            opt.none = 1;
        else if (!strcmp(a, "--random-options"))
            opt.random = 1;
        else if (i + 1 >= argc)
            usage();
        else if (!strcmp(a, "--cycles"))
            opt.cycles = strtol(argv[++i], NULL, 0);
        else if (!strcmp(a, "--seed"))
            opt.seed = strtoull(argv[++i], NULL, 0);
        else if (!strcmp(a, "--dir"))
            opt.dir = argv[++i];
        else if (!strcmp(a, "--reset-every"))
            opt.reset_every = strtol(argv[++i], NULL, 0);
        else if (!strcmp(a, "--progress"))
            opt.progress = strtol(argv[++i], NULL, 0);
        else
            usage();
    }
    if (opt.dir) {
        mkdir(opt.dir, 0755);
        snprintf(root, sizeof root, "%s", opt.dir);
    } else {
        snprintf(root, sizeof root, "%s/vex_kill_loop_XXXXXX",
                 tmp && *tmp ? tmp : "/tmp");
        if (mkdtemp(root) == NULL) {
            perror("mkdtemp");
            return 2;
        }
    }
    TEST_RUN(test_kill_loop);
    /* a self-test's failure is the expected outcome: nothing to keep */
    if (!test_failures_ || opt.early_ack || opt.split_batch || opt.none) {
        rm_rf(db_dir);
        if (!opt.dir)
            rm_rf(root);
    }
    return TEST_EXIT();
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_obs.c - health and the log hook under injected faults
 * (io/vfs_fault.c over the in-memory vfs).
 *
 * The background flush is made to run while the test thread does no I/O:
 * the test holds the collection's flush lock (bg.flush_mu, engine
 * internals) while its writes freeze the memtable, arms the fault, then
 * lets the background flush go and waits for it. So every fault injected
 * is one the background job met.
 *
 *  - health: a background flush failing with ENOSPC makes the database
 *    degraded (disk full, a flush failing) with the failure's message,
 *    before any write; a later successful flush clears it;
 *  - the log hook: for every N, the N-th vfs call of the background flush
 *    fails; every injected fault is logged exactly once (the fault
 *    message names its call number), at error level when the flush
 *    failed (and then counted by vex_db_health), at warning level when a
 *    best-effort step met it and the flush succeeded; a sticky error is a
 *    separate warning about the state, not the fault again; the same for
 *    a background compaction;
 *  - levels: INFO brings flush start and finish with rows, bytes and
 *    times; ERROR alone brings only failures; nothing is logged per
 *    write or search at INFO;
 *  - progress: vex_stats read by another thread while vex_flush and
 *    vex_compact run shows their builds part way (0 < done < total, done
 *    never above total, total the rows being built), and 0 of 0 after.
 */
#include <pthread.h>
#include <time.h>

#include "engine/coll_int.h"
#include "engine/jobs.h"
#include "io/vfs.h"
#include "util/pool.h"
#include "util/rng.h"
#include "obs_parse.h"
#include "test.h"
#include "vexdb.h"

#define DIM  64
#define ROWS 4200 /* 4200 x 256 bytes > 1 MiB: one freeze */

typedef struct logline {
    int level;
    char coll[72];
    char msg[1024];
} logline;

typedef struct logbook {
    pthread_mutex_t mu;
    logline v[256];
    int n;
} logbook;

static void hook(void *ctx, int level, const char *coll, const char *msg)
{
    logbook *b = ctx;
    pthread_mutex_lock(&b->mu);
    if (b->n < 256) {
        logline *l = &b->v[b->n++];
        l->level = level;
        snprintf(l->coll, sizeof l->coll, "%s", coll ? coll : "");
        snprintf(l->msg, sizeof l->msg, "%s", msg);
    }
    pthread_mutex_unlock(&b->mu);
}

typedef struct rig {
    vex_vfs *mem, *fault;
    vex_db *db;
    vex_collection *c;
    logbook log;
} rig;

/* The value of series `name` of collection "c" ("" extra labels). */
static double rig_metric(rig *r, const char *name)
{
    char *text = NULL;
    prom_doc d;
    double v = -1;
    if (vex_metrics_text(r->db, &text, NULL) != VEX_OK)
        return -1;
    if (prom_parse(text, &d) == 0) {
        v = prom_get(&d, name, "collection=\"c\"");
        prom_free(&d);
    }
    vex_metrics_free(r->db, text);
    return v;
}

static int rig_open_stall(rig *r, int level, int busy)
{
    vex_db_options o;
    vex_collection_config cfg;
    memset(r, 0, sizeof *r);
    pthread_mutex_init(&r->log.mu, NULL);
    if (vx_vfs_mem_create(NULL, &r->mem) != VEX_OK ||
        vx_vfs_fault_create(r->mem, NULL, &r->fault) != VEX_OK)
        return -1;
    vex_db_options_init(&o);
    o.create_if_missing = 1;
    o.memtable_bytes = 1u << 20;
    o.durability = VEX_DURABILITY_NONE;
    o.compact_min_merge = 0;
    o.compact_deleted_pct = 0;
    o.flush_on_close = 0;
    o.background_threads = 1;
    if (busy) {
        o.max_frozen_memtables = 1;
        o.write_stall = VEX_STALL_BUSY;
    }
    if (vx_db_open_vfs("db", &o, r->fault, &r->db) != VEX_OK)
        return -1;
    CHECK_RC(vex_db_set_log(r->db, hook, &r->log, level), VEX_OK);
    vex_collection_config_init(&cfg);
    cfg.dim = DIM;
    cfg.index_kind = VEX_INDEX_FLAT;
    return vex_collection_create(r->db, "c", &cfg, &r->c) == VEX_OK ? 0 : -1;
}

static int rig_open(rig *r, int level)
{
    return rig_open_stall(r, level, 0);
}

static void rig_close(rig *r)
{
    vex_fault_config off = {0, 0, 0, 0};
    vx_vfs_fault_set(r->fault, &off);
    vex_db_close(r->db);
    vex_vfs_destroy(r->fault);
    vex_vfs_destroy(r->mem);
    pthread_mutex_destroy(&r->log.mu);
}

/* Writes until the memtable froze, with the background flush held back
 * by the test's hold on the flush lock. */
static void freeze_held(rig *r)
{
    float v[DIM];
    vx_mutex_lock(&r->c->bg.flush_mu);
    for (uint64_t id = 0; id < ROWS; id++) {
        for (int j = 0; j < DIM; j++)
            v[j] = (float)((id * 31 + (uint64_t)j) % 97);
        CHECK_RC(vex_insert(r->c, id, v), VEX_OK);
    }
}

/* Let the held flush run under `cfg`; wait until it succeeded or failed.
 * Returns the faults it met. */
static uint64_t release_and_wait(rig *r, const vex_fault_config *cfg)
{
    vex_fault_stats fs;
    vx_vfs_fault_set(r->fault, cfg);
    vx_mutex_unlock(&r->c->bg.flush_mu);
    for (int i = 0; i < 20000; i++) {
        /* no I/O here (vex_stats_get lists the directory) */
        vex_health h;
        vex_health_init(&h);
        CHECK_RC(vex_db_health(r->db, &h), VEX_OK);
        if (h.background_errors || atomic_load(&r->c->counts.n_flushes))
            break;
        usleep(500);
    }
    /* the job is done with I/O once either is visible; make sure it
     * returned (its lock is free) before reading the counters */
    vx_mutex_lock(&r->c->bg.flush_mu);
    vx_mutex_unlock(&r->c->bg.flush_mu);
    vx_vfs_fault_stats(r->fault, &fs);
    return fs.n_faults;
}

static void test_health(void)
{
    rig r;
    vex_health h;
    vex_fault_config full = {VEX_FAULT_BIT(VEX_FAULT_M_WRITE), 1, 0,
                             VEX_FAULT_FULL};
    if (rig_open(&r, VEX_LOG_ERROR) != 0) {
        CHECK(!"open");
        return;
    }
    vex_health_init(&h);
    CHECK_RC(vex_db_health(r.db, &h), VEX_OK);
    CHECK(!h.degraded && h.background_errors == 0 && h.last_error == VEX_OK);
    freeze_held(&r);
    CHECK(release_and_wait(&r, &full) == 1);
    /* no write since: the failure shows at once */
    vex_health_init(&h);
    CHECK_RC(vex_db_health(r.db, &h), VEX_OK);
    CHECK(h.degraded == 1);
    CHECK(h.disk_full == 1);
    CHECK(h.flush_failing == 1);
    CHECK(h.sticky_collections == 0);
    CHECK(h.background_errors == 1);
    CHECK(h.last_error == VEX_FULL);
    CHECK(strcmp(h.last_error_collection, "c") == 0);
    CHECK(strstr(h.last_error_message, "flush failed") != NULL);
    CHECK(strstr(h.last_error_message, "injected") != NULL);
    CHECK(h.last_error_unix_ms > 0);
    CHECK(r.log.n == 1 && r.log.v[0].level == VEX_LOG_ERROR &&
          strcmp(r.log.v[0].msg, h.last_error_message) == 0);
    /* the metrics count it too */
    CHECK(rig_metric(&r, "vex_flush_errors_total") == 1);
    CHECK(rig_metric(&r, "vex_background_errors_total") == 1);
    CHECK(rig_metric(&r, "vex_flush_seconds_count") == 0);
    CHECK(rig_metric(&r, "vex_frozen_memtables") == 1);
    /* space again: the retry succeeds and the degradation is over */
    {
        vex_fault_config off = {0, 0, 0, 0};
        vx_vfs_fault_set(r.fault, &off);
    }
    CHECK_RC(vex_flush(r.c), VEX_OK);
    vex_health_init(&h);
    CHECK_RC(vex_db_health(r.db, &h), VEX_OK);
    CHECK(!h.degraded && !h.disk_full && h.flush_failing == 0);
    CHECK(h.background_errors == 1); /* history stays */
    /* misuse */
    CHECK_RC(vex_db_health(NULL, &h), VEX_MISUSE);
    CHECK_RC(vex_db_health(r.db, NULL), VEX_MISUSE);
    h.struct_size = 3;
    CHECK_RC(vex_db_health(r.db, &h), VEX_MISUSE);
    CHECK_RC(vex_db_set_log(r.db, hook, &r.log, 7), VEX_INVALID);
    rig_close(&r);
}

/* A sticky collection shows in health with its reason. */
static void test_health_sticky(void)
{
    rig r;
    vex_health h;
    float v[DIM] = {0};
    vex_fault_config sync = {VEX_FAULT_BIT(VEX_FAULT_M_SYNC), 1, 0,
                             VEX_FAULT_SYNC};
    if (rig_open(&r, VEX_LOG_WARNING) != 0) {
        CHECK(!"open");
        return;
    }
    CHECK_RC(vex_insert(r.c, 1, v), VEX_OK);
    vx_vfs_fault_set(r.fault, &sync);
    CHECK(vex_flush(r.c) != VEX_OK); /* the log's sync fails: sticky */
    vex_health_init(&h);
    CHECK_RC(vex_db_health(r.db, &h), VEX_OK);
    CHECK(h.degraded && h.sticky_collections == 1);
    CHECK(strcmp(h.sticky_collection, "c") == 0);
    CHECK(strstr(h.sticky_message, "injected") != NULL);
    rig_close(&r);
}

/* Whether log line l is the report of an injected fault (the state
 * change a sticky error is, is not the fault again). */
static int reports_fault(const logline *l)
{
    return strstr(l->msg, "injected") != NULL &&
           strncmp(l->msg, "sticky error", 12) != 0;
}

static void test_log_every_fault_once(void)
{
    int met = 0, failed = 0;
    for (uint64_t n = 1; n < 400; n++) {
        rig r;
        vex_health h;
        vex_fault_config cfg = {VEX_FAULT_ALL, n, 0, VEX_FAULT_IOERR};
        uint64_t faults;
        int reported = 0, errors = 0;
        if (rig_open(&r, VEX_LOG_DEBUG) != 0) {
            CHECK(!"open");
            return;
        }
        freeze_held(&r);
        pthread_mutex_lock(&r.log.mu);
        r.log.n = 0;
        pthread_mutex_unlock(&r.log.mu);
        faults = release_and_wait(&r, &cfg);
        vex_health_init(&h);
        CHECK_RC(vex_db_health(r.db, &h), VEX_OK);
        pthread_mutex_lock(&r.log.mu);
        for (int i = 0; i < r.log.n; i++) {
            if (reports_fault(&r.log.v[i])) {
                reported++;
                CHECK(r.log.v[i].level <= VEX_LOG_WARNING);
                CHECK(strcmp(r.log.v[i].coll, "c") == 0);
            }
            errors += r.log.v[i].level == VEX_LOG_ERROR;
        }
        CHECK_MSG(reported == (int)faults,
                  "fault at call %" PRIu64 ": %" PRIu64
                  " injected, %d logged%s%s",
                  n, faults, reported, r.log.n ? "; first: " : "",
                  r.log.n ? r.log.v[0].msg : "");
        if (getenv("OBS_DEBUG") && reported != (int)faults)
            for (int i = 0; i < r.log.n; i++)
                fprintf(stderr, "  [%d] %s\n", r.log.v[i].level,
                        r.log.v[i].msg);
        /* an error line is a failed job, and health counted it */
        CHECK((uint64_t)errors == h.background_errors);
        pthread_mutex_unlock(&r.log.mu);
        met += faults != 0;
        failed += h.background_errors != 0;
        rig_close(&r);
        if (faults == 0)
            break; /* the flush needed fewer than n calls */
    }
    /* the sweep reached past the flush's last call, and both kinds of
     * outcome happened */
    printf("flush sweep: %d faults met, %d failed the flush\n", met, failed);
    CHECK(met > 5 && failed > 0);
}

/* The same for a background compaction of two segments: the test holds
 * the compaction lock while it flushes them (so the automatic compaction
 * a flush schedules does nothing), then arms the fault and schedules the
 * job itself. The mask leaves out close, munmap and remove: releasing
 * the replaced segments' files happens wherever their last reference
 * goes and is not reported (see docs/observability.md). */
static void test_log_compaction_faults(void)
{
    const uint32_t mask = VEX_FAULT_ALL & ~(VEX_FAULT_BIT(VEX_FAULT_M_CLOSE) |
                                            VEX_FAULT_BIT(VEX_FAULT_M_MUNMAP) |
                                            VEX_FAULT_BIT(VEX_FAULT_M_REMOVE));
    int met = 0, failed = 0;
    for (uint64_t n = 1; n < 400; n++) {
        rig r;
        vex_health h;
        vex_fault_config cfg = {mask, n, 0, VEX_FAULT_IOERR};
        vex_fault_stats fs;
        float v[DIM];
        int reported = 0, errors = 0;
        if (rig_open(&r, VEX_LOG_DEBUG) != 0) {
            CHECK(!"open");
            return;
        }
        r.db->opts.compact_min_merge = 2; /* a run-time setting */
        vx_mutex_lock(&r.c->bg.compact_mu);
        for (uint64_t id = 0; id < 200; id++) {
            for (int j = 0; j < DIM; j++)
                v[j] = (float)((id * 7 + (uint64_t)j) % 31);
            CHECK_RC(vex_insert(r.c, id, v), VEX_OK);
            if (id == 99)
                CHECK_RC(vex_flush(r.c), VEX_OK);
        }
        CHECK_RC(vex_flush(r.c), VEX_OK);
        pthread_mutex_lock(&r.log.mu);
        r.log.n = 0;
        pthread_mutex_unlock(&r.log.mu);
        vx_vfs_fault_set(r.fault, &cfg);
        vx_mutex_unlock(&r.c->bg.compact_mu);
        vx_jobs_schedule(r.db->jobs, r.c, VX_JOB_COMPACT);
        for (int i = 0; i < 20000; i++) {
            vex_health_init(&h);
            CHECK_RC(vex_db_health(r.db, &h), VEX_OK);
            if (h.background_errors || atomic_load(&r.c->counts.n_compactions))
                break;
            usleep(500);
        }
        vx_mutex_lock(&r.c->bg.compact_mu);
        vx_mutex_unlock(&r.c->bg.compact_mu);
        vx_vfs_fault_stats(r.fault, &fs);
        vex_health_init(&h);
        CHECK_RC(vex_db_health(r.db, &h), VEX_OK);
        pthread_mutex_lock(&r.log.mu);
        for (int i = 0; i < r.log.n; i++) {
            reported += reports_fault(&r.log.v[i]);
            errors += r.log.v[i].level == VEX_LOG_ERROR;
        }
        CHECK_MSG(reported == (int)fs.n_faults,
                  "fault at call %" PRIu64 ": %" PRIu64 " injected, %d logged",
                  n, fs.n_faults, reported);
        CHECK((uint64_t)errors == h.background_errors);
        pthread_mutex_unlock(&r.log.mu);
        met += fs.n_faults != 0;
        failed += h.background_errors != 0;
        if (h.background_errors)
            CHECK(h.compaction_failing == 1 && h.degraded);
        rig_close(&r);
        if (fs.n_faults == 0)
            break;
    }
    printf("compaction sweep: %d faults met, %d failed the compaction\n", met,
           failed);
    CHECK(met > 5 && failed > 0);
}

static void test_levels(void)
{
    rig r;
    vex_fault_config off = {0, 0, 0, 0};
    int start = 0, finish = 0;
    if (rig_open(&r, VEX_LOG_INFO) != 0) {
        CHECK(!"open");
        return;
    }
    freeze_held(&r);
    CHECK(release_and_wait(&r, &off) == 0);
    {
        vex_hit hits[3];
        size_t n;
        float q[DIM] = {0};
        int before = r.log.n;
        for (int i = 0; i < 50; i++)
            CHECK_RC(vex_search(r.c, q, 3, NULL, hits, NULL, &n), VEX_OK);
        CHECK_RC(vex_insert(r.c, 999999, q), VEX_OK);
        CHECK(r.log.n == before); /* nothing per search or write */
    }
    for (int i = 0; i < r.log.n; i++) {
        CHECK(r.log.v[i].level == VEX_LOG_INFO);
        start += strncmp(r.log.v[i].msg, "flush started", 13) == 0;
        if (strncmp(r.log.v[i].msg, "flush finished", 14) == 0) {
            finish++;
            CHECK(strstr(r.log.v[i].msg, " rows") != NULL);
            CHECK(strstr(r.log.v[i].msg, " bytes") != NULL);
            CHECK(strstr(r.log.v[i].msg, " ms") != NULL);
        }
    }
    CHECK(start == 1 && finish == 1);
    /* no hook: nothing is called; a hook set again gets what follows */
    CHECK_RC(vex_db_set_log(r.db, NULL, NULL, VEX_LOG_DEBUG), VEX_OK);
    r.log.n = 0;
    CHECK_RC(vex_flush(r.c), VEX_OK);
    CHECK(r.log.n == 0);
    CHECK_RC(vex_db_set_log(r.db, hook, &r.log, VEX_LOG_INFO), VEX_OK);
    CHECK_RC(vex_compact(r.c), VEX_OK);
    CHECK(r.log.n >= 1);
    CHECK(strcmp(vex_log_level_name(VEX_LOG_WARNING), "warning") == 0);
    CHECK(strcmp(vex_log_level_name(9), "?") == 0);
    rig_close(&r);
}

/* Opening a collection logs what recovery did. */
static void test_recovery_logged(void)
{
    rig r;
    float v[DIM] = {0};
    int found = 0;
    if (rig_open(&r, VEX_LOG_INFO) != 0) {
        CHECK(!"open");
        return;
    }
    for (uint64_t id = 0; id < 10; id++)
        CHECK_RC(vex_insert(r.c, id, v), VEX_OK);
    CHECK_RC(vex_collection_close(r.c), VEX_OK); /* no flush: in the log */
    r.log.n = 0;
    CHECK_RC(vex_collection_open(r.db, "c", &r.c), VEX_OK);
    for (int i = 0; i < r.log.n; i++)
        if (strncmp(r.log.v[i].msg, "recovered in ", 13) == 0) {
            found++;
            CHECK(strstr(r.log.v[i].msg, " 10 log records replayed") != NULL);
        }
    CHECK(found == 1);
    rig_close(&r);
}

/* A write that finds the flush behind stalls: VEX_BUSY, counted in the
 * stall histogram and the write errors, logged as a warning. */
typedef struct prog_run {
    vex_collection *c;
    int compact, rc;
    _Atomic int over;
} prog_run;

static void *prog_main(void *arg)
{
    prog_run *p = arg;
    p->rc = p->compact ? vex_compact(p->c) : vex_flush(p->c);
    atomic_store(&p->over, 1);
    return NULL;
}

/* Runs vex_flush (compact 0) or vex_compact on c in a thread while this
 * one polls vex_stats; checks what the polls saw against `rows`, the
 * rows the build indexes. */
static void progress_of(vex_collection *c, int compact, uint64_t rows)
{
    prog_run p = {c, compact, -1, 0};
    pthread_t t;
    uint64_t polls = 0, midway = 0, bad = 0, wrong_total = 0;
    vex_stats st;
    CHECK(pthread_create(&t, NULL, prog_main, &p) == 0);
    while (!atomic_load(&p.over)) {
        uint64_t done, total;
        vex_stats_init(&st);
        if (vex_stats_get(c, &st) != VEX_OK)
            break;
        done = compact ? st.compact_rows_done : st.flush_rows_done;
        total = compact ? st.compact_rows_total : st.flush_rows_total;
        polls++;
        bad += done > total;
        wrong_total += total != 0 && total != rows;
        midway += done > 0 && done < total;
    }
    pthread_join(t, NULL);
    CHECK_RC(p.rc, VEX_OK);
    CHECK_MSG(bad == 0 && wrong_total == 0,
              "%s: %llu polls saw done above total, %llu a total other than "
              "%llu",
              compact ? "compaction" : "flush", (unsigned long long)bad,
              (unsigned long long)wrong_total, (unsigned long long)rows);
    CHECK_MSG(midway > 0, "%s: none of %llu polls saw the build part way",
              compact ? "compaction" : "flush", (unsigned long long)polls);
    vex_stats_init(&st);
    CHECK_RC(vex_stats_get(c, &st), VEX_OK);
    CHECK(st.flush_rows_done == 0 && st.flush_rows_total == 0 &&
          st.compact_rows_done == 0 && st.compact_rows_total == 0);
}

static void test_progress(void)
{
    enum { N = 6000, PDIM = 32 };
    vex_vfs *mem = NULL;
    vex_db *db = NULL;
    vex_collection *c = NULL;
    vex_db_options o;
    vex_collection_config cfg;
    vex_rng r;
    float *v = malloc((size_t)N * PDIM * sizeof *v);
    uint64_t *ids = malloc((size_t)N * sizeof *ids);
    CHECK(v != NULL && ids != NULL);
    CHECK_RC(vx_vfs_mem_create(NULL, &mem), VEX_OK);
    vex_db_options_init(&o);
    o.create_if_missing = 1;
    o.durability = VEX_DURABILITY_NONE;
    o.memtable_bytes = 64u << 20;
    /* no background indexing: the flush builds the whole graph */
    o.memtable_exact_rows = 1000000;
    o.compact_min_merge = 0;
    o.compact_deleted_pct = 0;
    o.flush_on_close = 0;
    CHECK_RC(vx_db_open_vfs("db", &o, mem, &db), VEX_OK);
    vex_collection_config_init(&cfg);
    cfg.dim = PDIM;
    cfg.index_kind = VEX_INDEX_HNSW;
    CHECK_RC(vex_collection_create(db, "p", &cfg, &c), VEX_OK);
    vex_rng_seed(&r, test_seed(5));
    for (size_t i = 0; i < (size_t)N * PDIM; i++)
        v[i] = (float)vex_rng_normal(&r);
    for (size_t i = 0; i < N; i++)
        ids[i] = i;
    /* two segments of N / 2 rows each, then one compaction of N */
    for (int half = 0; half < 2 && c; half++) {
        size_t at = (size_t)half * (N / 2);
        CHECK_RC(vex_insert_many(c, N / 2, ids + at, v + at * PDIM, NULL, NULL,
                                 NULL),
                 VEX_OK);
        progress_of(c, 0, N / 2);
    }
    if (c)
        progress_of(c, 1, N);
    vex_db_close(db);
    vex_vfs_destroy(mem);
    free(v);
    free(ids);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Background memtable indexing leaves a CPU to writers while writes
 * arrive (issue 19 item 5) and goes back to the pool's full width once
 * they stop, so the tail is caught up at full speed. */
static void test_index_width(void)
{
    enum { WDIM = 32, BURST = 30000 };
    const uint64_t ms = 1000 * 1000, recent = VX_INDEX_WRITES_RECENT_NS;
    unsigned cpus = vx_cpu_count();
    vex_vfs *mem = NULL;
    vex_db *db = NULL;
    vex_collection *c = NULL;
    vex_db_options o;
    vex_collection_config cfg;
    vex_stats st;
    vex_rng r;
    float *v = malloc((size_t)BURST * WDIM * sizeof *v);
    uint64_t *ids = malloc((size_t)BURST * sizeof *ids), next = 0;
    double t0;

    /* the policy */
    CHECK(vx_jobs_index_width(2, 2, 5 * ms, 0) == 0); /* no write yet */
    CHECK(vx_jobs_index_width(2, 2, 5 * ms, 4 * ms) == 1);
    CHECK(vx_jobs_index_width(8, 8, 5 * ms, 5 * ms) == 7);
    CHECK(vx_jobs_index_width(16, 8, 5 * ms, 5 * ms) == 7);
    CHECK(vx_jobs_index_width(2, 16, 5 * ms, 4 * ms) == 0); /* CPUs left */
    CHECK(vx_jobs_index_width(1, 1, 5 * ms, 4 * ms) == 0);  /* one CPU */
    CHECK(vx_jobs_index_width(2, 2, 4 * ms + recent, 4 * ms) == 1);
    CHECK(vx_jobs_index_width(2, 2, 4 * ms + recent + 1, 4 * ms) == 0);
    CHECK(vx_jobs_index_width(2, 2, 3 * ms, 4 * ms) == 0); /* clock skew */

    if (cpus < 2 || v == NULL || ids == NULL) {
        if (cpus < 2)
            printf("  (one CPU: the background indexer has none to leave; "
                   "policy checked only)\n");
        free(v);
        free(ids);
        return;
    }
    CHECK_RC(vx_vfs_mem_create(NULL, &mem), VEX_OK);
    vex_db_options_init(&o);
    o.create_if_missing = 1;
    o.durability = VEX_DURABILITY_NONE;
    o.n_threads = cpus; /* the pool takes every CPU */
    o.memtable_exact_rows = 256;
    o.compact_min_merge = 0;
    o.flush_on_close = 0;
    CHECK_RC(vx_db_open_vfs("db", &o, mem, &db), VEX_OK);
    vex_collection_config_init(&cfg);
    cfg.dim = WDIM;
    cfg.index_kind = VEX_INDEX_HNSW;
    CHECK_RC(vex_collection_create(db, "w", &cfg, &c), VEX_OK);
    vex_rng_seed(&r, test_seed(9));
    for (size_t i = 0; i < (size_t)BURST * WDIM; i++)
        v[i] = (float)vex_rng_normal(&r);
    /* a steady stream of small writes: the indexer links narrowed */
    t0 = now_s();
    while (c && atomic_load(&c->bg.index_narrow) == 0 && now_s() - t0 < 30) {
        for (size_t i = 0; i < 64; i++)
            ids[i] = next++;
        CHECK_RC(vex_insert_many(c, 64, ids, v, NULL, NULL, NULL), VEX_OK);
        usleep(200);
    }
    CHECK(atomic_load(&c->bg.index_narrow) > 0);
    /* then a burst and quiet: once no write came for 100 ms, the next
     * chunk of the burst is linked at full width (waited for, not the
     * whole burst: under TSan that takes minutes) */
    for (size_t i = 0; i < BURST; i++)
        ids[i] = next++;
    CHECK_RC(vex_insert_many(c, BURST, ids, v, NULL, NULL, NULL), VEX_OK);
    t0 = now_s();
    do {
        usleep(2000);
        vex_stats_init(&st);
        CHECK_RC(vex_stats_get(c, &st), VEX_OK);
    } while (atomic_load(&c->bg.index_wide) == 0 && st.unindexed_rows > 0 &&
             now_s() - t0 < 120);
    CHECK(atomic_load(&c->bg.index_wide) > 0);
    vex_db_close(db);
    vex_vfs_destroy(mem);
    free(v);
    free(ids);
}

static void test_stall(void)
{
    rig r;
    float v[DIM] = {0};
    uint64_t id = ROWS;
    int rc = VEX_OK, warned = 0;
    vex_fault_config off = {0, 0, 0, 0};
    if (rig_open_stall(&r, VEX_LOG_WARNING, 1) != 0) {
        CHECK(!"open");
        return;
    }
    CHECK(rig_metric(&r, "vex_write_stall_seconds_count") == 0);
    freeze_held(&r); /* one frozen memtable waits: the most allowed */
    while (rc == VEX_OK && id < 3 * ROWS)
        rc = vex_insert(r.c, id++, v);
    CHECK_RC(rc, VEX_BUSY);
    CHECK(rig_metric(&r, "vex_write_stall_seconds_count") == 1);
    CHECK(rig_metric(&r, "vex_write_errors_total") == 1);
    CHECK(rig_metric(&r, "vex_memtable_fill_ratio") >= 1.0);
    for (int i = 0; i < r.log.n; i++)
        warned += r.log.v[i].level == VEX_LOG_WARNING &&
                  strncmp(r.log.v[i].msg, "a write stalled", 15) == 0;
    CHECK(warned == 1);
    CHECK(release_and_wait(&r, &off) == 0);
    CHECK(rig_metric(&r, "vex_flush_seconds_count") == 1);
    rig_close(&r);
}

int main(void)
{
    TEST_RUN(test_stall);
    TEST_RUN(test_progress);
    TEST_RUN(test_index_width);
    TEST_RUN(test_recovery_logged);
    TEST_RUN(test_health);
    TEST_RUN(test_health_sticky);
    TEST_RUN(test_levels);
    TEST_RUN(test_log_every_fault_once);
    TEST_RUN(test_log_compaction_faults);
    return TEST_EXIT();
}

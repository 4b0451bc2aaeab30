/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cmd_bench_filter.c - `vex bench --filter EXPR --meta FILE.tsv` and `vex
 * bench --collection`: recall and speed of search through a collection
 * (the public API only), filtered or not. The base vectors are inserted
 * (with their metadata row from the TSV file, when there is one) into a
 * collection in a fresh database directory (--db, or a temporary one that
 * is removed afterwards). With --filter alone they are flushed into one
 * segment (the index is built there, timed); with --collection they go in
 * the way an application's records do: the memtable (--memtable-mb, or the
 * database's default) is flushed to a segment each time it fills, and the
 * segments are then compacted into one, all of it timed as the build.
 * Queries run one at a time on one thread through vex_search, with the
 * filter in vex_search_params.where, for each --ef; --serve instead
 * answers "where [EXPR]" and "ef N" requests from stdin, so that a driver
 * can interleave libraries and filters over one build
 * (bench/filter_interleaved.py, bench/hnsw_interleaved.py --collection).
 * The filter is compiled before anything is inserted, so a typo costs no
 * load; a --db directory this run created is removed when the run fails,
 * so a failure leaves no half-built database.
 *
 * Metadata: the TSV's first line names the columns; row i (after the
 * header) belongs to base vector i. A column is int64 when every value
 * parses as one, else double when every value does, else string; every
 * int64 column X also gets derived columns X_mod100 and X_mod1000 (X
 * mod 100 and mod 1000), so that `X_mod100 < p` selects about p% of the
 * rows, and `X_mod1000 < p` p per mille, independently of X's order.
 *
 * Recall without a filter is counted as for a standalone index (distance
 * thresholds from --gt or an exact flat search, cmd_bench.c), so the two
 * compare directly. With a filter, ground truth is exact filtered k-NN:
 * the matching ids come from vex_scan with the same filter, and a flat
 * index over all base vectors searched with a filter function accepting
 * exactly those ids (flat search is exact). Recall@k = |hits ∩ truth| /
 * |truth| summed over the queries, where |truth| = min(k, matches): ids,
 * not distances (ties at the k-th place can count as misses; they are
 * rare in real data).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "clidb.h"
#include "readers.h"
#include "vexdb.h"

/* ---- the TSV file ---------------------------------------------------- */

enum { COL_INT, COL_DOUBLE, COL_STRING };

typedef struct tsv {
    char *buf;    /* the file, NULs written over tabs and newlines */
    char **cells; /* n_rows * n_cols pointers into buf */
    char **names; /* n_cols */
    int *type;    /* n_cols */
    size_t n_cols, n_rows;
} tsv;

static void tsv_free(tsv *t)
{
    free(t->buf);
    free(t->cells);
    free(t->names);
    free(t->type);
    memset(t, 0, sizeof *t);
}

static int parse_int(const char *s, int64_t *v)
{
    char *end;
    long long x;
    errno = 0;
    x = strtoll(s, &end, 10);
    if (*s == '\0' || *end != '\0' || errno)
        return 0;
    *v = x;
    return 1;
}

static int parse_double(const char *s, double *v)
{
    char *end;
    double x;
    errno = 0;
    x = strtod(s, &end);
    if (*s == '\0' || *end != '\0' || errno || x != x)
        return 0;
    *v = x;
    return 1;
}

/* Split the lines of `path` into cells and type the columns. */
static int tsv_read(const char *path, tsv *t, char *msg, size_t msg_size)
{
    FILE *f = fopen(path, "rb");
    long size;
    size_t cap = 0, line = 0, col, pos = 0, n_cells = 0;
    memset(t, 0, sizeof *t);
    if (f == NULL) {
        snprintf(msg, msg_size, "%s: %s", path, strerror(errno));
        return -1;
    }
    if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 ||
        fseek(f, 0, SEEK_SET) != 0 ||
        (t->buf = malloc((size_t)size + 1)) == NULL ||
        fread(t->buf, 1, (size_t)size, f) != (size_t)size) {
        snprintf(msg, msg_size, "%s: cannot read it", path);
        fclose(f);
        return -1;
    }
    fclose(f);
    t->buf[size] = '\0';
    while (pos < (size_t)size) {
        char *start = t->buf + pos, *end = strchr(start, '\n');
        char *c;
        if (end == NULL)
            end = t->buf + size;
        *end = '\0';
        if (end > start && end[-1] == '\r')
            end[-1] = '\0';
        pos = (size_t)(end - t->buf) + 1;
        if (*start == '\0')
            continue;
        /* split on tabs */
        col = 0;
        for (c = start;; col++) {
            char *tab = strchr(c, '\t');
            if (line == 0) {
                char **nn = realloc(t->names, (col + 1) * sizeof *nn);
                if (nn == NULL)
                    goto nomem;
                t->names = nn;
                t->names[col] = c;
            } else {
                if (col >= t->n_cols) {
                    snprintf(msg, msg_size,
                             "%s: line %zu has more than %zu cells", path,
                             line + 1, t->n_cols);
                    return -1;
                }
                if (n_cells == cap) {
                    char **nc;
                    cap = cap ? cap * 2 : 4096;
                    nc = realloc(t->cells, cap * sizeof *nc);
                    if (nc == NULL)
                        goto nomem;
                    t->cells = nc;
                }
                t->cells[n_cells++] = c;
            }
            if (tab == NULL)
                break;
            *tab = '\0';
            c = tab + 1;
        }
        if (line == 0) {
            t->n_cols = col + 1;
        } else if (col + 1 != t->n_cols) {
            snprintf(msg, msg_size, "%s: line %zu has %zu cells, not %zu", path,
                     line + 1, col + 1, t->n_cols);
            return -1;
        }
        line++;
    }
    if (line == 0) {
        snprintf(msg, msg_size, "%s: empty file", path);
        return -1;
    }
    t->n_rows = line - 1;
    t->type = malloc(t->n_cols * sizeof *t->type);
    if (t->type == NULL)
        goto nomem;
    for (col = 0; col < t->n_cols; col++) {
        int ty = COL_INT;
        for (size_t r = 0; r < t->n_rows && ty != COL_STRING; r++) {
            const char *s = t->cells[r * t->n_cols + col];
            int64_t iv;
            double dv;
            if (ty == COL_INT && !parse_int(s, &iv))
                ty = COL_DOUBLE;
            if (ty == COL_DOUBLE && !parse_double(s, &dv))
                ty = COL_STRING;
        }
        t->type[col] = ty;
    }
    return 0;
nomem:
    snprintf(msg, msg_size, "%s: out of memory", path);
    return -1;
}

/* Row r's metadata into m (columns, plus X_mod100 and X_mod1000 for int
 * columns). */
static int tsv_meta(const tsv *t, size_t r, vex_meta *m)
{
    vex_meta_clear(m);
    for (size_t col = 0; col < t->n_cols; col++) {
        const char *s = t->cells[r * t->n_cols + col];
        int64_t iv = 0;
        double dv = 0;
        int rc;
        if (t->type[col] == COL_INT) {
            char name[80];
            parse_int(s, &iv);
            rc = vex_meta_set_int(m, t->names[col], iv);
            snprintf(name, sizeof name, "%.60s_mod100", t->names[col]);
            if (rc == VEX_OK)
                rc = vex_meta_set_int(m, name, ((iv % 100) + 100) % 100);
            snprintf(name, sizeof name, "%.60s_mod1000", t->names[col]);
            if (rc == VEX_OK)
                rc = vex_meta_set_int(m, name, ((iv % 1000) + 1000) % 1000);
        } else if (t->type[col] == COL_DOUBLE) {
            parse_double(s, &dv);
            rc = vex_meta_set_double(m, t->names[col], dv);
        } else {
            rc = vex_meta_set_string(m, t->names[col], s, strlen(s));
        }
        if (rc != VEX_OK)
            return rc;
    }
    return VEX_OK;
}

/* ---- the benchmark --------------------------------------------------- */

typedef struct match_set {
    unsigned char *bit; /* one byte per base id */
    uint64_t n, count;
} match_set;

static int mark(void *ctx, uint64_t id, const vex_meta *meta)
{
    match_set *s = ctx;
    (void)meta;
    if (id < s->n && !s->bit[id]) {
        s->bit[id] = 1;
        s->count++;
    }
    return 0;
}

static int accept_id(uint64_t id, void *ctx)
{
    const match_set *s = ctx;
    return id < s->n && s->bit[id];
}

static void rm_rf(const char *p)
{
    if (vex_cli_rm_tree(p) != 0)
        fprintf(stderr, "vex bench: cannot remove %s: %s\n", p,
                strerror(errno));
}

/* ---- the state of one run ---- */

typedef struct cbench {
    const vex_bench_filter_args *a;
    vexio_vectors base, queries;
    vexio_ids gt; /* unfiltered truth: --gt, or computed exactly */
    double *thr;  /* unfiltered: the largest distance a hit may have */
    tsv t;        /* n_rows 0 without --meta */
    vex_db *db;
    vex_collection *c;
    vex_index *flat;  /* exact filtered truth, built on first use */
    vex_filter *f;    /* NULL: no filter */
    char where[1024]; /* its text, "" for none */
    match_set ms;
    vex_hit *truth, *hits;
    size_t *n_truth, *n_hits;
    double *lat;
    uint64_t nq;
    double build_s, compact_s;
    int64_t rss_delta;
    uint32_t flushed;  /* segments the flushes wrote */
    uint32_t segments; /* after the build (and its compaction) */
} cbench;

/* The collection in a new database directory: every base vector (with its
 * TSV row when there is one) inserted in batches, then flushed; with
 * --collection under the default memtable size (so the background flushes
 * several segments as it fills) and compacted into one, else into one
 * segment by a single flush. Timed. */
static int cb_build(cbench *b, const char *dir)
{
    const vex_bench_filter_args *a = b->a;
    vex_db_options dbo;
    vex_collection_config cfg;
    vex_meta *m = NULL;
    vex_batch *batch = NULL;
    vex_stats st;
    int rc, status = -1;
    uint64_t i;
    double t0;

    vex_db_options_init(&dbo);
    dbo.create_if_missing = 1;
    dbo.n_threads = a->threads;
    dbo.durability = VEX_DURABILITY_NONE; /* a bulk load */
    if (!a->collection)
        dbo.memtable_bytes = UINT64_C(64) << 30;
    else if (a->memtable_mb)
        dbo.memtable_bytes = (uint64_t)a->memtable_mb << 20;
    dbo.compact_min_merge = 0; /* compacted below, when asked, and timed */
    dbo.compact_deleted_pct = 0;
    if ((rc = vex_db_open(dir, &dbo, &b->db)) != VEX_OK) {
        fprintf(stderr, "vex bench: %s: %s\n", dir,
                b->db ? vex_db_errmsg(b->db) : vex_errstr(rc));
        return -1;
    }
    vex_collection_config_init(&cfg);
    cfg.dim = b->base.dim;
    cfg.metric = a->metric;
    cfg.index_kind = a->hnsw ? VEX_INDEX_HNSW : VEX_INDEX_FLAT;
    cfg.hnsw_m = a->M;
    cfg.hnsw_ef_construction = a->ef_construction;
    cfg.hnsw_seed = a->seed;
    if (vex_collection_create(b->db, "bench", &cfg, &b->c) != VEX_OK) {
        fprintf(stderr, "vex bench: %s\n", vex_db_errmsg(b->db));
        return -1;
    }
    /* the filter is compiled before anything is inserted: a typo costs no
     * load */
    if (a->filter &&
        vex_cli_filter("bench --filter", b->c, a->filter, 0, &b->f) != VEX_OK)
        return -2;
    if (vex_meta_create(NULL, &m) != VEX_OK ||
        vex_batch_create(b->base.dim * sizeof(float), NULL, &batch) != VEX_OK) {
        fprintf(stderr, "vex bench: out of memory\n");
        goto out;
    }
    b->rss_delta = vex_bench_rss_now();
    t0 = vex_cli_now();
    for (i = 0; i < b->base.n; i++) {
        const float *v = b->base.data + i * b->base.dim;
        if (b->t.n_rows && tsv_meta(&b->t, (size_t)i, m) != VEX_OK) {
            fprintf(stderr, "vex bench: %s row %" PRIu64 ": %s\n", a->meta_path,
                    i, vex_meta_errmsg(m));
            goto out;
        }
        rc = b->t.n_rows ? vex_batch_insert_meta(batch, i, v, m)
                         : vex_batch_insert(batch, i, v);
        if (rc == VEX_FULL ||
            (rc == VEX_OK && vex_batch_count(batch) >= 4096)) {
            if (vex_batch_commit(b->c, batch) != VEX_OK) {
                fprintf(stderr, "vex bench: insert: %s\n",
                        vex_collection_errmsg(b->c));
                goto out;
            }
            vex_batch_clear(batch);
            if (rc == VEX_FULL)
                rc = b->t.n_rows ? vex_batch_insert_meta(batch, i, v, m)
                                 : vex_batch_insert(batch, i, v);
        }
        if (rc != VEX_OK) {
            fprintf(stderr, "vex bench: insert: %s\n", vex_errstr(rc));
            goto out;
        }
    }
    if (vex_batch_count(batch) && vex_batch_commit(b->c, batch) != VEX_OK) {
        fprintf(stderr, "vex bench: insert: %s\n", vex_collection_errmsg(b->c));
        goto out;
    }
    if (vex_flush(b->c) != VEX_OK) {
        fprintf(stderr, "vex bench: flush: %s\n", vex_collection_errmsg(b->c));
        goto out;
    }
    vex_stats_init(&st);
    if (vex_stats_get(b->c, &st) == VEX_OK)
        b->flushed = st.segments;
    if (a->collection) {
        double t1 = vex_cli_now();
        if (vex_compact(b->c) != VEX_OK) {
            fprintf(stderr, "vex bench: compact: %s\n",
                    vex_collection_errmsg(b->c));
            goto out;
        }
        b->compact_s = vex_cli_now() - t1;
    }
    b->build_s = vex_cli_now() - t0;
    b->rss_delta = vex_bench_rss_now() - b->rss_delta;
    vex_stats_init(&st);
    if (vex_stats_get(b->c, &st) == VEX_OK)
        b->segments = st.segments;
    status = 0;
out:
    vex_batch_free(batch);
    vex_meta_free(m);
    return status;
}

/* Make text (NULL or "": none) the filter of the following passes and
 * compute its exact k-NN: the matching ids from vex_scan, then a flat
 * index over every base vector searched with a filter function accepting
 * exactly those (flat search is exact). Without a filter the truth is
 * the unfiltered one prepared at the start (b->thr). */
static int cb_where(cbench *b, const char *text)
{
    const vex_bench_filter_args *a = b->a;
    vex_filter *f = NULL;
    uint64_t i;
    if (text && *text) {
        if (!b->t.n_rows) {
            fprintf(stderr, "vex bench: a filter needs --meta\n");
            return -2;
        }
        if (vex_cli_filter("bench", b->c, text, 0, &f) != VEX_OK)
            return -2;
    }
    vex_filter_free(b->f);
    b->f = f;
    snprintf(b->where, sizeof b->where, "%s", f ? text : "");
    memset(b->ms.bit, 0, (size_t)b->ms.n);
    b->ms.count = 0;
    if (!f) {
        memset(b->ms.bit, 1, (size_t)b->ms.n);
        b->ms.count = b->ms.n;
        return 0;
    }
    if (vex_scan(b->c, f, mark, &b->ms) != VEX_OK) {
        fprintf(stderr, "vex bench: scan: %s\n", vex_collection_errmsg(b->c));
        return -1;
    }
    if (!b->flat &&
        vex_cli_build_flat("bench", b->base.data, b->base.n, b->base.dim,
                           a->metric, a->threads, &b->flat) != VEX_OK)
        return -1;
    for (i = 0; i < b->nq; i++) {
        vex_search_params sp;
        vex_search_params_init(&sp);
        sp.filter = accept_id;
        sp.filter_ctx = &b->ms;
        if (vex_index_search(b->flat, b->queries.data + i * b->base.dim, a->k,
                             &sp, b->truth + i * a->k,
                             &b->n_truth[i]) != VEX_OK) {
            fprintf(stderr, "vex bench: truth: %s\n",
                    vex_index_errmsg(b->flat));
            return -1;
        }
    }
    return 0;
}

typedef struct cb_row {
    double recall, qps_1t, p50_us, p99_us;
    vex_search_stats plans; /* summed over the queries of the first pass */
} cb_row;

/* One single-thread pass (the fastest of --repeat, or one when serving)
 * over every query with the current filter at ef. Recall: without a
 * filter, hits within each query's distance threshold (as vex bench
 * counts it for an index); with one, ids of the exact filtered k-NN. */
static int cb_pass(cbench *b, uint32_t ef, unsigned repeat, cb_row *row)
{
    const vex_bench_filter_args *a = b->a;
    uint64_t found = 0, total = 0, i;
    memset(row, 0, sizeof *row);
    for (unsigned rep = 0; rep < repeat; rep++) {
        double tq = vex_cli_now(), qps;
        for (i = 0; i < b->nq; i++) {
            vex_search_params sp;
            vex_search_stats st;
            double t1 = vex_cli_now();
            vex_search_params_init(&sp);
            vex_search_stats_init(&st);
            sp.n_threads = 1;
            sp.ef_search = ef;
            sp.where = b->f;
            sp.stats = &st;
            if (vex_search(b->c, b->queries.data + i * b->base.dim, a->k, &sp,
                           b->hits + i * a->k, NULL, &b->n_hits[i]) != VEX_OK) {
                fprintf(stderr, "vex bench: query %" PRIu64 ": %s\n", i,
                        vex_collection_errmsg(b->c));
                return -1;
            }
            b->lat[i] = (vex_cli_now() - t1) * 1e6;
            if (rep == 0) {
                row->plans.plan_exact += st.plan_exact;
                row->plans.plan_graph += st.plan_graph;
                row->plans.plan_post += st.plan_post;
                row->plans.fallbacks += st.fallbacks;
            }
        }
        tq = vex_cli_now() - tq;
        qps = (double)b->nq / tq;
        if (qps > row->qps_1t) {
            row->qps_1t = qps;
            vex_bench_latency(b->lat, b->nq, &row->p50_us, &row->p99_us);
        }
    }
    if (!b->f) {
        row->recall = vex_bench_recall(b->hits, b->n_hits, b->thr, b->nq, a->k,
                                       b->base.n);
        return 0;
    }
    for (i = 0; i < b->nq; i++) {
        for (size_t x = 0; x < b->n_truth[i]; x++)
            for (size_t y = 0; y < b->n_hits[i]; y++)
                found += b->hits[i * a->k + y].id == b->truth[i * a->k + x].id;
        total += b->n_truth[i];
    }
    row->recall = total ? (double)found / (double)total : 1.0;
    return 0;
}

static void cb_print(const cbench *b, uint32_t ef, const cb_row *row, int first)
{
    const vex_bench_filter_args *a = b->a;
    double sel = (double)b->ms.count / (double)b->base.n;
    if (a->json || a->serve) {
        printf("{\"lib\":\"vexdb\",\"where\":");
        if (b->f)
            vex_cli_json_string(stdout, b->where);
        else
            printf("null");
        printf(",\"index\":\"%s\",\"collection\":%s,\"n\":%" PRIu64
               ",\"queries\":%" PRIu64 ",\"k\":%u,\"matches\":%" PRIu64
               ",\"selectivity\":%.6f,\"ef\":%u,\"recall\":%.4f"
               ",\"qps_1t\":%.1f,\"p50_us\":%.3f,\"p99_us\":%.3f"
               ",\"plan_exact\":%u,\"plan_graph\":%u,\"plan_post\":%u"
               ",\"fallbacks\":%u,\"build_s\":%.3f,\"compact_s\":%.3f"
               ",\"segments_flushed\":%u,\"segments\":%u}\n",
               a->hnsw ? "hnsw" : "flat", a->collection ? "true" : "false",
               b->base.n, b->nq, a->k, b->ms.count, sel, ef, row->recall,
               row->qps_1t, row->p50_us, row->p99_us, row->plans.plan_exact,
               row->plans.plan_graph, row->plans.plan_post,
               row->plans.fallbacks, b->build_s, b->compact_s, b->flushed,
               b->segments);
        fflush(stdout);
        return;
    }
    if (first)
        printf(
            "filter %s: %" PRIu64 " of %" PRIu64 " rows match (%.3f%%); "
            "build %.2f s (%u segment(s) flushed, compacted in %.2f s to %u)\n"
            "%6s %8s %10s %s\n",
            b->f ? b->where : "(none)", b->ms.count, b->base.n, 100.0 * sel,
            b->build_s, b->flushed, b->compact_s, b->segments, "ef", "recall",
            "qps_1t", "plans exact/graph/post (fallbacks)");
    printf("%6u %8.4f %10.1f %u/%u/%u (%u)\n", ef, row->recall, row->qps_1t,
           row->plans.plan_exact, row->plans.plan_graph, row->plans.plan_post,
           row->plans.fallbacks);
}

/* --serve: "where [EXPR]" sets (or clears) the filter, "ef N" runs one
 * single-thread pass and prints its row as JSON, "quit" ends. */
static int cb_serve(cbench *b)
{
    char line[1200];
    printf("{\"lib\":\"vexdb\",\"ready\":true,\"collection\":%s,\"n\":%" PRIu64
           ",\"build_s\":%.6f,\"compact_s\":%.6f,\"segments_flushed\":%u"
           ",\"segments\":%u,\"rss_delta_bytes\":%" PRId64 "}\n",
           b->a->collection ? "true" : "false", b->base.n, b->build_s,
           b->compact_s, b->flushed, b->segments, b->rss_delta);
    fflush(stdout);
    while (fgets(line, sizeof line, stdin)) {
        unsigned ef;
        cb_row row;
        size_t len = strcspn(line, "\r\n");
        line[len] = '\0';
        if (strcmp(line, "quit") == 0)
            break;
        if (strncmp(line, "where", 5) == 0 &&
            (line[5] == '\0' || line[5] == ' ')) {
            const char *text = line + 5 + (line[5] == ' ');
            int rc = cb_where(b, text);
            if (rc == -1)
                return VEX_EXIT_FAIL;
            printf("{\"where\":");
            vex_cli_json_string(stdout, b->f ? b->where : "");
            if (rc == 0)
                printf(",\"matches\":%" PRIu64 ",\"selectivity\":%.6f}\n",
                       b->ms.count, (double)b->ms.count / (double)b->base.n);
            else
                printf(",\"error\":\"the filter was refused (stderr says "
                       "why); the one named here stays\"}\n");
            fflush(stdout);
            continue;
        }
        if (sscanf(line, "ef %u", &ef) != 1 || ef < 1 || ef > VEX_MAX_K) {
            fprintf(stderr,
                    "vex bench --serve: expected \"where [EXPR]\", \"ef N\" "
                    "(1..%d) or \"quit\", got: %s\n",
                    VEX_MAX_K, line);
            return VEX_EXIT_USAGE;
        }
        if (cb_pass(b, ef, 1, &row) != 0)
            return VEX_EXIT_FAIL;
        cb_print(b, ef, &row, 0);
    }
    return VEX_EXIT_OK;
}

int vex_bench_filter(const vex_bench_filter_args *a)
{
    cbench b;
    vexio_error err;
    char msg[512], tmpdir[4096];
    int status = VEX_EXIT_FAIL, made_tmp = 0, rc;
    uint64_t nq;

    memset(&b, 0, sizeof b);
    b.a = a;
    if (vexio_read_vectors(a->base_path, VEXIO_AUTO, 0, &b.base, &err) !=
            VEX_OK ||
        vexio_read_vectors(a->query_path, VEXIO_AUTO, a->max_queries,
                           &b.queries, &err) != VEX_OK ||
        (a->gt_path && vexio_read_ids(a->gt_path, VEXIO_AUTO, b.queries.n,
                                      &b.gt, &err) != VEX_OK)) {
        fprintf(stderr, "vex bench: %s\n", err.msg);
        goto out;
    }
    b.nq = nq = b.queries.n;
    if (b.queries.dim != b.base.dim || a->k > b.base.n) {
        fprintf(stderr, "vex bench: queries and base disagree in dimension, "
                        "or --k exceeds the base\n");
        goto out;
    }
    if (a->gt_path && (b.gt.n < nq || b.gt.k < a->k)) {
        fprintf(stderr,
                "vex bench: %s has %" PRIu64 " records of %" PRIu32
                " ids; %" PRIu64 " records of at least %" PRIu32
                " are needed\n",
                a->gt_path, b.gt.n, b.gt.k, nq, a->k);
        goto out;
    }
    if (a->meta_path) {
        if (tsv_read(a->meta_path, &b.t, msg, sizeof msg) != 0) {
            fprintf(stderr, "vex bench: %s\n", msg);
            goto out;
        }
        if (b.t.n_rows < b.base.n) {
            fprintf(stderr,
                    "vex bench: %s has %zu rows for %" PRIu64 " base vectors\n",
                    a->meta_path, b.t.n_rows, b.base.n);
            goto out;
        }
    }
    b.ms.n = b.base.n;
    b.ms.bit = calloc((size_t)b.base.n, 1);
    b.truth = malloc((size_t)nq * a->k * sizeof *b.truth);
    b.hits = malloc((size_t)nq * a->k * sizeof *b.hits);
    b.n_truth = malloc((size_t)nq * sizeof *b.n_truth);
    b.n_hits = malloc((size_t)nq * sizeof *b.n_hits);
    b.lat = malloc((size_t)nq * sizeof *b.lat);
    b.thr = malloc((size_t)nq * sizeof *b.thr);
    if (!b.ms.bit || !b.truth || !b.hits || !b.n_truth || !b.n_hits || !b.lat ||
        !b.thr) {
        fprintf(stderr, "vex bench: out of memory\n");
        goto out;
    }

    /* ---- the collection ---- */
    if (a->db_path) {
        struct stat st;
        snprintf(tmpdir, sizeof tmpdir, "%s", a->db_path);
        /* removed again when this run fails (it made the directory) */
        made_tmp = stat(tmpdir, &st) != 0 && errno == ENOENT;
    } else {
        snprintf(tmpdir, sizeof tmpdir, "/tmp/vex_bench_XXXXXX");
        if (mkdtemp(tmpdir) == NULL) {
            fprintf(stderr, "vex bench: mkdtemp: %s\n", strerror(errno));
            goto out;
        }
        made_tmp = 1;
    }
    if ((rc = cb_build(&b, tmpdir)) != 0) {
        if (rc == -2)
            status = VEX_EXIT_USAGE;
        goto out;
    }

    /* ---- the unfiltered truth: --gt, or exact with a flat index ---- */
    if (!a->gt_path) {
        b.gt.k = a->k;
        b.gt.n = nq;
        b.gt.ids = malloc((size_t)nq * a->k * sizeof(int64_t));
        if (!b.gt.ids) {
            fprintf(stderr, "vex bench: out of memory\n");
            goto out;
        }
        if (vex_cli_build_flat("bench", b.base.data, b.base.n, b.base.dim,
                               a->metric, a->threads, &b.flat) != VEX_OK ||
            vex_cli_exact_knn("bench", b.flat, b.queries.data, nq, b.base.dim,
                              a->k, b.gt.ids) != VEX_OK)
            goto out;
    }
    if (vex_bench_thresholds(&b.base, &b.queries, &b.gt, a->metric, a->k,
                             b.thr) != 0)
        goto out;

    if (a->serve) {
        vex_filter_free(b.f);
        b.f = NULL;
        if (cb_where(&b, a->filter) != 0)
            goto out;
        status = cb_serve(&b);
        goto keep;
    }
    {
        /* cb_where compiles the filter again; the build's copy goes */
        char text[1024];
        snprintf(text, sizeof text, "%s", a->filter ? a->filter : "");
        vex_filter_free(b.f);
        b.f = NULL;
        if (cb_where(&b, text) != 0)
            goto out;
    }
    for (size_t ri = 0; ri < a->n_ef; ri++) {
        cb_row row;
        if (cb_pass(&b, a->ef[ri], a->repeat, &row) != 0)
            goto out;
        cb_print(&b, a->ef[ri], &row, ri == 0);
    }
    status = VEX_EXIT_OK;
keep:
    if (status == VEX_EXIT_OK && a->db_path)
        made_tmp = 0; /* kept: the database the user asked for */
out:
    vex_filter_free(b.f);
    vex_index_free(b.flat);
    if (b.c)
        vex_collection_close(b.c);
    if (b.db)
        vex_db_close(b.db);
    if (made_tmp)
        rm_rf(tmpdir);
    tsv_free(&b.t);
    free(b.ms.bit);
    free(b.truth);
    free(b.hits);
    free(b.n_truth);
    free(b.n_hits);
    free(b.lat);
    free(b.thr);
    vexio_ids_free(&b.gt);
    vexio_vectors_free(&b.base);
    vexio_vectors_free(&b.queries);
    return status;
}

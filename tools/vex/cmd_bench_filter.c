/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cmd_bench_filter.c - `vex bench --filter EXPR --meta FILE.tsv`: recall
 * and speed of filtered search through a collection (the public API
 * only). The base vectors are inserted with their metadata row from the
 * TSV file into a collection in a fresh database directory (--db, or a
 * temporary one that is removed afterwards), flushed into one segment
 * (the index is built there, timed), and searched one query at a time on
 * one thread with the filter in vex_search_params.where, for each --ef.
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
 * Ground truth is exact filtered k-NN: the matching ids come from
 * vex_scan with the same filter, and a flat index over all base vectors
 * searched with a filter function accepting exactly those ids (flat
 * search is exact). Recall@k = |hits ∩ truth| / |truth| summed over the
 * queries, where |truth| = min(k, matches): ids, not distances (ties at
 * the k-th place can count as misses; they are rare in real data).
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

int vex_bench_filter(const vex_bench_filter_args *a)
{
    vexio_vectors base = {0}, queries = {0};
    vexio_error err;
    tsv t;
    char msg[512], tmpdir[4096];
    vex_db *db = NULL;
    vex_db_options dbo;
    vex_collection *c = NULL;
    vex_collection_config cfg;
    vex_meta *m = NULL;
    vex_batch *b = NULL;
    vex_filter *f = NULL;
    vex_index *flat = NULL;
    match_set ms = {NULL, 0, 0};
    vex_hit *truth = NULL, *hits = NULL;
    size_t *n_truth = NULL;
    int status = VEX_EXIT_FAIL, made_tmp = 0, rc;
    double t0, build_s;
    uint64_t nq, i;

    memset(&t, 0, sizeof t);
    if (vexio_read_vectors(a->base_path, VEXIO_AUTO, 0, &base, &err) !=
            VEX_OK ||
        vexio_read_vectors(a->query_path, VEXIO_AUTO, a->max_queries, &queries,
                           &err) != VEX_OK) {
        fprintf(stderr, "vex bench: %s\n", err.msg);
        goto out;
    }
    nq = queries.n;
    if (queries.dim != base.dim || a->k > base.n) {
        fprintf(stderr, "vex bench: queries and base disagree in dimension, "
                        "or --k exceeds the base\n");
        goto out;
    }
    if (tsv_read(a->meta_path, &t, msg, sizeof msg) != 0) {
        fprintf(stderr, "vex bench: %s\n", msg);
        goto out;
    }
    if (t.n_rows < base.n) {
        fprintf(stderr,
                "vex bench: %s has %zu rows for %" PRIu64 " base vectors\n",
                a->meta_path, t.n_rows, base.n);
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
    vex_db_options_init(&dbo);
    dbo.create_if_missing = 1;
    dbo.n_threads = a->threads;
    dbo.durability = VEX_DURABILITY_NONE; /* a bulk load */
    dbo.memtable_bytes = UINT64_C(64) << 30;
    dbo.compact_min_merge = 0;
    dbo.compact_deleted_pct = 0;
    if ((rc = vex_db_open(tmpdir, &dbo, &db)) != VEX_OK) {
        fprintf(stderr, "vex bench: %s: %s\n", tmpdir,
                db ? vex_db_errmsg(db) : vex_errstr(rc));
        goto out;
    }
    vex_collection_config_init(&cfg);
    cfg.dim = base.dim;
    cfg.metric = a->metric;
    cfg.index_kind = a->hnsw ? VEX_INDEX_HNSW : VEX_INDEX_FLAT;
    cfg.hnsw_m = a->M;
    cfg.hnsw_ef_construction = a->ef_construction;
    cfg.hnsw_seed = a->seed;
    if (vex_collection_create(db, "bench", &cfg, &c) != VEX_OK) {
        fprintf(stderr, "vex bench: %s\n", vex_db_errmsg(db));
        goto out;
    }
    if (vex_cli_filter("bench --filter", c, a->filter, 0, &f) != VEX_OK) {
        status = VEX_EXIT_USAGE;
        goto out;
    }
    if (vex_meta_create(NULL, &m) != VEX_OK ||
        vex_batch_create(base.dim * sizeof(float), NULL, &b) != VEX_OK) {
        fprintf(stderr, "vex bench: out of memory\n");
        goto out;
    }
    t0 = vex_cli_now();
    for (i = 0; i < base.n; i++) {
        if (tsv_meta(&t, (size_t)i, m) != VEX_OK) {
            fprintf(stderr, "vex bench: %s row %" PRIu64 ": %s\n", a->meta_path,
                    i, vex_meta_errmsg(m));
            goto out;
        }
        rc = vex_batch_insert_meta(b, i, base.data + i * base.dim, m);
        if (rc == VEX_FULL || (rc == VEX_OK && vex_batch_count(b) >= 4096) ||
            (rc == VEX_OK && i + 1 == base.n)) {
            if (vex_batch_commit(c, b) != VEX_OK) {
                fprintf(stderr, "vex bench: insert: %s\n",
                        vex_collection_errmsg(c));
                goto out;
            }
            vex_batch_clear(b);
            if (rc == VEX_FULL)
                rc = vex_batch_insert_meta(b, i, base.data + i * base.dim, m);
        }
        if (rc != VEX_OK) {
            fprintf(stderr, "vex bench: insert: %s\n", vex_errstr(rc));
            goto out;
        }
    }
    if (vex_batch_count(b) && vex_batch_commit(c, b) != VEX_OK) {
        fprintf(stderr, "vex bench: insert: %s\n", vex_collection_errmsg(c));
        goto out;
    }
    if (vex_flush(c) != VEX_OK) {
        fprintf(stderr, "vex bench: flush: %s\n", vex_collection_errmsg(c));
        goto out;
    }
    build_s = vex_cli_now() - t0;

    /* ---- the exact truth ---- */
    ms.n = base.n;
    ms.bit = calloc((size_t)base.n, 1);
    truth = malloc((size_t)nq * a->k * sizeof *truth);
    hits = malloc((size_t)nq * a->k * sizeof *hits);
    n_truth = malloc((size_t)nq * sizeof *n_truth);
    if (!ms.bit || !truth || !hits || !n_truth) {
        fprintf(stderr, "vex bench: out of memory\n");
        goto out;
    }
    if (vex_scan(c, f, mark, &ms) != VEX_OK) {
        fprintf(stderr, "vex bench: scan: %s\n", vex_collection_errmsg(c));
        goto out;
    }
    if (vex_cli_build_flat("bench", base.data, base.n, base.dim, a->metric,
                           a->threads, &flat) != VEX_OK)
        goto out;
    for (i = 0; i < nq; i++) {
        vex_search_params sp;
        vex_search_params_init(&sp);
        sp.filter = accept_id;
        sp.filter_ctx = &ms;
        if (vex_index_search(flat, queries.data + i * base.dim, a->k, &sp,
                             truth + i * a->k, &n_truth[i]) != VEX_OK) {
            fprintf(stderr, "vex bench: truth: %s\n", vex_index_errmsg(flat));
            goto out;
        }
    }

    /* ---- one row per ef ---- */
    for (size_t ri = 0; ri < a->n_ef; ri++) {
        vex_search_params sp;
        vex_search_stats st, sum;
        uint64_t found = 0, total = 0;
        double best = 0;
        memset(&sum, 0, sizeof sum);
        for (unsigned rep = 0; rep < a->repeat; rep++) {
            double tq = vex_cli_now();
            for (i = 0; i < nq; i++) {
                size_t nh = 0;
                vex_search_params_init(&sp);
                vex_search_stats_init(&st);
                sp.n_threads = 1;
                sp.ef_search = a->ef[ri];
                sp.where = f;
                sp.stats = &st;
                if (vex_search(c, queries.data + i * base.dim, a->k, &sp,
                               hits + i * a->k, NULL, &nh) != VEX_OK) {
                    fprintf(stderr, "vex bench: query %" PRIu64 ": %s\n", i,
                            vex_collection_errmsg(c));
                    goto out;
                }
                if (rep == 0) {
                    for (size_t x = 0; x < n_truth[i]; x++)
                        for (size_t y = 0; y < nh; y++)
                            found +=
                                hits[i * a->k + y].id == truth[i * a->k + x].id;
                    total += n_truth[i];
                    sum.plan_exact += st.plan_exact;
                    sum.plan_graph += st.plan_graph;
                    sum.plan_post += st.plan_post;
                    sum.fallbacks += st.fallbacks;
                }
            }
            tq = vex_cli_now() - tq;
            if ((double)nq / tq > best)
                best = (double)nq / tq;
        }
        if (a->json) {
            printf("{\"filter\":");
            vex_cli_json_string(stdout, a->filter);
            printf(",\"index\":\"%s\",\"n\":%" PRIu64 ",\"queries\":%" PRIu64
                   ",\"k\":%u,\"matches\":%" PRIu64
                   ",\"selectivity\":%.6f,\"ef\":%u,\"recall\":%.4f"
                   ",\"qps_1t\":%.1f,\"plan_exact\":%u,\"plan_graph\":%u"
                   ",\"plan_post\":%u,\"fallbacks\":%u,\"build_s\":%.3f}\n",
                   a->hnsw ? "hnsw" : "flat", base.n, nq, a->k, ms.count,
                   (double)ms.count / (double)base.n, a->ef[ri],
                   total ? (double)found / (double)total : 1.0, best,
                   sum.plan_exact, sum.plan_graph, sum.plan_post, sum.fallbacks,
                   build_s);
        } else {
            if (ri == 0)
                printf("filter %s: %" PRIu64 " of %" PRIu64
                       " rows match (%.3f%%); build %.2f s\n"
                       "%6s %8s %10s %s\n",
                       a->filter, ms.count, base.n,
                       100.0 * (double)ms.count / (double)base.n, build_s, "ef",
                       "recall", "qps_1t",
                       "plans exact/graph/post (fallbacks)");
            printf("%6u %8.4f %10.1f %u/%u/%u (%u)\n", a->ef[ri],
                   total ? (double)found / (double)total : 1.0, best,
                   sum.plan_exact, sum.plan_graph, sum.plan_post,
                   sum.fallbacks);
        }
    }
    status = VEX_EXIT_OK;
    if (a->db_path)
        made_tmp = 0; /* kept: the database the user asked for */
out:
    vex_filter_free(f);
    vex_batch_free(b);
    vex_meta_free(m);
    vex_index_free(flat);
    if (c)
        vex_collection_close(c);
    if (db)
        vex_db_close(db);
    if (made_tmp)
        rm_rf(tmpdir);
    tsv_free(&t);
    free(ms.bit);
    free(truth);
    free(hits);
    free(n_truth);
    vexio_vectors_free(&base);
    vexio_vectors_free(&queries);
    return status;
}

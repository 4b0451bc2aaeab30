/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cmd_bench.c - `vex bench`: recall and speed of an index on a dataset.
 * Reads base, queries and (optionally) ground truth with readers.c, builds
 * the index through the public API in chunks (timed), then searches every
 * query twice: one at a time on one thread (vex_search_params.n_threads =
 * 1), timing each call, for single-thread QPS and p50/p99 latency; and all
 * at once with vex_index_search_batch() on all threads for all-thread QPS.
 *
 * Recall@k compares distances, not ids, so ties at the k-th place do not
 * matter: the k-th true distance of a query is computed exactly, in double
 * precision, from the vectors of its first k ground-truth ids (their
 * maximum, so a ground truth ordered by slightly different arithmetic
 * still gives the right bound), and a hit counts as correct when its
 * reported distance is <= that + 1e-6 * max(1, |d_k|) + a float32 rounding
 * allowance of (dim + 2) * 2^-24 * S, where S is the magnitude of the sum
 * behind d_k: d_k itself for l2, sum |q_i x_i| for ip, and that divided by
 * |q| |x| for cosine. This is the worst-case error bound of a float32 dot
 * product, so a correct result is never counted as a miss; it is below
 * 1.0 for l2 distances under 10^5 at dim 128, so integer-valued data such
 * as SIFT still separates neighbours one unit apart.
 *
 * Quantized (--quant): the index is built as usual, then trained
 * on its own vectors (vex_index_train, timed apart as train_s), and each
 * --refine value gives rows of its own; code_bytes is the size of one
 * code, what a search scans per vector.
 *
 * The result is one row per search configuration: one for flat (which has
 * no search parameters), one per --ef value for HNSW, times the --refine
 * values. With --json each row
 * is one JSON object on its own line carrying every shared field, so each
 * line stands alone.
 */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "cli.h"
#include "readers.h"
#include "vexdb.h"

typedef struct bench_row {
    uint32_t ef;  /* 0 for flat */
    float refine; /* 0 = the index default or unquantized */
    double recall, recall_batch, qps_1t, qps_all, p50_us, p99_us;
} bench_row;

typedef struct bench_run {
    const char *base_path, *query_path, *gt_path, *index_name;
    vex_metric metric;
    uint32_t k, dim;
    unsigned threads;
    uint64_t n, nq;
    double build_s, train_s;
    const char *quant_name; /* NULL = unquantized */
    size_t code_bytes;
    uint64_t index_bytes, peak_rss;
    int64_t rss_delta;           /* resident memory the build added */
    uint32_t M, ef_construction; /* hnsw, as resolved by the library */
    bench_row rows[VEX_MAX_LIST];
    size_t n_rows;
} bench_run;

/* exact distance of the library's metrics, in double; *scale receives the
 * magnitude of the terms summed (see the file comment) */
static double exact_dist(vex_metric m, const float *a, const float *b,
                         uint32_t dim, double *scale)
{
    double s = 0, sabs = 0, na = 0, nb = 0;
    uint32_t i;
    if (m == VEX_METRIC_L2) {
        for (i = 0; i < dim; i++) {
            double d = (double)a[i] - (double)b[i];
            s += d * d;
        }
        *scale = s;
        return s;
    }
    for (i = 0; i < dim; i++) {
        double p = (double)a[i] * (double)b[i];
        s += p;
        sabs += fabs(p);
        na += (double)a[i] * a[i];
        nb += (double)b[i] * b[i];
    }
    if (m == VEX_METRIC_IP) {
        *scale = sabs;
        return -s;
    }
    if (na == 0 || nb == 0) {
        *scale = 1;
        return 1;
    }
    *scale = sabs / sqrt(na * nb);
    return 1 - s / sqrt(na * nb);
}

/* per query: the largest distance a correct hit may have */
int vex_bench_thresholds(const vexio_vectors *base, const vexio_vectors *q,
                         const vexio_ids *gt, vex_metric m, uint32_t k,
                         double *thr)
{
    uint64_t i;
    uint32_t j, dim = base->dim;
    for (i = 0; i < q->n; i++) {
        double kth = -INFINITY, scale = 0;
        for (j = 0; j < k; j++) {
            int64_t id = gt->ids[i * gt->k + j];
            double sc, d;
            if (id < 0 || (uint64_t)id >= base->n) {
                fprintf(stderr,
                        "vex bench: ground truth of query %" PRIu64
                        ", neighbour %" PRIu32 ": id %" PRId64
                        " is not a base vector (0..%" PRIu64 ")\n",
                        i, j, id, base->n - 1);
                return -1;
            }
            d = exact_dist(m, q->data + i * dim,
                           base->data + (uint64_t)id * dim, dim, &sc);
            if (d > kth) {
                kth = d;
                scale = sc;
            }
        }
        thr[i] = kth + 1e-6 * fmax(1.0, fabs(kth)) +
                 (double)(dim + 2) * ldexp(1.0, -24) * scale;
    }
    return 0;
}

double vex_bench_recall(const vex_hit *hits, const size_t *n_hits,
                        const double *thr, uint64_t nq, uint32_t k,
                        uint64_t n_base)
{
    uint64_t i, correct = 0;
    size_t j;
    for (i = 0; i < nq; i++)
        for (j = 0; j < n_hits[i] && j < k; j++) {
            const vex_hit *h = &hits[i * k + j];
            if (h->id < n_base && (double)h->distance <= thr[i])
                correct++;
        }
    return (double)correct / ((double)nq * k);
}

/* resident set size now, from /proc/self/statm (0 where unavailable) */
int64_t vex_bench_rss_now(void)
{
    long pages = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
            resident = 0;
        fclose(f);
    }
    return (int64_t)resident * 4096;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* nearest-rank percentile of sorted values */
static double percentile(const double *v, uint64_t n, double p)
{
    uint64_t r = (uint64_t)ceil(p / 100.0 * (double)n);
    return v[r ? r - 1 : 0];
}

void vex_bench_latency(double *lat, uint64_t n, double *p50, double *p99)
{
    qsort(lat, (size_t)n, sizeof *lat, cmp_double);
    *p50 = percentile(lat, n, 50);
    *p99 = percentile(lat, n, 99);
}

static void print_text(const bench_run *r, int gt_computed)
{
    char kcol[32];
    size_t i;
    printf("vex bench (vexdb %s, simd %s)\n", vex_version(), vex_simd_name());
    printf("  base      %s (%" PRIu64 " x %" PRIu32 ")\n", r->base_path, r->n,
           r->dim);
    printf("  queries   %s (%" PRIu64 ")\n", r->query_path, r->nq);
    if (gt_computed)
        printf("  truth     computed exactly with the flat index (no --gt "
               "given)\n");
    else
        printf("  truth     %s\n", r->gt_path);
    printf("  metric    %s, k %" PRIu32 ", index %s, %u threads\n",
           vex_metric_name(r->metric), r->k, r->index_name, r->threads);
    if (r->M)
        printf("  hnsw      M %" PRIu32 ", ef_construction %" PRIu32 "\n", r->M,
               r->ef_construction);
    printf("  build     %.3f s\n", r->build_s);
    if (r->quant_name)
        printf("  quant     %s: %zu bytes/vector of codes (float32: %zu), "
               "trained in %.3f s\n",
               r->quant_name, r->code_bytes, (size_t)r->dim * 4, r->train_s);
    printf("  memory    index %.1f MiB (%.1f bytes/vector), peak RSS %.1f "
           "MiB\n",
           (double)r->index_bytes / 1048576.0,
           (double)r->index_bytes / (double)r->n,
           (double)r->peak_rss / 1048576.0);
    printf("  recall    a hit counts when its distance <= the exact k-th "
           "distance\n"
           "            + 1e-6*max(1,|d_k|) + float32 allowance (vex help "
           "bench)\n\n");
    snprintf(kcol, sizeof kcol, "recall@%" PRIu32, r->k);
    printf("%-8s %6s %6s %10s %10s %10s %10s %12s\n", "index", "ef", "refine",
           kcol, "qps_1t", "p50_us", "p99_us", "qps_all");
    for (i = 0; i < r->n_rows; i++) {
        const bench_row *w = &r->rows[i];
        char ef[16], rf[16];
        snprintf(ef, sizeof ef, "%" PRIu32, w->ef);
        snprintf(rf, sizeof rf, "%g", (double)w->refine);
        printf("%-8s %6s %6s %10.4f %10.1f %10.1f %10.1f %12.1f\n",
               r->index_name, w->ef ? ef : "-", w->refine ? rf : "-", w->recall,
               w->qps_1t, w->p50_us, w->p99_us, w->qps_all);
        if (w->recall_batch != w->recall)
            printf("note: batch search recall %.4f (single-query %.4f)\n",
                   w->recall_batch, w->recall);
    }
}

static void print_json(const bench_run *r, int gt_computed)
{
    size_t i;
    for (i = 0; i < r->n_rows; i++) {
        const bench_row *w = &r->rows[i];
        printf("{\"version\":");
        vex_cli_json_string(stdout, vex_version());
        printf(",\"simd\":");
        vex_cli_json_string(stdout, vex_simd_name());
        printf(",\"base\":");
        vex_cli_json_string(stdout, r->base_path);
        printf(",\"queries\":");
        vex_cli_json_string(stdout, r->query_path);
        printf(",\"gt\":");
        if (gt_computed)
            printf("null");
        else
            vex_cli_json_string(stdout, r->gt_path);
        printf(",\"gt_source\":\"%s\"", gt_computed ? "computed" : "file");
        printf(",\"n\":%" PRIu64 ",\"n_queries\":%" PRIu64 ",\"dim\":%" PRIu32
               ",\"metric\":\"%s\",\"k\":%" PRIu32 ",\"index\":\"%s\""
               ",\"threads\":%u",
               r->n, r->nq, r->dim, vex_metric_name(r->metric), r->k,
               r->index_name, r->threads);
        if (r->M)
            printf(",\"M\":%" PRIu32 ",\"ef_construction\":%" PRIu32
                   ",\"ef\":%" PRIu32,
                   r->M, r->ef_construction, w->ef);
        if (r->quant_name) {
            printf(",\"quant\":");
            vex_cli_json_string(stdout, r->quant_name);
            printf(",\"refine\":%g,\"code_bytes\":%zu,\"train_s\":%.6f",
                   (double)w->refine, r->code_bytes, r->train_s);
        }
        printf(",\"recall\":%.6f,\"recall_batch\":%.6f,\"qps_1t\":%.3f"
               ",\"qps_all\":%.3f,\"p50_us\":%.3f,\"p99_us\":%.3f",
               w->recall, w->recall_batch, w->qps_1t, w->qps_all, w->p50_us,
               w->p99_us);
        printf(",\"build_s\":%.6f,\"index_bytes\":%" PRIu64
               ",\"bytes_per_vector\":%.3f,\"peak_rss_bytes\":%" PRIu64
               ",\"rss_delta_bytes\":%" PRId64 "}\n",
               r->build_s, r->index_bytes,
               (double)r->index_bytes / (double)r->n, r->peak_rss,
               r->rss_delta);
    }
}

/* --quant NAME[:M] into io->quant, quant_m, quant_bits. */
static int parse_quant(const char *s, vex_index_options *io)
{
    static const struct {
        const char *name;
        vex_quant q;
        uint32_t bits;
    } kinds[] = {{"sq8", VEX_QUANT_SQ8, 0}, {"bq", VEX_QUANT_BQ, 0},
                 {"pq", VEX_QUANT_PQ, 8},   {"opq", VEX_QUANT_OPQ, 8},
                 {"pq4", VEX_QUANT_PQ, 4},  {"opq4", VEX_QUANT_OPQ, 4}};
    const char *colon = strchr(s, ':');
    size_t len = colon ? (size_t)(colon - s) : strlen(s), i;
    for (i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        if (strlen(kinds[i].name) != len || strncmp(kinds[i].name, s, len))
            continue;
        io->quant = kinds[i].q;
        io->quant_bits = kinds[i].bits;
        if (kinds[i].bits == 0)
            return colon ? -1 : 0;
        if (colon) {
            char *end;
            unsigned long m = strtoul(colon + 1, &end, 10);
            if (*end != '\0' || end == colon + 1 || m > 65536)
                return -1;
            io->quant_m = (uint32_t)m;
        }
        return 0;
    }
    return -1;
}

/* "F[,F...]" into out[0..*n), each 1..1000. */
static int parse_floats(const char *s, float *out, size_t *n)
{
    *n = 0;
    for (;;) {
        char *end;
        double v = strtod(s, &end);
        if (end == s || !(v >= 1.0 && v <= 1000.0) || *n == VEX_MAX_LIST)
            return -1;
        out[(*n)++] = (float)v;
        if (*end == '\0')
            return 0;
        if (*end != ',')
            return -1;
        s = end + 1;
    }
}

/* Search every query alone on one thread, then all as one batch on all
 * threads, with candidate list size ef (0 for flat). */
static int measure_row(vex_index *idx, const vexio_vectors *queries,
                       const double *thr, uint64_t n_base, uint32_t k,
                       uint32_t ef, float refine, unsigned repeat, int batch,
                       double *lat, vex_hit *hits1, size_t *nh1, vex_hit *hitsb,
                       size_t *nhb, bench_row *row)
{
    const uint64_t nq = queries->n;
    const uint32_t dim = queries->dim;
    int progress = vex_cli_progress_enabled(), rc;
    vex_search_params sp;
    double total;
    uint64_t i;
    unsigned r;

    row->ef = ef;
    row->refine = refine;
    row->qps_1t = 0;
    row->qps_all = 0;
    vex_search_params_init(&sp);
    sp.n_threads = 1;
    sp.ef_search = ef;
    sp.refine = refine;
    /* best of `repeat` passes: the machine may be shared, and the fastest
     * pass is the one least disturbed by others */
    for (r = 0; r < repeat; r++) {
        total = vex_cli_now();
        for (i = 0; i < nq; i++) {
            double q0 = vex_cli_now();
            rc = vex_index_search(idx, queries->data + i * dim, k, &sp,
                                  hits1 + i * k, &nh1[i]);
            lat[i] = (vex_cli_now() - q0) * 1e6;
            if (rc != VEX_OK) {
                vex_cli_progress(progress, "", 0, 0, 1);
                fprintf(stderr, "vex bench: query %" PRIu64 ": %s\n", i,
                        vex_index_errmsg(idx));
                return rc;
            }
            if ((i & 63) == 0)
                vex_cli_progress(progress, "single-thread queries", i, nq, 0);
        }
        total = vex_cli_now() - total;
        vex_cli_progress(progress, "", 0, 0, 1);
        if ((double)nq / total > row->qps_1t) {
            row->qps_1t = (double)nq / total;
            vex_bench_latency(lat, nq, &row->p50_us, &row->p99_us);
        }
    }
    row->recall = vex_bench_recall(hits1, nh1, thr, nq, k, n_base);
    if (!batch)
        return VEX_OK;

    sp.n_threads = 0;
    for (r = 0; r < repeat; r++) {
        total = vex_cli_now();
        rc = vex_index_search_batch(idx, queries->data, nq, k, &sp, hitsb, nhb);
        total = vex_cli_now() - total;
        if (rc != VEX_OK) {
            fprintf(stderr, "vex bench: batch search: %s\n",
                    vex_index_errmsg(idx));
            return rc;
        }
        if ((double)nq / total > row->qps_all)
            row->qps_all = (double)nq / total;
    }
    row->recall_batch = vex_bench_recall(hitsb, nhb, thr, nq, k, n_base);
    return VEX_OK;
}

/* --serve: after the build, one single-thread pass per request read from
 * stdin ("ef N", or "quit"), each answered with one JSON line, so that a
 * driver can interleave libraries pass by pass (bench/hnsw_interleaved.py)
 * instead of timing each library's passes back to back. */
static int serve(vex_index *idx, const bench_run *r,
                 const vexio_vectors *queries, const double *thr,
                 uint64_t n_base, double *lat, vex_hit *hits1, size_t *nh1)
{
    char line[128];
    printf("{\"lib\":\"vexdb\",\"ready\":true,\"n\":%" PRIu64
           ",\"build_s\":%.6f,\"index_bytes\":%" PRIu64
           ",\"rss_delta_bytes\":%" PRId64 "}\n",
           r->n, r->build_s, r->index_bytes, r->rss_delta);
    fflush(stdout);
    while (fgets(line, sizeof line, stdin)) {
        unsigned ef;
        bench_row row;
        if (strncmp(line, "quit", 4) == 0)
            break;
        if (sscanf(line, "ef %u", &ef) != 1 || ef < 1 || ef > VEX_MAX_K) {
            fprintf(stderr,
                    "vex bench --serve: expected \"ef N\" (1..%d) or "
                    "\"quit\", got: %s",
                    VEX_MAX_K, line);
            return VEX_EXIT_USAGE;
        }
        memset(&row, 0, sizeof row);
        if (measure_row(idx, queries, thr, n_base, r->k, ef, 0.0f, 1, 0, lat,
                        hits1, nh1, NULL, NULL, &row) != VEX_OK)
            return VEX_EXIT_FAIL;
        printf("{\"lib\":\"vexdb\",\"ef\":%u,\"recall\":%.6f,"
               "\"qps_1t\":%.3f,\"p50_us\":%.3f,\"p99_us\":%.3f}\n",
               ef, row.recall, row.qps_1t, row.p50_us, row.p99_us);
        fflush(stdout);
    }
    return VEX_EXIT_OK;
}

static int run_bench(const vex_cmd *cmd, const vex_optval *vals, char **pos,
                     int n_pos)
{
    const vex_optval *metric_v = &vals[vex_args_index(cmd, "metric")];
    const vex_optval *k_v = &vals[vex_args_index(cmd, "k")];
    const vex_optval *index_v = &vals[vex_args_index(cmd, "index")];
    const vex_optval *threads_v = &vals[vex_args_index(cmd, "threads")];
    const vex_optval *maxq_v = &vals[vex_args_index(cmd, "max-queries")];
    const vex_optval *m_v = &vals[vex_args_index(cmd, "M")];
    const vex_optval *efc_v = &vals[vex_args_index(cmd, "ef-construction")];
    const vex_optval *ef_v = &vals[vex_args_index(cmd, "ef")];
    const vex_optval *seed_v = &vals[vex_args_index(cmd, "seed")];
    const vex_optval *repeat_v = &vals[vex_args_index(cmd, "repeat")];
    const vex_optval *quant_v = &vals[vex_args_index(cmd, "quant")];
    const vex_optval *refine_v = &vals[vex_args_index(cmd, "refine")];
    float refines[VEX_MAX_LIST];
    size_t n_refine = 1, n_ef, rj;
    int json = vals[vex_args_index(cmd, "json")].given;
    const vex_optval *filter_v = &vals[vex_args_index(cmd, "filter")];
    const vex_optval *meta_v = &vals[vex_args_index(cmd, "meta")];
    const vex_optval *db_v = &vals[vex_args_index(cmd, "db")];
    const vex_optval *coll_v = &vals[vex_args_index(cmd, "collection")];
    const vex_optval *memt_v = &vals[vex_args_index(cmd, "memtable-mb")];
    vexio_vectors base = {0}, queries = {0};
    vexio_ids gt = {0};
    vexio_error err;
    vex_index *idx = NULL, *exact = NULL;
    vex_index_options io;
    vex_hit *hits1 = NULL, *hitsb = NULL;
    size_t *nh1 = NULL, *nhb = NULL, ri;
    double *lat = NULL, *thr = NULL, t0;
    struct rusage ru;
    bench_run r;
    uint64_t nq;
    int gt_computed, status = VEX_EXIT_FAIL, hnsw;
    unsigned n_threads_opt;
    (void)pos;
    (void)n_pos;

    memset(&r, 0, sizeof r);
    r.base_path = vals[vex_args_index(cmd, "base")].str;
    r.query_path = vals[vex_args_index(cmd, "queries")].str;
    r.gt_path = vals[vex_args_index(cmd, "gt")].str;
    r.k = k_v->given ? (uint32_t)k_v->u : 10;
    r.index_name = index_v->given ? index_v->str : "flat";
    n_threads_opt = threads_v->given ? (unsigned)threads_v->u : 0;
    r.threads = n_threads_opt ? n_threads_opt : vex_cli_online_cpus();
    gt_computed = r.gt_path == NULL;
    if (!metric_v->given) {
        fprintf(stderr, "vex bench: --metric is required (l2, ip or cosine); "
                        "vex does not guess it from file names\n");
        return VEX_EXIT_USAGE;
    }
    if (vex_metric_parse(metric_v->str, &r.metric) != VEX_OK ||
        (r.metric != VEX_METRIC_L2 && r.metric != VEX_METRIC_IP &&
         r.metric != VEX_METRIC_COSINE)) {
        fprintf(stderr,
                "vex bench: --metric must be l2, ip or cosine, not "
                "'%s'\n",
                metric_v->str);
        return VEX_EXIT_USAGE;
    }
    hnsw = strcmp(r.index_name, "hnsw") == 0;
    if (!hnsw && strcmp(r.index_name, "flat") != 0) {
        fprintf(stderr,
                "vex bench: --index '%s' is not available (this "
                "build has: flat, hnsw)\n",
                r.index_name);
        return VEX_EXIT_USAGE;
    }
    if (!hnsw && (m_v->given || efc_v->given || ef_v->given || seed_v->given)) {
        fprintf(stderr, "vex bench: --M, --ef-construction, --ef and --seed "
                        "apply to --index hnsw only\n");
        return VEX_EXIT_USAGE;
    }
    if (coll_v->given || filter_v->given || meta_v->given || db_v->given ||
        memt_v->given) {
        vex_bench_filter_args fa;
        uint32_t efs[VEX_MAX_LIST];
        int serve_v = vals[vex_args_index(cmd, "serve")].given;
        const char *bad = NULL;
        if (filter_v->given && !meta_v->given)
            bad = "--filter needs --meta";
        else if (meta_v->given && !filter_v->given && !serve_v)
            bad = "--meta applies with --filter, or with --serve (whose "
                  "\"where EXPR\" requests filter on it)";
        else if (r.gt_path && filter_v->given && !serve_v)
            bad = "--filter computes its own ground truth (exact filtered "
                  "k-NN): no --gt";
        else if (memt_v->given && !coll_v->given)
            bad = "--memtable-mb applies with --collection";
        else if (quant_v->given || refine_v->given)
            bad = "--quant and --refine apply to a standalone index, not to "
                  "--collection, --filter or --meta";
        if (bad) {
            fprintf(stderr, "vex bench: %s\n", bad);
            return VEX_EXIT_USAGE;
        }
        memset(&fa, 0, sizeof fa);
        fa.base_path = r.base_path;
        fa.query_path = r.query_path;
        fa.gt_path = r.gt_path;
        fa.meta_path = meta_v->given ? meta_v->str : NULL;
        fa.collection = coll_v->given;
        fa.memtable_mb = memt_v->given ? (uint32_t)memt_v->u : 0;
        fa.serve = serve_v;
        fa.filter = filter_v->given ? filter_v->str : NULL;
        fa.db_path = db_v->given ? db_v->str : NULL;
        fa.metric = r.metric;
        fa.hnsw = hnsw;
        fa.json = json;
        fa.k = r.k;
        fa.M = m_v->given ? (uint32_t)m_v->u : 0;
        fa.ef_construction = efc_v->given ? (uint32_t)efc_v->u : 0;
        fa.seed = seed_v->given ? seed_v->u : 0;
        fa.max_queries = maxq_v->given ? maxq_v->u : 0;
        fa.threads = n_threads_opt;
        fa.repeat = repeat_v->given ? (unsigned)repeat_v->u : 1;
        if (hnsw && ef_v->given) {
            for (ri = 0; ri < ef_v->n_list; ri++)
                efs[ri] = (uint32_t)ef_v->list[ri];
            fa.n_ef = ef_v->n_list;
        } else {
            efs[0] = 0;
            fa.n_ef = 1;
        }
        fa.ef = efs;
        return vex_bench_filter(&fa);
    }
    vex_index_options_init(&io);
    io.kind = hnsw ? VEX_INDEX_HNSW : VEX_INDEX_FLAT;
    io.metric = r.metric;
    io.n_threads = n_threads_opt;
    if (hnsw) {
        io.hnsw_m = m_v->given ? (uint32_t)m_v->u : 0;
        io.hnsw_ef_construction = efc_v->given ? (uint32_t)efc_v->u : 0;
        io.hnsw_seed = seed_v->given ? seed_v->u : 0;
    }
    if (quant_v->given && parse_quant(quant_v->str, &io) != 0) {
        fprintf(stderr,
                "vex bench: --quant must be sq8, bq, pq:M, opq:M, pq4:M or "
                "opq4:M (M subvectors, 0 = default), not '%s'\n",
                quant_v->str);
        return VEX_EXIT_USAGE;
    }
    refines[0] = 0.0f;
    if (refine_v->given) {
        if (!quant_v->given) {
            fprintf(stderr, "vex bench: --refine applies to --quant only\n");
            return VEX_EXIT_USAGE;
        }
        if (parse_floats(refine_v->str, refines, &n_refine) != 0) {
            fprintf(stderr,
                    "vex bench: --refine takes F[,F...], each 1..1000, not "
                    "'%s'\n",
                    refine_v->str);
            return VEX_EXIT_USAGE;
        }
    }
    r.quant_name = quant_v->given ? quant_v->str : NULL;
    n_ef = hnsw && ef_v->given ? ef_v->n_list : 1;
    if (n_ef * n_refine > VEX_MAX_LIST) {
        fprintf(stderr,
                "vex bench: %zu --ef values times %zu --refine values "
                "is more than %d rows\n",
                n_ef, n_refine, VEX_MAX_LIST);
        return VEX_EXIT_USAGE;
    }
    /* flat, or hnsw at its default ef (row ef 0), times the refines */
    for (ri = 0; ri < n_ef; ri++) {
        for (rj = 0; rj < n_refine; rj++) {
            bench_row *w = &r.rows[ri * n_refine + rj];
            w->ef = hnsw && ef_v->given ? (uint32_t)ef_v->list[ri] : 0;
            w->refine = refines[rj];
        }
    }
    r.n_rows = n_ef * n_refine;

    /* ---- load ---- */
    if (vexio_read_vectors(r.base_path, VEXIO_AUTO, 0, &base, &err) != VEX_OK ||
        vexio_read_vectors(r.query_path, VEXIO_AUTO,
                           maxq_v->given ? maxq_v->u : 0, &queries,
                           &err) != VEX_OK ||
        (!gt_computed && vexio_read_ids(r.gt_path, VEXIO_AUTO, queries.n, &gt,
                                        &err) != VEX_OK)) {
        fprintf(stderr, "vex bench: %s\n", err.msg);
        goto cleanup;
    }
    r.n = base.n;
    r.nq = nq = queries.n;
    r.dim = base.dim;
    io.dim = base.dim;
    if (queries.dim != base.dim) {
        fprintf(stderr,
                "vex bench: %s has dimension %" PRIu32 " but %s has %" PRIu32
                "\n",
                r.query_path, queries.dim, r.base_path, base.dim);
        goto cleanup;
    }
    if (r.k > base.n) {
        fprintf(stderr,
                "vex bench: --k %" PRIu32 " exceeds the %" PRIu64
                " base vectors\n",
                r.k, base.n);
        goto cleanup;
    }
    if (!gt_computed && (gt.n < nq || gt.k < r.k)) {
        fprintf(stderr,
                "vex bench: %s has %" PRIu64 " records of %" PRIu32
                " ids; %" PRIu64 " records of at least %" PRIu32
                " are needed\n",
                r.gt_path, gt.n, gt.k, nq, r.k);
        goto cleanup;
    }

    /* ---- build ---- */
    r.rss_delta = vex_bench_rss_now();
    t0 = vex_cli_now();
    if (vex_cli_build("bench", &io, base.data, base.n, &idx) != VEX_OK)
        goto cleanup;
    r.build_s = vex_cli_now() - t0;
    if (r.quant_name) {
        t0 = vex_cli_now();
        if (vex_index_train(idx, NULL, 0) != VEX_OK) {
            fprintf(stderr, "vex bench: training the quantizer: %s\n",
                    vex_index_errmsg(idx));
            goto cleanup;
        }
        r.train_s = vex_cli_now() - t0;
        r.code_bytes = vex_index_code_size(idx);
    }
    r.rss_delta = vex_bench_rss_now() - r.rss_delta;
    r.index_bytes = vex_index_memory(idx);
    if (hnsw) {
        vex_index_get_options(idx, &io);
        r.M = io.hnsw_m;
        r.ef_construction = io.hnsw_ef_construction;
    }

    /* ---- ground truth ---- */
    if (gt_computed) {
        gt.k = r.k;
        gt.n = nq;
        gt.ids = malloc((size_t)nq * r.k * sizeof(int64_t));
        if (!gt.ids) {
            fprintf(stderr, "vex bench: out of memory\n");
            goto cleanup;
        }
        if (!json)
            fprintf(stderr, "vex bench: no --gt given: computing the ground "
                            "truth exactly with the flat index\n");
        if (hnsw &&
            vex_cli_build_flat("bench", base.data, base.n, base.dim, r.metric,
                               n_threads_opt, &exact) != VEX_OK)
            goto cleanup;
        if (vex_cli_exact_knn("bench", hnsw ? exact : idx, queries.data, nq,
                              base.dim, r.k, gt.ids) != VEX_OK)
            goto cleanup;
        vex_index_free(exact);
        exact = NULL;
    }
    thr = malloc((size_t)nq * sizeof *thr);
    lat = malloc((size_t)nq * sizeof *lat);
    hits1 = malloc((size_t)nq * r.k * sizeof *hits1);
    hitsb = malloc((size_t)nq * r.k * sizeof *hitsb);
    nh1 = malloc((size_t)nq * sizeof *nh1);
    nhb = malloc((size_t)nq * sizeof *nhb);
    if (!thr || !lat || !hits1 || !hitsb || !nh1 || !nhb) {
        fprintf(stderr, "vex bench: out of memory for %" PRIu64 " queries\n",
                nq);
        goto cleanup;
    }
    if (vex_bench_thresholds(&base, &queries, &gt, r.metric, r.k, thr) != 0)
        goto cleanup;

    if (vals[vex_args_index(cmd, "serve")].given) {
        status = serve(idx, &r, &queries, thr, base.n, lat, hits1, nh1);
        goto cleanup;
    }
    for (ri = 0; ri < r.n_rows; ri++)
        if (measure_row(idx, &queries, thr, base.n, r.k, r.rows[ri].ef,
                        r.rows[ri].refine,
                        repeat_v->given ? (unsigned)repeat_v->u : 1, 1, lat,
                        hits1, nh1, hitsb, nhb, &r.rows[ri]) != VEX_OK)
            goto cleanup;

    if (getrusage(RUSAGE_SELF, &ru) == 0)
        r.peak_rss = (uint64_t)ru.ru_maxrss * 1024; /* KiB on Linux */
    if (json)
        print_json(&r, gt_computed);
    else
        print_text(&r, gt_computed);
    status = VEX_EXIT_OK;
cleanup:
    vex_index_free(idx);
    vex_index_free(exact);
    vexio_vectors_free(&base);
    vexio_vectors_free(&queries);
    vexio_ids_free(&gt);
    free(thr);
    free(lat);
    free(hits1);
    free(hitsb);
    free(nh1);
    free(nhb);
    return status;
}

static const vex_opt bench_opts[] = {
    {"base", VEX_OPT_STRING, "FILE", 1, 0, 0,
     "base vectors (.fvecs .bvecs .npy); the id of a vector is its row"},
    {"queries", VEX_OPT_STRING, "FILE", 1, 0, 0, "query vectors"},
    {"gt", VEX_OPT_STRING, "FILE", 0, 0, 0,
     "ground truth ids (.ivecs, int .npy), nearest first; computed exactly "
     "when not given"},
    {"metric", VEX_OPT_STRING, "l2|ip|cosine", 0, 0, 0,
     "distance; required, never guessed"},
    {"k", VEX_OPT_UINT, "K", 0, 1, VEX_MAX_K,
     "neighbours per query (default 10)"},
    {"index", VEX_OPT_STRING, "flat|hnsw", 0, 0, 0,
     "index kind (default flat)"},
    {"M", VEX_OPT_UINT, "M", 0, 2, 256,
     "hnsw: links per node (level 0 keeps 2M); default from the dimension"},
    {"ef-construction", VEX_OPT_UINT, "N", 0, 1, VEX_MAX_K,
     "hnsw: candidate list size while building; default from the size"},
    {"ef", VEX_OPT_UINT_LIST, "N[,N...]", 0, 1, VEX_MAX_K,
     "hnsw: search candidate list sizes, one result row each (default: "
     "the index default)"},
    {"seed", VEX_OPT_UINT, "S", 0, 0, UINT64_MAX,
     "hnsw: seed of the level generator (default 0)"},
    {"threads", VEX_OPT_UINT, "N", 0, 0, VEX_MAX_THREADS,
     "worker threads of the index (default 0 = all CPUs)"},
    {"max-queries", VEX_OPT_UINT, "N", 0, 1, UINT64_MAX,
     "use only the first N queries"},
    {"repeat", VEX_OPT_UINT, "N", 0, 1, 100,
     "run each search pass N times, report the fastest (default 1)"},
    {"quant", VEX_OPT_STRING, "sq8|bq|pq:M|opq:M|pq4:M|opq4:M", 0, 0, 0,
     "quantize: codes searched first, candidates reranked on full vectors "
     "(M subvectors, 0 = dim/8 for 8-bit, dim/4 for 4-bit codes)"},
    {"refine", VEX_OPT_STRING, "F[,F...]", 0, 0, 0,
     "with --quant: rerank ceil(F*k) candidates, one result row per value "
     "(default: the index default, 2 for sq8, 10 otherwise)"},
    {"json", VEX_OPT_FLAG, NULL, 0, 0, 0,
     "print one JSON object per result row instead of the table"},
    {"serve", VEX_OPT_FLAG, NULL, 0, 0, 0,
     "after the build, answer requests from stdin, one per line: \"ef N\" "
     "runs one single-thread pass over every query and prints its row as "
     "JSON, \"where [EXPR]\" (--collection, --filter or --meta) sets or "
     "clears the filter of the passes, \"quit\" ends (for drivers that "
     "interleave libraries)"},
    {"collection", VEX_OPT_FLAG, NULL, 0, 0, 0,
     "build and search through a collection as an application would: "
     "inserted under the default memtable size (flushed as several "
     "segments), compacted into one (timed with the build), searched with "
     "vex_search"},
    {"memtable-mb", VEX_OPT_UINT, "MB", 0, 1, 65536,
     "with --collection: the memtable size that decides how many segments "
     "the load flushes (default the database's, 64)"},
    {"filter", VEX_OPT_STRING, "EXPR", 0, 0, 0,
     "filtered search through a collection (docs/FILTERS.md language); "
     "needs --meta"},
    {"meta", VEX_OPT_STRING, "FILE.tsv", 0, 0, 0,
     "metadata of a collection's records, a header line and one row per "
     "base vector; int64 columns X also get X_mod100 and X_mod1000"},
    {"db", VEX_OPT_STRING, "DIR", 0, 0, 0,
     "with --collection or --filter: build the collection in this new "
     "database directory (default: a temporary one, removed afterwards); a "
     "benchmark's collection (named bench, ids = row numbers, derived "
     "columns): load your own records with vex create and vex import"},
};

const vex_cmd vex_cmd_bench = {
    "bench",
    "measure recall@k, queries per second and latency of an index",
    "",
    0,
    0,
    bench_opts,
    sizeof bench_opts / sizeof bench_opts[0],
    "Builds the index (timed), runs each query alone on one thread\n"
    "(qps_1t, p50/p99 latency) and then all queries as one batch on all\n"
    "threads (qps_all), and reports memory (index bytes, peak RSS).\n"
    "\n"
    "Recall@k: a hit counts as correct when its distance is <= the k-th true\n"
    "distance d_k + 1e-6*max(1,|d_k|) + (dim+2)*2^-24*S, where d_k is "
    "computed\n"
    "exactly in double from the vectors of the first k ground-truth ids\n"
    "(l2: squared L2; ip: -dot; cosine: 1-cos) and S bounds float32 rounding\n"
    "(d_k for l2, sum|q_i x_i| for ip, that over |q||x| for cosine). Ties at\n"
    "the k-th place therefore never count as misses.\n"
    "\n"
    "With --index hnsw, --ef 10,20,40 sweeps the search candidate list and\n"
    "prints one row per value (one JSON line per value with --json).\n"
    "\n"
    "With --filter EXPR --meta FILE.tsv the base vectors and their metadata\n"
    "go into a collection (flushed to one segment), queries run one at a\n"
    "time on one thread with the filter, and recall@k is measured against\n"
    "exact filtered k-NN (ids); rows also show the matching share and the\n"
    "per-segment plans the searches chose. --collection builds the\n"
    "collection the way an application fills one (several segments,\n"
    "then one compaction) and, without a filter, counts recall as above:\n"
    "set it beside a standalone run to see what the collection costs.\n"
    "\n"
    "Progress goes to stderr only when it is a terminal.\n"
    "\nexample: vex bench --base sift_base.fvecs --queries sift_query.fvecs "
    "\\\n"
    "           --gt sift_groundtruth.ivecs --metric l2 --k 10\n",
    run_bench,
};

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench_qmem.c - resident memory of a quantized collection (issue 6):
 * what a process that opens a database and searches it keeps in RAM per
 * vector, for float32 and each quantizer, next to recall@10 and QPS.
 * Public API only; one JSON line per configuration on stdout, progress on
 * stderr.
 *
 * usage:
 *   bench_qmem [--data DIR] [--configs LIST] [--kind hnsw|flat]
 *              [--metric l2|ip|cosine] [--ef LIST] [--refine F]
 *              [--dir D] [--threads T]
 *     DIR holds <P>_base.fvecs, <P>_query.fvecs and <P>_groundtruth.ivecs
 *     (texmex layout; default ../shared/data/glove-100-angular-100k; the
 *     metric defaults to cosine when DIR's name contains "angular", else
 *     l2). LIST is comma-separated configurations: none (float32), sq8,
 *     bq, pq:M, opq:M, pq4:M, opq4:M (M 0 = the default); default
 *     "none,sq8,pq:0". For each, a database D/<config> is built (the base
 *     loaded in commits of 1,000 rows, flushed, compacted into one
 *     segment; HNSW M 16, efConstruction 200; T pool threads) and closed.
 *     Then a fresh child process (this program re-executed with
 *     --measure, so that no heap or page of the build phase is counted)
 *     reads the queries and ground truth, notes its resident set
 *     (/proc/self/status: RssAnon, RssFile), opens the database, runs
 *     every query once to warm up (the segment's index is opened on first
 *     use), then for each ef (HNSW) two timed passes on one thread (best
 *     QPS; recall@10 = ids among the ground truth's first 10), and notes
 *     the resident set again. The difference, divided by the number of
 *     vectors, is the resident bytes per vector of the open database: its
 *     heap (id maps, graph copies if any, scratch) and the pages of the
 *     segment file mapped into the process (codes, graph, ids; a
 *     quantized segment's full vectors only where a rerank read them).
 *   bench_qmem --fault-probe FILE [--reads N]
 *     How much one page fault maps on this kernel: maps FILE read-only,
 *     reads every page (so it is in the page cache), drops the mapping's
 *     pages (MADV_RANDOM, MADV_DONTNEED: what a segment does to its
 *     vectors), then reads one byte at each of N (default 10) scattered
 *     offsets and prints the file-backed resident set after each step.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "readers.h"
#include "vexdb.h"

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void die(const char *what, int rc, const char *msg)
{
    fprintf(stderr, "bench_qmem: %s: %s: %s\n", what, vex_status_name(rc),
            msg ? msg : "");
    exit(1);
}

static const char *opt(int argc, char **argv, const char *name,
                       const char *dflt)
{
    for (int i = 1; i + 1 < argc; i++)
        if (strcmp(argv[i], name) == 0)
            return argv[i + 1];
    return dflt;
}

/* DIR/<P>_<what>.<ext> for the only <P> with a base file. */
static void data_path(const char *dir, const char *what, const char *ext,
                      char *out, size_t size)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char prefix[256] = "";
    if (d == NULL)
        die(dir, VEX_IOERR, "cannot open the data directory");
    while ((e = readdir(d)) != NULL) {
        const char *s = strstr(e->d_name, "_base.fvecs");
        if (s && s[11] == '\0' && (size_t)(s - e->d_name) < sizeof prefix) {
            memcpy(prefix, e->d_name, (size_t)(s - e->d_name));
            prefix[s - e->d_name] = '\0';
        }
    }
    closedir(d);
    if (prefix[0] == '\0')
        die(dir, VEX_NOTFOUND, "no <name>_base.fvecs in the data directory");
    snprintf(out, size, "%s/%s_%s.%s", dir, prefix, what, ext);
}

static void read_vecs(const char *dir, const char *what, vexio_vectors *v)
{
    char path[1024];
    vexio_error err;
    data_path(dir, what, "fvecs", path, sizeof path);
    if (vexio_read_vectors(path, VEXIO_AUTO, 0, v, &err) != VEX_OK)
        die(path, VEX_IOERR, err.msg);
}

static void read_gt(const char *dir, vexio_ids *ids)
{
    char path[1024];
    vexio_error err;
    data_path(dir, "groundtruth", "ivecs", path, sizeof path);
    if (vexio_read_ids(path, VEXIO_AUTO, 0, ids, &err) != VEX_OK)
        die(path, VEX_IOERR, err.msg);
}

typedef struct qconf {
    vex_quant quant;
    uint32_t m, bits;
} qconf;

static int parse_conf(const char *s, qconf *c)
{
    static const struct {
        const char *name;
        vex_quant q;
        uint32_t bits;
        int has_m;
    } K[] = {{"none", VEX_QUANT_NONE, 0, 0}, {"sq8", VEX_QUANT_SQ8, 0, 0},
             {"bq", VEX_QUANT_BQ, 0, 0},     {"pq", VEX_QUANT_PQ, 8, 1},
             {"opq", VEX_QUANT_OPQ, 8, 1},   {"pq4", VEX_QUANT_PQ, 4, 1},
             {"opq4", VEX_QUANT_OPQ, 4, 1}};
    const char *colon = strchr(s, ':');
    size_t len = colon ? (size_t)(colon - s) : strlen(s);
    for (size_t i = 0; i < sizeof K / sizeof K[0]; i++) {
        if (strlen(K[i].name) != len || strncmp(s, K[i].name, len) != 0)
            continue;
        if (!K[i].has_m != !colon)
            return -1;
        c->quant = K[i].q;
        c->bits = K[i].bits;
        c->m = colon ? (uint32_t)atoi(colon + 1) : 0;
        return 0;
    }
    return -1;
}

static vex_metric parse_metric(const char *s)
{
    if (strcmp(s, "l2") == 0)
        return VEX_METRIC_L2;
    if (strcmp(s, "ip") == 0)
        return VEX_METRIC_IP;
    if (strcmp(s, "cosine") == 0)
        return VEX_METRIC_COSINE;
    die("--metric", VEX_INVALID, "must be l2, ip or cosine");
    return VEX_METRIC_L2;
}

/* Resident kB of this process: anonymous and file-backed. */
static void rss(long *anon, long *file)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    *anon = *file = -1;
    if (f == NULL)
        return;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "RssAnon:", 8) == 0)
            *anon = atol(line + 8);
        else if (strncmp(line, "RssFile:", 8) == 0)
            *file = atol(line + 8);
    }
    fclose(f);
}

/* One pass over the queries: QPS and recall@10. */
static void pass(vex_collection *c, const vexio_vectors *q, const vexio_ids *gt,
                 unsigned ef, float refine, double *qps, double *recall)
{
    vex_search_params p;
    vex_hit hits[10];
    size_t n, hit = 0;
    double t0;
    int rc;
    vex_search_params_init(&p);
    p.ef_search = ef;
    p.refine = refine;
    p.n_threads = 1;
    t0 = now();
    for (uint64_t i = 0; i < q->n; i++) {
        rc = vex_search(c, q->data + i * q->dim, 10, &p, hits, NULL, &n);
        if (rc != VEX_OK)
            die("search", rc, vex_collection_errmsg(c));
        for (size_t j = 0; j < n; j++)
            for (size_t t = 0; t < 10 && t < gt->k; t++)
                if (hits[j].id == (uint64_t)gt->ids[i * gt->k + t]) {
                    hit++;
                    break;
                }
    }
    *qps = (double)q->n / (now() - t0);
    *recall = (double)hit / (double)(q->n * 10);
}

/* The child: open, search, measure. */
static int measure(int argc, char **argv)
{
    const char *data = opt(argc, argv, "--data", NULL);
    const char *dir = opt(argc, argv, "--measure", NULL);
    float refine = (float)atof(opt(argc, argv, "--refine", "0"));
    char efs[256], *tok, *save = NULL;
    vexio_vectors q;
    vexio_ids gt;
    vex_db_options o;
    vex_db *db = NULL;
    vex_collection *c = NULL;
    long a0, f0, a1, f1, a2, f2;
    double qps, rec;
    uint64_t n, seg_bytes;
    uint32_t segs;
    int rc, first = 1;
    snprintf(efs, sizeof efs, "%s", opt(argc, argv, "--ef", "64"));
    read_vecs(data, "query", &q);
    read_gt(data, &gt);
    rss(&a0, &f0);
    vex_db_options_init(&o);
    o.n_threads = 1;
    if ((rc = vex_db_open(dir, &o, &db)) != VEX_OK)
        die("open", rc, vex_db_errmsg(db));
    if ((rc = vex_collection_open(db, "c", &c)) != VEX_OK)
        die("collection", rc, vex_db_errmsg(db));
    {
        vex_stats st;
        memset(&st, 0, sizeof st);
        st.struct_size = sizeof st;
        if ((rc = vex_stats_get(c, &st)) != VEX_OK)
            die("stats", rc, vex_collection_errmsg(c));
        n = st.live_rows;
        segs = st.segments;
        seg_bytes = st.segment_bytes;
    }
    {
        /* one query opens the segment's index (lazily, on first use):
         * what the open database keeps resident before reranks touch
         * vectors (k 1, refine 1: one full vector read) */
        vex_search_params p;
        vex_hit h;
        size_t nh;
        vex_search_params_init(&p);
        p.refine = refine > 0.0f ? 1.0f : 0.0f;
        if ((rc = vex_search(c, q.data, 1, &p, &h, NULL, &nh)) != VEX_OK)
            die("search", rc, vex_collection_errmsg(c));
    }
    rss(&a1, &f1);
    pass(c, &q, &gt, 0, refine, &qps, &rec); /* warm-up */
    printf("{\"n\":%llu,\"segments\":%u,\"segment_bytes\":%llu,"
           "\"after_open\":{\"anon_kb\":%ld,\"file_kb\":%ld},\"runs\":[",
           (unsigned long long)n, segs, (unsigned long long)seg_bytes, a1 - a0,
           f1 - f0);
    for (tok = strtok_r(efs, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        double q1, r1, q2, r2;
        unsigned ef = (unsigned)atoi(tok);
        pass(c, &q, &gt, ef, refine, &q1, &r1);
        pass(c, &q, &gt, ef, refine, &q2, &r2);
        printf("%s{\"ef\":%u,\"recall\":%.4f,\"qps\":%.0f}", first ? "" : ",",
               ef, r2, q1 > q2 ? q1 : q2);
        first = 0;
    }
    rss(&a2, &f2);
    printf("],\"after_search\":{\"anon_kb\":%ld,\"file_kb\":%ld},"
           "\"open_bytes_per_vector\":%.1f,"
           "\"search_bytes_per_vector\":%.1f}\n",
           a2 - a0, f2 - f0,
           n ? (double)((a1 - a0) + (f1 - f0)) * 1024.0 / (double)n : 0.0,
           n ? (double)((a2 - a0) + (f2 - f0)) * 1024.0 / (double)n : 0.0);
    fflush(stdout);
    vex_db_close(db);
    return 0;
}

/* Build D/<label> for one configuration; returns the build seconds. */
static double build(const char *path, const vexio_vectors *base, vex_metric m,
                    vex_index_kind kind, const qconf *qc, float refine,
                    unsigned threads)
{
    vex_db_options o;
    vex_db *db = NULL;
    vex_collection_config cfg;
    vex_collection *c = NULL;
    vex_batch *b = NULL;
    char cmd[1200];
    double t0 = now();
    int rc;
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
    if (system(cmd) != 0)
        die(path, VEX_IOERR, "cannot remove the old database");
    vex_db_options_init(&o);
    o.create_if_missing = 1;
    o.n_threads = threads;
    if ((rc = vex_db_open(path, &o, &db)) != VEX_OK)
        die("open", rc, vex_db_errmsg(db));
    vex_collection_config_init(&cfg);
    cfg.dim = base->dim;
    cfg.metric = m;
    cfg.index_kind = kind;
    cfg.hnsw_m = kind == VEX_INDEX_HNSW ? 16 : 0;
    cfg.hnsw_ef_construction = kind == VEX_INDEX_HNSW ? 200 : 0;
    cfg.quant = qc->quant;
    cfg.quant_m = qc->m;
    cfg.quant_bits =
        qc->quant == VEX_QUANT_PQ || qc->quant == VEX_QUANT_OPQ ? qc->bits : 0;
    cfg.quant_refine = qc->quant ? refine : 0.0f;
    if ((rc = vex_collection_create(db, "c", &cfg, &c)) != VEX_OK)
        die("create", rc, vex_db_errmsg(db));
    vex_batch_create(base->dim * sizeof(float), NULL, &b);
    for (uint64_t i = 0; i < base->n; i++) {
        vex_batch_insert(b, i, base->data + i * base->dim);
        if (vex_batch_count(b) == 1000 || i + 1 == base->n) {
            if ((rc = vex_batch_commit(c, b)) != VEX_OK)
                die("load", rc, vex_collection_errmsg(c));
            vex_batch_clear(b);
        }
    }
    vex_batch_free(b);
    if ((rc = vex_flush(c)) != VEX_OK)
        die("flush", rc, vex_collection_errmsg(c));
    if ((rc = vex_compact(c)) != VEX_OK)
        die("compact", rc, vex_collection_errmsg(c));
    if ((rc = vex_db_close(db)) != VEX_OK)
        die("close", rc, "");
    return now() - t0;
}

/* --fault-probe: see the top of the file. */
static int fault_probe(const char *path, unsigned reads)
{
    struct stat st;
    unsigned char *p;
    volatile unsigned sink = 0;
    long a0, f0, a1, f1, a2, f2, a3, f3;
    size_t len, pages;
    int fd = open(path, O_RDONLY);
    if (fd < 0 || fstat(fd, &st) != 0 || st.st_size < 4096)
        die(path, VEX_IOERR, "cannot open, or smaller than a page");
    len = (size_t)st.st_size;
    p = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED)
        die(path, VEX_IOERR, "mmap failed");
    pages = len / 4096;
    rss(&a0, &f0);
    for (size_t i = 0; i < len; i += 4096)
        sink += p[i];
    rss(&a1, &f1);
    if (madvise(p, pages * 4096, MADV_RANDOM) != 0 ||
        madvise(p, pages * 4096, MADV_DONTNEED) != 0)
        die(path, VEX_IOERR, "madvise failed");
    rss(&a2, &f2);
    for (unsigned k = 0; k < reads; k++)
        sink += p[(size_t)(k * 2654435761u % pages) * 4096 + 123];
    rss(&a3, &f3);
    printf("{\"file_bytes\":%zu,\"file_kb_mapped\":{\"before\":%ld,"
           "\"all_read\":%ld,\"after_dontneed\":%ld,\"after_reads\":%ld},"
           "\"reads\":%u,\"kb_per_read\":%.0f}\n",
           len, f0, f1, f2, f3, reads, reads ? (double)(f3 - f2) / reads : 0.0);
    (void)sink;
    munmap(p, len);
    close(fd);
    return 0;
}

int main(int argc, char **argv)
{
    const char *data =
        opt(argc, argv, "--data", "../shared/data/glove-100-angular-100k");
    const char *dir = opt(argc, argv, "--dir", "/tmp/vexdb-qmem");
    const char *kind_s = opt(argc, argv, "--kind", "hnsw");
    const char *ef = opt(argc, argv, "--ef", "64");
    const char *refine_s = opt(argc, argv, "--refine", "0");
    unsigned threads = (unsigned)atoi(opt(argc, argv, "--threads", "2"));
    char confs[512], *tok, *save = NULL, cmd[1200];
    vexio_vectors base;
    vex_metric metric;
    vex_index_kind kind;
    if (opt(argc, argv, "--measure", NULL))
        return measure(argc, argv);
    if (opt(argc, argv, "--fault-probe", NULL))
        return fault_probe(opt(argc, argv, "--fault-probe", NULL),
                           (unsigned)atoi(opt(argc, argv, "--reads", "10")));
    metric = parse_metric(
        opt(argc, argv, "--metric", strstr(data, "angular") ? "cosine" : "l2"));
    if (strcmp(kind_s, "hnsw") == 0)
        kind = VEX_INDEX_HNSW;
    else if (strcmp(kind_s, "flat") == 0)
        kind = VEX_INDEX_FLAT;
    else
        die("--kind", VEX_INVALID, "must be hnsw or flat");
    snprintf(confs, sizeof confs, "%s",
             opt(argc, argv, "--configs", "none,sq8,pq:0"));
    read_vecs(data, "base", &base);
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", dir);
    if (system(cmd) != 0)
        die(dir, VEX_IOERR, "cannot create the work directory");
    for (tok = strtok_r(confs, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        qconf qc;
        char path[1024], label[64], *p;
        double secs;
        pid_t pid;
        int fd[2], status;
        FILE *in;
        char line[4096];
        if (parse_conf(tok, &qc) != 0)
            die(tok, VEX_INVALID,
                "configuration must be none, sq8, bq, pq:M, "
                "opq:M, pq4:M or opq4:M");
        snprintf(label, sizeof label, "%s", tok);
        for (p = label; *p; p++)
            if (*p == ':')
                *p = '_';
        snprintf(path, sizeof path, "%s/%s", dir, label);
        fprintf(stderr, "bench_qmem: building %s (%s)\n", tok, kind_s);
        secs = build(path, &base, metric, kind, &qc, (float)atof(refine_s),
                     threads);
        fflush(stdout);
        if (pipe(fd) != 0)
            die("pipe", VEX_IOERR, "");
        pid = fork();
        if (pid == 0) {
            dup2(fd[1], 1);
            close(fd[0]);
            close(fd[1]);
            execl("/proc/self/exe", argv[0], "--measure", path, "--data", data,
                  "--ef", kind == VEX_INDEX_HNSW ? ef : "0", "--refine",
                  qc.quant ? refine_s : "0", (char *)NULL);
            _exit(127);
        }
        close(fd[1]);
        in = fdopen(fd[0], "r");
        line[0] = '\0';
        if (in == NULL || fgets(line, sizeof line, in) == NULL)
            line[0] = '\0';
        if (in)
            fclose(in);
        waitpid(pid, &status, 0);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || !line[0])
            die(tok, VEX_IOERR, "the measuring child failed");
        line[strcspn(line, "\n")] = '\0';
        printf("{\"config\":\"%s\",\"kind\":\"%s\",\"dim\":%u,"
               "\"refine\":%s,\"build_s\":%.1f,\"measure\":%s}\n",
               tok, kind_s, base.dim, qc.quant ? refine_s : "0", secs, line);
        fflush(stdout);
    }
    vexio_vectors_free(&base);
    return 0;
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench_hybrid.c - keyword and hybrid search through the engine
 * (vex_search with vex_search_params.text), and the quality of vector,
 * keyword and fused rankings on real documents.
 *
 * Part 1, latency (Debian's package descriptions from `apt-cache
 * dumpavail`, read at run time; none: that part says so). A collection
 * (HNSW, dim 64, random unit vectors: the vector leg's cost, not its
 * meaning) holds every description as a record's text, written in four
 * parts (three flushed to segments, the last in the memtable), then a
 * tenth of the records deleted (not compacted). The same texts (minus
 * the deletes) go into an FTS5 table. Seeded queries of 1 to 3 terms
 * drawn from random descriptions (as bench_bm25), each with a random query
 * vector. Modes, interleaved pass by pass: vector only, keyword only,
 * hybrid (RRF, 100 candidates per leg, the default), hybrid with 10
 * candidates per leg, FTS5 (MATCH ... ORDER BY bm25 LIMIT 10). Reported: median
 * over passes of each mode's mean latency and its p99, and the keyword mode's
 * postings read/skipped.
 *
 * Part 2, quality (the SAP Fiori documentation chunks of
 * ../shared/data/fiori-docs-minilm-384 with their texts from the npm
 * package @sap-ux/fiori-docs-embeddings 1.2.6, data/embeddings/
 * records.jsonl, given with --records; absent: that part says so). The
 * 678 base chunks are records (their embedding, their text); each of the
 * 100 held-out chunks is a query: its title as the text and its
 * embedding as the vector. A hit is right when it comes from the same
 * document (the same source file, `path`) as the query's chunk. Reported
 * per mode (vector, keyword, RRF, weighted sum): hit@1 and MRR@10.
 *
 *   build/bench/bench_hybrid [--queries N] [--passes P]
 *       [--fiori DIR --records FILE] [--skip-latency]
 *
 * One JSON line per mode and part on stdout, a summary on stderr.
 */
#include <math.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "text_corpus.h"
#include "util/rng.h"
#include "vexdb.h"

#define BH_DIM 64
#define BH_K   10

static double bh_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void rm_rf(const char *p)
{
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", p);
    if (system(cmd) != 0)
        fprintf(stderr, "bench_hybrid: cannot remove %s\n", p);
}

static int bh_cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void bh_die(const char *what, int rc)
{
    fprintf(stderr, "bench_hybrid: %s: %s\n", what, vex_status_name(rc));
    exit(1);
}

static vex_db *bh_open(const char *root)
{
    char path[512];
    vex_db_options o;
    vex_db *db = NULL;
    int rc;
    snprintf(path, sizeof path, "%s/db", root);
    vex_db_options_init(&o);
    o.create_if_missing = 1;
    o.durability = VEX_DURABILITY_NONE;
    o.compact_min_merge = 0;
    o.memtable_bytes = (uint64_t)1 << 30; /* flushes where the bench asks */
    if ((rc = vex_db_open(path, &o, &db)) != VEX_OK)
        bh_die("vex_db_open", rc);
    return db;
}

/* ---- part 1: latency ------------------------------------------------ */

typedef struct bh_q {
    char text[256];
    char match[512];
    float vec[BH_DIM];
} bh_q;

typedef struct bh_terms {
    char buf[4096];
    size_t n, count;
} bh_terms;

static int bh_on_term(void *ctx, const char *t, size_t len)
{
    bh_terms *x = ctx;
    if (x->n + len + 2 > sizeof x->buf)
        return 0;
    memcpy(x->buf + x->n, t, len);
    x->n += len;
    x->buf[x->n++] = '\n';
    x->buf[x->n] = '\0';
    x->count++;
    return 0;
}

static void bh_unit(vex_rng *r, float *v)
{
    double s = 0;
    for (int d = 0; d < BH_DIM; d++) {
        v[d] = (float)vex_rng_normal(r);
        s += (double)v[d] * v[d];
    }
    for (int d = 0; d < BH_DIM; d++)
        v[d] = (float)(v[d] / sqrt(s));
}

enum { M_VEC, M_TEXT, M_RRF, M_RRF10, M_FTS, N_MODES };
static const char *const bh_mode_name[N_MODES] = {
    "vector", "keyword", "hybrid_rrf", "hybrid_rrf_c10", "fts5"};

static void part_latency(unsigned n_queries, unsigned passes)
{
    ft_corpus c = {0};
    char root[256];
    vex_db *db;
    vex_collection *coll = NULL;
    vex_collection_config cfg;
    sqlite3 *sq = NULL;
    sqlite3_stmt *ins = NULL, *del = NULL, *q = NULL;
    unsigned char *live;
    bh_q *qs;
    vex_rng r;
    double *lat, mean[N_MODES][16], p99[N_MODES][16];
    uint64_t pread = 0, pskip = 0;
    size_t n_docs = 0;
    int rc;
    if (!ft_debian(&c)) {
        fprintf(stderr, "bench_hybrid: latency part skipped: `apt-cache "
                        "dumpavail` printed no package descriptions\n");
        return;
    }
    if (passes > 16)
        passes = 16;
    snprintf(root, sizeof root, "/tmp/vex_bench_hybrid_XXXXXX");
    if (mkdtemp(root) == NULL)
        bh_die("mkdtemp", VEX_INTERNAL);
    db = bh_open(root);
    vex_collection_config_init(&cfg);
    cfg.dim = BH_DIM;
    cfg.metric = VEX_METRIC_COSINE;
    cfg.text = 1;
    if ((rc = vex_collection_create(db, "docs", &cfg, &coll)) != VEX_OK)
        bh_die("create", rc);
    sqlite3_open(":memory:", &sq);
    sqlite3_exec(sq,
                 "CREATE VIRTUAL TABLE t USING fts5(x, tokenize = "
                 "'unicode61 remove_diacritics 2');BEGIN",
                 NULL, NULL, NULL);
    sqlite3_prepare_v2(sq, "INSERT INTO t(rowid, x) VALUES(?1, ?2)", -1, &ins,
                       NULL);
    sqlite3_prepare_v2(sq, "DELETE FROM t WHERE rowid = ?1", -1, &del, NULL);
    live = calloc(c.n, 1);
    vex_rng_seed(&r, 20);
    {
        double t0 = bh_now();
        for (int part = 0; part < 4; part++) {
            for (size_t i = c.n * (size_t)part / 4;
                 i < c.n * (size_t)(part + 1) / 4; i++) {
                float v[BH_DIM];
                vex_record rec;
                int wide = 0;
                /* as bench_bm25: code points above U+FFFF are letters to
                 * FTS5's Unicode 6.1 tables */
                for (size_t j = 0; j < c.len[i]; j++)
                    wide |= (unsigned char)c.text[i][j] >= 0xF0;
                if (wide || c.len[i] == 0)
                    continue;
                bh_unit(&r, v);
                vex_record_init(&rec);
                rec.id = i + 1;
                rec.vector = v;
                rec.text = c.text[i];
                rec.text_len = c.len[i];
                if ((rc = vex_insert_record(coll, &rec)) != VEX_OK)
                    bh_die("insert", rc);
                sqlite3_bind_int64(ins, 1, (sqlite3_int64)i + 1);
                sqlite3_bind_text(ins, 2, c.text[i], (int)c.len[i],
                                  SQLITE_STATIC);
                sqlite3_step(ins);
                sqlite3_reset(ins);
                live[i] = 1;
                n_docs++;
            }
            if (part < 3 && (rc = vex_flush(coll)) != VEX_OK)
                bh_die("flush", rc);
        }
        for (size_t i = 0; i < c.n; i++)
            if (live[i] && vex_rng_below(&r, 10) == 0) {
                if ((rc = vex_delete(coll, i + 1)) != VEX_OK)
                    bh_die("delete", rc);
                sqlite3_bind_int64(del, 1, (sqlite3_int64)i + 1);
                sqlite3_step(del);
                sqlite3_reset(del);
                live[i] = 0;
                n_docs--;
            }
        sqlite3_exec(sq, "COMMIT", NULL, NULL, NULL);
        fprintf(stderr,
                "bench_hybrid: %zu live texts (3 segments + memtable, a "
                "tenth deleted) loaded in %.1f s\n",
                n_docs, bh_now() - t0);
    }
    sqlite3_prepare_v2(sq,
                       "SELECT rowid, bm25(t) FROM t WHERE t MATCH ?1 "
                       "ORDER BY bm25(t) LIMIT 10",
                       -1, &q, NULL);
    qs = calloc(n_queries, sizeof *qs);
    lat = malloc(n_queries * sizeof *lat);
    vex_rng_seed(&r, 21);
    for (unsigned i = 0; i < n_queries; i++) {
        size_t nt = 1 + (size_t)vex_rng_below(&r, 3), tp = 0, mp = 0;
        for (size_t t = 0; t < nt; t++) {
            size_t d = (size_t)vex_rng_below(&r, c.n), pick, j;
            vt_analyzer an = {VT_STEM_NONE, VT_STOP_NONE};
            bh_terms tm = {{0}, 0, 0};
            const char *s;
            if (!live[d])
                continue;
            vx_text_tokenize(&an, c.text[d], c.len[d], bh_on_term, &tm, NULL);
            if (tm.count == 0)
                continue;
            pick = (size_t)vex_rng_below(&r, tm.count);
            for (s = tm.buf, j = 0; j < pick; j++)
                s += strcspn(s, "\n") + 1;
            j = strcspn(s, "\n");
            if (tp + j + 2 > sizeof qs[i].text ||
                mp + j + 8 > sizeof qs[i].match)
                continue;
            tp += (size_t)snprintf(qs[i].text + tp, sizeof qs[i].text - tp,
                                   "%s%.*s", tp ? " " : "", (int)j, s);
            mp += (size_t)snprintf(qs[i].match + mp, sizeof qs[i].match - mp,
                                   "%s\"%.*s\"", mp ? " OR " : "", (int)j, s);
        }
        if (tp == 0) { /* an unlucky draw: a frequent word */
            snprintf(qs[i].text, sizeof qs[i].text, "library");
            snprintf(qs[i].match, sizeof qs[i].match, "\"library\"");
        }
        bh_unit(&r, qs[i].vec);
    }
    for (unsigned pass = 0; pass < passes; pass++)
        for (int mode = 0; mode < N_MODES; mode++) {
            double sum = 0;
            for (unsigned i = 0; i < n_queries; i++) {
                vex_search_params p;
                vex_search_stats st;
                vex_hit hits[BH_K];
                size_t nh = 0;
                double t0 = bh_now();
                vex_search_params_init(&p);
                vex_search_stats_init(&st);
                p.n_threads = 1;
                p.stats = mode == M_TEXT && pass == 0 ? &st : NULL;
                if (mode == M_FTS) {
                    sqlite3_bind_text(q, 1, qs[i].match, -1, SQLITE_STATIC);
                    while (sqlite3_step(q) == SQLITE_ROW)
                        nh++;
                    sqlite3_reset(q);
                } else {
                    if (mode != M_VEC)
                        p.text = qs[i].text;
                    if (mode == M_RRF10)
                        p.text_candidates = BH_K;
                    rc = vex_search(coll, mode == M_TEXT ? NULL : qs[i].vec,
                                    BH_K, &p, hits, NULL, &nh);
                    if (rc != VEX_OK)
                        bh_die(vex_collection_errmsg(coll), rc);
                }
                lat[i] = bh_now() - t0;
                sum += lat[i];
                if (p.stats) {
                    pread += st.postings_read;
                    pskip += st.postings_skipped;
                }
            }
            qsort(lat, n_queries, sizeof *lat, bh_cmp_d);
            mean[mode][pass] = sum / n_queries;
            p99[mode][pass] = lat[(size_t)(0.99 * (n_queries - 1))];
        }
    for (int mode = 0; mode < N_MODES; mode++) {
        double m, p;
        qsort(mean[mode], passes, sizeof(double), bh_cmp_d);
        qsort(p99[mode], passes, sizeof(double), bh_cmp_d);
        m = mean[mode][passes / 2];
        p = p99[mode][passes / 2];
        printf("{\"part\":\"latency\",\"mode\":\"%s\",\"texts\":%zu,"
               "\"queries\":%u,\"passes\":%u,\"mean_us\":%.1f,\"p99_us\":%.1f,"
               "\"qps\":%.0f}\n",
               bh_mode_name[mode], n_docs, n_queries, passes, m * 1e6, p * 1e6,
               1.0 / m);
        fprintf(stderr, "  %-11s mean %8.1f us  p99 %8.1f us  (%6.0f qps)\n",
                bh_mode_name[mode], m * 1e6, p * 1e6, 1.0 / m);
    }
    fprintf(stderr,
            "  keyword leg, first pass: postings read %llu, skipped %llu\n",
            (unsigned long long)pread, (unsigned long long)pskip);
    sqlite3_finalize(ins);
    sqlite3_finalize(del);
    sqlite3_finalize(q);
    sqlite3_close(sq);
    vex_collection_close(coll);
    vex_db_close(db);
    rm_rf(root);
    free(live);
    free(qs);
    free(lat);
    ft_free(&c);
}

/* ---- part 2: quality on the Fiori documentation ---------------------- */

static float *bh_fvecs(const char *path, size_t dim, size_t *n)
{
    FILE *f = fopen(path, "rb");
    float *v = NULL;
    size_t cap = 0;
    int32_t d;
    *n = 0;
    if (!f)
        return NULL;
    while (fread(&d, 4, 1, f) == 1) {
        if ((size_t)d != dim)
            break;
        if (*n == cap) {
            cap = cap ? cap * 2 : 1024;
            v = realloc(v, cap * dim * sizeof *v);
        }
        if (fread(v + *n * dim, sizeof *v, dim, f) != dim)
            break;
        (*n)++;
    }
    fclose(f);
    return v;
}

/* The TSV's rows: source_row (column 1), path (column 7), title (9). */
typedef struct bh_meta {
    size_t src;
    char path[256];
    char title[512];
} bh_meta;

static bh_meta *bh_tsv(const char *path, size_t *n)
{
    FILE *f = fopen(path, "r");
    char line[8192];
    bh_meta *m = NULL;
    size_t cap = 0;
    *n = 0;
    if (!f)
        return NULL;
    if (!fgets(line, sizeof line, f)) { /* header */
        fclose(f);
        return NULL;
    }
    while (fgets(line, sizeof line, f)) {
        char *col[10] = {0}, *p = line;
        for (int i = 0; i < 10 && p; i++) {
            col[i] = p;
            p = strchr(p, '\t');
            if (p)
                *p++ = '\0';
        }
        if (!col[9])
            continue;
        col[9][strcspn(col[9], "\r\n")] = '\0';
        if (*n == cap) {
            cap = cap ? cap * 2 : 1024;
            m = realloc(m, cap * sizeof *m);
        }
        m[*n].src = (size_t)strtoul(col[1], NULL, 10);
        snprintf(m[*n].path, sizeof m[*n].path, "%s", col[7]);
        snprintf(m[*n].title, sizeof m[*n].title, "%s", col[9]);
        (*n)++;
    }
    fclose(f);
    return m;
}

/* UTF-8 of code point cp into o; its length. */
static size_t bh_utf8(uint32_t cp, char *o)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | cp >> 6);
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | cp >> 12);
        o[1] = (char)(0x80 | (cp >> 6 & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | cp >> 18);
    o[1] = (char)(0x80 | (cp >> 12 & 0x3F));
    o[2] = (char)(0x80 | (cp >> 6 & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* The "content" string of one JSON line, decoded (malloc'd), or NULL. */
static char *bh_content(const char *line)
{
    const char *p = strstr(line, "\"content\":\"");
    char *out, *o;
    if (!p)
        return NULL;
    p += 11;
    o = out = malloc(strlen(p) + 1);
    while (*p && *p != '"') {
        if (*p != '\\') {
            *o++ = *p++;
            continue;
        }
        p++;
        switch (*p) {
        case 'n':
            *o++ = '\n';
            break;
        case 't':
            *o++ = '\t';
            break;
        case 'r':
            *o++ = '\r';
            break;
        case 'b':
        case 'f':
            *o++ = ' ';
            break;
        case 'u': {
            uint32_t cp = (uint32_t)strtoul(
                (char[5]){p[1], p[2], p[3], p[4], 0}, NULL, 16);
            p += 4;
            if (cp >= 0xD800 && cp < 0xDC00 && p[1] == '\\' && p[2] == 'u') {
                uint32_t lo = (uint32_t)strtoul(
                    (char[5]){p[3], p[4], p[5], p[6], 0}, NULL, 16);
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                p += 6;
            }
            o += bh_utf8(cp, o);
            break;
        }
        default:
            *o++ = *p;
        }
        if (*p)
            p++;
    }
    *o = '\0';
    return out;
}

enum { Q_VEC, Q_TEXT, Q_RRF, Q_SUM, N_Q };
static const char *const bh_q_name[N_Q] = {"vector", "keyword", "hybrid_rrf",
                                           "hybrid_sum"};

static void part_quality(const char *dir, const char *records)
{
    char path[1024], root[256], **texts = NULL, line[1 << 16];
    size_t nb, nq, nbm, nqm, nt = 0, cap = 0;
    float *base, *query;
    bh_meta *bm, *qm;
    FILE *f;
    vex_db *db;
    vex_collection *coll = NULL;
    vex_collection_config cfg;
    double hit1[N_Q] = {0}, mrr[N_Q] = {0};
    int rc;
    snprintf(path, sizeof path, "%s/fiori384_base.fvecs", dir);
    base = bh_fvecs(path, 384, &nb);
    snprintf(path, sizeof path, "%s/fiori384_query.fvecs", dir);
    query = bh_fvecs(path, 384, &nq);
    snprintf(path, sizeof path, "%s/fiori384_base_meta.tsv", dir);
    bm = bh_tsv(path, &nbm);
    snprintf(path, sizeof path, "%s/fiori384_query_meta.tsv", dir);
    qm = bh_tsv(path, &nqm);
    f = fopen(records, "r");
    if (!base || !query || !bm || !qm || nb != nbm || nq != nqm || !f) {
        fprintf(stderr,
                "bench_hybrid: quality part skipped: %s or %s is "
                "missing or unreadable\n",
                dir, records);
        if (f)
            fclose(f);
        return;
    }
    while (fgets(line, sizeof line, f)) {
        if (nt == cap) {
            cap = cap ? cap * 2 : 1024;
            texts = realloc(texts, cap * sizeof *texts);
        }
        texts[nt++] = bh_content(line);
    }
    fclose(f);
    snprintf(root, sizeof root, "/tmp/vex_bench_fiori_XXXXXX");
    if (mkdtemp(root) == NULL)
        bh_die("mkdtemp", VEX_INTERNAL);
    db = bh_open(root);
    vex_collection_config_init(&cfg);
    cfg.dim = 384;
    cfg.metric = VEX_METRIC_COSINE;
    cfg.index_kind = VEX_INDEX_FLAT; /* exact: the legs' meaning, not ANN */
    cfg.text = 1;
    cfg.text_stemmer = VEX_STEMMER_PORTER;
    cfg.text_stopwords = 1;
    if ((rc = vex_collection_create(db, "fiori", &cfg, &coll)) != VEX_OK)
        bh_die("create", rc);
    for (size_t i = 0; i < nb; i++) {
        vex_record rec;
        vex_record_init(&rec);
        rec.id = i;
        rec.vector = base + i * 384;
        if (bm[i].src < nt && texts[bm[i].src]) {
            rec.text = texts[bm[i].src];
            rec.text_len = strlen(rec.text);
        }
        if ((rc = vex_insert_record(coll, &rec)) != VEX_OK)
            bh_die(vex_collection_errmsg(coll), rc);
    }
    if ((rc = vex_flush(coll)) != VEX_OK)
        bh_die("flush", rc);
    for (size_t i = 0; i < nq; i++)
        for (int mode = 0; mode < N_Q; mode++) {
            vex_search_params p;
            vex_hit hits[BH_K];
            size_t nh = 0;
            vex_search_params_init(&p);
            if (mode != Q_VEC)
                p.text = qm[i].title;
            if (mode == Q_SUM)
                p.fusion = VEX_FUSION_SUM;
            rc = vex_search(coll, mode == Q_TEXT ? NULL : query + i * 384, BH_K,
                            &p, hits, NULL, &nh);
            if (rc != VEX_OK)
                bh_die(vex_collection_errmsg(coll), rc);
            for (size_t j = 0; j < nh; j++)
                if (strcmp(bm[hits[j].id].path, qm[i].path) == 0) {
                    hit1[mode] += j == 0;
                    mrr[mode] += 1.0 / (double)(j + 1);
                    break;
                }
        }
    for (int mode = 0; mode < N_Q; mode++) {
        printf("{\"part\":\"quality\",\"mode\":\"%s\",\"queries\":%zu,"
               "\"hit_at_1\":%.3f,\"mrr_at_10\":%.3f}\n",
               bh_q_name[mode], nq, hit1[mode] / nq, mrr[mode] / nq);
        fprintf(stderr, "  %-11s same document first %5.1f%%  MRR@10 %.3f\n",
                bh_q_name[mode], 100.0 * hit1[mode] / nq, mrr[mode] / nq);
    }
    vex_collection_close(coll);
    vex_db_close(db);
    rm_rf(root);
    for (size_t i = 0; i < nt; i++)
        free(texts[i]);
    free(texts);
    free(base);
    free(query);
    free(bm);
    free(qm);
}

int main(int argc, char **argv)
{
    unsigned n_queries = 1000, passes = 3;
    const char *fiori = NULL, *records = NULL;
    int latency = 1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--queries") && i + 1 < argc)
            n_queries = (unsigned)strtoul(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--passes") && i + 1 < argc)
            passes = (unsigned)strtoul(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--fiori") && i + 1 < argc)
            fiori = argv[++i];
        else if (!strcmp(argv[i], "--records") && i + 1 < argc)
            records = argv[++i];
        else if (!strcmp(argv[i], "--skip-latency"))
            latency = 0;
        else {
            fprintf(stderr, "usage: bench_hybrid [--queries N] [--passes P] "
                            "[--fiori DIR --records FILE] [--skip-latency]\n");
            return 2;
        }
    }
    if (n_queries == 0 || passes == 0)
        return 2;
    if (latency)
        part_latency(n_queries, passes);
    if (fiori && records)
        part_quality(fiori, records);
    else
        fprintf(stderr, "bench_hybrid: quality part skipped (give --fiori "
                        "DIR --records records.jsonl)\n");
    return 0;
}

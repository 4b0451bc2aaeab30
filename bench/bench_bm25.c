/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench_bm25.c - BM25 top-10 keyword search: VexDB's postings
 * (text/postings.h, block-max WAND) against SQLite FTS5 (MATCH ... ORDER
 * BY bm25 LIMIT 10) on the same corpus and queries, in the same run.
 *
 * Corpus: Debian's package descriptions from `apt-cache dumpavail` (read
 * at run time; none: the program says so and exits 0). Both sides index
 * every text (but those with code points above U+FFFF, see main); FTS5
 * with tokenize = 'unicode61 remove_diacritics 2', VexDB with the same
 * analysis. Queries: seeded, 1 to 3 terms each drawn from a
 * random text's terms (so frequent terms come up as often as in text),
 * joined with OR. A VexDB query is timed whole: analysing the query text,
 * looking up its terms, IDF from the statistics, WAND top-10. An FTS5
 * query is one step loop of a prepared statement with the query bound.
 * Passes alternate (VexDB, FTS5, VexDB, ...), medians reported; the top
 * 10 of both are compared (scores within 1e-9, ties either way).
 *
 *   build/bench/bench_bm25 [queries=2000] [passes=5] [terms=3]
 *
 * Then a second phase: a tenth of the rows deleted (FTS5: DELETE), VexDB
 * holding the corpus as a collection would: 7 sets of postings over
 * contiguous ranges with their deleted keys, and an in-memory index
 * (text/memindex.h) of the last sixteenth, queried with vx_bm25_multi
 * (live statistics across all of them).
 *
 * Prints one JSON line per engine and phase and a summary on stderr.
 */
#include <math.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_stats.h"
#include "text/bm25.h"
#include "text/postings.h"
#include "text_corpus.h"
#include "util/rng.h"

typedef struct bb_query {
    char text[256]; /* the query terms separated by spaces */
    char match[512];
} bb_query;

typedef struct bb_res {
    uint32_t key[10];
    double score[10];
    size_t n;
} bb_res;

static double bb_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

typedef struct bb_q {
    const vt_postings *p;
    vt_qterm q[32];
    size_t nq;
} bb_q;

static int bb_on_term(void *ctx, const char *t, size_t len)
{
    bb_q *b = ctx;
    int64_t ti = vx_post_find(b->p, t, len);
    size_t i;
    double w;
    if (ti < 0)
        return 0;
    w = vx_bm25_idf(vx_post_n_docs(b->p), vx_post_df(b->p, (uint32_t)ti));
    for (i = 0; i < b->nq; i++)
        if (b->q[i].term == (uint32_t)ti) {
            b->q[i].weight += w;
            return 0;
        }
    if (b->nq < 32) {
        b->q[b->nq].term = (uint32_t)ti;
        b->q[b->nq++].weight = w;
    }
    return 0;
}

static void bb_vex(const vt_postings *p, const vt_bm25 *prm, const bb_query *q,
                   bb_res *r, vt_stats *st)
{
    vt_analyzer a = {VT_STEM_NONE, VT_STOP_NONE};
    bb_q b;
    vt_hit h[10];
    size_t n = 0, i;
    b.p = p;
    b.nq = 0;
    vx_text_tokenize(&a, q->text, strlen(q->text), bb_on_term, &b, NULL);
    if (b.nq > 0)
        vx_post_search(p, prm, b.q, b.nq, 10, NULL, NULL, h, &n, st, NULL);
    for (i = 0; i < n; i++) {
        r->key[i] = h[i].key;
        r->score[i] = h[i].score;
    }
    r->n = n;
}

static void bb_fts(sqlite3_stmt *st, const bb_query *q, bb_res *r)
{
    r->n = 0;
    sqlite3_bind_text(st, 1, q->match, -1, SQLITE_STATIC);
    while (sqlite3_step(st) == SQLITE_ROW && r->n < 10) {
        r->key[r->n] = (uint32_t)(sqlite3_column_int64(st, 0) - 1);
        r->score[r->n++] = -sqlite3_column_double(st, 1);
    }
    sqlite3_reset(st);
}

/* 1 when a and b are the same top 10 up to ties. */
static int bb_same(const bb_res *a, const bb_res *b)
{
    size_t i, j;
    if (a->n != b->n)
        return 0;
    for (i = 0; i < a->n; i++) {
        double tol = 1e-9 * (fabs(b->score[i]) > 1 ? fabs(b->score[i]) : 1);
        int ok = fabs(a->score[i] - b->score[i]) <= tol;
        if (ok && a->key[i] != b->key[i]) {
            ok = fabs(b->score[i] - a->score[a->n - 1]) <= tol;
            for (j = 0; j < a->n && !ok; j++)
                ok = a->key[j] == b->key[i];
        }
        if (!ok)
            return 0;
    }
    return 1;
}

/* The second phase: the corpus as a collection would hold it, 7 sets of
 * postings (contiguous ranges, as segments) and an in-memory index of the
 * last sixteenth (a memtable), with a tenth of the rows deleted; FTS5
 * after DELETE of the same rows. */
enum { BB_SETS = 7 };

typedef struct bb_coll {
    vt_src src[BB_SETS + 1];
    vt_postings *p[BB_SETS];
    unsigned char *blob[BB_SETS];
    uint32_t *del[BB_SETS];
    vt_memindex *mi;
    size_t cut[BB_SETS + 2];
    unsigned char *gone;
    double build_s;
} bb_coll;

static double bb_now(void);

static int bb_mi_live(void *ctx, uint64_t row)
{
    return !((const unsigned char *)ctx)[row];
}

static int bb_coll_build(bb_coll *co, const ft_corpus *c, const vex_mem *m,
                         sqlite3 *db)
{
    vt_analyzer an = {VT_STEM_NONE, VT_STOP_NONE};
    sqlite3_stmt *d = NULL;
    vex_rng r;
    size_t i;
    int s;
    double t0;
    memset(co, 0, sizeof *co);
    co->gone = calloc(c->n + 1, 1);
    vex_rng_seed(&r, 7);
    for (i = 0; i < c->n; i++)
        co->gone[i] = vex_rng_below(&r, 10) == 0;
    sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
    sqlite3_prepare_v2(db, "DELETE FROM t WHERE rowid = ?1", -1, &d, NULL);
    for (i = 0; i < c->n; i++)
        if (co->gone[i]) {
            sqlite3_bind_int64(d, 1, (sqlite3_int64)i + 1);
            sqlite3_step(d);
            sqlite3_reset(d);
        }
    sqlite3_finalize(d);
    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    t0 = bb_now();
    for (s = 0; s <= BB_SETS; s++)
        co->cut[s] = c->n * 15 / 16 * (size_t)s / BB_SETS;
    co->cut[BB_SETS + 1] = c->n;
    for (s = 0; s < BB_SETS; s++) {
        vt_builder *b = NULL;
        size_t len = 0, nd = 0;
        co->del[s] = calloc(co->cut[s + 1] - co->cut[s] + 1, sizeof(uint32_t));
        if (vx_post_builder_new(m, &an, VT_POST_BLOCK, &b, NULL))
            return 1;
        for (i = co->cut[s]; i < co->cut[s + 1]; i++) {
            if (vx_post_builder_add(b, (uint32_t)(i - co->cut[s]), c->text[i],
                                    c->len[i], NULL))
                return 1;
            if (co->gone[i])
                co->del[s][nd++] = (uint32_t)(i - co->cut[s]);
        }
        if (vx_post_builder_finish(b, (uint32_t)(co->cut[s + 1] - co->cut[s]),
                                   &co->blob[s], &len, NULL) ||
            vx_post_open(m, co->blob[s], len, "set", 0, &co->p[s], NULL))
            return 1;
        vx_post_builder_free(b);
        co->src[s].p = co->p[s];
        co->src[s].deleted = co->del[s];
        co->src[s].n_deleted = nd;
    }
    if (vx_mi_create(m, &an, &co->mi, NULL))
        return 1;
    for (i = co->cut[BB_SETS]; i < c->n; i++)
        if (vx_mi_add(co->mi, i, c->text[i], c->len[i], NULL))
            return 1;
    co->src[BB_SETS].mi = co->mi;
    co->src[BB_SETS].live = bb_mi_live;
    co->src[BB_SETS].live_ctx = co->gone;
    co->build_s = bb_now() - t0;
    return 0;
}

static void bb_coll_free(bb_coll *co, const vex_mem *m)
{
    int s;
    for (s = 0; s < BB_SETS; s++) {
        vx_post_close(co->p[s]);
        vx_mem_free(m, co->blob[s]);
        free(co->del[s]);
    }
    vx_mi_free(co->mi);
    free(co->gone);
}

static void bb_coll_query(const bb_coll *co, const vex_mem *m,
                          const bb_query *q, bb_res *r, vt_stats *st)
{
    vt_analyzer a = {VT_STEM_NONE, VT_STOP_NONE};
    vt_bm25 prm = {1.2, 0.75, 0.0};
    vt_mhit h[10];
    size_t n = 0, i;
    vx_bm25_multi(m, &a, co->src, BB_SETS + 1, q->text, strlen(q->text), &prm,
                  10, h, &n, st, NULL, NULL);
    for (i = 0; i < n; i++) {
        r->key[i] =
            (uint32_t)(h[i].src == BB_SETS ? h[i].key
                                           : co->cut[h[i].src] + h[i].key);
        r->score[i] = h[i].score;
    }
    r->n = n;
}

typedef struct bb_terms {
    char buf[8192];
    size_t n, count;
} bb_terms;

static int bb_collect(void *ctx, const char *t, size_t len)
{
    bb_terms *b = ctx;
    if (b->n + len + 1 < sizeof b->buf) {
        memcpy(b->buf + b->n, t, len);
        b->n += len;
        b->buf[b->n++] = '\n';
        b->count++;
    }
    return 0;
}

int main(int argc, char **argv)
{
    int nq = argc > 1 ? atoi(argv[1]) : 2000;
    int passes = argc > 2 ? atoi(argv[2]) : 5;
    int max_terms = argc > 3 ? atoi(argv[3]) : 3;
    ft_corpus c = {0};
    sqlite3 *db = NULL;
    sqlite3_stmt *ins = NULL, *sel = NULL;
    vex_mem m;
    vt_analyzer an = {VT_STEM_NONE, VT_STOP_NONE};
    vt_builder *b = NULL;
    unsigned char *blob = NULL;
    size_t blen = 0, i;
    vt_postings *p = NULL;
    vt_bm25 prm;
    bb_query *qs;
    bb_res *rv, *rf;
    double tv[64], tf[64], t0, build_vex, build_fts;
    int pass, same = 0;
    vt_stats st;
    vex_rng r;
    if (nq < 1 || passes < 1 || passes > 64 || max_terms < 1) {
        fprintf(stderr, "usage: bench_bm25 [queries] [passes<=64] [terms]\n");
        return 2;
    }
    if (!ft_debian(&c)) {
        fprintf(stderr, "bench_bm25: skipped, `apt-cache dumpavail` printed "
                        "no package descriptions\n");
        return 0;
    }
    /* Texts with code points above U+FFFF (emoji, mostly) are left out:
     * FTS5's Unicode 6.1 tables take them for letters, ours do not, and
     * one such term changes the average length and every score a little
     * (test_text_fts5 shows the rest of the analysis agrees). */
    {
        size_t o = 0;
        for (i = 0; i < c.n; i++) {
            size_t j;
            int wide = 0;
            for (j = 0; j < c.len[i]; j++)
                wide |= (unsigned char)c.text[i][j] >= 0xF0;
            if (wide) {
                free(c.text[i]);
                continue;
            }
            c.text[o] = c.text[i];
            c.len[o++] = c.len[i];
        }
        c.n = o;
    }
    vx_mem_init(&m, NULL);
    sqlite3_open(":memory:", &db);
    t0 = bb_now();
    sqlite3_exec(db,
                 "CREATE VIRTUAL TABLE t USING fts5(x, tokenize = "
                 "'unicode61 remove_diacritics 2');BEGIN",
                 NULL, NULL, NULL);
    sqlite3_prepare_v2(db, "INSERT INTO t(rowid, x) VALUES(?1, ?2)", -1, &ins,
                       NULL);
    for (i = 0; i < c.n; i++) {
        sqlite3_bind_int64(ins, 1, (sqlite3_int64)i + 1);
        sqlite3_bind_text(ins, 2, c.text[i], (int)c.len[i], SQLITE_STATIC);
        sqlite3_step(ins);
        sqlite3_reset(ins);
    }
    sqlite3_finalize(ins);
    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    build_fts = bb_now() - t0;
    t0 = bb_now();
    if (vx_post_builder_new(&m, &an, VT_POST_BLOCK, &b, NULL) != VEX_OK)
        return 1;
    for (i = 0; i < c.n; i++)
        if (vx_post_builder_add(b, (uint32_t)i, c.text[i], c.len[i], NULL))
            return 1;
    if (vx_post_builder_finish(b, (uint32_t)c.n, &blob, &blen, NULL) ||
        vx_post_open(&m, blob, blen, "bench", 0, &p, NULL))
        return 1;
    vx_post_builder_free(b);
    build_vex = bb_now() - t0;
    sqlite3_prepare_v2(db,
                       "SELECT rowid, bm25(t) FROM t WHERE t MATCH ?1 "
                       "ORDER BY bm25(t) LIMIT 10",
                       -1, &sel, NULL);
    prm.k1 = 1.2;
    prm.b = 0.75;
    prm.avgdl = (double)vx_post_total_len(p) / (double)vx_post_n_docs(p);
    qs = calloc((size_t)nq, sizeof *qs);
    rv = calloc((size_t)nq, sizeof *rv);
    rf = calloc((size_t)nq, sizeof *rf);
    vex_rng_seed(&r, 20261207);
    for (i = 0; i < (size_t)nq; i++) {
        int nt = 1 + (int)vex_rng_below(&r, (uint64_t)max_terms), t;
        size_t tp = 0, mp = 0;
        for (t = 0; t < nt; t++) {
            bb_terms d;
            size_t pick, j, len;
            const char *s;
            size_t di = (size_t)vex_rng_below(&r, c.n);
            d.n = d.count = 0;
            vx_text_tokenize(&an, c.text[di], c.len[di], bb_collect, &d, NULL);
            if (d.count == 0)
                continue;
            pick = (size_t)vex_rng_below(&r, d.count);
            for (s = d.buf, j = 0; j < pick; j++)
                s = (const char *)memchr(s, '\n', (size_t)(d.buf + d.n - s)) +
                    1;
            len = (size_t)((const char *)memchr(s, '\n',
                                                (size_t)(d.buf + d.n - s)) -
                           s);
            if (tp + len + 2 > sizeof qs[i].text ||
                mp + len + 8 > sizeof qs[i].match)
                break;
            tp += (size_t)snprintf(qs[i].text + tp, sizeof qs[i].text - tp,
                                   "%s%.*s", tp ? " " : "", (int)len, s);
            mp += (size_t)snprintf(qs[i].match + mp, sizeof qs[i].match - mp,
                                   "%s\"%.*s\"", mp ? " OR " : "", (int)len, s);
        }
        if (tp == 0) {
            strcpy(qs[i].text, "package");
            strcpy(qs[i].match, "\"package\"");
        }
    }
    memset(&st, 0, sizeof st);
    for (pass = 0; pass < passes; pass++) {
        int q;
        t0 = bb_now();
        for (q = 0; q < nq; q++)
            bb_vex(p, &prm, &qs[q], &rv[q], pass == 0 ? &st : NULL);
        tv[pass] = bb_now() - t0;
        t0 = bb_now();
        for (q = 0; q < nq; q++)
            bb_fts(sel, &qs[q], &rf[q]);
        tf[pass] = bb_now() - t0;
    }
    for (i = 0; i < (size_t)nq; i++)
        same += bb_same(&rv[i], &rf[i]);
    {
        double mv = bench_median(tv, passes), mf = bench_median(tf, passes);
        printf("{\"bench\":\"bm25\",\"engine\":\"vexdb\",\"docs\":%zu,"
               "\"queries\":%d,\"qps\":%.1f,\"build_s\":%.3f,"
               "\"postings_read\":%llu,\"postings_skipped\":%llu,"
               "\"same_top10\":%d}\n",
               c.n, nq, nq / mv, build_vex,
               (unsigned long long)st.postings_read,
               (unsigned long long)st.postings_skipped, same);
        printf("{\"bench\":\"bm25\",\"engine\":\"fts5\",\"docs\":%zu,"
               "\"queries\":%d,\"qps\":%.1f,\"build_s\":%.3f}\n",
               c.n, nq, nq / mf, build_fts);
        fprintf(stderr,
                "bm25 top-10, %zu docs, %d queries of 1..%d terms, %d passes "
                "(medians)\n"
                "  vexdb: %9.1f qps  build %.2f s  (postings read %llu, "
                "skipped %llu)\n"
                "  fts5:  %9.1f qps  build %.2f s\n"
                "  vexdb / fts5: %.2fx   same top 10: %d of %d\n",
                c.n, nq, max_terms, passes, nq / mv, build_vex,
                (unsigned long long)st.postings_read,
                (unsigned long long)st.postings_skipped, nq / mf, build_fts,
                mf / mv, same, nq);
    }
    {
        bb_coll co;
        int q;
        same = 0;
        memset(&st, 0, sizeof st);
        if (bb_coll_build(&co, &c, &m, db) != 0)
            return 1;
        for (pass = 0; pass < passes; pass++) {
            t0 = bb_now();
            for (q = 0; q < nq; q++)
                bb_coll_query(&co, &m, &qs[q], &rv[q], pass == 0 ? &st : NULL);
            tv[pass] = bb_now() - t0;
            t0 = bb_now();
            for (q = 0; q < nq; q++)
                bb_fts(sel, &qs[q], &rf[q]);
            tf[pass] = bb_now() - t0;
        }
        for (i = 0; i < (size_t)nq; i++)
            same += bb_same(&rv[i], &rf[i]);
        {
            double mv = bench_median(tv, passes), mf = bench_median(tf, passes);
            printf("{\"bench\":\"bm25_collection\",\"engine\":\"vexdb\","
                   "\"sets\":%d,\"memtable_rows\":%zu,\"queries\":%d,"
                   "\"qps\":%.1f,\"same_top10\":%d}\n",
                   BB_SETS, c.n - co.cut[BB_SETS], nq, nq / mv, same);
            printf("{\"bench\":\"bm25_collection\",\"engine\":\"fts5\","
                   "\"queries\":%d,\"qps\":%.1f}\n",
                   nq, nq / mf);
            fprintf(stderr,
                    "the same after deleting a tenth of the rows, VexDB as %d "
                    "sets of postings with deleted keys + an in-memory index "
                    "of the last %zu rows (built in %.2f s)\n"
                    "  vexdb: %9.1f qps  (postings read %llu, skipped %llu)\n"
                    "  fts5:  %9.1f qps\n"
                    "  vexdb / fts5: %.2fx   same top 10: %d of %d\n",
                    BB_SETS, c.n - co.cut[BB_SETS], co.build_s, nq / mv,
                    (unsigned long long)st.postings_read,
                    (unsigned long long)st.postings_skipped, nq / mf, mf / mv,
                    same, nq);
        }
        bb_coll_free(&co, &m);
    }
    sqlite3_finalize(sel);
    sqlite3_close(db);
    vx_post_close(p);
    vx_mem_free(&m, blob);
    free(qs);
    free(rv);
    free(rf);
    ft_free(&c);
    return 0;
}

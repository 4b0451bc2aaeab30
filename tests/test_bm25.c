/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_bm25.c - BM25 over several sets of postings (text/bm25.h): a
 * seeded corpus with deleted documents, split at random into 1 to 6
 * sources, must score and rank exactly as one set of postings holding only
 * the live documents (same documents, same score bits), for hundreds of
 * queries, with and without a filter; and that one set must agree with
 * scoring every live document by hand. Plus the refusals.
 */
#include <pthread.h>
#include <stdatomic.h>

#include "test.h"
#include "test_alloc.h"

#include "text/bm25.h"
#include "text/memindex.h"
#include "util/rng.h"

#define TB_VOCAB 300
#define TB_DOCS  2500

typedef struct tb_corpus {
    char *text[TB_DOCS]; /* NULL: no text */
    int deleted[TB_DOCS];
} tb_corpus;

static void tb_word(unsigned w, char *out)
{
    /* Words a stemmer leaves alone: "k" + base-20 digits of b..u. */
    size_t n = 0;
    out[n++] = 'k';
    do {
        out[n++] = (char)('b' + w % 20);
        w /= 20;
    } while (w);
    out[n] = '\0';
}

static void tb_make(tb_corpus *c, uint64_t seed)
{
    vex_rng r;
    unsigned d;
    vex_rng_seed(&r, seed);
    for (d = 0; d < TB_DOCS; d++) {
        unsigned n, i;
        size_t pos = 0;
        c->deleted[d] = vex_rng_below(&r, 100) < 15;
        if (vex_rng_below(&r, 100) < 6) {
            c->text[d] = NULL;
            continue;
        }
        n = (unsigned)vex_rng_below(&r, 30);
        c->text[d] = calloc((size_t)n * 8 + 1, 1);
        for (i = 0; i < n; i++) {
            double u = vex_rng_double(&r);
            char w[16];
            tb_word((unsigned)(u * u * u * TB_VOCAB), w);
            pos += (size_t)sprintf(c->text[d] + pos, "%s%s", i ? " " : "", w);
        }
    }
}

static void tb_free(tb_corpus *c)
{
    unsigned d;
    for (d = 0; d < TB_DOCS; d++)
        free(c->text[d]);
}

/* Postings of docs [lo, hi) as keys 0..; with `live_only`, deleted docs
 * are added without text. */
static vt_postings *tb_build(const vex_mem *m, const vt_analyzer *a,
                             const tb_corpus *c, unsigned lo, unsigned hi,
                             int live_only, unsigned char **blob)
{
    vt_builder *b = NULL;
    vt_postings *p = NULL;
    size_t len = 0;
    unsigned d;
    CHECK_RC(vx_post_builder_new(m, a, 8, &b, NULL), VEX_OK);
    for (d = lo; d < hi; d++) {
        const char *t = (live_only && c->deleted[d]) ? NULL : c->text[d];
        CHECK_RC(vx_post_builder_add(b, d - lo, t, t ? strlen(t) : 0, NULL),
                 VEX_OK);
    }
    CHECK_RC(vx_post_builder_finish(b, hi - lo, blob, &len, NULL), VEX_OK);
    vx_post_builder_free(b);
    CHECK_RC(vx_post_open(m, *blob, len, "tb", 0, &p, NULL), VEX_OK);
    return p;
}

typedef struct tb_filter {
    unsigned base, mod;
} tb_filter;

static int tb_accept(void *ctx, uint64_t key)
{
    const tb_filter *f = ctx;
    return (f->base + key) % f->mod != 2;
}

/* A memindex stands for the last range as a memtable would: row numbers
 * 7 + 3 * key (ascending, not dense), deleted rows hidden by `live`. */
#define TB_ROW(key) (7 + 3 * (uint64_t)(key))
#define TB_KEY(row) (((row)-7) / 3)

typedef struct tb_live {
    const tb_corpus *c;
    unsigned base;
    tb_filter f;
} tb_live;

static int tb_mi_live(void *ctx, uint64_t row)
{
    const tb_live *l = ctx;
    return !l->c->deleted[l->base + TB_KEY(row)];
}

static int tb_mi_accept(void *ctx, uint64_t row)
{
    const tb_live *l = ctx;
    return (l->base + TB_KEY(row)) % l->f.mod != 2;
}

/* Scores every live document by hand with the live statistics. */
static size_t tb_brute(const tb_corpus *c, const char *query, size_t k,
                       unsigned mod, vt_mhit *out)
{
    vt_analyzer a = {0, 0};
    unsigned d;
    size_t n = 0, i, nw = 0;
    char words[8][16];
    unsigned cnt[8];
    uint64_t df[8] = {0}, docs = 0, total = 0;
    vt_bm25 prm = {1.2, 0.75, 1.0};
    vt_mhit *all = calloc(TB_DOCS, sizeof *all);
    const char *q = query;
    (void)a;
    while (*q) { /* queries here are words separated by single spaces */
        size_t l = strcspn(q, " "), j;
        for (j = 0;
             j < nw && (strlen(words[j]) != l || strncmp(words[j], q, l)); j++)
            ;
        if (j == nw) {
            memcpy(words[nw], q, l);
            words[nw][l] = '\0';
            cnt[nw++] = 1;
        } else {
            cnt[j]++;
        }
        q += l + (q[l] == ' ');
    }
    for (d = 0; d < TB_DOCS; d++) {
        const char *t = c->text[d];
        if (t == NULL || c->deleted[d])
            continue;
        docs++;
        for (i = 0; i < nw; i++) {
            char pat[24];
            const char *s = t;
            size_t wl = strlen(words[i]);
            int has = 0;
            (void)pat;
            while ((s = strstr(s, words[i])) != NULL) {
                if ((s == t || s[-1] == ' ') && (s[wl] == ' ' || s[wl] == '\0'))
                    has = 1;
                s += wl;
            }
            df[i] += has;
        }
        {
            size_t wc = 0;
            const char *s = t;
            while (*s) {
                size_t l = strcspn(s, " ");
                wc += l > 0;
                s += l + (s[l] == ' ');
            }
            total += wc;
        }
    }
    if (docs == 0 || total == 0) {
        free(all);
        return 0;
    }
    prm.avgdl = (double)total / (double)docs;
    for (d = 0; d < TB_DOCS; d++) {
        const char *t = c->text[d];
        double score = 0.0;
        uint32_t len = 0;
        unsigned tf[8] = {0};
        int any = 0;
        if (t == NULL || c->deleted[d] || (mod && d % mod == 2))
            continue;
        while (*t) {
            size_t l = strcspn(t, " ");
            for (i = 0; i < nw; i++)
                if (strlen(words[i]) == l && strncmp(words[i], t, l) == 0)
                    tf[i]++;
            len += l > 0;
            t += l + (t[l] == ' ');
        }
        for (i = 0; i < nw; i++)
            if (tf[i] && df[i]) {
                score += vx_bm25_term(&prm, vx_bm25_idf(docs, df[i]) * cnt[i],
                                      tf[i], len);
                any = 1;
            }
        if (any) {
            all[n].score = score;
            all[n].src = 0;
            all[n++].key = d;
        }
    }
    /* score descending, then key */
    for (i = 1; i < n; i++) {
        vt_mhit x = all[i];
        size_t j = i;
        while (j > 0 &&
               (all[j - 1].score < x.score ||
                (all[j - 1].score == x.score && all[j - 1].key > x.key))) {
            all[j] = all[j - 1];
            j--;
        }
        all[j] = x;
    }
    if (n > k)
        n = k;
    memcpy(out, all, n * sizeof *out);
    free(all);
    return n;
}

static void test_split_invariance(void)
{
    vex_mem m;
    vt_analyzer a = {0, 0};
    tb_corpus c;
    unsigned char *one_blob = NULL;
    vt_postings *one;
    vex_rng r;
    unsigned trial;
    vx_mem_init(&m, NULL);
    tb_make(&c, test_seed(5));
    one = tb_build(&m, &a, &c, 0, TB_DOCS, 1, &one_blob);
    vex_rng_seed(&r, test_seed(6));
    for (trial = 0; trial < 12; trial++) {
        unsigned n_src = 1 + (unsigned)vex_rng_below(&r, 6), s, cut[8], qi;
        vt_postings *ps[8];
        unsigned char *blobs[8];
        uint32_t *dels[8];
        vt_src src[8];
        tb_filter flt[8];
        vt_memindex *mi = NULL;
        tb_live lv;
        int use_mi = trial % 2 == 1;
        cut[0] = 0;
        cut[n_src] = TB_DOCS;
        for (s = 1; s < n_src; s++) /* ascending random cut points */
            cut[s] = cut[s - 1] + (unsigned)vex_rng_below(
                                      &r, (TB_DOCS - cut[s - 1]) / 2 + 1);
        for (s = 0; s < n_src; s++) {
            unsigned d;
            size_t nd = 0;
            if (use_mi && s == n_src - 1) {
                CHECK_RC(vx_mi_create(&m, &a, &mi, NULL), VEX_OK);
                for (d = cut[s]; d < cut[s + 1]; d++)
                    if (c.text[d] != NULL)
                        CHECK_RC(vx_mi_add(mi, TB_ROW(d - cut[s]), c.text[d],
                                           strlen(c.text[d]), NULL),
                                 VEX_OK);
                lv.c = &c;
                lv.base = cut[s];
                lv.f.base = cut[s];
                lv.f.mod = 5;
                memset(&src[s], 0, sizeof src[s]);
                src[s].mi = mi;
                src[s].live = tb_mi_live;
                src[s].live_ctx = &lv;
                ps[s] = NULL;
                blobs[s] = NULL;
                dels[s] = NULL;
                continue;
            }
            ps[s] = tb_build(&m, &a, &c, cut[s], cut[s + 1], 0, &blobs[s]);
            dels[s] = calloc(cut[s + 1] - cut[s] + 1, sizeof *dels[s]);
            for (d = cut[s]; d < cut[s + 1]; d++)
                if (c.deleted[d])
                    dels[s][nd++] = d - cut[s];
            memset(&src[s], 0, sizeof src[s]);
            src[s].p = ps[s];
            src[s].deleted = dels[s];
            src[s].n_deleted = nd;
            flt[s].base = cut[s];
            flt[s].mod = 5;
        }
        for (qi = 0; qi < 40; qi++) {
            char query[128];
            size_t pos = 0, nw = 1 + (size_t)vex_rng_below(&r, 4), i, k;
            vt_mhit got[40], want[40], hand[40];
            size_t ng = 0, nw2 = 0, nh;
            vt_src whole;
            tb_filter wf = {0, 5};
            vt_qinfo gi, wi;
            vt_bm25 prm = {1.2, 0.75, 0.0};
            int filtered = qi % 3 == 0;
            memset(&whole, 0, sizeof whole);
            whole.p = one;
            for (i = 0; i < nw; i++) {
                char w[16];
                double u = vex_rng_double(&r);
                tb_word((unsigned)(u * u * TB_VOCAB * 1.1), w);
                pos += (size_t)sprintf(query + pos, "%s%s", i ? " " : "", w);
            }
            k = 1 + (size_t)vex_rng_below(&r, 30);
            for (s = 0; s < n_src; s++) {
                src[s].accept = filtered ? tb_accept : NULL;
                src[s].actx = &flt[s];
                if (src[s].mi != NULL) {
                    src[s].accept = filtered ? tb_mi_accept : NULL;
                    src[s].actx = &lv;
                }
            }
            whole.accept = filtered ? tb_accept : NULL;
            whole.actx = &wf;
            CHECK_RC(vx_bm25_multi(&m, &a, src, n_src, query, pos, &prm, k, got,
                                   &ng, NULL, &gi, NULL),
                     VEX_OK);
            CHECK_RC(vx_bm25_multi(&m, &a, &whole, 1, query, pos, &prm, k, want,
                                   &nw2, NULL, &wi, NULL),
                     VEX_OK);
            CHECK_EQ_INT(gi.n_docs, wi.n_docs);
            CHECK_EQ_INT(gi.total_len, wi.total_len);
            CHECK_EQ_INT(gi.n_terms, wi.n_terms);
            CHECK_EQ_INT(ng, nw2);
            for (i = 0; i < ng && i < nw2; i++) {
                uint64_t key =
                    src[got[i].src].mi ? TB_KEY(got[i].key) : got[i].key;
                unsigned doc = (unsigned)(cut[got[i].src] + key);
                CHECK_MSG(doc == want[i].key && got[i].score == want[i].score,
                          "trial %u query '%s' rank %zu: doc %u %.17g, one "
                          "set: doc %u %.17g",
                          trial, query, i, doc, got[i].score,
                          (unsigned)want[i].key, want[i].score);
            }
            nh = tb_brute(&c, query, k, filtered ? 5 : 0, hand);
            CHECK_EQ_INT(nh, nw2);
            for (i = 0; i < nh && i < nw2; i++)
                CHECK_MSG(hand[i].key == want[i].key &&
                              fabs(hand[i].score - want[i].score) <=
                                  1e-12 * hand[i].score,
                          "query '%s' rank %zu: by hand doc %u %.17g, "
                          "postings doc %u %.17g",
                          query, i, (unsigned)hand[i].key, hand[i].score,
                          (unsigned)want[i].key, want[i].score);
        }
        for (s = 0; s < n_src; s++) {
            vx_post_close(ps[s]);
            vx_mem_free(&m, blobs[s]);
            free(dels[s]);
        }
        vx_mi_free(mi);
    }
    vx_post_close(one);
    vx_mem_free(&m, one_blob);
    tb_free(&c);
}

static void test_refusals_and_analysis(void)
{
    vex_mem m;
    vt_analyzer plain = {0, 0}, eng = {VT_STEM_PORTER, VT_STOP_ENGLISH};
    vt_builder *b = NULL;
    unsigned char *blob = NULL;
    size_t len = 0, n = 7;
    vt_postings *p = NULL;
    vt_src src;
    vt_mhit h[4];
    vt_bm25 prm = {1.2, 0.75, 0.0};
    vt_qinfo info;
    uint32_t bad[2] = {1, 1};
    vex_err e;
    vx_mem_init(&m, NULL);
    vx_err_init(&e);
    memset(&src, 0, sizeof src);
    CHECK_RC(vx_post_builder_new(&m, &eng, 128, &b, NULL), VEX_OK);
    CHECK_RC(vx_post_builder_add(b, 0, "The runner was running", 22, NULL),
             VEX_OK);
    CHECK_RC(vx_post_builder_add(b, 1, "Of cats and dogs", 16, NULL), VEX_OK);
    CHECK_RC(vx_post_builder_add(b, 2, "runs", 4, NULL), VEX_OK);
    CHECK_RC(vx_post_builder_finish(b, 3, &blob, &len, NULL), VEX_OK);
    vx_post_builder_free(b);
    CHECK_RC(vx_post_open(&m, blob, len, "eng", 0, &p, NULL), VEX_OK);
    src.p = p;
    /* Stop words gone, stems matched: "RUN" finds keys 0 and 2. */
    CHECK_RC(vx_bm25_multi(&m, &eng, &src, 1, "the RUN", 7, &prm, 4, h, &n,
                           NULL, &info, NULL),
             VEX_OK);
    CHECK_EQ_INT(n, 2);
    CHECK_EQ_INT(info.n_docs, 3);
    CHECK_EQ_INT(info.total_len, 5); /* runner run | cat dog | run */
    CHECK_EQ_INT(info.n_terms, 1);
    /* Nothing known: no results. */
    CHECK_RC(vx_bm25_multi(&m, &eng, &src, 1, "zebra", 5, &prm, 4, h, &n, NULL,
                           NULL, NULL),
             VEX_OK);
    CHECK_EQ_INT(n, 0);
    /* Deleting the only holders makes the term unknown. */
    {
        uint32_t del[2] = {0, 2};
        src.deleted = del;
        src.n_deleted = 2;
        CHECK_RC(vx_bm25_multi(&m, &eng, &src, 1, "run", 3, &prm, 4, h, &n,
                               NULL, &info, NULL),
                 VEX_OK);
        CHECK_EQ_INT(n, 0);
        CHECK_EQ_INT(info.n_docs, 1);
        CHECK_EQ_INT(info.n_terms, 0);
    }
    src.deleted = bad;
    src.n_deleted = 2;
    CHECK_RC(vx_bm25_multi(&m, &eng, &src, 1, "run", 3, &prm, 4, h, &n, NULL,
                           NULL, &e),
             VEX_INVALID);
    src.deleted = NULL;
    src.n_deleted = 0;
    CHECK_RC(vx_bm25_multi(&m, &plain, &src, 1, "run", 3, &prm, 4, h, &n, NULL,
                           NULL, &e),
             VEX_CORRUPT);
    CHECK(strstr(e.msg, "another analyzer") != NULL);
    CHECK_RC(vx_bm25_multi(&m, &eng, &src, 1, "r\xffn", 3, &prm, 4, h, &n, NULL,
                           NULL, &e),
             VEX_INVALID);
    CHECK_RC(vx_bm25_multi(&m, &eng, &src, 1, "run", 3, &prm, 0, h, &n, NULL,
                           NULL, &e),
             VEX_INVALID);
    prm.b = 1.5;
    CHECK_RC(vx_bm25_multi(&m, &eng, &src, 1, "run", 3, &prm, 4, h, &n, NULL,
                           NULL, &e),
             VEX_INVALID);
    prm.b = 0.75;
    /* Too many distinct terms. */
    {
        size_t cap = (VT_MAX_QUERY_TERMS + 1) * 8, pos = 0;
        char *q = malloc(cap);
        unsigned i;
        for (i = 0; i <= VT_MAX_QUERY_TERMS; i++)
            pos += (size_t)snprintf(q + pos, cap - pos, "w%u ", i);
        CHECK_RC(vx_bm25_multi(&m, &eng, &src, 1, q, pos, &prm, 4, h, &n, NULL,
                               NULL, &e),
                 VEX_INVALID);
        free(q);
    }
    /* count_keys: keys 0 and 2 hold "run", 1 does not. */
    {
        uint32_t keys[3] = {0, 1, 2};
        uint64_t cnt = 9;
        int64_t t = vx_post_find(p, "run", 3);
        CHECK(t >= 0);
        CHECK_RC(vx_post_count_keys(p, (uint32_t)t, keys, 3, &cnt), VEX_OK);
        CHECK_EQ_INT(cnt, 2);
        CHECK_RC(vx_post_count_keys(p, (uint32_t)t, keys + 1, 1, &cnt), VEX_OK);
        CHECK_EQ_INT(cnt, 0);
    }
    vx_post_close(p);
    vx_mem_free(&m, blob);
    vx_err_destroy(&e);
}

/* A failed add leaves the index as it was: every allocation of an add
 * failed in turn, then the index holds exactly the rows added before and
 * nothing leaks. */
static void test_memindex_oom(void)
{
    fail_alloc fa;
    vex_allocator al;
    vex_mem m;
    vt_analyzer a = {0, 0};
    vt_memindex *mi = NULL;
    long budget;
    int done = 0;
    pthread_mutex_init(&fa.lock, NULL);
    fa.budget = -1;
    fa.live = 0;
    al.alloc = fa_alloc;
    al.realloc = fa_realloc;
    al.free = fa_free;
    al.user = &fa;
    CHECK_RC(vx_mem_init(&m, &al), VEX_OK);
    for (budget = 0; !done && budget < 400; budget++) {
        uint64_t docs = 0, total = 0, df[2] = {0, 0};
        const char *terms[2] = {"kb", "zz"};
        size_t lens[2] = {2, 2};
        int rc;
        fa.budget = -1;
        CHECK_RC(vx_mi_create(&m, &a, &mi, NULL), VEX_OK);
        CHECK_RC(vx_mi_add(mi, 1, "kb kc kd", 8, NULL), VEX_OK);
        fa.budget = budget;
        rc = vx_mi_add(mi, 5,
                       "kb zz ze zf zg zh zi zj zk zl zm zn zo zp zq "
                       "zr zs zt zu zv zw zx zy",
                       68, NULL);
        fa.budget = -1;
        CHECK(rc == VEX_OK || rc == VEX_NOMEM);
        CHECK_RC(vx_mi_stats(mi, terms, lens, 2, NULL, NULL, &docs, &total, df),
                 VEX_OK);
        if (rc == VEX_OK) {
            done = 1;
            CHECK(docs == 2 && total == 26 && df[0] == 2 && df[1] == 1);
        } else {
            CHECK(docs == 1 && total == 3 && df[0] == 1 && df[1] == 0);
            /* and it takes the same row again */
            CHECK_RC(vx_mi_add(mi, 5, "zz", 2, NULL), VEX_OK);
        }
        vx_mi_free(mi);
        CHECK_EQ_INT(fa.live, 0);
    }
    CHECK(done);
    pthread_mutex_destroy(&fa.lock);
}

/* One writer adds rows while readers query: every result a row already
 * added, scores positive, counts never going down. */
typedef struct tb_conc {
    vt_memindex *mi;
    _Atomic int stop;
    int bad;
} tb_conc;

static void *tb_reader(void *arg)
{
    tb_conc *t = arg;
    vex_mem m;
    vt_analyzer a = {0, 0};
    vt_src src;
    uint64_t last = 0;
    vx_mem_init(&m, NULL);
    memset(&src, 0, sizeof src);
    src.mi = t->mi;
    while (!atomic_load(&t->stop)) {
        vt_mhit h[5];
        size_t n = 0, i;
        vt_qinfo info;
        vt_bm25 prm = {1.2, 0.75, 0.0};
        if (vx_bm25_multi(&m, &a, &src, 1, "kb kc", 5, &prm, 5, h, &n, NULL,
                          &info, NULL) != VEX_OK)
            t->bad = 1;
        if (info.n_docs < last)
            t->bad = 1;
        last = info.n_docs;
        for (i = 0; i < n; i++)
            if (!(h[i].score > 0.0) || h[i].key % 2 != 0)
                t->bad = 1;
    }
    return NULL;
}

static void test_memindex_concurrent(void)
{
    vex_mem m;
    vt_analyzer a = {0, 0};
    tb_conc t;
    pthread_t r[2];
    uint64_t row;
    int i;
    vx_mem_init(&m, NULL);
    memset(&t, 0, sizeof t);
    CHECK_RC(vx_mi_create(&m, &a, &t.mi, NULL), VEX_OK);
    for (i = 0; i < 2; i++)
        pthread_create(&r[i], NULL, tb_reader, &t);
    for (row = 0; row < 20000; row += 2) {
        char text[64];
        int n =
            snprintf(text, sizeof text, "k%c kc w%u w%u", 'b' + (int)(row % 7),
                     (unsigned)(row % 101), (unsigned)(row % 13));
        if (vx_mi_add(t.mi, row, text, (size_t)n, NULL) != VEX_OK)
            t.bad = 1;
    }
    atomic_store(&t.stop, 1);
    for (i = 0; i < 2; i++)
        pthread_join(r[i], NULL);
    CHECK(!t.bad);
    CHECK_EQ_INT(vx_mi_rows(t.mi), 10000);
    CHECK(vx_mi_memory(t.mi) > 10000);
    vx_mi_free(t.mi);
}

int main(void)
{
    TEST_RUN(test_split_invariance);
    TEST_RUN(test_memindex_oom);
    TEST_RUN(test_memindex_concurrent);
    TEST_RUN(test_refusals_and_analysis);
    return TEST_EXIT();
}

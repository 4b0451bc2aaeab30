/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_postings.c - BM25 postings (text/postings.h): seeded corpora built,
 * serialised and opened; every posting list compared with the corpus;
 * block-max WAND top-k compared with scoring every document (same keys,
 * same score bits) over hundreds of queries, block sizes and filters; the
 * strict opener against every flipped byte, re-sealed damage and
 * truncation.
 */
#include "test.h"

#include "text/postings.h"
#include "util/crc32c.h"
#include "util/endian.h"
#include "util/rng.h"

#define TP_VOCAB 400
#define TP_MAXW  48

typedef struct tp_corpus {
    uint32_t n_keys;
    int32_t *len;     /* words per key, -1: no text */
    uint16_t **words; /* word numbers per key */
    char **text;
} tp_corpus;

/* Word number w as written in a text (folded = 0: some end with a letter
 * that folds to "z") or as the term it becomes (folded = 1). Distinct
 * after folding: "w" + base-25 digits a..y, and "z" only as that end. */
static void tp_word_as(unsigned w, char *out, int folded)
{
    static const char *const accent[] = {"\xc5\xbe", "\xc5\xba", "Z"};
    unsigned v = w;
    size_t n = 0;
    out[n++] = 'w';
    do {
        out[n++] = (char)('a' + v % 25);
        v /= 25;
    } while (v);
    out[n] = '\0';
    if (w % 7 == 3)
        strcpy(out + n, folded ? "z" : accent[w % 3]);
}

static void tp_word(unsigned w, char *out)
{
    tp_word_as(w, out, 1);
}

static void tp_corpus_make(tp_corpus *c, uint32_t n_keys, uint64_t seed)
{
    vex_rng r;
    uint32_t k;
    vex_rng_seed(&r, seed);
    c->n_keys = n_keys;
    c->len = calloc(n_keys, sizeof *c->len);
    c->words = calloc(n_keys, sizeof *c->words);
    c->text = calloc(n_keys, sizeof *c->text);
    for (k = 0; k < n_keys; k++) {
        unsigned roll = (unsigned)vex_rng_below(&r, 100), n, i;
        size_t pos = 0;
        if (roll < 8) {
            c->len[k] = -1;
            continue;
        }
        n = roll < 11 ? 0 : 1 + (unsigned)vex_rng_below(&r, TP_MAXW);
        c->len[k] = (int32_t)n;
        c->words[k] = calloc(n + 1, sizeof **c->words);
        c->text[k] = calloc((size_t)n * 16 + 4, 1);
        for (i = 0; i < n; i++) {
            /* Zipf-like: small numbers far more often. */
            double u = vex_rng_double(&r);
            unsigned w = (unsigned)(pow((double)TP_VOCAB, u * u) - 1.0);
            char buf[24];
            if (w >= TP_VOCAB)
                w = TP_VOCAB - 1;
            c->words[k][i] = (uint16_t)w;
            tp_word_as(w, buf, 0);
            if (vex_rng_below(&r, 5) == 0 && buf[1] >= 'a')
                buf[1] = (char)(buf[1] - 'a' + 'A'); /* folds back */
            pos += (size_t)sprintf(c->text[k] + pos, "%s%s",
                                   i ? (i % 3 ? " " : ", ") : "", buf);
        }
    }
}

static void tp_corpus_free(tp_corpus *c)
{
    uint32_t k;
    for (k = 0; k < c->n_keys; k++) {
        free(c->words[k]);
        free(c->text[k]);
    }
    free(c->len);
    free(c->words);
    free(c->text);
}

static uint32_t tp_tf(const tp_corpus *c, uint32_t k, unsigned w)
{
    uint32_t tf = 0;
    int32_t i;
    for (i = 0; i < c->len[k]; i++)
        tf += c->words[k][i] == w;
    return tf;
}

static unsigned char *tp_build(const tp_corpus *c, const vex_mem *m,
                               uint32_t block, size_t *len)
{
    vt_analyzer a = {VT_STEM_NONE, VT_STOP_NONE};
    vt_builder *b = NULL;
    unsigned char *blob = NULL;
    uint32_t k;
    CHECK_RC(vx_post_builder_new(m, &a, block, &b, NULL), VEX_OK);
    for (k = 0; k < c->n_keys; k++) {
        if (c->len[k] < 0 && k % 2)
            continue; /* never added: no text, the same */
        CHECK_RC(vx_post_builder_add(b, k, c->len[k] < 0 ? NULL : c->text[k],
                                     c->len[k] < 0 ? 0 : strlen(c->text[k]),
                                     NULL),
                 VEX_OK);
    }
    CHECK_RC(vx_post_builder_finish(b, c->n_keys, &blob, len, NULL), VEX_OK);
    vx_post_builder_free(b);
    return blob;
}

typedef struct tp_each {
    const tp_corpus *c;
    unsigned w;
    uint32_t next; /* next key expected to hold w */
    int bad;
} tp_each;

static uint32_t tp_next_holder(const tp_corpus *c, unsigned w, uint32_t from)
{
    while (from < c->n_keys && tp_tf(c, from, w) == 0)
        from++;
    return from;
}

static int tp_each_fn(void *ctx, uint32_t key, uint32_t tf)
{
    tp_each *e = ctx;
    if (key != e->next || tf != tp_tf(e->c, key, e->w))
        e->bad = 1;
    e->next = tp_next_holder(e->c, e->w, key + 1);
    return 0;
}

static int tp_accept(void *ctx, uint32_t key)
{
    unsigned mod = *(const unsigned *)ctx;
    return key % mod != 1;
}

static int tp_hit_cmp(const void *x, const void *y)
{
    const vt_hit *a = x, *b = y;
    if (a->score != b->score)
        return a->score > b->score ? -1 : 1;
    return a->key < b->key ? -1 : a->key > b->key;
}

/* Checks the blob of corpus c against c; then runs queries. */
static void tp_check(const tp_corpus *c, const vt_postings *p, uint64_t seed,
                     unsigned n_queries, vt_stats *st)
{
    uint32_t k, docs = 0;
    uint64_t total = 0;
    unsigned w, qi;
    vex_rng r;
    vt_hit *want = calloc(c->n_keys + 1, sizeof *want);
    vt_hit got[64];
    vt_bm25 prm;
    for (k = 0; k < c->n_keys; k++) {
        uint32_t dl = vx_post_doc_len(p, k);
        if (c->len[k] < 0) {
            CHECK_EQ_INT(dl, VT_NO_TEXT);
            continue;
        }
        CHECK_EQ_INT(dl, c->len[k]);
        docs++;
        total += (uint64_t)c->len[k];
    }
    CHECK_EQ_INT(vx_post_n_docs(p), docs);
    CHECK_EQ_INT(vx_post_total_len(p), total);
    for (w = 0; w < TP_VOCAB; w++) {
        char buf[24];
        int64_t t;
        uint32_t df = 0;
        tp_word(w, buf);
        for (k = 0; k < c->n_keys; k++)
            df += tp_tf(c, k, w) > 0;
        t = vx_post_find(p, buf, strlen(buf));
        if (df == 0) {
            CHECK(t < 0);
            continue;
        }
        CHECK(t >= 0);
        if (t < 0)
            continue;
        CHECK_EQ_INT(vx_post_df(p, (uint32_t)t), df);
        {
            tp_each e = {c, w, tp_next_holder(c, w, 0), 0};
            CHECK_RC(vx_post_each(p, (uint32_t)t, tp_each_fn, &e), VEX_OK);
            CHECK(!e.bad && e.next == c->n_keys);
        }
    }
    CHECK(vx_post_find(p, "nothere", 7) < 0);
    prm.k1 = 1.2;
    prm.b = 0.75;
    prm.avgdl = docs ? (double)total / docs : 1.0;
    vex_rng_seed(&r, seed);
    for (qi = 0; qi < n_queries; qi++) {
        vt_qterm q[8];
        unsigned qw[8], nq = 0, nw = 1 + (unsigned)vex_rng_below(&r, 6), i;
        unsigned mod = 1 + (unsigned)vex_rng_below(&r, 4);
        size_t kk = 1 + (size_t)vex_rng_below(&r, qi % 3 ? 12 : 60), nwant = 0,
               ngot = 0;
        if (qi % 5 == 0) {
            prm.k1 = vex_rng_double(&r) * 3.0;
            prm.b = vex_rng_double(&r);
        }
        for (i = 0; i < nw; i++) {
            double u = vex_rng_double(&r);
            unsigned wd = (unsigned)(pow((double)TP_VOCAB, u) - 1.0), j;
            char buf[24];
            int64_t t;
            if (wd >= TP_VOCAB)
                wd = TP_VOCAB - 1;
            tp_word(wd, buf);
            t = vx_post_find(p, buf, strlen(buf));
            if (t < 0)
                continue;
            for (j = 0; j < nq && qw[j] != wd; j++)
                ;
            if (j < nq) {
                q[j].weight += vx_bm25_idf(docs, vx_post_df(p, (uint32_t)t));
                continue;
            }
            qw[nq] = wd;
            q[nq].term = (uint32_t)t;
            q[nq].weight = vx_bm25_idf(docs, vx_post_df(p, (uint32_t)t));
            nq++;
        }
        for (k = 0; k < c->n_keys; k++) {
            double s = 0.0;
            int any = 0;
            if (c->len[k] < 0 || (mod > 1 && !tp_accept(&mod, k)))
                continue;
            for (i = 0; i < nq; i++) {
                uint32_t tf = tp_tf(c, k, qw[i]);
                if (tf) {
                    s += vx_bm25_term(&prm, q[i].weight, tf,
                                      (uint32_t)c->len[k]);
                    any = 1;
                }
            }
            if (any) {
                want[nwant].score = s;
                want[nwant++].key = k;
            }
        }
        qsort(want, nwant, sizeof *want, tp_hit_cmp);
        if (nwant > kk)
            nwant = kk;
        CHECK_RC(vx_post_search(p, &prm, q, nq, kk, mod > 1 ? tp_accept : NULL,
                                &mod, got, &ngot, st, NULL),
                 VEX_OK);
        CHECK_EQ_INT(ngot, nwant);
        for (i = 0; i < ngot && i < nwant; i++)
            CHECK_MSG(
                got[i].key == want[i].key && got[i].score == want[i].score,
                "query %u rank %u: key %u score %.17g, wanted key %u "
                "score %.17g",
                qi, i, got[i].key, got[i].score, want[i].key, want[i].score);
    }
    free(want);
}

static void test_build_and_search(void)
{
    static const uint32_t blocks[] = {1, 3, 16, 128};
    vex_mem m;
    size_t bi;
    vx_mem_init(&m, NULL);
    for (bi = 0; bi < sizeof blocks / sizeof blocks[0]; bi++) {
        tp_corpus c;
        size_t len;
        unsigned char *blob;
        vt_postings *p = NULL;
        vt_stats st;
        memset(&st, 0, sizeof st);
        tp_corpus_make(&c, 1500 + 37 * (uint32_t)bi, test_seed(7) + bi);
        blob = tp_build(&c, &m, blocks[bi], &len);
        CHECK_RC(vx_post_open(&m, blob, len, "test", 0, &p, NULL), VEX_OK);
        if (p != NULL) {
            tp_check(&c, p, test_seed(11) + bi, 250, &st);
            vx_post_close(p);
        }
        fprintf(stderr,
                "  block %u: %llu postings read, %llu skipped, %llu "
                "docs scored\n",
                blocks[bi], (unsigned long long)st.postings_read,
                (unsigned long long)st.postings_skipped,
                (unsigned long long)st.docs_scored);
        if (blocks[bi] >= 16)
            CHECK(st.postings_skipped > 0); /* the pruning does prune */
        vx_mem_free(&m, blob);
        tp_corpus_free(&c);
    }
}

static void test_empty_and_errors(void)
{
    vex_mem m;
    vt_analyzer a = {0, 0};
    vt_builder *b = NULL;
    unsigned char *blob = NULL;
    size_t len = 0, n = 9;
    vt_postings *p = NULL;
    vex_err e;
    vt_hit h[4];
    vt_bm25 prm = {1.2, 0.75, 1.0};
    vt_qterm q = {0, 1.0};
    vx_mem_init(&m, NULL);
    vx_err_init(&e);
    /* No documents at all. */
    CHECK_RC(vx_post_builder_new(&m, &a, 128, &b, NULL), VEX_OK);
    CHECK_RC(vx_post_builder_finish(b, 0, &blob, &len, NULL), VEX_OK);
    vx_post_builder_free(b);
    CHECK_RC(vx_post_open(&m, blob, len, "empty", 0, &p, NULL), VEX_OK);
    if (p) {
        CHECK_EQ_INT(vx_post_n_terms(p), 0);
        CHECK_RC(
            vx_post_search(p, &prm, NULL, 0, 3, NULL, NULL, h, &n, NULL, NULL),
            VEX_OK);
        CHECK_EQ_INT(n, 0);
        vx_post_close(p);
    }
    vx_mem_free(&m, blob);
    /* Builder misuse. */
    CHECK_RC(vx_post_builder_new(&m, &a, 0, &b, &e), VEX_INVALID);
    CHECK_RC(vx_post_builder_new(&m, &a, 4, &b, NULL), VEX_OK);
    CHECK_RC(vx_post_builder_add(b, 5, "a b", 3, NULL), VEX_OK);
    CHECK_RC(vx_post_builder_add(b, 5, "c", 1, &e), VEX_INVALID);
    CHECK(strstr(e.msg, "key 5 added after key 5") != NULL);
    CHECK_RC(vx_post_builder_add(b, 6, "ok \xff", 4, &e), VEX_INVALID);
    CHECK(strstr(e.msg, "invalid UTF-8 at byte 3") != NULL);
    CHECK_RC(vx_post_builder_add(b, 7, "a a a", 5, NULL), VEX_OK);
    CHECK_RC(vx_post_builder_finish(b, 7, &blob, &len, &e), VEX_INVALID);
    CHECK_RC(vx_post_builder_finish(b, 8, &blob, &len, NULL), VEX_OK);
    vx_post_builder_free(b);
    CHECK_RC(vx_post_open(&m, blob, len, "small", 0, &p, NULL), VEX_OK);
    if (p) {
        CHECK_EQ_INT(vx_post_n_docs(p), 2);
        CHECK_EQ_INT(vx_post_doc_len(p, 6), VT_NO_TEXT);
        CHECK_EQ_INT(vx_post_doc_len(p, 7), 3);
        prm.avgdl = 0.0;
        CHECK_RC(vx_post_search(p, &prm, &q, 1, 3, NULL, NULL, h, &n, NULL, &e),
                 VEX_INVALID);
        prm.avgdl = 2.5;
        CHECK_RC(vx_post_search(p, &prm, &q, 1, 0, NULL, NULL, h, &n, NULL, &e),
                 VEX_INVALID);
        q.term = 99;
        CHECK_RC(vx_post_search(p, &prm, &q, 1, 3, NULL, NULL, h, &n, NULL, &e),
                 VEX_INVALID);
        q.term = 0; /* "a": keys 5 and 7; key 7 holds it 3 times in 3 */
        CHECK_RC(vx_post_search(p, &prm, &q, 1, 3, NULL, NULL, h, &n, NULL, &e),
                 VEX_OK);
        CHECK_EQ_INT(n, 2);
        CHECK_EQ_INT(h[0].key, 7);
        vx_post_close(p);
    }
    vx_mem_free(&m, blob);
    CHECK(vx_bm25_idf(10, 9) == 1e-6);
    CHECK(fabs(vx_bm25_idf(100, 3) - log(97.5 / 3.5)) < 1e-15);
    vx_err_destroy(&e);
}

static void test_corruption(void)
{
    vex_mem m;
    tp_corpus c;
    size_t len, i;
    unsigned char *blob, *copy;
    int n_ok = 0, n_bad = 0;
    vx_mem_init(&m, NULL);
    tp_corpus_make(&c, 40, test_seed(3));
    blob = tp_build(&c, &m, 4, &len);
    copy = malloc(len);
    for (i = 0; i < len; i++) {
        vt_postings *p = NULL;
        vex_err e;
        int rc;
        vx_err_init(&e);
        memcpy(copy, blob, len);
        copy[i] ^= (unsigned char)(1u << (i % 8));
        CHECK_RC(vx_post_open(&m, copy, len, "flip", 0, &p, &e), VEX_CORRUPT);
        vx_post_close(p);
        /* Re-sealed: the structural checks alone must refuse or accept
         * cleanly; what is accepted must search without harm. */
        if (i + 4 < len)
            vex_put_u32le(copy + len - 4, vex_crc32c(copy, len - 4));
        p = NULL;
        rc = vx_post_open(&m, copy, len, "resealed", 0, &p, &e);
        CHECK(rc == VEX_OK || rc == VEX_CORRUPT);
        if (rc == VEX_OK) {
            uint32_t t;
            vt_bm25 prm = {1.2, 0.75, 3.0};
            n_ok++;
            for (t = 0; t < vx_post_n_terms(p); t++) {
                vt_qterm q = {t, 1.5};
                vt_hit h[5];
                size_t nh;
                CHECK_RC(vx_post_search(p, &prm, &q, 1, 5, NULL, NULL, h, &nh,
                                        NULL, NULL),
                         VEX_OK);
            }
            vx_post_close(p);
        } else {
            n_bad++;
            CHECK(strstr(e.msg, "resealed") != NULL);
        }
        vx_err_destroy(&e);
    }
    fprintf(stderr, "  resealed flips: %d refused, %d accepted\n", n_bad, n_ok);
    CHECK(n_bad > (int)len / 2);
    for (i = 0; i < len; i++) {
        vt_postings *p = NULL;
        CHECK_RC(vx_post_open(&m, blob, i, "cut", 0, &p, NULL), VEX_CORRUPT);
    }
    free(copy);
    vx_mem_free(&m, blob);
    tp_corpus_free(&c);
}

int main(void)
{
    TEST_RUN(test_build_and_search);
    TEST_RUN(test_empty_and_errors);
    TEST_RUN(test_corruption);
    return TEST_EXIT();
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_text_fts5.c - SQLite FTS5 as the oracle of the text module.
 *
 *  1. Code points: every code point of the Latin, Greek, Cyrillic and
 *     general punctuation blocks, written between two letters, is
 *     tokenized by FTS5's `unicode61 remove_diacritics 2` and by
 *     vx_text_tokenize: the same terms. Left out: the few code points of
 *     those blocks added to Unicode after 6.1, the version FTS5's tables
 *     are made from (it takes them for unassigned, hence letters).
 *  2. Corpora: a seeded generator (English words, Greek, Cyrillic,
 *     accented Latin, digits, punctuation, mixed case) and, when the
 *     machine has them, the package descriptions `apt-cache dumpavail`
 *     prints (Debian: about 60,000 real English texts; read at run time,
 *     never stored); without them that part says it skipped. Each text
 *     tokenizes to the same terms (a text holding code points newer than
 *     Unicode 6.1 may not, and is shown and left out; at most one in a
 *     thousand); with the Porter stemmer too, against FTS5's `porter`
 *     wrapper.
 *  3. BM25: each corpus goes into an FTS5 table and into postings
 *     (text/postings.h); hundreds of OR queries of 1 to 4 terms taken
 *     from the corpus rank the same top 10 with the same scores (FTS5's
 *     bm25() is negated; relative tolerance 1e-9, ties in either order).
 *     FTS5's IDF is ln((N - n + 0.5) / (n + 0.5)), 1e-6 when not
 *     positive, and vx_bm25_idf is that formula.
 *  4. Deletes: a tenth of the rows left out of FTS5's table, kept in
 *     VexDB's 4 sets of postings but passed as deleted to vx_bm25_multi
 *     (text/bm25.h): the same top 10 and scores, so the collection-wide
 *     statistics of the live rows are FTS5's.
 *  5. A collection (the public API): the corpus written into a text
 *     collection in four parts, three flushed to segments and the last
 *     left in the memtable, then a tenth of the records deleted and a
 *     twentieth replaced by another text (upserts), all in the memtable,
 *     with the same deletes and updates made in FTS5's table: hundreds of
 *     keyword searches through vex_search rank the same top 10 as FTS5's
 *     bm25() with the same scores (float tolerance); again after a
 *     compaction, and after reopening the collection.
 */
#include "test.h"

#include <sqlite3.h>

#include "text/bm25.h"
#include "text/postings.h"
#include "text_corpus.h"
#include "util/rng.h"
#include "vexdb.h"

/* ---- FTS5's tokenizer through its C API -------------------------------- */

typedef struct ft_fts {
    sqlite3 *db;
    fts5_api *api;
    fts5_tokenizer tk[2];
    Fts5Tokenizer *t[2]; /* 0: unicode61 remove_diacritics 2; 1: porter */
} ft_fts;

static int ft_fts_open(ft_fts *f)
{
    sqlite3_stmt *st = NULL;
    static const char *const a0[] = {"remove_diacritics", "2"};
    static const char *const a1[] = {"unicode61", "remove_diacritics", "2"};
    void *ud;
    memset(f, 0, sizeof *f);
    if (sqlite3_open(":memory:", &f->db) != SQLITE_OK)
        return 0;
    if (sqlite3_prepare_v2(f->db, "SELECT fts5(?1)", -1, &st, NULL) !=
        SQLITE_OK)
        return 0;
    sqlite3_bind_pointer(st, 1, (void *)&f->api, "fts5_api_ptr", NULL);
    sqlite3_step(st);
    sqlite3_finalize(st);
    if (f->api == NULL)
        return 0;
    if (f->api->xFindTokenizer(f->api, "unicode61", &ud, &f->tk[0]) !=
            SQLITE_OK ||
        f->tk[0].xCreate(ud, (const char **)a0, 2, &f->t[0]) != SQLITE_OK)
        return 0;
    if (f->api->xFindTokenizer(f->api, "porter", &ud, &f->tk[1]) != SQLITE_OK ||
        f->tk[1].xCreate(ud, (const char **)a1, 3, &f->t[1]) != SQLITE_OK)
        return 0;
    return 1;
}

static void ft_fts_close(ft_fts *f)
{
    if (f->t[0])
        f->tk[0].xDelete(f->t[0]);
    if (f->t[1])
        f->tk[1].xDelete(f->t[1]);
    sqlite3_close(f->db);
}

/* Terms joined by '\n' (a separator for both tokenizers). */
typedef struct ft_terms {
    char *buf;
    size_t n, cap;
    size_t count;
} ft_terms;

static void ft_terms_add(ft_terms *t, const char *s, size_t len)
{
    if (t->n + len + 2 > t->cap) {
        t->cap = (t->n + len + 2) * 2;
        t->buf = realloc(t->buf, t->cap);
    }
    memcpy(t->buf + t->n, s, len);
    t->n += len;
    t->buf[t->n++] = '\n';
    t->buf[t->n] = '\0';
    t->count++;
}

static int ft_fts_cb(void *ctx, int flags, const char *tok, int n, int s, int e)
{
    (void)flags;
    (void)s;
    (void)e;
    /* Cut as ours are (at a character boundary within VT_MAX_TERM). */
    if ((size_t)n > VT_MAX_TERM) {
        n = VT_MAX_TERM;
        while (n > 0 && ((unsigned char)tok[n] & 0xC0) == 0x80)
            n--;
    }
    ft_terms_add(ctx, tok, (size_t)n);
    return SQLITE_OK;
}

static int ft_vex_cb(void *ctx, const char *tok, size_t n)
{
    ft_terms_add(ctx, tok, n);
    return 0;
}

static void ft_tok_fts(ft_fts *f, int porter, const char *text, size_t len,
                       ft_terms *out)
{
    out->n = 0;
    out->count = 0;
    if (out->buf)
        out->buf[0] = '\0';
    f->tk[porter].xTokenize(f->t[porter], out, FTS5_TOKENIZE_DOCUMENT, text,
                            (int)len, ft_fts_cb);
}

static void ft_tok_vex(int porter, const char *text, size_t len, ft_terms *out)
{
    vt_analyzer a = {(uint8_t)(porter ? VT_STEM_PORTER : VT_STEM_NONE),
                     VT_STOP_NONE};
    out->n = 0;
    out->count = 0;
    if (out->buf)
        out->buf[0] = '\0';
    CHECK_RC(vx_text_tokenize(&a, text, len, ft_vex_cb, out, NULL), VEX_OK);
}

static int ft_same(const ft_terms *a, const ft_terms *b)
{
    return a->n == b->n && (a->n == 0 || memcmp(a->buf, b->buf, a->n) == 0);
}

/* ---- 1. code points ------------------------------------------------------ */

static size_t ft_utf8(uint32_t cp, char *o)
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
    o[0] = (char)(0xE0 | cp >> 12);
    o[1] = (char)(0x80 | (cp >> 6 & 0x3F));
    o[2] = (char)(0x80 | (cp & 0x3F));
    return 3;
}

/* Code points of the compared blocks that Unicode added after 6.1:
 * U+037F (7.0), U+0528..U+052F (7.0), U+1DE7..U+1DFB (7.0 to 14.0),
 * U+2066..U+2069 (6.3), U+20BA..U+20C0 (6.2 to 14.0),
 * U+A794..U+A79F and U+A7AB..U+A7F7 (Latin Extended-D, 7.0 to 14.0) and
 * U+A698..U+A69E (7.0, 8.0). */
static int ft_after_61(uint32_t cp)
{
    return cp == 0x37F || (cp >= 0x528 && cp <= 0x52F) ||
           (cp >= 0x2066 && cp <= 0x2069) || (cp >= 0x1DE7 && cp <= 0x1DFB) ||
           (cp >= 0x20BA && cp <= 0x20C0) || (cp >= 0xA794 && cp <= 0xA79F) ||
           (cp >= 0xA7AB && cp <= 0xA7F7) || (cp >= 0xA698 && cp <= 0xA69E);
}

static void test_code_points(void)
{
    static const uint32_t ranges[][2] = {
        {0x01, 0x24F},    {0x250, 0x2FF},   {0x300, 0x36F},   {0x370, 0x3FF},
        {0x400, 0x52F},   {0x1D00, 0x1DFF}, {0x1E00, 0x1EFF}, {0x1F00, 0x1FFF},
        {0x2000, 0x206F}, {0x2070, 0x214F}, {0x2C60, 0x2C7F}, {0xA720, 0xA7FF},
        {0xFF00, 0xFFEF},
    };
    ft_fts f;
    ft_terms a = {0}, b = {0};
    size_t ri, checked = 0, differ = 0;
    if (!ft_fts_open(&f)) {
        CHECK_MSG(0, "cannot reach FTS5's tokenizer");
        return;
    }
    for (ri = 0; ri < sizeof ranges / sizeof ranges[0]; ri++) {
        uint32_t cp;
        for (cp = ranges[ri][0]; cp <= ranges[ri][1]; cp++) {
            char text[8];
            size_t n = 0;
            if (cp == 0 || ft_after_61(cp) || (cp >= 0xD800 && cp <= 0xDFFF))
                continue;
            text[n++] = 'q';
            n += ft_utf8(cp, text + n);
            text[n++] = 'z';
            ft_tok_fts(&f, 0, text, n, &a);
            ft_tok_vex(0, text, n, &b);
            checked++;
            if (!ft_same(&a, &b)) {
                differ++;
                CHECK_MSG(0, "U+%04X: FTS5 '%s', VexDB '%s'", (unsigned)cp,
                          a.buf ? a.buf : "", b.buf ? b.buf : "");
            }
        }
    }
    fprintf(stderr, "  %zu code points compared, %zu differ\n", checked,
            differ);
    free(a.buf);
    free(b.buf);
    ft_fts_close(&f);
}

/* ---- 2. corpora ------------------------------------------------------------
 */

static const char *const ft_words[] = {
    "vector",      "database",   "search",      "index",          "query",
    "the",         "of",         "and",         "running",        "runs",
    "runner",      "connection", "connected",   "generalization", "library",
    "libraries",   "package",    "packages",    "Python",         "module",
    "server",      "client",     "HTTP",        "JSON",           "parser",
    "fast",        "faster",     "fastest",     "Crème",          "brûlée",
    "naïve",       "café",       "Ångström",    "Straße",         "Œuvre",
    "ΑΘΗΝΑ",       "Οδυσσεύς",   "λόγος",       "Москва",         "ПРИВЕТ",
    "ёлка",        "Київ",       "x86_64",      "3.14",           "v2",
    "2026",        "über",       "façade",      "smörgåsbord",    "generously",
    "happily",     "relational", "conditional", "hopefulness",    "formality",
    "sensitivity", "electrical", "adjustment",  "communism",
};

static void ft_seeded(ft_corpus *c, uint64_t seed, size_t n)
{
    static const char *const seps[] = {
        " ",        " ", " ", ", ", ". ", " - ", "\xe2\x80\x94",
        "\xc2\xa0", "/", "(", ") ", "\n", "\"",  "'"};
    size_t nw = sizeof ft_words / sizeof ft_words[0], i;
    vex_rng r;
    vex_rng_seed(&r, seed);
    for (i = 0; i < n; i++) {
        char buf[2048];
        size_t pos = 0, words = (size_t)vex_rng_below(&r, 60), j;
        for (j = 0; j < words; j++) {
            double u = vex_rng_double(&r);
            size_t w = (size_t)(u * u * (double)nw);
            const char *s =
                seps[vex_rng_below(&r, sizeof seps / sizeof seps[0])];
            pos += (size_t)snprintf(buf + pos, sizeof buf - pos, "%s%s",
                                    j ? s : "", ft_words[w < nw ? w : nw - 1]);
        }
        ft_add(c, buf, pos);
    }
}

/* Compares the terms of every text of c; the texts whose unicode61 terms
 * differ (code points Unicode added after 6.1) are then removed from c so
 * that the BM25 comparison runs on statistics both sides agree on. */
static void ft_compare_tokens(ft_corpus *c, const char *name)
{
    ft_fts f;
    ft_terms a = {0}, b = {0};
    size_t i, o, porter_diff = 0, shown = 0, terms = 0, differ = 0;
    if (!ft_fts_open(&f)) {
        CHECK_MSG(0, "cannot reach FTS5's tokenizer");
        return;
    }
    for (i = 0; i < c->n; i++) {
        ft_tok_fts(&f, 0, c->text[i], c->len[i], &a);
        ft_tok_vex(0, c->text[i], c->len[i], &b);
        terms += b.count;
        if (!ft_same(&a, &b)) {
            differ++;
            fprintf(stderr, "  %s text %zu left out: FTS5 '%s', VexDB '%s'\n",
                    name, i, a.buf, b.buf);
            c->len[i] = (size_t)-1;
            continue;
        }
        ft_tok_fts(&f, 1, c->text[i], c->len[i], &a);
        ft_tok_vex(1, c->text[i], c->len[i], &b);
        CHECK_EQ_INT(a.count, b.count);
        if (!ft_same(&a, &b)) {
            /* Count the differing words, show a few. */
            const char *x = a.buf, *y = b.buf;
            while (x && y && *x && *y) {
                size_t lx = strcspn(x, "\n"), ly = strcspn(y, "\n");
                if (lx != ly || memcmp(x, y, lx) != 0) {
                    porter_diff++;
                    if (shown++ < 8)
                        fprintf(stderr, "  porter: FTS5 %.*s, VexDB %.*s\n",
                                (int)lx, x, (int)ly, y);
                }
                x += lx + 1;
                y += ly + 1;
            }
        }
    }
    fprintf(stderr,
            "  %s: %zu texts, %zu terms the same, %zu texts differ; "
            "with Porter, %zu terms differ\n",
            name, c->n, terms, differ, porter_diff);
    /* Only code points newer than FTS5's tables may make texts differ,
     * and they are rare in any corpus. */
    CHECK(differ * 1000 <= c->n);
    CHECK_EQ_INT(porter_diff, 0);
    for (i = 0, o = 0; i < c->n; i++) {
        if (c->len[i] == (size_t)-1) {
            free(c->text[i]);
            continue;
        }
        c->text[o] = c->text[i];
        c->len[o++] = c->len[i];
    }
    c->n = o;
    free(a.buf);
    free(b.buf);
    ft_fts_close(&f);
}

/* ---- 3. BM25 ----------------------------------------------------------------
 */

typedef struct ft_qctx {
    ft_terms terms;
} ft_qctx;

static void ft_bm25(const ft_corpus *c, const char *name, uint64_t seed,
                    unsigned n_queries)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *ins = NULL, *q = NULL;
    vex_mem m;
    vt_analyzer an = {VT_STEM_NONE, VT_STOP_NONE};
    vt_builder *b = NULL;
    unsigned char *blob = NULL;
    size_t blen = 0, i, exact = 0, tied = 0;
    vt_postings *p = NULL;
    vt_bm25 prm;
    vex_rng r;
    ft_terms doc = {0};
    unsigned qi;
    vt_stats st;
    memset(&st, 0, sizeof st);
    vx_mem_init(&m, NULL);
    CHECK(sqlite3_open(":memory:", &db) == SQLITE_OK);
    CHECK(sqlite3_exec(db,
                       "CREATE VIRTUAL TABLE t USING fts5(x, tokenize = "
                       "'unicode61 remove_diacritics 2');BEGIN",
                       NULL, NULL, NULL) == SQLITE_OK);
    CHECK(sqlite3_prepare_v2(db, "INSERT INTO t(rowid, x) VALUES(?1, ?2)", -1,
                             &ins, NULL) == SQLITE_OK);
    CHECK_RC(vx_post_builder_new(&m, &an, VT_POST_BLOCK, &b, NULL), VEX_OK);
    for (i = 0; i < c->n; i++) {
        sqlite3_bind_int64(ins, 1, (sqlite3_int64)i + 1);
        sqlite3_bind_text(ins, 2, c->text[i], (int)c->len[i], SQLITE_STATIC);
        CHECK(sqlite3_step(ins) == SQLITE_DONE);
        sqlite3_reset(ins);
        CHECK_RC(
            vx_post_builder_add(b, (uint32_t)i, c->text[i], c->len[i], NULL),
            VEX_OK);
    }
    sqlite3_finalize(ins);
    CHECK(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK);
    CHECK_RC(vx_post_builder_finish(b, (uint32_t)c->n, &blob, &blen, NULL),
             VEX_OK);
    vx_post_builder_free(b);
    CHECK_RC(vx_post_open(&m, blob, blen, name, 0, &p, NULL), VEX_OK);
    CHECK(sqlite3_prepare_v2(db,
                             "SELECT rowid, bm25(t) FROM t WHERE t MATCH ?1 "
                             "ORDER BY bm25(t) LIMIT 10",
                             -1, &q, NULL) == SQLITE_OK);
    if (p == NULL || q == NULL)
        goto done;
    prm.k1 = 1.2;
    prm.b = 0.75;
    prm.avgdl = (double)vx_post_total_len(p) / (double)vx_post_n_docs(p);
    vex_rng_seed(&r, seed);
    for (qi = 0; qi < n_queries; qi++) {
        char match[2048];
        size_t mpos = 0, nt = 1 + (size_t)vex_rng_below(&r, 4), t, nq = 0,
               nh = 0, nf = 0;
        vt_qterm qt[4];
        vt_hit hits[10];
        struct {
            uint32_t key;
            double score;
        } fts[10];
        for (t = 0; t < nt; t++) {
            size_t d = (size_t)vex_rng_below(&r, c->n), pick, j;
            const char *s;
            int64_t ti;
            ft_tok_vex(0, c->text[d], c->len[d], &doc);
            if (doc.count == 0)
                continue;
            pick = (size_t)vex_rng_below(&r, doc.count);
            for (s = doc.buf, j = 0; j < pick; j++)
                s += strcspn(s, "\n") + 1;
            j = strcspn(s, "\n");
            ti = vx_post_find(p, s, j);
            CHECK(ti >= 0);
            if (ti < 0 || mpos + j + 8 > sizeof match)
                continue;
            mpos +=
                (size_t)snprintf(match + mpos, sizeof match - mpos,
                                 "%s\"%.*s\"", mpos ? " OR " : "", (int)j, s);
            {
                double w =
                    vx_bm25_idf(vx_post_n_docs(p), vx_post_df(p, (uint32_t)ti));
                size_t k;
                for (k = 0; k < nq && qt[k].term != (uint32_t)ti; k++)
                    ;
                if (k < nq) {
                    qt[k].weight += w;
                } else {
                    qt[nq].term = (uint32_t)ti;
                    qt[nq++].weight = w;
                }
            }
        }
        if (nq == 0)
            continue;
        CHECK_RC(vx_post_search(p, &prm, qt, nq, 10, NULL, NULL, hits, &nh, &st,
                                NULL),
                 VEX_OK);
        sqlite3_bind_text(q, 1, match, (int)mpos, SQLITE_STATIC);
        while (sqlite3_step(q) == SQLITE_ROW && nf < 10) {
            fts[nf].key = (uint32_t)(sqlite3_column_int64(q, 0) - 1);
            fts[nf++].score = -sqlite3_column_double(q, 1);
        }
        sqlite3_reset(q);
        CHECK_MSG(nh == nf, "%s query %u (%s): %zu hits, FTS5 %zu", name, qi,
                  match, nh, nf);
        for (i = 0; i < nh && i < nf; i++) {
            double tol =
                1e-9 * (fabs(fts[i].score) > 1 ? fabs(fts[i].score) : 1);
            size_t j;
            int found = 0;
            CHECK_MSG(fabs(hits[i].score - fts[i].score) <= tol,
                      "%s query %u (%s) rank %zu: score %.12g, FTS5 %.12g",
                      name, qi, match, i, hits[i].score, fts[i].score);
            if (hits[i].key == fts[i].key) {
                exact++;
                continue;
            }
            /* Ties may come in either order, and at the tenth place either
             * member of a tie may be kept. */
            for (j = 0; j < nh; j++)
                if (hits[j].key == fts[i].key &&
                    fabs(hits[j].score - fts[i].score) <= tol)
                    found = 1;
            if (!found && fabs(fts[i].score - hits[nh - 1].score) <= tol)
                found = 1;
            CHECK_MSG(found,
                      "%s query %u (%s) rank %zu: FTS5 has key %u "
                      "(%.12g), VexDB key %u",
                      name, qi, match, i, fts[i].key, fts[i].score,
                      hits[i].key);
            tied++;
        }
    }
    fprintf(stderr,
            "  %s: %u queries, %zu hits in the same place, %zu within "
            "ties; postings read %llu, skipped %llu\n",
            name, n_queries, exact, tied, (unsigned long long)st.postings_read,
            (unsigned long long)st.postings_skipped);
done:
    sqlite3_finalize(q);
    sqlite3_close(db);
    vx_post_close(p);
    vx_mem_free(&m, blob);
    free(doc.buf);
}

/* As ft_bm25, after deleting about a tenth of the rows: FTS5's table
 * loses them (DELETE after the inserts), while VexDB keeps them in 4 sets of
 * postings (contiguous ranges of the corpus, as segments) and passes their keys
 * as deleted to vx_bm25_multi, which must take them off every statistic: the
 * same top 10 and scores as FTS5's. */
static void ft_bm25_deletes(const ft_corpus *c, const char *name, uint64_t seed,
                            unsigned n_queries)
{
    enum { NS = 4 };
    sqlite3 *db = NULL;
    sqlite3_stmt *ins = NULL, *q = NULL;
    vex_mem m;
    vt_analyzer an = {VT_STEM_NONE, VT_STOP_NONE};
    unsigned char *blob[NS] = {NULL};
    vt_postings *p[NS] = {NULL};
    uint32_t *del[NS] = {NULL};
    vt_src src[NS];
    size_t cut[NS + 1], i, exact = 0, tied = 0, n_del = 0;
    unsigned char *gone = calloc(c->n + 1, 1);
    vt_bm25 prm = {1.2, 0.75, 0.0};
    ft_terms doc = {0};
    vex_rng r;
    unsigned qi;
    int s;
    vx_mem_init(&m, NULL);
    vex_rng_seed(&r, seed);
    CHECK(sqlite3_open(":memory:", &db) == SQLITE_OK);
    CHECK(sqlite3_exec(db,
                       "CREATE VIRTUAL TABLE t USING fts5(x, tokenize = "
                       "'unicode61 remove_diacritics 2');BEGIN",
                       NULL, NULL, NULL) == SQLITE_OK);
    CHECK(sqlite3_prepare_v2(db, "INSERT INTO t(rowid, x) VALUES(?1, ?2)", -1,
                             &ins, NULL) == SQLITE_OK);
    for (i = 0; i < c->n; i++) {
        gone[i] = vex_rng_below(&r, 10) == 0;
        n_del += gone[i];
        sqlite3_bind_int64(ins, 1, (sqlite3_int64)i + 1);
        sqlite3_bind_text(ins, 2, c->text[i], (int)c->len[i], SQLITE_STATIC);
        CHECK(sqlite3_step(ins) == SQLITE_DONE);
        sqlite3_reset(ins);
    }
    sqlite3_finalize(ins);
    CHECK(sqlite3_exec(db, "COMMIT;BEGIN", NULL, NULL, NULL) == SQLITE_OK);
    CHECK(sqlite3_prepare_v2(db, "DELETE FROM t WHERE rowid = ?1", -1, &ins,
                             NULL) == SQLITE_OK);
    for (i = 0; i < c->n; i++)
        if (gone[i]) {
            sqlite3_bind_int64(ins, 1, (sqlite3_int64)i + 1);
            CHECK(sqlite3_step(ins) == SQLITE_DONE);
            sqlite3_reset(ins);
        }
    sqlite3_finalize(ins);
    CHECK(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK);
    for (s = 0; s <= NS; s++)
        cut[s] = c->n * (size_t)s / NS;
    for (s = 0; s < NS; s++) {
        vt_builder *b = NULL;
        size_t len = 0, nd = 0;
        del[s] = calloc(cut[s + 1] - cut[s] + 1, sizeof *del[s]);
        CHECK_RC(vx_post_builder_new(&m, &an, VT_POST_BLOCK, &b, NULL), VEX_OK);
        for (i = cut[s]; i < cut[s + 1]; i++) {
            CHECK_RC(vx_post_builder_add(b, (uint32_t)(i - cut[s]), c->text[i],
                                         c->len[i], NULL),
                     VEX_OK);
            if (gone[i])
                del[s][nd++] = (uint32_t)(i - cut[s]);
        }
        CHECK_RC(vx_post_builder_finish(b, (uint32_t)(cut[s + 1] - cut[s]),
                                        &blob[s], &len, NULL),
                 VEX_OK);
        vx_post_builder_free(b);
        CHECK_RC(vx_post_open(&m, blob[s], len, name, 0, &p[s], NULL), VEX_OK);
        memset(&src[s], 0, sizeof src[s]);
        src[s].p = p[s];
        src[s].deleted = del[s];
        src[s].n_deleted = nd;
    }
    CHECK(sqlite3_prepare_v2(db,
                             "SELECT rowid, bm25(t) FROM t WHERE t MATCH ?1 "
                             "ORDER BY bm25(t) LIMIT 10",
                             -1, &q, NULL) == SQLITE_OK);
    for (qi = 0; qi < n_queries && q != NULL; qi++) {
        char match[2048], text[1024];
        size_t mpos = 0, tpos = 0, nt = 1 + (size_t)vex_rng_below(&r, 4), t,
               nh = 0, nf = 0;
        vt_mhit hits[10];
        struct {
            uint32_t key;
            double score;
        } fts[10];
        for (t = 0; t < nt; t++) {
            size_t d = (size_t)vex_rng_below(&r, c->n), pick, j;
            const char *w;
            ft_tok_vex(0, c->text[d], c->len[d], &doc);
            if (doc.count == 0)
                continue;
            pick = (size_t)vex_rng_below(&r, doc.count);
            for (w = doc.buf, j = 0; j < pick; j++)
                w += strcspn(w, "\n") + 1;
            j = strcspn(w, "\n");
            if (mpos + j + 8 > sizeof match || tpos + j + 2 > sizeof text)
                continue;
            mpos +=
                (size_t)snprintf(match + mpos, sizeof match - mpos,
                                 "%s\"%.*s\"", mpos ? " OR " : "", (int)j, w);
            tpos += (size_t)snprintf(text + tpos, sizeof text - tpos, "%s%.*s",
                                     tpos ? " " : "", (int)j, w);
        }
        if (tpos == 0)
            continue;
        CHECK_RC(vx_bm25_multi(&m, &an, src, NS, text, tpos, &prm, 10, hits,
                               &nh, NULL, NULL, NULL),
                 VEX_OK);
        sqlite3_bind_text(q, 1, match, (int)mpos, SQLITE_STATIC);
        while (sqlite3_step(q) == SQLITE_ROW && nf < 10) {
            fts[nf].key = (uint32_t)(sqlite3_column_int64(q, 0) - 1);
            fts[nf++].score = -sqlite3_column_double(q, 1);
        }
        sqlite3_reset(q);
        CHECK_MSG(nh == nf, "%s deletes query %u (%s): %zu hits, FTS5 %zu",
                  name, qi, match, nh, nf);
        for (i = 0; i < nh && i < nf; i++) {
            double tol =
                1e-9 * (fabs(fts[i].score) > 1 ? fabs(fts[i].score) : 1);
            uint32_t key = (uint32_t)(cut[hits[i].src] + hits[i].key);
            size_t j;
            int found = 0;
            CHECK(!gone[key]);
            CHECK_MSG(fabs(hits[i].score - fts[i].score) <= tol,
                      "%s deletes query %u (%s) rank %zu: score %.12g, FTS5 "
                      "%.12g",
                      name, qi, match, i, hits[i].score, fts[i].score);
            if (key == fts[i].key) {
                exact++;
                continue;
            }
            for (j = 0; j < nh; j++)
                if (cut[hits[j].src] + hits[j].key == fts[i].key &&
                    fabs(hits[j].score - fts[i].score) <= tol)
                    found = 1;
            if (!found && fabs(fts[i].score - hits[nh - 1].score) <= tol)
                found = 1;
            CHECK_MSG(found, "%s deletes query %u (%s) rank %zu: FTS5 key %u",
                      name, qi, match, i, fts[i].key);
            tied++;
        }
    }
    fprintf(stderr,
            "  %s with %zu of %zu deleted, %d sets: %zu hits in the same "
            "place, %zu within ties\n",
            name, n_del, c->n, NS, exact, tied);
    sqlite3_finalize(q);
    sqlite3_close(db);
    for (s = 0; s < NS; s++) {
        vx_post_close(p[s]);
        vx_mem_free(&m, blob[s]);
        free(del[s]);
    }
    free(gone);
    free(doc.buf);
}

/* Keyword searches of a collection against FTS5 (part 5 above). */
static int ft_coll_query(vex_collection *coll, sqlite3_stmt *q,
                         const char *text, const char *match, size_t mlen,
                         const char *name, unsigned qi, size_t *exact,
                         size_t *tied)
{
    vex_search_params p;
    vex_hit hits[10];
    size_t nh = 0, nf = 0, i;
    struct {
        uint64_t id;
        double score;
    } fts[10];
    vex_search_params_init(&p);
    p.text = text;
    CHECK_RC(vex_search(coll, NULL, 10, &p, hits, NULL, &nh), VEX_OK);
    sqlite3_bind_text(q, 1, match, (int)mlen, SQLITE_STATIC);
    while (sqlite3_step(q) == SQLITE_ROW && nf < 10) {
        fts[nf].id = (uint64_t)sqlite3_column_int64(q, 0);
        fts[nf++].score = -sqlite3_column_double(q, 1);
    }
    sqlite3_reset(q);
    CHECK_MSG(nh == nf, "%s query %u (%s): %zu hits, FTS5 %zu", name, qi, match,
              nh, nf);
    for (i = 0; i < nh && i < nf; i++) {
        /* the collection returns float distances */
        double got = -(double)hits[i].distance;
        double tol = 1e-6 * (fabs(fts[i].score) > 1 ? fabs(fts[i].score) : 1);
        int found = 0;
        CHECK_MSG(fabs(got - fts[i].score) <= tol,
                  "%s query %u (%s) rank %zu: score %.9g, FTS5 %.9g", name, qi,
                  match, i, got, fts[i].score);
        if (hits[i].id == fts[i].id) {
            (*exact)++;
            continue;
        }
        for (size_t j = 0; j < nh; j++)
            if (hits[j].id == fts[i].id &&
                fabs(-(double)hits[j].distance - fts[i].score) <= tol)
                found = 1;
        if (!found && fabs(fts[i].score + (double)hits[nh - 1].distance) <= tol)
            found = 1;
        CHECK_MSG(found,
                  "%s query %u (%s) rank %zu: FTS5 has id %llu (%.9g), "
                  "VexDB id %llu",
                  name, qi, match, i, (unsigned long long)fts[i].id,
                  fts[i].score, (unsigned long long)hits[i].id);
        (*tied)++;
    }
    return 0;
}

static void ft_collection(const ft_corpus *c, const char *name, uint64_t seed,
                          unsigned n_queries, size_t max_docs)
{
    char root[256], path[300];
    sqlite3 *db = NULL;
    sqlite3_stmt *ins = NULL, *del = NULL, *upd = NULL, *q = NULL;
    vex_db_options o;
    vex_collection_config cfg;
    vex_db *vdb = NULL;
    vex_collection *coll = NULL;
    size_t n = c->n < max_docs ? c->n : max_docs, i, exact = 0, tied = 0;
    unsigned char *live = calloc(n ? n : 1, 1);
    size_t *txt = calloc(n ? n : 1, sizeof *txt); /* the row's text */
    vex_rng r;
    ft_terms doc = {0};
    snprintf(root, sizeof root, "/tmp/vex_fts5_coll_XXXXXX");
    if (live == NULL || txt == NULL || mkdtemp(root) == NULL) {
        CHECK_MSG(0, "setup");
        free(live);
        free(txt);
        return;
    }
    snprintf(path, sizeof path, "%s/db", root);
    vex_db_options_init(&o);
    o.create_if_missing = 1;
    o.durability = VEX_DURABILITY_NONE;
    o.compact_min_merge = 0;
    o.memtable_bytes = (uint64_t)1 << 30; /* flushes only where asked */
    CHECK_RC(vex_db_open(path, &o, &vdb), VEX_OK);
    vex_collection_config_init(&cfg);
    cfg.dim = 4;
    cfg.index_kind = VEX_INDEX_FLAT;
    cfg.text = 1;
    CHECK_RC(vex_collection_create(vdb, "docs", &cfg, &coll), VEX_OK);
    CHECK(sqlite3_open(":memory:", &db) == SQLITE_OK);
    CHECK(sqlite3_exec(db,
                       "CREATE VIRTUAL TABLE t USING fts5(x, tokenize = "
                       "'unicode61 remove_diacritics 2')",
                       NULL, NULL, NULL) == SQLITE_OK);
    CHECK(sqlite3_prepare_v2(db, "INSERT INTO t(rowid, x) VALUES(?1, ?2)", -1,
                             &ins, NULL) == SQLITE_OK);
    CHECK(sqlite3_prepare_v2(db, "DELETE FROM t WHERE rowid = ?1", -1, &del,
                             NULL) == SQLITE_OK);
    CHECK(sqlite3_prepare_v2(db, "UPDATE t SET x = ?2 WHERE rowid = ?1", -1,
                             &upd, NULL) == SQLITE_OK);
    CHECK(sqlite3_prepare_v2(db,
                             "SELECT rowid, bm25(t) FROM t WHERE t MATCH ?1 "
                             "ORDER BY bm25(t) LIMIT 10",
                             -1, &q, NULL) == SQLITE_OK);
    if (coll == NULL || ins == NULL || del == NULL || upd == NULL || q == NULL)
        goto done;
    /* four parts: three segments and the memtable (ids are rowids; a text
     * the tokenizers split differently is left out of both) */
    for (int part = 0; part < 4; part++) {
        size_t lo = n * (size_t)part / 4, hi = n * (size_t)(part + 1) / 4;
        for (i = lo; i < hi; i++) {
            float v[4] = {(float)i, 1, 0, 0};
            vex_record rec;
            if (c->len[i] == (size_t)-1 || c->len[i] == 0 ||
                c->len[i] > VEX_MAX_TEXT)
                continue;
            vex_record_init(&rec);
            rec.id = i + 1;
            rec.vector = v;
            rec.text = c->text[i];
            rec.text_len = c->len[i];
            CHECK_RC(vex_insert_record(coll, &rec), VEX_OK);
            sqlite3_bind_int64(ins, 1, (sqlite3_int64)i + 1);
            sqlite3_bind_text(ins, 2, c->text[i], (int)c->len[i],
                              SQLITE_STATIC);
            CHECK(sqlite3_step(ins) == SQLITE_DONE);
            sqlite3_reset(ins);
            live[i] = 1;
            txt[i] = i;
        }
        if (part < 3)
            CHECK_RC(vex_flush(coll), VEX_OK);
    }
    /* deletes and upserts of rows of every part, kept in the memtable */
    vex_rng_seed(&r, seed);
    for (i = 0; i < n; i++) {
        uint64_t u = vex_rng_below(&r, 20);
        if (!live[i])
            continue;
        if (u < 2) {
            CHECK_RC(vex_delete(coll, i + 1), VEX_OK);
            sqlite3_bind_int64(del, 1, (sqlite3_int64)i + 1);
            CHECK(sqlite3_step(del) == SQLITE_DONE);
            sqlite3_reset(del);
            live[i] = 0;
        } else if (u == 2) {
            size_t o2 = (size_t)vex_rng_below(&r, n);
            float v[4] = {(float)i, 2, 0, 0};
            vex_record rec;
            if (c->len[o2] == (size_t)-1 || c->len[o2] == 0 ||
                c->len[o2] > VEX_MAX_TEXT)
                continue;
            vex_record_init(&rec);
            rec.id = i + 1;
            rec.vector = v;
            rec.text = c->text[o2];
            rec.text_len = c->len[o2];
            CHECK_RC(vex_upsert_record(coll, &rec), VEX_OK);
            sqlite3_bind_int64(upd, 1, (sqlite3_int64)i + 1);
            sqlite3_bind_text(upd, 2, c->text[o2], (int)c->len[o2],
                              SQLITE_STATIC);
            CHECK(sqlite3_step(upd) == SQLITE_DONE);
            sqlite3_reset(upd);
            txt[i] = o2;
        }
    }
    for (int phase = 0; phase < 3; phase++) {
        const char *pname = phase == 0   ? "split"
                            : phase == 1 ? "compacted"
                                         : "reopened";
        char label[64];
        snprintf(label, sizeof label, "%s collection (%s)", name, pname);
        if (phase == 1) {
            CHECK_RC(vex_flush(coll), VEX_OK);
            CHECK_RC(vex_compact(coll), VEX_OK);
        } else if (phase == 2) {
            CHECK_RC(vex_collection_close(coll), VEX_OK);
            coll = NULL;
            CHECK_RC(vex_collection_open(vdb, "docs", &coll), VEX_OK);
            if (coll == NULL)
                break;
        }
        vex_rng_seed(&r, seed + 1); /* the same queries in every phase */
        for (unsigned qi = 0; qi < n_queries; qi++) {
            char match[2048], text[2048];
            size_t mpos = 0, tpos = 0, nt = 1 + (size_t)vex_rng_below(&r, 4);
            for (size_t t = 0; t < nt; t++) {
                size_t d = (size_t)vex_rng_below(&r, n), pick, j;
                const char *s;
                if (!live[d])
                    continue;
                ft_tok_vex(0, c->text[txt[d]], c->len[txt[d]], &doc);
                if (doc.count == 0)
                    continue;
                pick = (size_t)vex_rng_below(&r, doc.count);
                for (s = doc.buf, j = 0; j < pick; j++)
                    s += strcspn(s, "\n") + 1;
                j = strcspn(s, "\n");
                if (mpos + j + 8 > sizeof match || tpos + j + 2 > sizeof text)
                    continue;
                mpos += (size_t)snprintf(match + mpos, sizeof match - mpos,
                                         "%s\"%.*s\"", mpos ? " OR " : "",
                                         (int)j, s);
                tpos += (size_t)snprintf(text + tpos, sizeof text - tpos,
                                         "%s%.*s", tpos ? " " : "", (int)j, s);
            }
            if (mpos == 0)
                continue;
            ft_coll_query(coll, q, text, match, mpos, label, qi, &exact, &tied);
        }
    }
    fprintf(stderr,
            "  %s: collection of %zu texts (3 segments + memtable, deletes, "
            "upserts; compacted; reopened): %u queries x 3, %zu hits in the "
            "same place, %zu within ties\n",
            name, n, n_queries, exact, tied);
done:
    sqlite3_finalize(ins);
    sqlite3_finalize(del);
    sqlite3_finalize(upd);
    sqlite3_finalize(q);
    sqlite3_close(db);
    vex_collection_close(coll);
    vex_db_close(vdb);
    rm_rf(root);
    free(live);
    free(txt);
    free(doc.buf);
}

static void test_seeded(void)
{
    ft_corpus c = {0};
    ft_seeded(&c, test_seed(42), 3000);
    ft_compare_tokens(&c, "seeded");
    ft_bm25(&c, "seeded", test_seed(43), 300);
    ft_bm25_deletes(&c, "seeded", test_seed(45), 200);
    ft_collection(&c, "seeded", test_seed(47), 300, 3000);
    ft_free(&c);
}

static void test_debian(void)
{
    ft_corpus c = {0};
    if (!ft_debian(&c)) {
        fprintf(stderr,
                "  skipped: `apt-cache dumpavail` printed no package "
                "descriptions (run apt-get update on a Debian system)\n");
        return;
    }
    ft_compare_tokens(&c, "debian");
    ft_bm25(&c, "debian", test_seed(44), 400);
    ft_bm25_deletes(&c, "debian", test_seed(46), 300);
    ft_collection(&c, "debian", test_seed(48), 300, 20000);
    ft_free(&c);
}

int main(void)
{
    TEST_RUN(test_code_points);
    TEST_RUN(test_seeded);
    TEST_RUN(test_debian);
    return TEST_EXIT();
}

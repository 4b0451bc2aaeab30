/* SPDX-License-Identifier: Apache-2.0 */
/*
 * token.c - the tokenizer: strict UTF-8 decoding, token characters and
 * folding from the generated tables (unitab.c), stop words, and the hand
 * off to the Porter stemmer (porter.c). The rules are in text.h.
 *
 * Compared with FTS5's unicode61 (SQLite 3.40, remove_diacritics 2) by
 * test_text_fts5, code point by code point over the Latin, Greek,
 * Cyrillic and punctuation blocks and text by text over real corpora: the
 * two agree on every code point Unicode had assigned by 6.1, the version
 * FTS5's tables are made from. They differ on characters added since
 * (FTS5 takes them for unassigned, hence letters, emoji included; here
 * they have their Unicode 14 category and case folding), on invalid UTF-8
 * (FTS5 decodes it leniently, this refuses it), and on tokens over
 * VT_MAX_TERM bytes (cut here).
 *
 * Speed: ASCII bytes are classified by two comparisons without decoding; only
 * non-ASCII code points search the tables (binary search over ~540
 * separator ranges and ~1700 foldings).
 */
#include "text/text.h"

#include <string.h>

#include "text/unitab.h"
#include "util/utf8.h"

/* ASCII: -1 separator, else the folded byte. */
static inline int32_t tok_ascii(unsigned c)
{
    if (c - 'a' < 26u || c - '0' < 10u)
        return (int32_t)c;
    if (c - 'A' < 26u)
        return (int32_t)(c + ('a' - 'A'));
    return -1;
}

static size_t tok_encode(uint32_t cp, char *out)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | cp >> 6);
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | cp >> 12);
        out[1] = (char)(0x80 | (cp >> 6 & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | cp >> 18);
    out[1] = (char)(0x80 | (cp >> 12 & 0x3F));
    out[2] = (char)(0x80 | (cp >> 6 & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

int32_t vx_text_fold_cp(uint32_t cp)
{
    size_t lo = 0, hi;
    if (cp < 128) {
        return tok_ascii(cp);
    }
    if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return -1;
    hi = vx_text_n_sep;
    while (lo < hi) { /* first range with hi >= cp */
        size_t mid = lo + (hi - lo) / 2;
        if (vx_text_sep[mid][1] < cp)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < vx_text_n_sep && vx_text_sep[lo][0] <= cp)
        return -1;
    lo = 0;
    hi = vx_text_n_fold;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (vx_text_fold[mid][0] < cp)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < vx_text_n_fold && vx_text_fold[lo][0] == cp)
        return (int32_t)vx_text_fold[lo][1];
    return (int32_t)cp;
}

int vx_text_check_utf8(const char *text, size_t len, const char *what,
                       vex_err *err)
{
    const unsigned char *s = (const unsigned char *)text;
    size_t i = 0;
    while (i < len) {
        uint32_t cp;
        size_t n;
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        n = vx_utf8_decode(s + i, len - i, &cp);
        if (n == 0)
            return vx_err_set(err, VEX_INVALID, "%s: invalid UTF-8 at byte %zu",
                              what, i);
        i += n;
    }
    return VEX_OK;
}

/* English stop words, ascending (bytewise) for bsearch; folded as the
 * tokenizer folds (so "don't" is two tokens, "don" and "t"). */
static const char *const tok_stop[] = {
    "a",     "about", "after", "all",   "also",  "an",    "and",   "any",
    "are",   "as",    "at",    "be",    "been",  "but",   "by",    "can",
    "could", "did",   "do",    "does",  "for",   "from",  "had",   "has",
    "have",  "he",    "her",   "his",   "how",   "i",     "if",    "in",
    "into",  "is",    "it",    "its",   "may",   "more",  "most",  "no",
    "not",   "of",    "on",    "or",    "other", "our",   "s",     "she",
    "so",    "some",  "such",  "t",     "than",  "that",  "the",   "their",
    "them",  "then",  "there", "these", "they",  "this",  "those", "to",
    "was",   "we",    "were",  "what",  "when",  "where", "which", "while",
    "who",   "will",  "with",  "would", "you",   "your",
};

int vx_text_is_stopword(const char *term, size_t len)
{
    size_t lo = 0, hi = sizeof tok_stop / sizeof tok_stop[0];
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const char *w = tok_stop[mid];
        size_t wl = strlen(w);
        int c = memcmp(w, term, wl < len ? wl : len);
        if (c == 0)
            c = wl < len ? -1 : wl > len ? 1 : 0;
        if (c == 0)
            return 1;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}

/* Hands one finished token to fn after the stop-word and stemming steps. */
static int tok_emit(const vt_analyzer *a, char *buf, size_t len, vt_term_fn fn,
                    void *ctx)
{
    if (a->stopwords == VT_STOP_ENGLISH && vx_text_is_stopword(buf, len))
        return 0;
    if (a->stemmer == VT_STEM_PORTER)
        len = vx_text_porter(buf, len);
    return fn(ctx, buf, len);
}

int vx_text_tokenize(const vt_analyzer *a, const char *text, size_t len,
                     vt_term_fn fn, void *ctx, vex_err *err)
{
    const unsigned char *s = (const unsigned char *)text;
    char buf[VT_MAX_TERM + 4];
    size_t i = 0, n = 0; /* n: bytes of the token so far */
    int in_token = 0, full = 0, rc;
    while (i < len) {
        uint32_t cp;
        int32_t f;
        size_t step = 1;
        if (s[i] < 0x80) {
            cp = s[i];
            f = tok_ascii(cp);
        } else {
            step = vx_utf8_decode(s + i, len - i, &cp);
            if (step == 0)
                return vx_err_set(err, VEX_INVALID,
                                  "text: invalid UTF-8 at byte %zu", i);
            f = vx_text_fold_cp(cp);
        }
        i += step;
        if (f < 0) {
            if (in_token && n > 0) {
                rc = tok_emit(a, buf, n, fn, ctx);
                if (rc != 0)
                    return rc;
            }
            in_token = 0;
            n = 0;
            full = 0;
            continue;
        }
        in_token = 1;
        if (f == 0 || full)
            continue; /* a dropped mark, or past VT_MAX_TERM */
        {
            char enc[4];
            size_t el = tok_encode((uint32_t)f, enc);
            if (n + el > VT_MAX_TERM) {
                full = 1;
                continue;
            }
            memcpy(buf + n, enc, el);
            n += el;
        }
    }
    if (in_token && n > 0)
        return tok_emit(a, buf, n, fn, ctx);
    return VEX_OK;
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * text.h - the text module (layer of meta and index; uses only
 * src/util): analysis of a record's text field into terms, and BM25
 * postings over those terms (postings.h).
 *
 * Analysis is what SQLite FTS5's `unicode61` tokenizer with
 * `remove_diacritics 2` does, so that FTS5 can serve as the oracle of
 * BM25 rankings (tests/test_text_fts5.c):
 *  - the text must be valid UTF-8 (strict: no overlong forms, no
 *    surrogates, nothing above U+10FFFF, no truncated sequence); anything
 *    else is VEX_INVALID naming the byte offset. NUL is a separator.
 *  - token characters are letters, numbers, private-use and unassigned
 *    code points and the Latin diacritic marks; every other code point
 *    (spaces, punctuation, symbols, controls, other marks) separates
 *    tokens (tables in unitab.c, rules in gen_unitab.py);
 *  - each token character is case-folded (simple case folding: Latin,
 *    Greek, Cyrillic and every other cased script; U+00DF stays),
 *    and Latin letters with diacritics become their ASCII letter
 *    ("Crème Brûlée" -> "creme", "brulee"); diacritic marks are dropped.
 * Then, optionally, stop words are removed (a fixed English list; a
 * removed word does not count in the document's length) and terms of 3
 * to 64 bytes are reduced by the Porter stemmer (porter.c: the 1980
 * algorithm with the two changes of Porter's reference implementation,
 * as FTS5's `porter` tokenizer does it).
 *
 * A term is at most VT_MAX_TERM bytes: a longer token is cut at the last
 * whole character that fits (FTS5 keeps it whole; tokens that long are
 * not words).
 */
#ifndef VEX_TEXT_TEXT_H
#define VEX_TEXT_TEXT_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"
#include "util/mem.h"

#define VT_MAX_TEXT   (1u << 20) /* bytes of one record's text (1 MiB) */
#define VT_MAX_TERM   255u       /* bytes in one term */
#define VT_PORTER_MAX 64u        /* longest term the stemmer touches, as FTS5 */

enum { VT_STEM_NONE = 0, VT_STEM_PORTER = 1 };
enum { VT_STOP_NONE = 0, VT_STOP_ENGLISH = 1 };

/* How text becomes terms; part of a collection's configuration. */
typedef struct vt_analyzer {
    uint8_t stemmer;   /* VT_STEM_* */
    uint8_t stopwords; /* VT_STOP_* */
} vt_analyzer;

/* Receives each term in order: term[0..len) (not NUL-terminated, valid
 * until the callback returns). A non-zero return stops the tokenizer,
 * which returns that value. */
typedef int (*vt_term_fn)(void *ctx, const char *term, size_t len);

/* Checks text[0..len) is valid UTF-8: VEX_OK, or VEX_INVALID with
 * "<what>: invalid UTF-8 at byte N" in err. */
int vx_text_check_utf8(const char *text, size_t len, const char *what,
                       vex_err *err);

/* Cuts text[0..len) into terms under `a` and calls fn for each.
 * Returns VEX_OK, VEX_INVALID (invalid UTF-8, nothing emitted past the
 * error), or fn's first non-zero return. Allocates nothing. */
int vx_text_tokenize(const vt_analyzer *a, const char *text, size_t len,
                     vt_term_fn fn, void *ctx, vex_err *err);

/* Porter-stems word[0..len) in place; returns the new length (never
 * longer). Words of fewer than 3 or more than VT_PORTER_MAX bytes come
 * back unchanged; bytes other than a..z count as consonants. */
size_t vx_text_porter(char *word, size_t len);

/* 1 when term[0..len) is in the English stop-word list. */
int vx_text_is_stopword(const char *term, size_t len);

/* Folds one token character as the tokenizer does: returns the folded
 * code point (0: dropped), or -1 when cp separates tokens. For tests. */
int32_t vx_text_fold_cp(uint32_t cp);

#endif

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * porter.c - the Porter stemmer, written from M.F. Porter, "An algorithm
 * for suffix stripping", Program 14(3), 1980, pp. 130-137: steps 1a, 1b,
 * 1c, 2, 3, 4, 5a and 5b with the rules and conditions as the paper lists
 * them, plus the two changes Porter published with his own reference
 * implementation (and which SQLite FTS5's `porter` tokenizer makes too, so
 * test_text_fts5 can hold the two to the same output): step 2 has
 * BLI -> BLE instead of ABLI -> ABLE, and LOGI -> LOG.
 *
 * Which tokens: as FTS5, any term of 3 to VT_PORTER_MAX bytes; a byte that
 * is not a..z counts as a consonant (so "x86s" becomes "x86", and a
 * non-ASCII word is only touched by rules on its ASCII end). Longer and
 * shorter terms are left alone.
 *
 * Notation of the paper, used in the comments: a word is [C](VC)^m[V]
 * with C a run of consonants and V a run of vowels; m is the measure of a
 * stem. A vowel is a, e, i, o, u, or y after a consonant. *v*: the stem
 * has a vowel; *d: it ends with a double consonant; *o: it ends
 * consonant-vowel-consonant, the last not w, x or y; *S: it ends with S.
 *
 * Each step with a rule table applies the rule of the LONGEST matching
 * suffix and only that one: when its condition fails, shorter suffixes
 * are not tried ("feed" matches EED with m = 0 and so keeps its ED).
 */
#include <string.h>

#include "text/text.h"

typedef struct porter_word {
    char *b;  /* the letters */
    size_t k; /* current length */
} porter_word;

static int porter_cons(const porter_word *w, size_t i)
{
    switch (w->b[i]) {
    case 'a':
    case 'e':
    case 'i':
    case 'o':
    case 'u':
        return 0;
    case 'y':
        return i == 0 ? 1 : !porter_cons(w, i - 1);
    default:
        return 1;
    }
}

/* m of the stem b[0..j). */
static int porter_measure(const porter_word *w, size_t j)
{
    size_t i = 0;
    int m = 0;
    while (i < j && porter_cons(w, i))
        i++;
    for (;;) {
        while (i < j && !porter_cons(w, i))
            i++;
        if (i >= j)
            return m;
        while (i < j && porter_cons(w, i))
            i++;
        m++;
    }
}

/* *v* for the stem b[0..j). */
static int porter_has_vowel(const porter_word *w, size_t j)
{
    size_t i;
    for (i = 0; i < j; i++)
        if (!porter_cons(w, i))
            return 1;
    return 0;
}

/* *d for the stem b[0..j). */
static int porter_double(const porter_word *w, size_t j)
{
    return j >= 2 && w->b[j - 1] == w->b[j - 2] && porter_cons(w, j - 1);
}

/* *o for the stem b[0..j). */
static int porter_cvc(const porter_word *w, size_t j)
{
    char c;
    if (j < 3 || !porter_cons(w, j - 1) || porter_cons(w, j - 2) ||
        !porter_cons(w, j - 3))
        return 0;
    c = w->b[j - 1];
    return c != 'w' && c != 'x' && c != 'y';
}

static int porter_ends(const porter_word *w, const char *s, size_t *stem)
{
    size_t n = strlen(s);
    if (n > w->k || memcmp(w->b + w->k - n, s, n) != 0)
        return 0;
    *stem = w->k - n;
    return 1;
}

static void porter_set(porter_word *w, size_t stem, const char *rep)
{
    size_t n = strlen(rep);
    memcpy(w->b + stem, rep, n); /* never longer than the suffix it ends */
    w->k = stem + n;
}

typedef struct porter_rule {
    const char *suffix, *rep;
} porter_rule;

/* Applies the longest matching rule of a table when the stem's measure
 * is above min_m; returns 1 when a suffix matched (applied or not). */
static int porter_table(porter_word *w, const porter_rule *r, size_t n,
                        int min_m)
{
    size_t i, best = n, best_len = 0, stem = 0;
    for (i = 0; i < n; i++) {
        size_t len = strlen(r[i].suffix), st;
        if (len > best_len && porter_ends(w, r[i].suffix, &st)) {
            best = i;
            best_len = len;
            stem = st;
        }
    }
    if (best == n)
        return 0;
    if (porter_measure(w, stem) > min_m)
        porter_set(w, stem, r[best].rep);
    return 1;
}

static void porter_1a(porter_word *w)
{
    size_t st;
    if (porter_ends(w, "sses", &st) || porter_ends(w, "ies", &st))
        w->k -= 2; /* SSES -> SS, IES -> I */
    else if (porter_ends(w, "ss", &st))
        ; /* SS -> SS */
    else if (porter_ends(w, "s", &st))
        w->k = st;
}

static void porter_1b(porter_word *w)
{
    size_t st;
    int cleanup = 0;
    if (porter_ends(w, "eed", &st)) {
        if (porter_measure(w, st) > 0)
            w->k--; /* EED -> EE */
        return;
    }
    if (porter_ends(w, "ed", &st) || porter_ends(w, "ing", &st)) {
        if (porter_has_vowel(w, st)) {
            w->k = st;
            cleanup = 1;
        }
    }
    if (!cleanup)
        return;
    if (porter_ends(w, "at", &st) || porter_ends(w, "bl", &st) ||
        porter_ends(w, "iz", &st)) {
        w->b[w->k++] = 'e'; /* AT -> ATE, BL -> BLE, IZ -> IZE */
    } else if (porter_double(w, w->k)) {
        char c = w->b[w->k - 1];
        if (c != 'l' && c != 's' && c != 'z')
            w->k--;
    } else if (porter_measure(w, w->k) == 1 && porter_cvc(w, w->k)) {
        w->b[w->k++] = 'e';
    }
}

static void porter_1c(porter_word *w)
{
    size_t st;
    if (porter_ends(w, "y", &st) && porter_has_vowel(w, st))
        w->b[st] = 'i';
}

static const porter_rule porter_step2[] = {
    {"ational", "ate"}, {"tional", "tion"}, {"enci", "ence"},
    {"anci", "ance"},   {"izer", "ize"},    {"bli", "ble"},
    {"alli", "al"},     {"entli", "ent"},   {"eli", "e"},
    {"ousli", "ous"},   {"ization", "ize"}, {"ation", "ate"},
    {"ator", "ate"},    {"alism", "al"},    {"iveness", "ive"},
    {"fulness", "ful"}, {"ousness", "ous"}, {"aliti", "al"},
    {"iviti", "ive"},   {"biliti", "ble"},  {"logi", "log"},
};

static const porter_rule porter_step3[] = {
    {"icate", "ic"}, {"ative", ""}, {"alize", "al"}, {"iciti", "ic"},
    {"ical", "ic"},  {"ful", ""},   {"ness", ""},
};

/* Step 4's ION (m > 1 and the stem ends with S or T) is handled apart. */
static const porter_rule porter_step4[] = {
    {"al", ""},   {"ance", ""}, {"ence", ""}, {"er", ""},    {"ic", ""},
    {"able", ""}, {"ible", ""}, {"ant", ""},  {"ement", ""}, {"ment", ""},
    {"ent", ""},  {"ou", ""},   {"ism", ""},  {"ate", ""},   {"iti", ""},
    {"ous", ""},  {"ive", ""},  {"ize", ""},  {"ion", ""},
};

static void porter_4(porter_word *w)
{
    size_t n = sizeof porter_step4 / sizeof porter_step4[0], st;
    /* No other step 4 suffix ends in "ion", so a word ending so matches
     * ION as its longest suffix, with the extra condition on the stem. */
    if (porter_ends(w, "ion", &st)) {
        if (porter_measure(w, st) > 1 && st > 0 &&
            (w->b[st - 1] == 's' || w->b[st - 1] == 't'))
            w->k = st;
        return;
    }
    porter_table(w, porter_step4, n - 1, 1);
}

static void porter_5(porter_word *w)
{
    size_t st;
    if (porter_ends(w, "e", &st)) {
        int m = porter_measure(w, st);
        if (m > 1 || (m == 1 && !porter_cvc(w, st)))
            w->k = st;
    }
    if (w->k >= 2 && w->b[w->k - 1] == 'l' && porter_double(w, w->k) &&
        porter_measure(w, w->k) > 1)
        w->k--;
}

size_t vx_text_porter(char *word, size_t len)
{
    porter_word w;
    if (len < 3 || len > VT_PORTER_MAX)
        return len;
    w.b = word;
    w.k = len;
    porter_1a(&w);
    porter_1b(&w);
    porter_1c(&w);
    porter_table(&w, porter_step2, sizeof porter_step2 / sizeof porter_step2[0],
                 0);
    porter_table(&w, porter_step3, sizeof porter_step3 / sizeof porter_step3[0],
                 0);
    porter_4(&w);
    porter_5(&w);
    return w.k;
}

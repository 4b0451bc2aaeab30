/* SPDX-License-Identifier: Apache-2.0 */
/*
 * obs_parse.h - a small strict parser of the Prometheus text exposition
 * format (0.0.4) for tests: the rules vex_metrics_text must follow.
 *
 *  - lines end with '\n' (the last one too); blank lines are not allowed;
 *  - "# HELP name text" and "# TYPE name counter|gauge|histogram" come
 *    before the family's samples; a family's TYPE appears once, and its
 *    samples follow it without another family in between;
 *  - a sample is name{label="value",...} value: names match
 *    [a-zA-Z_:][a-zA-Z0-9_:]*, label names [a-zA-Z_][a-zA-Z0-9_]*, values
 *    are quoted with only \\, \" and \n escapes; the number is a float
 *    (strtod, whole field) or +Inf, -Inf, NaN;
 *  - a counter family's samples are named like it, a histogram's are
 *    name_bucket (with an le label), name_sum and name_count; per series
 *    (the labels without le) the buckets' le values ascend, their counts
 *    never decrease, the last le is +Inf and _count equals it.
 *
 * prom_parse fills a prom_doc of every sample (unescaped label values);
 * prom_get finds one by name and labels.
 */
#ifndef VEX_TEST_OBS_PARSE_H
#define VEX_TEST_OBS_PARSE_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PROM_MAX_LABELS 8

typedef struct prom_sample {
    char name[128];
    int n_labels;
    char lname[PROM_MAX_LABELS][64];
    char lval[PROM_MAX_LABELS][512];
    double value;
} prom_sample;

typedef struct prom_doc {
    prom_sample *s;
    size_t n, cap;
    char why[256];
} prom_doc;

static inline void prom_free(prom_doc *d)
{
    free(d->s);
    d->s = NULL;
    d->n = d->cap = 0;
}

static inline int prom_name_ch(char c, int first, int colon)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
           (colon && c == ':') || (!first && c >= '0' && c <= '9');
}

/* A name at *p into out; 0 on success. */
static inline int prom_name(const char **p, char *out, size_t size, int colon)
{
    size_t n = 0;
    if (!prom_name_ch(**p, 1, colon))
        return -1;
    while (prom_name_ch(**p, n == 0, colon)) {
        if (n + 1 >= size)
            return -1;
        out[n++] = *(*p)++;
    }
    out[n] = '\0';
    return 0;
}

/* {a="x",b="y"} at *p (optional); 0 on success. */
static inline int prom_labels(const char **p, prom_sample *s)
{
    s->n_labels = 0;
    if (**p != '{')
        return 0;
    (*p)++;
    if (**p == '}') {
        (*p)++;
        return 0;
    }
    for (;;) {
        size_t n = 0;
        if (s->n_labels == PROM_MAX_LABELS)
            return -1;
        if (prom_name(p, s->lname[s->n_labels], 64, 0) != 0)
            return -1;
        if (*(*p)++ != '=' || *(*p)++ != '"')
            return -1;
        for (;;) {
            char c = *(*p)++;
            if (c == '\0' || c == '\n')
                return -1;
            if (c == '"')
                break;
            if (c == '\\') {
                c = *(*p)++;
                if (c == 'n')
                    c = '\n';
                else if (c != '\\' && c != '"')
                    return -1;
            }
            if (n + 1 >= sizeof s->lval[0])
                return -1;
            s->lval[s->n_labels][n++] = c;
        }
        s->lval[s->n_labels][n] = '\0';
        for (int i = 0; i < s->n_labels; i++)
            if (strcmp(s->lname[i], s->lname[s->n_labels]) == 0)
                return -1;
        s->n_labels++;
        if (**p == ',') {
            (*p)++;
            continue;
        }
        if (*(*p)++ != '}')
            return -1;
        return 0;
    }
}

static inline int prom_number(const char *p, size_t len, double *out)
{
    char buf[64];
    char *end;
    if (len == 0 || len >= sizeof buf)
        return -1;
    memcpy(buf, p, len);
    buf[len] = '\0';
    if (strcmp(buf, "+Inf") == 0) {
        *out = INFINITY;
        return 0;
    }
    if (strcmp(buf, "-Inf") == 0) {
        *out = -INFINITY;
        return 0;
    }
    if (strcmp(buf, "NaN") == 0) {
        *out = NAN;
        return 0;
    }
    *out = strtod(buf, &end);
    return *end == '\0' && end != buf ? 0 : -1;
}

static inline const char *prom_label(const prom_sample *s, const char *name)
{
    for (int i = 0; i < s->n_labels; i++)
        if (strcmp(s->lname[i], name) == 0)
            return s->lval[i];
    return NULL;
}

/* Whether a and b have the same labels, le aside. */
static inline int prom_same_series(const prom_sample *a, const prom_sample *b)
{
    int na = 0, nb = 0;
    for (int i = 0; i < a->n_labels; i++) {
        const char *v;
        if (strcmp(a->lname[i], "le") == 0)
            continue;
        na++;
        v = prom_label(b, a->lname[i]);
        if (v == NULL || strcmp(v, a->lval[i]) != 0)
            return 0;
    }
    for (int i = 0; i < b->n_labels; i++)
        nb += strcmp(b->lname[i], "le") != 0;
    return na == nb;
}

static inline int prom_fail(prom_doc *d, int line, const char *why)
{
    snprintf(d->why, sizeof d->why, "line %d: %s", line, why);
    prom_free(d);
    return -1;
}

/* Check the histogram samples s[from..to) of family `fam`. */
static inline int prom_check_hist(prom_doc *d, size_t from, size_t to,
                                  const char *fam)
{
    char bucket[160], count[160];
    snprintf(bucket, sizeof bucket, "%s_bucket", fam);
    snprintf(count, sizeof count, "%s_count", fam);
    for (size_t i = from; i < to; i++) {
        const prom_sample *c = &d->s[i];
        double last_le = -INFINITY, last_v = 0, inf_v = -1;
        int found_count = 0;
        if (strcmp(c->name, count) != 0)
            continue;
        for (size_t j = from; j < to; j++) {
            const prom_sample *b = &d->s[j];
            const char *le;
            double lev;
            if (strcmp(b->name, bucket) != 0 || !prom_same_series(b, c))
                continue;
            le = prom_label(b, "le");
            if (le == NULL || prom_number(le, strlen(le), &lev) != 0)
                return -1;
            if (!(lev > last_le) || b->value < last_v)
                return -1;
            last_le = lev;
            last_v = b->value;
            if (isinf(lev) && lev > 0)
                inf_v = b->value;
        }
        if (inf_v < 0 || inf_v != c->value)
            return -1;
        found_count = 1;
        (void)found_count;
    }
    /* every bucket series has a _count */
    for (size_t j = from; j < to; j++) {
        int ok = 0;
        if (strcmp(d->s[j].name, bucket) != 0)
            continue;
        for (size_t i = from; i < to && !ok; i++)
            ok = strcmp(d->s[i].name, count) == 0 &&
                 prom_same_series(&d->s[j], &d->s[i]);
        if (!ok)
            return -1;
    }
    return 0;
}

static inline int prom_parse(const char *text, prom_doc *d)
{
    char fam[128] = "", seen[256][128];
    int type = -1, line = 0, n_seen = 0;
    size_t fam_from = 0;
    const char *p = text;
    memset(d, 0, sizeof *d);
    while (*p) {
        const char *eol = strchr(p, '\n');
        line++;
        if (eol == NULL)
            return prom_fail(d, line, "no newline at the end");
        if (eol == p)
            return prom_fail(d, line, "blank line");
        if (*p == '#') {
            char name[128], kind[32];
            int is_type;
            if (strncmp(p, "# HELP ", 7) == 0) {
                is_type = 0;
                p += 7;
            } else if (strncmp(p, "# TYPE ", 7) == 0) {
                is_type = 1;
                p += 7;
            } else {
                return prom_fail(d, line, "a comment other than HELP/TYPE");
            }
            if (prom_name(&p, name, sizeof name, 1) != 0 || *p++ != ' ')
                return prom_fail(d, line, "bad name in HELP/TYPE");
            if (is_type) {
                size_t len = (size_t)(eol - p);
                if (len >= sizeof kind)
                    return prom_fail(d, line, "bad type");
                memcpy(kind, p, len);
                kind[len] = '\0';
                for (int i = 0; i < n_seen; i++)
                    if (strcmp(seen[i], name) == 0)
                        return prom_fail(d, line, "a family's TYPE twice");
                if (type == 2 && prom_check_hist(d, fam_from, d->n, fam) != 0)
                    return prom_fail(d, line, "a broken histogram before");
                type = strcmp(kind, "counter") == 0     ? 0
                       : strcmp(kind, "gauge") == 0     ? 1
                       : strcmp(kind, "histogram") == 0 ? 2
                                                        : -1;
                if (type < 0)
                    return prom_fail(d, line, "unknown type");
                if (n_seen < 256)
                    snprintf(seen[n_seen++], sizeof seen[0], "%s", name);
                snprintf(fam, sizeof fam, "%s", name);
                fam_from = d->n;
            }
            p = eol + 1;
            continue;
        }
        {
            prom_sample s;
            const char *sp;
            size_t flen = strlen(fam);
            memset(&s, 0, sizeof s);
            if (prom_name(&p, s.name, sizeof s.name, 1) != 0)
                return prom_fail(d, line, "bad sample name");
            if (type < 0)
                return prom_fail(d, line, "a sample before any TYPE");
            if (type == 2 ? !(strncmp(s.name, fam, flen) == 0 &&
                              (strcmp(s.name + flen, "_bucket") == 0 ||
                               strcmp(s.name + flen, "_sum") == 0 ||
                               strcmp(s.name + flen, "_count") == 0))
                          : strcmp(s.name, fam) != 0)
                return prom_fail(d, line, "a sample of another family");
            if (prom_labels(&p, &s) != 0)
                return prom_fail(d, line, "bad labels");
            if (*p++ != ' ')
                return prom_fail(d, line, "no space before the value");
            sp = p;
            if (prom_number(sp, (size_t)(eol - sp), &s.value) != 0)
                return prom_fail(d, line, "bad value");
            if (type == 2 && strcmp(s.name + flen, "_bucket") == 0 &&
                prom_label(&s, "le") == NULL)
                return prom_fail(d, line, "a bucket without le");
            if (d->n == d->cap) {
                size_t cap = d->cap ? d->cap * 2 : 256;
                prom_sample *ns = realloc(d->s, cap * sizeof *ns);
                if (ns == NULL)
                    return prom_fail(d, line, "out of memory");
                d->s = ns;
                d->cap = cap;
            }
            d->s[d->n++] = s;
            p = eol + 1;
        }
    }
    if (type == 2 && prom_check_hist(d, fam_from, d->n, fam) != 0)
        return prom_fail(d, line, "a broken histogram at the end");
    return 0;
}

/* The value of the first sample named `name` carrying every label of
 * `want` (label syntax without braces, e.g. a="1",b="x"; "" for any);
 * -1 when there is none (or `want` does not parse). */
static inline double prom_get(const prom_doc *d, const char *name,
                              const char *want)
{
    prom_sample w;
    char buf[1200];
    const char *p = buf;
    snprintf(buf, sizeof buf, "{%s}", want);
    if (prom_labels(&p, &w) != 0)
        return -1;
    for (size_t i = 0; i < d->n; i++) {
        int ok = strcmp(d->s[i].name, name) == 0;
        for (int j = 0; ok && j < w.n_labels; j++) {
            const char *v = prom_label(&d->s[i], w.lname[j]);
            ok = v && strcmp(v, w.lval[j]) == 0;
        }
        if (ok)
            return d->s[i].value;
    }
    return -1;
}

#endif

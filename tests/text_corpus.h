/* SPDX-License-Identifier: Apache-2.0 */
/*
 * text_corpus.h - text corpora for the keyword search tests and the
 * BM25 benchmark: a growable list of texts, and Debian's package
 * descriptions as `apt-cache dumpavail` prints them (read at run time,
 * never stored in the repository). Header-only; needs util/rd.h's
 * neighbours only through text/text.h (the UTF-8 check).
 */
#ifndef VEX_TESTS_TEXT_CORPUS_H
#define VEX_TESTS_TEXT_CORPUS_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "text/text.h"

typedef struct ft_corpus {
    char **text;
    size_t *len;
    size_t n, cap;
} ft_corpus;

static void ft_add(ft_corpus *c, const char *t, size_t len)
{
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 1024;
        c->text = realloc(c->text, c->cap * sizeof *c->text);
        c->len = realloc(c->len, c->cap * sizeof *c->len);
    }
    c->text[c->n] = malloc(len + 1);
    memcpy(c->text[c->n], t, len);
    c->text[c->n][len] = '\0';
    c->len[c->n++] = len;
}

static void ft_free(ft_corpus *c)
{
    size_t i;
    for (i = 0; i < c->n; i++)
        free(c->text[i]);
    free(c->text);
    free(c->len);
    memset(c, 0, sizeof *c);
}

/* The Description fields of `apt-cache dumpavail` (first line and the
 * continuation lines, a lone " ." a blank line). 0 when there are none. */
static int ft_debian(ft_corpus *c)
{
    FILE *p = popen("apt-cache dumpavail 2>/dev/null", "r");
    char *line = NULL, *doc = NULL;
    size_t cap = 0, dn = 0, dcap = 0;
    ssize_t n;
    int in = 0;
    if (p == NULL)
        return 0;
    while ((n = getline(&line, &cap, p)) >= 0) {
        int cont = n > 0 && line[0] == ' ';
        const char *s = line;
        size_t len = (size_t)n;
        if (in && !cont) {
            ft_add(c, doc ? doc : "", dn);
            in = 0;
            dn = 0;
        }
        if (!in && strncmp(line, "Description:", 12) == 0) {
            in = 1;
            s = line + 12;
            len = (size_t)n - 12;
        } else if (!in || !cont) {
            continue;
        }
        if (len >= 2 && s[0] == ' ' && s[1] == '.' &&
            (len == 2 || s[2] == '\n'))
            len = 0; /* paragraph break */
        if (dn + len + 2 > dcap) {
            dcap = (dn + len + 2) * 2;
            doc = realloc(doc, dcap);
        }
        memcpy(doc + dn, s, len);
        dn += len;
        doc[dn++] = '\n';
    }
    if (in)
        ft_add(c, doc ? doc : "", dn);
    free(line);
    free(doc);
    pclose(p);
    /* Only valid UTF-8 is stored by VexDB; the rare other text is left out
     * (FTS5 would decode it its own way). */
    {
        size_t i, o = 0;
        for (i = 0; i < c->n; i++) {
            if (vx_text_check_utf8(c->text[i], c->len[i], "t", NULL) !=
                VEX_OK) {
                free(c->text[i]);
                continue;
            }
            c->text[o] = c->text[i];
            c->len[o++] = c->len[i];
        }
        c->n = o;
    }
    return c->n > 0;
}

#endif

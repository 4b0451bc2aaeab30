/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_json.c - fuzz target for the vex tool's JSON parser
 * (tools/vex/textio.h), as `vex import` uses it on JSON Lines. The input
 * is parsed whole and line by line with one reused document. A failure
 * must leave a message; a success must give a well-formed tree (strings
 * valid UTF-8, members within limits), and the tree is written back out
 * and parsed again: the second parse must give the same tree (types,
 * numbers bit for bit, integer flags, strings, keys, order).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "textio.h"
#include "vexdb.h"

static void check(int ok)
{
    if (!ok)
        abort();
}

typedef struct buf {
    char *p;
    size_t n, cap;
} buf;

static void put(buf *b, const char *s, size_t n)
{
    if (b->cap - b->n < n) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap - b->n < n)
            cap *= 2;
        b->p = realloc(b->p, cap);
        check(b->p != NULL);
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
}

static void put_str(buf *b, const char *s, size_t n)
{
    put(b, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char e[8];
        if (c < 0x20 || c == '"' || c == '\\') {
            snprintf(e, sizeof e, "\\u%04x", c);
            put(b, e, 6);
        } else {
            put(b, s + i, 1);
        }
    }
    put(b, "\"", 1);
}

static void emit(buf *b, const vexio_json *v)
{
    char num[64];
    switch (v->type) {
    case VEXIO_JNULL:
        put(b, "null", 4);
        break;
    case VEXIO_JBOOL:
        put(b, v->b ? "true" : "false", v->b ? 4 : 5);
        break;
    case VEXIO_JNUMBER:
        if (v->is_u64)
            snprintf(num, sizeof num, "%llu", (unsigned long long)v->u);
        else if (v->is_int && v->i == 0)
            snprintf(num, sizeof num, "-0"); /* "-0": an int, not a u64 */
        else if (v->is_int)
            snprintf(num, sizeof num, "%lld", (long long)v->i);
        else if (isinf(v->d))
            snprintf(num, sizeof num, "%s", v->d > 0 ? "1e999" : "-1e999");
        else
            snprintf(num, sizeof num, "%.17e", v->d);
        put(b, num, strlen(num));
        break;
    case VEXIO_JSTRING:
        put_str(b, v->s, v->len);
        break;
    case VEXIO_JARRAY:
    case VEXIO_JOBJECT:
        put(b, v->type == VEXIO_JARRAY ? "[" : "{", 1);
        for (size_t i = 0; i < v->n; i++) {
            if (i)
                put(b, ",", 1);
            if (v->type == VEXIO_JOBJECT) {
                put_str(b, v->keys[i], v->key_lens[i]);
                put(b, ":", 1);
            }
            emit(b, &v->items[i]);
        }
        put(b, v->type == VEXIO_JARRAY ? "]" : "}", 1);
        break;
    }
}

static void same(const vexio_json *a, const vexio_json *b)
{
    check(a->type == b->type);
    switch (a->type) {
    case VEXIO_JBOOL:
        check(a->b == b->b);
        break;
    case VEXIO_JNUMBER:
        check(memcmp(&a->d, &b->d, sizeof a->d) == 0);
        check(a->is_int == b->is_int && a->is_u64 == b->is_u64);
        check(!a->is_int || a->i == b->i);
        check(!a->is_u64 || a->u == b->u);
        break;
    case VEXIO_JSTRING:
        check(a->len == b->len && memcmp(a->s, b->s, a->len) == 0);
        break;
    case VEXIO_JARRAY:
    case VEXIO_JOBJECT:
        check(a->n == b->n);
        for (size_t i = 0; i < a->n; i++) {
            if (a->type == VEXIO_JOBJECT)
                check(a->key_lens[i] == b->key_lens[i] &&
                      memcmp(a->keys[i], b->keys[i], a->key_lens[i]) == 0);
            same(&a->items[i], &b->items[i]);
        }
        break;
    default:
        break;
    }
}

static void well_formed(const vexio_json *v, int depth)
{
    check(depth <= VEXIO_JSON_MAX_DEPTH);
    if (v->type == VEXIO_JSTRING)
        check(vexio_utf8_valid(v->s, v->len) && v->s[v->len] == '\0');
    if (v->type == VEXIO_JARRAY || v->type == VEXIO_JOBJECT)
        for (size_t i = 0; i < v->n; i++) {
            if (v->type == VEXIO_JOBJECT) {
                check(vexio_utf8_valid(v->keys[i], v->key_lens[i]));
                /* keys are unique: a lookup finds this member */
                if (strlen(v->keys[i]) == v->key_lens[i])
                    check(vexio_json_get(v, v->keys[i]) == &v->items[i]);
            }
            well_formed(&v->items[i], depth + 1);
        }
}

static void one(vexio_jdoc *d, vexio_jdoc *d2, const char *text, size_t len)
{
    const vexio_json *root, *root2;
    vexio_error err;
    buf b = {NULL, 0, 0};
    int rc = vexio_json_parse(d, text, len, "fuzz", 1, &root, &err);
    if (rc != VEX_OK) {
        check(rc == VEX_CORRUPT && err.msg[0] != '\0' && root == NULL);
        return;
    }
    well_formed(root, 0);
    emit(&b, root);
    rc = vexio_json_parse(d2, b.p, b.n, "again", 1, &root2, &err);
    if (rc != VEX_OK) {
        fprintf(stderr, "re-parse failed: %s\n%.*s\n", err.msg, (int)b.n, b.p);
        abort();
    }
    same(root, root2);
    free(b.p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    vexio_jdoc *d = NULL, *d2 = NULL;
    const char *t = (const char *)data;
    size_t pos = 0;
    check(vexio_jdoc_create(&d) == VEX_OK && vexio_jdoc_create(&d2) == VEX_OK);
    one(d, d2, t, size);
    while (pos < size) { /* JSON Lines: each line alone, one document */
        size_t end = pos;
        while (end < size && t[end] != '\n')
            end++;
        one(d, d2, t + pos, end - pos);
        pos = end + 1;
    }
    vexio_jdoc_free(d);
    vexio_jdoc_free(d2);
    return 0;
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cmd_import.c - `vex import DB COLLECTION FILE...`: records from CSV,
 * JSON Lines, .fvecs, .bvecs or .npy files into an existing collection.
 *
 * One file is one unit: it is read whole and every record is parsed and
 * checked first (its text, id, vector, each metadata value against the
 * collection's schema, its payload, ids repeated in the file and, for
 * inserts, ids already in the collection), and only then written with
 * vex_insert_many / vex_upsert_many (the bulk path; indexes are built by
 * the flushes that follow, once per segment). So a bad record in the
 * default mode stops the import before anything of that file is written,
 * with a message naming the file, line and field; with --skip-bad the bad
 * records are reported, counted and left out, and the rest is written.
 * Files before a failing one stay imported (the summary says which).
 * vex_import_check (import.h) runs the parsing and checking alone,
 * writing nothing, for the fuzz target fuzz/fuzz_import.c.
 *
 * The write goes in chunks of WRITE_CHUNK records (for the progress
 * meter); the library checks each chunk before writing any of it, and
 * every check it makes was made here first, so only an I/O error (or a
 * crash) can stop a file midway: then the message says how many of its
 * records were written; after a crash, a prefix of its records. Rejected: one
 * vex_batch per file, atomic even across a crash, because a batch holds
 * at most 16 MiB (about 16,000 records at dim 256), far less than a file.
 *
 * Vectors are float32, or for bit collections elements 0 and 1 (packed
 * here). Metadata types come from the schema when the collection has one (a
 * value that does not fit the declared type is a bad record); other
 * fields are typed per value, never per column: in CSV, an empty field is
 * null, true/false is a bool, an integer an int, another number a double,
 * anything else a string; in JSON, the value's own type (an integer is an
 * int, a number with a fraction or exponent a double, an array of strings
 * tags). Reserved names: id, vector and payload (CSV columns and JSON
 * members), payload_base64 and meta (JSON: an object of further fields,
 * for field names that are reserved), and, for a collection with a text
 * field, text (the record's text: a CSV column or a JSON string member;
 * in a collection without one, "text" is an ordinary metadata field).
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli.h"
#include "clidb.h"
#include "import.h"
#include "readers.h"
#include "textio.h"
#include "vexdb.h"

#define MAX_REPORTED 20 /* skipped records reported one by one */
#define WRITE_CHUNK  65536

typedef struct recset {
    size_t n, cap;
    size_t vsize; /* bytes of one vector */
    uint64_t *ids;
    unsigned char *vecs;
    vex_meta **metas;
    vex_payload *pays;
    vex_payload *txts; /* texts (collections with a text field) */
    uint64_t *lines;
} recset;

typedef struct imp {
    const char *file;
    vex_collection *c;
    vex_collection_config cfg;
    int upsert, skip_bad, have_start, json;
    uint64_t next_id; /* --start-id, counting on across files */
    uint64_t skipped, reported;
    char why[600]; /* the current record's problem */
    float *tmp;    /* one vector as parsed, cfg.dim floats */
    vexio_jdoc *jdoc;
} imp;

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static void
why(imp *m, const char *fmt, ...);

static void why(imp *m, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m->why, sizeof m->why, fmt, ap);
    va_end(ap);
}

static void recset_free(recset *r)
{
    for (size_t i = 0; i < r->n; i++) {
        vex_meta_free(r->metas[i]);
        free((void *)r->pays[i].data);
        free((void *)r->txts[i].data);
    }
    free(r->ids);
    free(r->vecs);
    free(r->metas);
    free(r->pays);
    free(r->txts);
    free(r->lines);
    memset(r, 0, sizeof *r);
}

/* room for one more record; its slot is zeroed */
static int recset_grow(recset *r)
{
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 1024;
        void *p;
        if (!(p = realloc(r->ids, cap * sizeof *r->ids)))
            return -1;
        r->ids = p;
        if (!(p = realloc(r->vecs, cap * r->vsize)))
            return -1;
        r->vecs = p;
        if (!(p = realloc(r->metas, cap * sizeof *r->metas)))
            return -1;
        r->metas = p;
        if (!(p = realloc(r->pays, cap * sizeof *r->pays)))
            return -1;
        r->pays = p;
        if (!(p = realloc(r->txts, cap * sizeof *r->txts)))
            return -1;
        r->txts = p;
        if (!(p = realloc(r->lines, cap * sizeof *r->lines)))
            return -1;
        r->lines = p;
        r->cap = cap;
    }
    r->metas[r->n] = NULL;
    r->pays[r->n].data = NULL;
    r->pays[r->n].len = 0;
    r->txts[r->n].data = NULL;
    r->txts[r->n].len = 0;
    return 0;
}

/* drop the slot being filled (a bad record) */
static void recset_unfill(recset *r)
{
    vex_meta_free(r->metas[r->n]);
    free((void *)r->pays[r->n].data);
    free((void *)r->txts[r->n].data);
    r->metas[r->n] = NULL;
    r->pays[r->n].data = NULL;
    r->pays[r->n].len = 0;
    r->txts[r->n].data = NULL;
    r->txts[r->n].len = 0;
}

static int read_all(const char *path, char **buf, size_t *len)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    size_t cap = 1 << 16, n = 0;
    char *b;
    *buf = NULL;
    *len = 0;
    if (!f) {
        fprintf(stderr, "vex import: %s: %s\n", path, strerror(errno));
        return -1;
    }
    b = malloc(cap);
    while (b) {
        size_t got = fread(b + n, 1, cap - n, f);
        n += got;
        if (n < cap) {
            if (ferror(f)) {
                fprintf(stderr, "vex import: %s: read error: %s\n", path,
                        strerror(errno));
                free(b);
                b = NULL;
                n = 0;
                if (f != stdin)
                    fclose(f);
                return -1;
            }
            if (feof(f))
                break;
            continue;
        }
        {
            char *nb = cap > SIZE_MAX / 2 ? NULL : realloc(b, cap * 2);
            if (!nb) {
                free(b);
                b = NULL;
                break;
            }
            b = nb;
            cap *= 2;
        }
    }
    if (f != stdin)
        fclose(f);
    if (!b) {
        fprintf(stderr, "vex import: %s: out of memory\n", path);
        return -1;
    }
    *buf = b;
    *len = n;
    return 0;
}

/* ---- values ---- */

static const vex_schema_field *schema_field(const imp *m, const char *name)
{
    for (uint32_t i = 0; i < m->cfg.n_schema_fields; i++)
        if (strcmp(m->cfg.schema_fields[i].name, name) == 0)
            return &m->cfg.schema_fields[i];
    return NULL;
}

static const char *type_word(vex_type t)
{
    static const char *const w[] = {"null",   "bool",   "int",
                                    "double", "string", "tags"};
    return (unsigned)t < 6 ? w[t] : "?";
}

/* strict decimal int64 */
static int text_int(const char *s, size_t len, int64_t *out)
{
    char buf[32], *end;
    long long v;
    if (len == 0 || len >= sizeof buf)
        return 0;
    memcpy(buf, s, len);
    buf[len] = '\0';
    if (!(buf[0] == '-' || buf[0] == '+' || (buf[0] >= '0' && buf[0] <= '9')))
        return 0;
    for (size_t i = 1; i < len; i++)
        if (buf[i] < '0' || buf[i] > '9')
            return 0;
    if (len == 1 && (buf[0] == '-' || buf[0] == '+'))
        return 0;
    errno = 0;
    v = strtoll(buf, &end, 10);
    if (errno || *end)
        return 0;
    *out = v;
    return 1;
}

static int text_double(const char *s, size_t len, double *out)
{
    char buf[64], *end;
    size_t i;
    if (len == 0 || len >= sizeof buf)
        return 0;
    memcpy(buf, s, len);
    buf[len] = '\0';
    /* numbers only: no inf, nan, hex or surrounding spaces */
    for (i = 0; i < len; i++)
        if (!strchr("0123456789+-.eE", buf[i]))
            return 0;
    *out = strtod(buf, &end);
    return *end == '\0' && isfinite(*out);
}

static int text_bool(const char *s, size_t len, int *out)
{
    if ((len == 4 && strncasecmp(s, "true", 4) == 0)) {
        *out = 1;
        return 1;
    }
    if ((len == 5 && strncasecmp(s, "false", 5) == 0)) {
        *out = 0;
        return 1;
    }
    return 0;
}

static int ensure_meta(imp *m, vex_meta **meta)
{
    if (!*meta && vex_meta_create(NULL, meta) != VEX_OK) {
        why(m, "out of memory");
        return -1;
    }
    return 0;
}

static int meta_rc(imp *m, vex_meta *meta, const char *name, int rc)
{
    if (rc != VEX_OK) {
        why(m, "field \"%s\": %s", name,
            rc == VEX_NOMEM ? "out of memory" : vex_meta_errmsg(meta));
        return -1;
    }
    return 0;
}

/* set tags from n strings (copied to NUL-terminated ones) */
static int set_tags(imp *m, vex_meta *meta, const char *name,
                    const char *const *s, const size_t *lens, size_t n)
{
    char **t = calloc(n ? n : 1, sizeof *t);
    int rc = VEX_OK;
    if (!t) {
        why(m, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < n && rc == VEX_OK; i++) {
        if (memchr(s[i], '\0', lens[i])) {
            why(m, "field \"%s\": tag %zu holds a NUL byte", name, i + 1);
            rc = VEX_INVALID;
            break;
        }
        if (!(t[i] = malloc(lens[i] + 1))) {
            rc = VEX_NOMEM;
            break;
        }
        memcpy(t[i], s[i], lens[i]);
        t[i][lens[i]] = '\0';
    }
    if (rc == VEX_OK)
        rc = meta_rc(
                 m, meta, name,
                 vex_meta_set_tags(meta, name, (const char *const *)t, n)) == 0
                 ? VEX_OK
                 : VEX_INVALID;
    else if (rc == VEX_NOMEM)
        why(m, "out of memory");
    for (size_t i = 0; i < n; i++)
        free(t[i]);
    free(t);
    return rc == VEX_OK ? 0 : -1;
}

/* A JSON value as field `name` (schema type or its own type). */
static int set_json(imp *m, vex_meta *meta, const char *name,
                    const vexio_json *v)
{
    const vex_schema_field *sf = schema_field(m, name);
    vex_type want = sf ? sf->type : VEX_TYPE_NULL;
    if (!sf && m->cfg.schema_closed) {
        why(m, "field \"%s\": not in the collection's closed schema", name);
        return -1;
    }
    if (v->type == VEXIO_JNULL)
        return meta_rc(m, meta, name, vex_meta_set_null(meta, name));
    switch (v->type) {
    case VEXIO_JBOOL:
        if (sf && want != VEX_TYPE_BOOL)
            break;
        return meta_rc(m, meta, name, vex_meta_set_bool(meta, name, v->b));
    case VEXIO_JNUMBER:
        if (sf && want == VEX_TYPE_DOUBLE)
            return meta_rc(m, meta, name,
                           vex_meta_set_double(meta, name, v->d));
        if (sf && want != VEX_TYPE_INT)
            break;
        if (v->is_int)
            return meta_rc(m, meta, name, vex_meta_set_int(meta, name, v->i));
        if (sf) {
            why(m,
                "field \"%s\": expected int, got a number that is not an "
                "int64 integer",
                name);
            return -1;
        }
        if (!isfinite(v->d)) {
            why(m, "field \"%s\": a number out of range", name);
            return -1;
        }
        return meta_rc(m, meta, name, vex_meta_set_double(meta, name, v->d));
    case VEXIO_JSTRING:
        if (sf && want != VEX_TYPE_STRING)
            break;
        return meta_rc(m, meta, name,
                       vex_meta_set_string(meta, name, v->s, v->len));
    case VEXIO_JARRAY: {
        const char **s;
        size_t *lens;
        int rc;
        if (sf && want != VEX_TYPE_TAGS)
            break;
        s = calloc(v->n ? v->n : 1, sizeof *s);
        lens = calloc(v->n ? v->n : 1, sizeof *lens);
        if (!s || !lens) {
            free(s);
            free(lens);
            why(m, "out of memory");
            return -1;
        }
        for (size_t i = 0; i < v->n; i++) {
            if (v->items[i].type != VEXIO_JSTRING) {
                free(s);
                free(lens);
                why(m,
                    "field \"%s\": element %zu of the array is not a "
                    "string (arrays are tags: lists of strings)",
                    name, i + 1);
                return -1;
            }
            s[i] = v->items[i].s;
            lens[i] = v->items[i].len;
        }
        rc = set_tags(m, meta, name, s, lens, v->n);
        free(s);
        free(lens);
        return rc;
    }
    case VEXIO_JOBJECT:
    default:
        why(m, "field \"%s\": an object is not a metadata value", name);
        return -1;
    }
    why(m, "field \"%s\": expected %s, got %s", name, type_word(want),
        v->type == VEXIO_JBOOL     ? "a bool"
        : v->type == VEXIO_JNUMBER ? "a number"
        : v->type == VEXIO_JSTRING ? "a string"
                                   : "an array");
    return -1;
}

/* split a CSV tags cell: a JSON array of strings, or comma-separated */
static int set_csv_tags(imp *m, vex_meta *meta, const char *name, const char *s,
                        size_t len)
{
    const char *parts[1024];
    size_t lens[1024], n = 0, i = 0;
    if (len > 0 && s[0] == '[') {
        const vexio_json *v;
        vexio_error err;
        if (vexio_json_parse(m->jdoc, s, len, "tags", 1, &v, &err) != VEX_OK ||
            v->type != VEXIO_JARRAY) {
            why(m,
                "field \"%s\": a tags value starting with '[' must be a "
                "JSON array of strings",
                name);
            return -1;
        }
        return set_json(m, meta, name, v);
    }
    while (i <= len) {
        size_t j = i;
        while (j < len && s[j] != ',')
            j++;
        if (n == 1024) {
            why(m, "field \"%s\": more than 1024 tags", name);
            return -1;
        }
        parts[n] = s + i;
        lens[n++] = j - i;
        i = j + 1;
    }
    return set_tags(m, meta, name, parts, lens, n);
}

/* A CSV cell as field `name`. */
static int set_csv(imp *m, vex_meta *meta, const char *name,
                   const vexio_csv_cell *cell)
{
    const vex_schema_field *sf = schema_field(m, name);
    int64_t i;
    double d;
    int b;
    if (!sf && m->cfg.schema_closed) {
        why(m, "field \"%s\": not in the collection's closed schema", name);
        return -1;
    }
    if (cell->len == 0 && !cell->quoted)
        return meta_rc(m, meta, name, vex_meta_set_null(meta, name));
    if (!sf) {
        if (text_bool(cell->s, cell->len, &b))
            return meta_rc(m, meta, name, vex_meta_set_bool(meta, name, b));
        if (text_int(cell->s, cell->len, &i))
            return meta_rc(m, meta, name, vex_meta_set_int(meta, name, i));
        if (text_double(cell->s, cell->len, &d))
            return meta_rc(m, meta, name, vex_meta_set_double(meta, name, d));
        return meta_rc(m, meta, name,
                       vex_meta_set_string(meta, name, cell->s, cell->len));
    }
    switch (sf->type) {
    case VEX_TYPE_BOOL:
        if (text_bool(cell->s, cell->len, &b))
            return meta_rc(m, meta, name, vex_meta_set_bool(meta, name, b));
        break;
    case VEX_TYPE_INT:
        if (text_int(cell->s, cell->len, &i))
            return meta_rc(m, meta, name, vex_meta_set_int(meta, name, i));
        break;
    case VEX_TYPE_DOUBLE:
        if (text_double(cell->s, cell->len, &d))
            return meta_rc(m, meta, name, vex_meta_set_double(meta, name, d));
        break;
    case VEX_TYPE_STRING:
        return meta_rc(m, meta, name,
                       vex_meta_set_string(meta, name, cell->s, cell->len));
    case VEX_TYPE_TAGS:
        return set_csv_tags(m, meta, name, cell->s, cell->len);
    default:
        break;
    }
    why(m, "field \"%s\": expected %s, got \"%.*s\"", name, type_word(sf->type),
        (int)(cell->len > 60 ? 60 : cell->len), cell->s);
    return -1;
}

/* Required schema fields present and not null. */
static int check_required(imp *m, const vex_meta *meta)
{
    for (uint32_t k = 0; k < m->cfg.n_schema_fields; k++) {
        const vex_schema_field *sf = &m->cfg.schema_fields[k];
        size_t i;
        vex_field f;
        if (sf->nullable)
            continue;
        if (!meta || vex_meta_find(meta, sf->name, &i) != VEX_OK ||
            vex_meta_field(meta, i, &f) != VEX_OK || f.type == VEX_TYPE_NULL) {
            why(m, "field \"%s\": required by the schema but %s", sf->name,
                meta && vex_meta_find(meta, sf->name, &i) == VEX_OK
                    ? "null"
                    : "missing");
            return -1;
        }
    }
    return 0;
}

/* Check the parsed vector m->tmp and store it at dst in the collection's
 * element type: float32 as is, bit vectors packed (each element 0 or 1,
 * element i in bit i % 8 of byte i / 8). */
static int store_vector(imp *m, unsigned char *dst)
{
    const float *v = m->tmp;
    int nonzero = 0;
    if (m->cfg.elem == VEX_ELEM_BIT) {
        memset(dst, 0, vex_vector_size(m->cfg.elem, m->cfg.dim));
        for (uint32_t i = 0; i < m->cfg.dim; i++) {
            if (v[i] != 0 && v[i] != 1) {
                why(m,
                    "field \"vector\": element %u is not 0 or 1 (the "
                    "collection holds bit vectors)",
                    i + 1);
                return -1;
            }
            if (v[i] == 1)
                dst[i / 8] |= (unsigned char)(1u << (i % 8));
        }
        return 0;
    }
    for (uint32_t i = 0; i < m->cfg.dim; i++) {
        if (!isfinite(v[i])) {
            why(m, "field \"vector\": element %u is not finite", i + 1);
            return -1;
        }
        nonzero |= v[i] != 0;
    }
    if (!nonzero && m->cfg.metric == VEX_METRIC_COSINE) {
        why(m, "field \"vector\": the zero vector has no direction (cosine)");
        return -1;
    }
    memcpy(dst, v, m->cfg.dim * sizeof *v);
    return 0;
}

/* "[1, 2.5]" or "1,2.5" (CSV) into v */
static int text_vector(imp *m, const char *s, size_t len, float *v)
{
    uint32_t n = 0;
    size_t i = 0;
    char buf[64];
    while (i < len && s[i] == ' ')
        i++;
    if (i < len && s[i] == '[') {
        i++;
        while (len > i && (s[len - 1] == ' '))
            len--;
        if (len <= i || s[len - 1] != ']') {
            why(m, "field \"vector\": '[' without a closing ']'");
            return -1;
        }
        len--;
    }
    for (;;) {
        size_t j;
        char *end;
        double x;
        while (i < len && s[i] == ' ')
            i++;
        j = i;
        while (j < len && s[j] != ',')
            j++;
        while (j > i && s[j - 1] == ' ')
            j--;
        if (j - i == 0 || j - i >= sizeof buf) {
            why(m, "field \"vector\": element %u is empty or too long", n + 1);
            return -1;
        }
        memcpy(buf, s + i, j - i);
        buf[j - i] = '\0';
        x = strtod(buf, &end);
        if (*end || !isfinite(x) || fabs(x) > 3.4028234663852886e38) {
            why(m,
                "field \"vector\": element %u is \"%s\", not a finite "
                "number",
                n + 1, buf);
            return -1;
        }
        if (n < m->cfg.dim)
            v[n] = (float)x;
        n++;
        while (j < len && s[j] == ' ')
            j++;
        if (j >= len)
            break;
        i = j + 1; /* past the comma */
    }
    if (n != m->cfg.dim) {
        why(m,
            "field \"vector\": %u numbers, the collection's dimension is "
            "%u",
            n, m->cfg.dim);
        return -1;
    }
    return 0;
}

static int json_vector(imp *m, const vexio_json *v, float *out)
{
    if (v->type != VEXIO_JARRAY) {
        why(m, "field \"vector\": expected an array of numbers");
        return -1;
    }
    if (v->n != m->cfg.dim) {
        why(m,
            "field \"vector\": %zu numbers, the collection's dimension is "
            "%u",
            v->n, m->cfg.dim);
        return -1;
    }
    for (size_t i = 0; i < v->n; i++) {
        if (v->items[i].type != VEXIO_JNUMBER || !isfinite(v->items[i].d) ||
            fabs(v->items[i].d) > 3.4028234663852886e38) {
            why(m,
                "field \"vector\": element %zu is not a finite float32 "
                "number",
                i + 1);
            return -1;
        }
        out[i] = (float)v->items[i].d;
    }
    return 0;
}

static int take_id(imp *m, int has, uint64_t id, uint64_t *out)
{
    if (has && m->have_start) {
        why(m, "field \"id\": the record has an id and --start-id was given "
               "(use one or the other)");
        return -1;
    }
    if (!has && !m->have_start) {
        why(m, "no id (give each record an id, or --start-id N to number "
               "them)");
        return -1;
    }
    *out = has ? id : m->next_id++;
    return 0;
}

static int set_payload(imp *m, vex_payload *p, const char *s, size_t len)
{
    char *d;
    if (len == 0)
        return 0;
    if (len > VEX_MAX_PAYLOAD) {
        why(m, "field \"payload\": %zu bytes, at most %d", len,
            VEX_MAX_PAYLOAD);
        return -1;
    }
    if (!(d = malloc(len))) {
        why(m, "out of memory");
        return -1;
    }
    memcpy(d, s, len);
    p->data = d;
    p->len = len;
    return 0;
}

/* The record's text (a collection with a text field): valid UTF-8 of at
 * most VEX_MAX_TEXT bytes, copied; empty = none. */
static int set_text(imp *m, vex_payload *p, const char *s, size_t len)
{
    char *d;
    if (len == 0)
        return 0;
    if (len > VEX_MAX_TEXT) {
        why(m, "field \"text\": %zu bytes, at most %u", len,
            (unsigned)VEX_MAX_TEXT);
        return -1;
    }
    if (!vexio_utf8_valid(s, len)) {
        why(m, "field \"text\": not valid UTF-8");
        return -1;
    }
    if (!(d = malloc(len))) {
        why(m, "out of memory");
        return -1;
    }
    memcpy(d, s, len);
    p->data = d;
    p->len = len;
    return 0;
}

static int b64v(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    return c == '+' ? 62 : c == '/' ? 63 : -1;
}

static int set_payload_b64(imp *m, vex_payload *p, const char *s, size_t len)
{
    unsigned char *d;
    size_t n = 0, pad = 0;
    if (len % 4) {
        why(m, "field \"payload_base64\": not base64 (length %zu)", len);
        return -1;
    }
    if (len && s[len - 1] == '=')
        pad++;
    if (len > 1 && s[len - 2] == '=')
        pad++;
    if (!(d = malloc(len / 4 * 3 + 1))) {
        why(m, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < len; i += 4) {
        int v[4];
        for (int k = 0; k < 4; k++) {
            v[k] = (i + (size_t)k >= len - pad) ? 0 : b64v(s[i + k]);
            if (v[k] < 0) {
                free(d);
                why(m, "field \"payload_base64\": not base64");
                return -1;
            }
        }
        d[n++] = (unsigned char)(v[0] << 2 | v[1] >> 4);
        d[n++] = (unsigned char)((v[1] & 15) << 4 | v[2] >> 2);
        d[n++] = (unsigned char)((v[2] & 3) << 6 | v[3]);
    }
    n -= pad;
    if (n > VEX_MAX_PAYLOAD) {
        free(d);
        why(m, "field \"payload_base64\": %zu bytes, at most %d", n,
            VEX_MAX_PAYLOAD);
        return -1;
    }
    if (n == 0)
        free(d);
    else {
        p->data = d;
        p->len = n;
    }
    return 0;
}

/* A bad record: stop (-1) or skip and count (0). */
static int bad_record(imp *m, const char *where)
{
    if (!m->skip_bad) {
        fprintf(stderr, "vex import: %s: %s\n", where, m->why);
        fprintf(stderr,
                "vex import: nothing of %s was imported "
                "(--skip-bad skips bad records)\n",
                m->file);
        return -1;
    }
    m->skipped++;
    if (m->reported++ < MAX_REPORTED)
        fprintf(stderr, "vex import: skipped %s: %s\n", where, m->why);
    return 0;
}

/* ---- CSV ---- */

static int parse_csv(imp *m, const char *buf, size_t len, recset *rs)
{
    vexio_csv *r = NULL;
    vexio_error err;
    const vexio_csv_cell *cells;
    uint64_t line;
    size_t nc, i;
    long id_col = -1, vec_col = -1, pay_col = -1, txt_col = -1;
    vex_cli_meter meter;
    int rc, status = -1;
    char where[600];
    if (vexio_csv_open(buf, len, m->file, &r, &err) != VEX_OK) {
        fprintf(stderr, "vex import: %s\n", err.msg);
        return -1;
    }
    nc = vexio_csv_columns(r);
    for (i = 0; i < nc; i++) {
        const char *name = vexio_csv_column(r, i);
        if (strcmp(name, "id") == 0)
            id_col = (long)i;
        else if (strcmp(name, "vector") == 0)
            vec_col = (long)i;
        else if (strcmp(name, "payload") == 0)
            pay_col = (long)i;
        else if (m->cfg.text && strcmp(name, "text") == 0)
            txt_col = (long)i;
        else if (!schema_field(m, name) && m->cfg.schema_closed) {
            fprintf(stderr,
                    "vex import: %s:1: column \"%s\" is not in the "
                    "collection's closed schema\n",
                    m->file, name);
            goto out;
        }
    }
    if (vec_col < 0) {
        fprintf(stderr,
                "vex import: %s:1: no \"vector\" column (the vector is one "
                "field: \"0.1,0.2,...\" or \"[0.1, 0.2, ...]\")\n",
                m->file);
        goto out;
    }
    vex_cli_meter_start(&meter, m->file, "bytes");
    while ((rc = vexio_csv_next(r, &cells, &line, &err)) != 0) {
        uint64_t id = 0;
        int ok = 1;
        vex_meta **meta;
        if (rc < 0) {
            if (-rc == VEX_NOMEM) {
                fprintf(stderr, "vex import: %s\n", err.msg);
                goto out;
            }
            snprintf(m->why, sizeof m->why, "%s", err.msg);
            /* the reader's message starts with file:line already */
            if (!m->skip_bad) {
                fprintf(stderr, "vex import: %s\n", err.msg);
                fprintf(stderr,
                        "vex import: nothing of %s was imported (--skip-bad "
                        "skips bad records)\n",
                        m->file);
                goto out;
            }
            m->skipped++;
            if (m->reported++ < MAX_REPORTED)
                fprintf(stderr, "vex import: skipped %s\n", err.msg);
            continue;
        }
        if (recset_grow(rs) != 0) {
            fprintf(stderr, "vex import: %s: out of memory\n", m->file);
            goto out;
        }
        meta = &rs->metas[rs->n];
        if (id_col >= 0) {
            const vexio_csv_cell *c = &cells[id_col];
            char t[32];
            if (c->len == 0 || c->len >= sizeof t) {
                why(m, "field \"id\": \"%.*s\" is not an id", (int)c->len,
                    c->s);
                ok = 0;
            } else {
                memcpy(t, c->s, c->len);
                t[c->len] = '\0';
                if (vex_cli_parse_id(t, &id) != 0) {
                    why(m, "field \"id\": \"%s\" is not an id (0..2^64-1)", t);
                    ok = 0;
                }
            }
        }
        if (ok)
            ok = take_id(m, id_col >= 0, id, &rs->ids[rs->n]) == 0;
        if (ok)
            ok = text_vector(m, cells[vec_col].s, cells[vec_col].len, m->tmp) ==
                     0 &&
                 store_vector(m, rs->vecs + rs->n * rs->vsize) == 0;
        for (i = 0; ok && i < nc; i++) {
            if ((long)i == id_col || (long)i == vec_col || (long)i == pay_col ||
                (long)i == txt_col)
                continue;
            ok = ensure_meta(m, meta) == 0 &&
                 set_csv(m, *meta, vexio_csv_column(r, i), &cells[i]) == 0;
        }
        if (ok && pay_col >= 0)
            ok = set_payload(m, &rs->pays[rs->n], cells[pay_col].s,
                             cells[pay_col].len) == 0;
        if (ok && txt_col >= 0)
            ok = set_text(m, &rs->txts[rs->n], cells[txt_col].s,
                          cells[txt_col].len) == 0;
        if (ok)
            ok = check_required(m, *meta) == 0;
        if (!ok) {
            recset_unfill(rs);
            snprintf(where, sizeof where, "%s:%" PRIu64, m->file, line);
            if (bad_record(m, where) != 0)
                goto out;
            continue;
        }
        rs->lines[rs->n++] = line;
        if ((rs->n & 1023) == 0)
            vex_cli_meter_update(&meter, vexio_csv_offset(r), len);
    }
    vex_cli_meter_done(&meter);
    status = 0;
out:
    vexio_csv_free(r);
    return status;
}

/* ---- JSON Lines ---- */

static int json_fields(imp *m, const vexio_json *o, vex_meta **meta, int nested)
{
    for (size_t i = 0; i < o->n; i++) {
        const char *k = o->keys[i];
        int reserved = 0;
        for (const char *const *r = vex_cli_reserved; *r; r++)
            reserved |= strcmp(*r, k) == 0;
        reserved |= m->cfg.text && strcmp(k, "text") == 0;
        if (!nested && reserved)
            continue;
        if (strlen(k) != o->key_lens[i]) {
            why(m, "a key holds a NUL byte");
            return -1;
        }
        if (ensure_meta(m, meta) != 0 || set_json(m, *meta, k, &o->items[i]))
            return -1;
    }
    return 0;
}

static int json_record(imp *m, const vexio_json *o, recset *rs)
{
    const vexio_json *idv, *vec, *pay, *pay64, *nest;
    uint64_t id = 0;
    vex_meta **meta = &rs->metas[rs->n];
    if (o->type != VEXIO_JOBJECT) {
        why(m, "a line must hold one JSON object");
        return -1;
    }
    idv = vexio_json_get(o, "id");
    if (idv && idv->type == VEXIO_JNUMBER && idv->is_u64) {
        id = idv->u;
    } else if (idv && idv->type == VEXIO_JSTRING && idv->len < 32 &&
               !memchr(idv->s, '\0', idv->len) &&
               vex_cli_parse_id(idv->s, &id) == 0) {
        /* an id as a decimal string, for ids past 2^53 */
    } else if (idv) {
        why(m, "field \"id\": not an id (an integer in 0..2^64-1)");
        return -1;
    }
    if (take_id(m, idv != NULL, id, &rs->ids[rs->n]) != 0)
        return -1;
    vec = vexio_json_get(o, "vector");
    if (!vec) {
        why(m, "no \"vector\" member");
        return -1;
    }
    if (json_vector(m, vec, m->tmp) != 0 ||
        store_vector(m, rs->vecs + rs->n * rs->vsize) != 0)
        return -1;
    if (json_fields(m, o, meta, 0) != 0)
        return -1;
    nest = vexio_json_get(o, "meta");
    if (nest) {
        if (nest->type != VEXIO_JOBJECT) {
            why(m, "field \"meta\": expected an object of fields");
            return -1;
        }
        if (json_fields(m, nest, meta, 1) != 0)
            return -1;
    }
    pay = vexio_json_get(o, "payload");
    pay64 = vexio_json_get(o, "payload_base64");
    if (pay && pay64) {
        why(m, "both \"payload\" and \"payload_base64\"");
        return -1;
    }
    if (pay && pay->type != VEXIO_JSTRING) {
        why(m, "field \"payload\": expected a string");
        return -1;
    }
    if (pay64 && pay64->type != VEXIO_JSTRING) {
        why(m, "field \"payload_base64\": expected a string");
        return -1;
    }
    if (pay && set_payload(m, &rs->pays[rs->n], pay->s, pay->len) != 0)
        return -1;
    if (pay64 && set_payload_b64(m, &rs->pays[rs->n], pay64->s, pay64->len))
        return -1;
    if (m->cfg.text) {
        const vexio_json *t = vexio_json_get(o, "text");
        if (t && t->type != VEXIO_JSTRING && t->type != VEXIO_JNULL) {
            why(m, "field \"text\": expected a string");
            return -1;
        }
        if (t && t->type == VEXIO_JSTRING &&
            set_text(m, &rs->txts[rs->n], t->s, t->len) != 0)
            return -1;
    }
    return check_required(m, *meta);
}

static int parse_jsonl(imp *m, const char *buf, size_t len, recset *rs)
{
    size_t pos = 0;
    uint64_t line = 0;
    vex_cli_meter meter;
    char where[600];
    /* a UTF-8 byte order mark, as some Windows tools write (the CSV
     * reader skips it too) */
    if (len >= 3 && memcmp(buf, "\xef\xbb\xbf", 3) == 0)
        pos = 3;
    {
        size_t k = pos;
        while (k < len && (buf[k] == ' ' || buf[k] == '\t' || buf[k] == '\r' ||
                           buf[k] == '\n'))
            k++;
        if (k < len && buf[k] == '[') {
            fprintf(stderr,
                    "vex import: %s: starts with '[': JSON Lines holds one "
                    "object per line, not an array (jq -c '.[]' converts "
                    "one)\n",
                    m->file);
            return -1;
        }
    }
    vex_cli_meter_start(&meter, m->file, "bytes");
    while (pos < len) {
        size_t end = pos, e2;
        const vexio_json *root;
        vexio_error err;
        int rc;
        while (end < len && buf[end] != '\n')
            end++;
        line++;
        e2 = end;
        if (e2 > pos && buf[e2 - 1] == '\r')
            e2--;
        {
            size_t k = pos;
            while (k < e2 && (buf[k] == ' ' || buf[k] == '\t'))
                k++;
            if (k == e2) { /* a blank line */
                pos = end + 1;
                continue;
            }
        }
        if (recset_grow(rs) != 0) {
            fprintf(stderr, "vex import: %s: out of memory\n", m->file);
            return -1;
        }
        rc = vexio_json_parse(m->jdoc, buf + pos, e2 - pos, m->file, line,
                              &root, &err);
        if (rc == VEX_NOMEM) {
            fprintf(stderr, "vex import: %s\n", err.msg);
            return -1;
        }
        snprintf(where, sizeof where, "%s:%" PRIu64, m->file, line);
        if (rc != VEX_OK) {
            /* err names file:line:col */
            snprintf(m->why, sizeof m->why, "%s", err.msg);
            if (!m->skip_bad) {
                fprintf(stderr, "vex import: %s\n", err.msg);
                fprintf(stderr,
                        "vex import: nothing of %s was imported (--skip-bad "
                        "skips bad records)\n",
                        m->file);
                return -1;
            }
            m->skipped++;
            if (m->reported++ < MAX_REPORTED)
                fprintf(stderr, "vex import: skipped %s\n", err.msg);
        } else if (json_record(m, root, rs) != 0) {
            recset_unfill(rs);
            if (bad_record(m, where) != 0)
                return -1;
        } else {
            rs->lines[rs->n++] = line;
        }
        if ((line & 1023) == 0)
            vex_cli_meter_update(&meter, end, len);
        pos = end + 1;
    }
    vex_cli_meter_done(&meter);
    return 0;
}

/* ---- vector files ---- */

static int read_id_file(const char *path, uint64_t n, uint64_t **out)
{
    uint64_t *ids = malloc((n ? n : 1) * sizeof *ids);
    vexio_error err;
    *out = NULL;
    if (!ids) {
        fprintf(stderr, "vex import: out of memory\n");
        return -1;
    }
    if (vexio_format_from_name(path) == VEXIO_NPY) {
        vexio_ids v;
        uint64_t count;
        if (vexio_read_ids(path, VEXIO_NPY, 0, &v, &err) != VEX_OK) {
            fprintf(stderr, "vex import: %s\n", err.msg);
            free(ids);
            return -1;
        }
        count = v.n == 1 ? v.k : v.k == 1 ? v.n : 0;
        if (count != n) {
            fprintf(stderr,
                    "vex import: %s: %" PRIu64 " x %u ids; one id per vector "
                    "(%" PRIu64 ") wanted\n",
                    path, v.n, v.k, n);
            vexio_ids_free(&v);
            free(ids);
            return -1;
        }
        for (uint64_t i = 0; i < n; i++) {
            if (v.ids[i] < 0) {
                fprintf(stderr, "vex import: %s: id %" PRIu64 " is negative\n",
                        path, i);
                vexio_ids_free(&v);
                free(ids);
                return -1;
            }
            ids[i] = (uint64_t)v.ids[i];
        }
        vexio_ids_free(&v);
    } else {
        FILE *f = fopen(path, "r");
        char line[64];
        uint64_t i = 0, ln = 0;
        if (!f) {
            fprintf(stderr, "vex import: %s: %s\n", path, strerror(errno));
            free(ids);
            return -1;
        }
        while (fgets(line, sizeof line, f)) {
            size_t l = strcspn(line, "\r\n");
            ln++;
            if (line[l] == '\0' && !feof(f)) {
                fprintf(stderr,
                        "vex import: %s:%" PRIu64 ": line too long for an "
                        "id\n",
                        path, ln);
                fclose(f);
                free(ids);
                return -1;
            }
            line[l] = '\0';
            if (l == 0)
                continue;
            if (i == n || vex_cli_parse_id(line, &ids[i]) != 0) {
                fprintf(stderr, "vex import: %s:%" PRIu64 ": %s\n", path, ln,
                        i == n ? "more ids than vectors"
                               : "not an id (one decimal id per line)");
                fclose(f);
                free(ids);
                return -1;
            }
            i++;
        }
        fclose(f);
        if (i != n) {
            fprintf(stderr,
                    "vex import: %s: %" PRIu64 " ids for %" PRIu64 " vectors\n",
                    path, i, n);
            free(ids);
            return -1;
        }
    }
    *out = ids;
    return 0;
}

static int parse_vectors(imp *m, const char *ids_path, recset *rs)
{
    vexio_vectors v;
    vexio_error err;
    uint64_t *ids = NULL, total;
    char where[600];
    if (vexio_read_vectors(m->file, VEXIO_AUTO, 0, &v, &err) != VEX_OK) {
        fprintf(stderr, "vex import: %s\n", err.msg);
        return -1;
    }
    if (v.dim != m->cfg.dim) {
        fprintf(stderr,
                "vex import: %s: vectors of %u dimensions; the collection's "
                "have %u\n",
                m->file, v.dim, m->cfg.dim);
        vexio_vectors_free(&v);
        return -1;
    }
    if (ids_path && read_id_file(ids_path, v.n, &ids) != 0) {
        vexio_vectors_free(&v);
        return -1;
    }
    for (uint64_t i = 0; i < v.n; i++) {
        if (recset_grow(rs) != 0) {
            fprintf(stderr, "vex import: out of memory\n");
            break;
        }
        memcpy(m->tmp, v.data + i * v.dim, v.dim * sizeof(float));
        if (ids)
            rs->ids[rs->n] = ids[i];
        if ((!ids && take_id(m, 0, 0, &rs->ids[rs->n]) != 0) ||
            store_vector(m, rs->vecs + rs->n * rs->vsize) != 0) {
            snprintf(where, sizeof where, "%s: record %" PRIu64, m->file, i);
            if (bad_record(m, where) != 0)
                break;
            continue;
        }
        rs->lines[rs->n++] = i;
    }
    total = v.n;
    free(ids);
    vexio_vectors_free(&v);
    return rs->n + m->skipped == total ? 0 : -1;
}

/* ---- checks across records, then the write ---- */

typedef struct id_pos {
    uint64_t id;
    size_t i;
} id_pos;

static int cmp_id_pos(const void *a, const void *b)
{
    const id_pos *x = a, *y = b;
    if (x->id != y->id)
        return x->id < y->id ? -1 : 1;
    return x->i < y->i ? -1 : x->i > y->i;
}

static void line_name(const imp *m, const recset *rs, size_t i, char *buf,
                      size_t size, int vecfile)
{
    if (vecfile)
        snprintf(buf, size, "%s: record %" PRIu64, m->file, rs->lines[i]);
    else
        snprintf(buf, size, "%s:%" PRIu64, m->file, rs->lines[i]);
}

/* Compact rs, keeping the records whose keep[i] is set. */
static void recset_keep(recset *rs, const unsigned char *keep)
{
    size_t o = 0;
    for (size_t i = 0; i < rs->n; i++) {
        if (!keep[i]) {
            vex_meta_free(rs->metas[i]);
            free((void *)rs->pays[i].data);
            free((void *)rs->txts[i].data);
            continue;
        }
        if (o != i) {
            rs->ids[o] = rs->ids[i];
            memmove(rs->vecs + o * rs->vsize, rs->vecs + i * rs->vsize,
                    rs->vsize);
            rs->metas[o] = rs->metas[i];
            rs->pays[o] = rs->pays[i];
            rs->txts[o] = rs->txts[i];
            rs->lines[o] = rs->lines[i];
        }
        o++;
    }
    rs->n = o;
}

/* Inserts: ids repeated in the file, or present in the collection. */
static int check_ids(imp *m, recset *rs, int vecfile)
{
    id_pos *ip;
    unsigned char *keep;
    float *vec;
    char where[600];
    int status = -1;
    if (m->upsert || rs->n == 0)
        return 0;
    ip = malloc(rs->n * sizeof *ip);
    keep = malloc(rs->n);
    vec = malloc(vex_vector_size(m->cfg.elem, m->cfg.dim));
    if (!ip || !keep || !vec) {
        fprintf(stderr, "vex import: out of memory\n");
        goto out;
    }
    memset(keep, 1, rs->n);
    for (size_t i = 0; i < rs->n; i++) {
        ip[i].id = rs->ids[i];
        ip[i].i = i;
    }
    qsort(ip, rs->n, sizeof *ip, cmp_id_pos);
    for (size_t k = 1; k < rs->n; k++) {
        if (ip[k].id != ip[k - 1].id)
            continue;
        keep[ip[k].i] = 0;
        line_name(m, rs, ip[k].i, where, sizeof where, vecfile);
        why(m,
            "field \"id\": id %" PRIu64 " repeats the record of line %" PRIu64
            " (--upsert lets the later one win)",
            ip[k].id, rs->lines[ip[k - 1].i]);
        if (vecfile)
            why(m,
                "id %" PRIu64 " repeats record %" PRIu64
                " (--upsert lets the later one win)",
                ip[k].id, rs->lines[ip[k - 1].i]);
        if (bad_record(m, where) != 0)
            goto out;
    }
    if (vex_collection_count(m->c) > 0) {
        for (size_t i = 0; i < rs->n; i++) {
            int rc;
            if (!keep[i])
                continue;
            rc = vex_get(m->c, rs->ids[i], vec);
            if (rc == VEX_NOTFOUND)
                continue;
            if (rc != VEX_OK) {
                fprintf(stderr, "vex import: %s\n",
                        vex_collection_errmsg(m->c));
                goto out;
            }
            keep[i] = 0;
            line_name(m, rs, i, where, sizeof where, vecfile);
            why(m,
                "field \"id\": id %" PRIu64 " is already in the collection "
                "(--upsert replaces records)",
                rs->ids[i]);
            if (bad_record(m, where) != 0)
                goto out;
        }
    }
    recset_keep(rs, keep);
    status = 0;
out:
    free(ip);
    free(keep);
    free(vec);
    return status;
}

static int write_records(imp *m, recset *rs, uint64_t *written)
{
    vex_cli_meter meter;
    size_t done = 0;
    int any_meta = 0, any_pay = 0, any_txt = 0;
    *written = 0;
    for (size_t i = 0; i < rs->n; i++) {
        any_meta |= rs->metas[i] != NULL;
        any_pay |= rs->pays[i].len != 0;
        any_txt |= rs->txts[i].len != 0;
    }
    vex_cli_meter_start(&meter, "writing", "records");
    while (done < rs->n) {
        size_t n = rs->n - done < WRITE_CHUNK ? rs->n - done : WRITE_CHUNK;
        size_t n_done = 0;
        const vex_meta *const *metas =
            any_meta ? (const vex_meta *const *)rs->metas + done : NULL;
        const vex_payload *pays = any_pay ? rs->pays + done : NULL;
        const vex_payload *txts = any_txt ? rs->txts + done : NULL;
        int rc = m->upsert ? vex_upsert_many_text(m->c, n, rs->ids + done,
                                                  rs->vecs + done * rs->vsize,
                                                  metas, pays, txts, &n_done)
                           : vex_insert_many_text(m->c, n, rs->ids + done,
                                                  rs->vecs + done * rs->vsize,
                                                  metas, pays, txts, &n_done);
        done += n_done;
        *written = done;
        if (rc != VEX_OK) {
            vex_cli_meter_done(&meter);
            fprintf(stderr, "vex import: %s: %s\n", m->file,
                    vex_collection_errmsg(m->c));
            fprintf(stderr,
                    "vex import: %zu of the %zu good records of %s were "
                    "written before the failure\n",
                    done, rs->n, m->file);
            return -1;
        }
        vex_cli_meter_update(&meter, done, rs->n);
    }
    vex_cli_meter_done(&meter);
    return 0;
}

typedef enum fkind { F_CSV, F_JSONL, F_VECS } fkind;

static int file_kind(const char *path, const char *forced, fkind *k)
{
    const char *ext = strrchr(path, '.');
    const char *f = forced ? forced : ext ? ext + 1 : "";
    if (strcmp(f, "csv") == 0)
        *k = F_CSV;
    else if (strcmp(f, "jsonl") == 0 || strcmp(f, "ndjson") == 0 ||
             strcmp(f, "json") == 0)
        *k = F_JSONL;
    else if (strcmp(f, "fvecs") == 0 || strcmp(f, "bvecs") == 0 ||
             strcmp(f, "npy") == 0)
        *k = F_VECS;
    else
        return -1;
    return 0;
}

static int import_file(imp *m, fkind kind, const char *ids_path,
                       uint64_t *written)
{
    recset rs;
    char *buf = NULL;
    size_t len = 0;
    int status = -1;
    memset(&rs, 0, sizeof rs);
    rs.vsize = vex_vector_size(m->cfg.elem, m->cfg.dim);
    *written = 0;
    if (kind == F_VECS) {
        if (parse_vectors(m, ids_path, &rs) != 0)
            goto out;
    } else {
        if (read_all(m->file, &buf, &len) != 0)
            goto out;
        if ((kind == F_CSV ? parse_csv(m, buf, len, &rs)
                           : parse_jsonl(m, buf, len, &rs)) != 0)
            goto out;
        free(buf);
        buf = NULL;
    }
    if (check_ids(m, &rs, kind == F_VECS) != 0)
        goto out;
    if (write_records(m, &rs, written) != 0)
        goto out;
    status = 0;
out:
    free(buf);
    recset_free(&rs);
    return status;
}

int vex_import_check(vex_collection *c, const char *name, const char *data,
                     size_t len, const vex_import_check_options *o,
                     uint64_t *n_good, uint64_t *n_bad)
{
    imp m;
    recset rs;
    int status = -1;
    memset(&m, 0, sizeof m);
    memset(&rs, 0, sizeof rs);
    m.file = name;
    m.c = c;
    m.upsert = o->upsert;
    m.skip_bad = o->skip_bad;
    m.have_start = o->have_start;
    m.next_id = o->start_id;
    vex_collection_get_config(c, &m.cfg);
    rs.vsize = vex_vector_size(m.cfg.elem, m.cfg.dim);
    m.tmp = malloc(m.cfg.dim * sizeof *m.tmp);
    if (m.tmp == NULL || vexio_jdoc_create(&m.jdoc) != VEX_OK) {
        fprintf(stderr, "vex import: out of memory\n");
        goto out;
    }
    if ((o->jsonl ? parse_jsonl(&m, data, len, &rs)
                  : parse_csv(&m, data, len, &rs)) != 0 ||
        check_ids(&m, &rs, 0) != 0)
        goto out;
    *n_good = rs.n;
    *n_bad = m.skipped;
    status = 0;
out:
    vexio_jdoc_free(m.jdoc);
    free(m.tmp);
    recset_free(&rs);
    return status;
}

static int run_import(const vex_cmd *cmd, const vex_optval *vals, char **pos,
                      int n_pos)
{
    const vex_optval *start = &vals[vex_args_index(cmd, "start-id")];
    const vex_optval *ids = &vals[vex_args_index(cmd, "ids")];
    const vex_optval *fmt = &vals[vex_args_index(cmd, "format")];
    imp m;
    vex_db *db = NULL;
    fkind kinds[VEX_MAX_POS];
    uint64_t total = 0, total_skipped = 0;
    int status = VEX_EXIT_FAIL, i;
    memset(&m, 0, sizeof m);
    m.upsert = vals[vex_args_index(cmd, "upsert")].given;
    m.skip_bad = vals[vex_args_index(cmd, "skip-bad")].given;
    m.json = vals[vex_args_index(cmd, "json")].given;
    m.have_start = start->given;
    m.next_id = start->u;
    for (i = 2; i < n_pos; i++) {
        if (file_kind(pos[i], fmt->given ? fmt->str : NULL, &kinds[i]) != 0) {
            fprintf(stderr,
                    "vex import: %s: %s (csv, jsonl, fvecs, bvecs, npy; "
                    "--format names it for other file names)\n",
                    pos[i],
                    fmt->given ? "unknown --format" : "unknown file type");
            return VEX_EXIT_USAGE;
        }
        if (kinds[i] == F_VECS && !start->given && !ids->given) {
            fprintf(stderr,
                    "vex import: %s holds vectors only: give "
                    "--start-id N or --ids FILE for their ids\n",
                    pos[i]);
            return VEX_EXIT_USAGE;
        }
        if (kinds[i] == F_VECS && fmt->given &&
            vexio_format_from_name(pos[i]) == VEXIO_AUTO) {
            fprintf(stderr,
                    "vex import: %s: vector files are recognised by "
                    "their extension (.fvecs, .bvecs, .npy)\n",
                    pos[i]);
            return VEX_EXIT_USAGE;
        }
    }
    if (ids->given && (n_pos != 3 || kinds[2] != F_VECS || start->given)) {
        fprintf(stderr, "vex import: --ids goes with one vector file (.fvecs, "
                        ".bvecs, .npy) and without --start-id\n");
        return VEX_EXIT_USAGE;
    }
    if (vexio_jdoc_create(&m.jdoc) != VEX_OK) {
        fprintf(stderr, "vex import: out of memory\n");
        return VEX_EXIT_FAIL;
    }
    if (vex_cli_db_open("import", pos[0], VEX_CLI_WRITE, &db) != VEX_OK ||
        vex_cli_coll_open("import", db, pos[0], pos[1], &m.c) != VEX_OK)
        goto out;
    vex_collection_get_config(m.c, &m.cfg);
    m.tmp = malloc(m.cfg.dim * sizeof *m.tmp);
    if (!m.tmp) {
        fprintf(stderr, "vex import: out of memory\n");
        goto out;
    }
    status = VEX_EXIT_OK;
    for (i = 2; i < n_pos; i++) {
        uint64_t written = 0;
        m.file = pos[i];
        m.skipped = 0;
        m.reported = 0;
        if (import_file(&m, kinds[i], ids->given ? ids->str : NULL, &written) !=
            0) {
            status = VEX_EXIT_FAIL;
            if (i > 2)
                fprintf(stderr,
                        "vex import: the files before %s were imported "
                        "(%" PRIu64 " records)\n",
                        pos[i], total);
            break;
        }
        if (m.reported > MAX_REPORTED)
            fprintf(stderr, "vex import: ... %" PRIu64 " more skipped\n",
                    m.reported - MAX_REPORTED);
        total += written;
        total_skipped += m.skipped;
        if (m.json) {
            printf("{\"file\":");
            vex_cli_json_string(stdout, pos[i]);
            printf(",\"imported\":%" PRIu64 ",\"skipped\":%" PRIu64 "}\n",
                   written, m.skipped);
        } else {
            printf("%s: %" PRIu64 " records %s", pos[i], written,
                   m.upsert ? "upserted" : "inserted");
            if (m.skipped)
                printf(", %" PRIu64 " bad records skipped", m.skipped);
            putchar('\n');
        }
    }
    (void)total_skipped;
    if (total > 0) {
        /* the flush the close would do anyway, done here so that a
         * terminal says why it takes a while: every segment's index is
         * built once, from all the records imported */
        int tty = vex_cli_progress_enabled();
        if (tty)
            fprintf(stderr, "building the index of %s...", pos[1]);
        if (vex_flush(m.c) != VEX_OK) {
            if (tty)
                fputc('\n', stderr);
            fprintf(stderr, "vex import: flushing %s: %s\n", pos[1],
                    vex_collection_errmsg(m.c));
            status = VEX_EXIT_FAIL;
        } else if (tty) {
            fprintf(stderr, "\r\033[K");
        }
    }
out:
    vexio_jdoc_free(m.jdoc);
    free(m.tmp);
    if (db && vex_db_close(db) != VEX_OK) {
        fprintf(stderr, "vex import: closing the database failed\n");
        status = VEX_EXIT_FAIL;
    }
    return status;
}

static const vex_opt import_opts[] = {
    {"upsert", VEX_OPT_FLAG, NULL, 0, 0, 0,
     "replace records whose id exists (default: such a record is bad)"},
    {"skip-bad", VEX_OPT_FLAG, NULL, 0, 0, 0,
     "report, count and skip bad records (default: a bad record stops "
     "the import and nothing of its file is written)"},
    {"start-id", VEX_OPT_UINT, "N", 0, 0, UINT64_MAX,
     "number records without ids N, N+1, ... (across all files)"},
    {"ids", VEX_OPT_STRING, "FILE", 0, 0, 0,
     "ids of a vector file's rows: .npy of int32/int64, or one per line"},
    {"format", VEX_OPT_STRING, "F", 0, 0, 0,
     "csv or jsonl, for files whose name does not say (such as -)"},
    {"json", VEX_OPT_FLAG, NULL, 0, 0, 0, "one JSON summary per file"},
};

const vex_cmd vex_cmd_import = {
    "import",
    "import records from CSV, JSON Lines, .fvecs, .bvecs or .npy files",
    "DB COLLECTION FILE...",
    3,
    VEX_MAX_POS,
    import_opts,
    sizeof import_opts / sizeof import_opts[0],
    "Each file is read and checked whole before any of it is written: a\n"
    "bad record (named by file, line and field) stops the import with\n"
    "nothing of that file written, unless --skip-bad. FILE - reads stdin.\n"
    "\n"
    "CSV (RFC 4180, a header line): columns id, vector (\"0.1,0.2\" or\n"
    "\"[0.1, 0.2]\"), payload, and metadata fields. JSON Lines: one object\n"
    "per line, {\"id\": 7, \"vector\": [...], \"year\": 2021, \"tags\":\n"
    "[\"a\"], \"payload\": \"...\"}. Metadata types come from the schema;\n"
    "undeclared fields are typed per value (empty CSV field: null; true,\n"
    "false: bool; integer: int; other number: double; else string; a JSON\n"
    "array of strings: tags). CSV tags are comma-separated or a JSON array.\n"
    "Vector files need --start-id or --ids.\n",
    run_import,
};

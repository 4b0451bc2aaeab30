/* SPDX-License-Identifier: Apache-2.0 */
/*
 * textio.c - the CSV and JSON readers of the vex tool (textio.h). Both
 * read a buffer front to back with explicit bounds checks; neither
 * assumes a NUL terminator. The CSV reader copies each record's fields
 * into one scratch buffer (so quoted fields with "" come out unescaped);
 * the JSON parser is recursive descent with a depth limit, and keeps
 * nodes and strings in a chunked arena that one parse reuses from the
 * last, so reading a JSON Lines file allocates only while lines grow.
 */
#include "textio.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vexdb.h"

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static void
set_err(vexio_error *err, const char *fmt, ...);

static void set_err(vexio_error *err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
}

int vexio_utf8_valid(const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < len) {
        unsigned c = s[i];
        size_t n;
        uint32_t cp, min;
        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf) {
            n = 1;
            cp = c & 0x1f;
            min = 0x80;
        } else if (c >= 0xe0 && c <= 0xef) {
            n = 2;
            cp = c & 0x0f;
            min = 0x800;
        } else if (c >= 0xf0 && c <= 0xf4) {
            n = 3;
            cp = c & 0x07;
            min = 0x10000;
        } else {
            return 0;
        }
        if (len - i <= n)
            return 0;
        for (size_t j = 1; j <= n; j++) {
            if ((s[i + j] & 0xc0) != 0x80)
                return 0;
            cp = (cp << 6) | (s[i + j] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        i += n + 1;
    }
    return 1;
}

/* ------------------------------------------------------------------ CSV */

typedef struct cell_off {
    size_t off, len;
    int quoted;
} cell_off;

struct vexio_csv {
    const char *buf;
    size_t len, pos;
    uint64_t line; /* line of buf[pos] */
    const char *name;
    char **cols;
    size_t n_cols;
    char *scratch;
    size_t scratch_len, scratch_cap;
    cell_off *offs;
    vexio_csv_cell *cells;
    size_t cells_cap;
};

static int scratch_put(vexio_csv *r, const char *s, size_t n)
{
    if (n == 0)
        return VEX_OK;
    if (r->scratch_cap - r->scratch_len < n) {
        size_t cap = r->scratch_cap ? r->scratch_cap : 256;
        char *p;
        while (cap - r->scratch_len < n) {
            if (cap > SIZE_MAX / 2)
                return VEX_NOMEM;
            cap *= 2;
        }
        p = realloc(r->scratch, cap);
        if (!p)
            return VEX_NOMEM;
        r->scratch = p;
        r->scratch_cap = cap;
    }
    memcpy(r->scratch + r->scratch_len, s, n);
    r->scratch_len += n;
    return VEX_OK;
}

static int cells_grow(vexio_csv *r, size_t need)
{
    if (need > r->cells_cap) {
        size_t cap = r->cells_cap ? r->cells_cap * 2 : 16;
        cell_off *o;
        vexio_csv_cell *c;
        while (cap < need)
            cap *= 2;
        o = realloc(r->offs, cap * sizeof *o);
        if (!o)
            return VEX_NOMEM;
        r->offs = o;
        c = realloc(r->cells, cap * sizeof *c);
        if (!c)
            return VEX_NOMEM;
        r->cells = c;
        r->cells_cap = cap;
    }
    return VEX_OK;
}

/* Skip to just past the next line feed (error recovery). */
static void skip_line(vexio_csv *r)
{
    while (r->pos < r->len && r->buf[r->pos] != '\n')
        r->pos++;
    if (r->pos < r->len) {
        r->pos++;
        r->line++;
    }
}

static int at_eol(const vexio_csv *r)
{
    return r->pos >= r->len || r->buf[r->pos] == '\n' ||
           (r->buf[r->pos] == '\r' && r->pos + 1 < r->len &&
            r->buf[r->pos + 1] == '\n');
}

static void eat_eol(vexio_csv *r)
{
    if (r->pos < r->len && r->buf[r->pos] == '\r')
        r->pos++;
    if (r->pos < r->len && r->buf[r->pos] == '\n') {
        r->pos++;
        r->line++;
    }
}

/* One quoted field starting at the opening quote. */
static int read_quoted(vexio_csv *r, uint64_t start_line, vexio_error *err)
{
    uint64_t qline = r->line;
    r->pos++;
    for (;;) {
        size_t run = r->pos;
        char c;
        while (run < r->len && r->buf[run] != '"' && r->buf[run] != '\n' &&
               r->buf[run] != '\0')
            run++;
        if (scratch_put(r, r->buf + r->pos, run - r->pos) != VEX_OK)
            return VEX_NOMEM;
        r->pos = run;
        if (r->pos >= r->len) {
            set_err(err,
                    "%s:%llu: the quote opened on line %llu is never "
                    "closed",
                    r->name, (unsigned long long)start_line,
                    (unsigned long long)qline);
            return VEX_CORRUPT;
        }
        c = r->buf[r->pos];
        if (c == '\0') {
            set_err(err, "%s:%llu: a NUL byte in a field", r->name,
                    (unsigned long long)r->line);
            return VEX_CORRUPT;
        }
        if (c == '\n') {
            if (scratch_put(r, "\n", 1) != VEX_OK)
                return VEX_NOMEM;
            r->pos++;
            r->line++;
            continue;
        }
        /* a quote: "" is one quote, else the field ends */
        if (r->pos + 1 < r->len && r->buf[r->pos + 1] == '"') {
            if (scratch_put(r, "\"", 1) != VEX_OK)
                return VEX_NOMEM;
            r->pos += 2;
            continue;
        }
        r->pos++;
        if (!at_eol(r) && r->buf[r->pos] != ',') {
            set_err(err,
                    "%s:%llu: text after the closing quote of a field "
                    "(a quote inside a quoted field is written \"\")",
                    r->name, (unsigned long long)r->line);
            return VEX_CORRUPT;
        }
        return VEX_OK;
    }
}

/* Read one record's fields into r->offs; *n its field count. */
static int read_record(vexio_csv *r, size_t *n, vexio_error *err)
{
    uint64_t start_line = r->line;
    int rc;
    *n = 0;
    r->scratch_len = 0;
    for (;;) {
        size_t start = r->scratch_len;
        int quoted = 0;
        if ((rc = cells_grow(r, *n + 1)) != VEX_OK)
            return rc;
        if (r->pos < r->len && r->buf[r->pos] == '"') {
            quoted = 1;
            if ((rc = read_quoted(r, start_line, err)) != VEX_OK)
                return rc;
        } else {
            size_t run = r->pos;
            while (run < r->len && r->buf[run] != ',' && r->buf[run] != '\n' &&
                   r->buf[run] != '"' && r->buf[run] != '\0' &&
                   !(r->buf[run] == '\r' && run + 1 < r->len &&
                     r->buf[run + 1] == '\n'))
                run++;
            if (run < r->len && r->buf[run] == '"') {
                set_err(err,
                        "%s:%llu: a quote inside an unquoted field (quote "
                        "the whole field and write the quote as \"\")",
                        r->name, (unsigned long long)r->line);
                return VEX_CORRUPT;
            }
            if (run < r->len && r->buf[run] == '\0') {
                set_err(err, "%s:%llu: a NUL byte in a field", r->name,
                        (unsigned long long)r->line);
                return VEX_CORRUPT;
            }
            if ((rc = scratch_put(r, r->buf + r->pos, run - r->pos)) != VEX_OK)
                return rc;
            r->pos = run;
        }
        r->offs[*n].off = start;
        r->offs[*n].len = r->scratch_len - start;
        r->offs[*n].quoted = quoted;
        (*n)++;
        if (r->pos < r->len && r->buf[r->pos] == ',') {
            r->pos++;
            continue;
        }
        eat_eol(r);
        return VEX_OK;
    }
}

static void fill_cells(vexio_csv *r, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        r->cells[i].s = r->scratch ? r->scratch + r->offs[i].off : "";
        r->cells[i].len = r->offs[i].len;
        r->cells[i].quoted = r->offs[i].quoted;
    }
}

/* a line holding nothing (an empty record) */
static int blank_line(const vexio_csv *r)
{
    return r->pos < r->len && at_eol(r);
}

int vexio_csv_open(const char *buf, size_t len, const char *name,
                   vexio_csv **out, vexio_error *err)
{
    vexio_csv *r = calloc(1, sizeof *r);
    size_t n, i, j;
    int rc;
    *out = NULL;
    err->msg[0] = '\0';
    if (!r) {
        set_err(err, "%s: out of memory", name);
        return VEX_NOMEM;
    }
    r->buf = buf;
    r->len = buf ? len : 0;
    r->name = name;
    r->line = 1;
    if (r->len >= 3 && memcmp(buf, "\xef\xbb\xbf", 3) == 0)
        r->pos = 3;
    while (blank_line(r))
        eat_eol(r);
    if (r->pos >= r->len) {
        set_err(err,
                "%s: no header line (a CSV file starts with the column "
                "names)",
                name);
        rc = VEX_CORRUPT;
        goto fail;
    }
    rc = read_record(r, &n, err);
    if (rc != VEX_OK)
        goto fail;
    if (n > VEXIO_CSV_MAX_COLUMNS) {
        set_err(err, "%s:1: %zu columns, at most %d", name, n,
                VEXIO_CSV_MAX_COLUMNS);
        rc = VEX_CORRUPT;
        goto fail;
    }
    fill_cells(r, n);
    r->cols = calloc(n, sizeof *r->cols);
    if (!r->cols) {
        rc = VEX_NOMEM;
        goto fail;
    }
    r->n_cols = n;
    for (i = 0; i < n; i++) {
        const vexio_csv_cell *c = &r->cells[i];
        if (c->len == 0 || memchr(c->s, '\0', c->len)) {
            set_err(err, "%s:1: column %zu of the header has no name", name,
                    i + 1);
            rc = VEX_CORRUPT;
            goto fail;
        }
        r->cols[i] = malloc(c->len + 1);
        if (!r->cols[i]) {
            rc = VEX_NOMEM;
            goto fail;
        }
        memcpy(r->cols[i], c->s, c->len);
        r->cols[i][c->len] = '\0';
        for (j = 0; j < i; j++) {
            if (strcmp(r->cols[j], r->cols[i]) == 0) {
                set_err(err, "%s:1: column name \"%.64s\" appears twice", name,
                        r->cols[i]);
                rc = VEX_CORRUPT;
                goto fail;
            }
        }
    }
    *out = r;
    return VEX_OK;
fail:
    if (rc == VEX_NOMEM)
        set_err(err, "%s: out of memory", name);
    vexio_csv_free(r);
    return rc;
}

void vexio_csv_free(vexio_csv *r)
{
    if (!r)
        return;
    for (size_t i = 0; r->cols && i < r->n_cols; i++)
        free(r->cols[i]);
    free(r->cols);
    free(r->scratch);
    free(r->offs);
    free(r->cells);
    free(r);
}

size_t vexio_csv_columns(const vexio_csv *r)
{
    return r->n_cols;
}

const char *vexio_csv_column(const vexio_csv *r, size_t i)
{
    return i < r->n_cols ? r->cols[i] : NULL;
}

size_t vexio_csv_offset(const vexio_csv *r)
{
    return r->pos;
}

int vexio_csv_next(vexio_csv *r, const vexio_csv_cell **cells, uint64_t *line,
                   vexio_error *err)
{
    size_t n;
    int rc;
    err->msg[0] = '\0';
    while (blank_line(r))
        eat_eol(r);
    if (r->pos >= r->len)
        return 0;
    *line = r->line;
    rc = read_record(r, &n, err);
    if (rc != VEX_OK) {
        if (rc == VEX_NOMEM)
            set_err(err, "%s: out of memory", r->name);
        else
            skip_line(r);
        return -rc;
    }
    if (n != r->n_cols) {
        set_err(err, "%s:%llu: %zu fields, the header has %zu", r->name,
                (unsigned long long)*line, n, r->n_cols);
        return -VEX_CORRUPT;
    }
    fill_cells(r, n);
    *cells = r->cells;
    return 1;
}

/* ----------------------------------------------------------------- JSON */

typedef struct arena_block {
    struct arena_block *next;
    size_t used, cap;
    max_align_t data[];
} arena_block;

typedef struct key_ent {
    const char *s;
    size_t len;
} key_ent;

struct vexio_jdoc {
    arena_block *blocks;
    /* parse state */
    const char *t;
    size_t len, pos;
    int depth;
    vexio_json *stack; /* members being collected, innermost last */
    key_ent *kstack;
    size_t n_stack, cap_stack;
    vexio_json root;
};

int vexio_jdoc_create(vexio_jdoc **out)
{
    *out = calloc(1, sizeof **out);
    return *out ? VEX_OK : VEX_NOMEM;
}

static void arena_reset(vexio_jdoc *d, int release)
{
    arena_block *b = d->blocks, *keep = NULL;
    while (b) {
        arena_block *next = b->next;
        if (!release && !keep) {
            keep = b; /* the first (largest: see arena_alloc) is reused */
            keep->used = 0;
            keep->next = NULL;
        } else {
            free(b);
        }
        b = next;
    }
    d->blocks = keep;
}

void vexio_jdoc_free(vexio_jdoc *d)
{
    if (!d)
        return;
    arena_reset(d, 1);
    free(d->stack);
    free(d->kstack);
    free(d);
}

static void *arena_alloc(vexio_jdoc *d, size_t size)
{
    arena_block *b = d->blocks;
    size_t al = sizeof(max_align_t);
    size = (size + al - 1) / al * al;
    if (size == 0)
        size = al;
    if (!b || b->cap - b->used < size) {
        size_t cap = b ? b->cap * 2 : 65536;
        if (cap < size)
            cap = size;
        if (cap > SIZE_MAX - sizeof *b)
            return NULL;
        b = malloc(sizeof *b + cap);
        if (!b)
            return NULL;
        b->cap = cap;
        b->used = 0;
        b->next = d->blocks;
        d->blocks = b; /* newest (largest) first */
    }
    b->used += size;
    return (char *)b->data + b->used - size;
}

typedef struct jctx {
    vexio_jdoc *d;
    const char *name;
    uint64_t line;
    vexio_error *err;
    int rc;
} jctx;

static int jfail(jctx *x, const char *what)
{
    uint64_t line = x->line;
    size_t col = 1;
    for (size_t i = 0; i < x->d->pos && i < x->d->len; i++) {
        if (x->d->t[i] == '\n') {
            line++;
            col = 1;
        } else {
            col++;
        }
    }
    if (x->rc == VEX_OK) {
        set_err(x->err, "%s:%llu:%zu: %s", x->name, (unsigned long long)line,
                col, what);
        x->rc = VEX_CORRUPT;
    }
    return x->rc;
}

static int jnomem(jctx *x)
{
    if (x->rc == VEX_OK) {
        set_err(x->err, "%s:%llu: out of memory", x->name,
                (unsigned long long)x->line);
        x->rc = VEX_NOMEM;
    }
    return x->rc;
}

static void skip_ws(vexio_jdoc *d)
{
    while (d->pos < d->len && (d->t[d->pos] == ' ' || d->t[d->pos] == '\t' ||
                               d->t[d->pos] == '\n' || d->t[d->pos] == '\r'))
        d->pos++;
}

static int push(jctx *x, const vexio_json *v, const char *k, size_t klen)
{
    vexio_jdoc *d = x->d;
    if (d->n_stack == d->cap_stack) {
        size_t cap = d->cap_stack ? d->cap_stack * 2 : 64;
        vexio_json *s = realloc(d->stack, cap * sizeof *s);
        key_ent *ks;
        if (!s)
            return jnomem(x);
        d->stack = s;
        ks = realloc(d->kstack, cap * sizeof *ks);
        if (!ks)
            return jnomem(x);
        d->kstack = ks;
        d->cap_stack = cap;
    }
    d->stack[d->n_stack] = *v;
    d->kstack[d->n_stack].s = k;
    d->kstack[d->n_stack].len = klen;
    d->n_stack++;
    return VEX_OK;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static int read_hex4(vexio_jdoc *d, size_t at, uint32_t *out)
{
    uint32_t v = 0;
    if (d->len - at < 4)
        return -1;
    for (int i = 0; i < 4; i++) {
        int h = hexval(d->t[at + i]);
        if (h < 0)
            return -1;
        v = v << 4 | (uint32_t)h;
    }
    *out = v;
    return 0;
}

static size_t put_utf8(char *o, uint32_t cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xc0 | cp >> 6);
        o[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xe0 | cp >> 12);
        o[1] = (char)(0x80 | (cp >> 6 & 0x3f));
        o[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    o[0] = (char)(0xf0 | cp >> 18);
    o[1] = (char)(0x80 | (cp >> 12 & 0x3f));
    o[2] = (char)(0x80 | (cp >> 6 & 0x3f));
    o[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* A string at d->pos (the opening quote) into *s, *len. */
static int parse_string(jctx *x, const char **s, size_t *len)
{
    vexio_jdoc *d = x->d;
    size_t end = d->pos + 1, n = 0;
    char *o;
    /* find the end first: the decoded text is never longer */
    while (end < d->len && d->t[end] != '"') {
        if ((unsigned char)d->t[end] < 0x20) {
            d->pos = end;
            return jfail(x, "a control character inside a string (write "
                            "it as an escape such as \\n)");
        }
        end += d->t[end] == '\\' ? 2 : 1;
    }
    if (end >= d->len)
        return jfail(x, "a string is never closed");
    o = arena_alloc(d, end - d->pos);
    if (!o)
        return jnomem(x);
    d->pos++;
    while (d->pos < end) {
        char c = d->t[d->pos];
        uint32_t cp, lo;
        if (c != '\\') {
            o[n++] = c;
            d->pos++;
            continue;
        }
        c = d->t[d->pos + 1];
        switch (c) {
        case '"':
        case '\\':
        case '/':
            o[n++] = c;
            break;
        case 'b':
            o[n++] = '\b';
            break;
        case 'f':
            o[n++] = '\f';
            break;
        case 'n':
            o[n++] = '\n';
            break;
        case 'r':
            o[n++] = '\r';
            break;
        case 't':
            o[n++] = '\t';
            break;
        case 'u':
            if (read_hex4(d, d->pos + 2, &cp) != 0)
                return jfail(x, "\\u needs four hex digits");
            if (cp >= 0xdc00 && cp <= 0xdfff)
                return jfail(x, "a lone low surrogate in a \\u escape");
            if (cp >= 0xd800 && cp <= 0xdbff) {
                if (d->pos + 12 > end || d->t[d->pos + 6] != '\\' ||
                    d->t[d->pos + 7] != 'u' ||
                    read_hex4(d, d->pos + 8, &lo) != 0 || lo < 0xdc00 ||
                    lo > 0xdfff)
                    return jfail(x, "a high surrogate \\u escape without "
                                    "its low surrogate");
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                d->pos += 6;
            }
            n += put_utf8(o + n, cp);
            d->pos += 4;
            break;
        default:
            return jfail(x, "an unknown escape in a string");
        }
        d->pos += 2;
    }
    d->pos = end + 1;
    o[n] = '\0';
    if (!vexio_utf8_valid(o, n))
        return jfail(x, "a string that is not valid UTF-8");
    *s = o;
    *len = n;
    return VEX_OK;
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int parse_number(jctx *x, vexio_json *v)
{
    vexio_jdoc *d = x->d;
    size_t p = d->pos, start = d->pos, ndig;
    int neg = 0, integral = 1, ovf = 0;
    uint64_t mag = 0;
    char local[64], *text;
    if (p < d->len && d->t[p] == '-') {
        neg = 1;
        p++;
    }
    if (p >= d->len || !is_digit(d->t[p]))
        return jfail(x, "a number needs a digit");
    if (d->t[p] == '0' && p + 1 < d->len && is_digit(d->t[p + 1])) {
        d->pos = p;
        return jfail(x, "a number with a leading zero");
    }
    while (p < d->len && is_digit(d->t[p])) {
        unsigned dg = (unsigned)(d->t[p] - '0');
        if (mag > (UINT64_MAX - dg) / 10)
            ovf = 1;
        else
            mag = mag * 10 + dg;
        p++;
    }
    if (p < d->len && d->t[p] == '.') {
        integral = 0;
        p++;
        ndig = 0;
        while (p < d->len && is_digit(d->t[p]))
            p++, ndig++;
        if (!ndig) {
            d->pos = p;
            return jfail(x, "a digit must follow the decimal point");
        }
    }
    if (p < d->len && (d->t[p] == 'e' || d->t[p] == 'E')) {
        integral = 0;
        p++;
        if (p < d->len && (d->t[p] == '+' || d->t[p] == '-'))
            p++;
        ndig = 0;
        while (p < d->len && is_digit(d->t[p]))
            p++, ndig++;
        if (!ndig) {
            d->pos = p;
            return jfail(x, "an exponent needs digits");
        }
    }
    if (p - start < sizeof local) {
        text = local;
    } else {
        text = arena_alloc(d, p - start + 1);
        if (!text)
            return jnomem(x);
    }
    memcpy(text, d->t + start, p - start);
    text[p - start] = '\0';
    memset(v, 0, sizeof *v);
    v->type = VEXIO_JNUMBER;
    v->d = strtod(text, NULL); /* the grammar was checked above */
    if (integral && !ovf) {
        if (!neg) {
            v->is_u64 = 1;
            v->u = mag;
            if (mag <= (uint64_t)INT64_MAX) {
                v->is_int = 1;
                v->i = (int64_t)mag;
            }
        } else if (mag <= (uint64_t)INT64_MAX + 1) {
            v->is_int = 1;
            v->i = mag == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)mag;
        }
    }
    d->pos = p;
    return VEX_OK;
}

static int parse_value(jctx *x, vexio_json *v);

static int literal(jctx *x, const char *word, vexio_json *v, vexio_jtype t,
                   int b)
{
    vexio_jdoc *d = x->d;
    size_t n = strlen(word);
    if (d->len - d->pos < n || memcmp(d->t + d->pos, word, n) != 0)
        return jfail(x, "expected a value (a string, number, object, "
                        "array, true, false or null)");
    d->pos += n;
    memset(v, 0, sizeof *v);
    v->type = t;
    v->b = b;
    return VEX_OK;
}

static int cmp_key(const void *a, const void *b)
{
    const key_ent *x = a, *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->s, y->s, n);
    if (c)
        return c;
    return x->len < y->len ? -1 : x->len > y->len;
}

/* Move members stack[base..] into the arena as v's members. */
static int collect(jctx *x, vexio_json *v, size_t base, int object)
{
    vexio_jdoc *d = x->d;
    size_t n = d->n_stack - base;
    v->n = n;
    if (n == 0)
        return VEX_OK;
    if (n > SIZE_MAX / sizeof(key_ent) / 2)
        return jnomem(x);
    v->items = arena_alloc(d, n * sizeof *v->items);
    if (!v->items)
        return jnomem(x);
    memcpy(v->items, d->stack + base, n * sizeof *v->items);
    if (object) {
        key_ent *sorted;
        v->keys = arena_alloc(d, n * sizeof *v->keys);
        v->key_lens = arena_alloc(d, n * sizeof *v->key_lens);
        sorted = arena_alloc(d, n * sizeof *sorted);
        if (!v->keys || !v->key_lens || !sorted)
            return jnomem(x);
        for (size_t i = 0; i < n; i++) {
            v->keys[i] = d->kstack[base + i].s;
            v->key_lens[i] = d->kstack[base + i].len;
        }
        memcpy(sorted, d->kstack + base, n * sizeof *sorted);
        qsort(sorted, n, sizeof *sorted, cmp_key);
        for (size_t i = 1; i < n; i++) {
            if (cmp_key(&sorted[i - 1], &sorted[i]) == 0) {
                char what[120];
                snprintf(what, sizeof what,
                         "the key \"%.64s\" appears twice in an object",
                         sorted[i].s);
                return jfail(x, what);
            }
        }
    }
    d->n_stack = base;
    return VEX_OK;
}

static int parse_container(jctx *x, vexio_json *v, int object)
{
    vexio_jdoc *d = x->d;
    size_t base = d->n_stack;
    char close = object ? '}' : ']';
    int rc;
    if (++d->depth > VEXIO_JSON_MAX_DEPTH)
        return jfail(x, "nested more than 64 deep");
    memset(v, 0, sizeof *v);
    v->type = object ? VEXIO_JOBJECT : VEXIO_JARRAY;
    d->pos++;
    skip_ws(d);
    if (d->pos < d->len && d->t[d->pos] == close) {
        d->pos++;
        d->depth--;
        return VEX_OK;
    }
    for (;;) {
        vexio_json m;
        const char *k = NULL;
        size_t klen = 0;
        skip_ws(d);
        if (object) {
            if (d->pos >= d->len || d->t[d->pos] != '"')
                return jfail(x, "expected a key (a string in double "
                                "quotes)");
            if ((rc = parse_string(x, &k, &klen)) != VEX_OK)
                return rc;
            skip_ws(d);
            if (d->pos >= d->len || d->t[d->pos] != ':')
                return jfail(x, "expected ':' after a key");
            d->pos++;
            skip_ws(d);
        }
        if ((rc = parse_value(x, &m)) != VEX_OK)
            return rc;
        if ((rc = push(x, &m, k, klen)) != VEX_OK)
            return rc;
        skip_ws(d);
        if (d->pos < d->len && d->t[d->pos] == ',') {
            d->pos++;
            continue;
        }
        if (d->pos < d->len && d->t[d->pos] == close) {
            d->pos++;
            break;
        }
        return jfail(x, object ? "expected ',' or '}' in an object"
                               : "expected ',' or ']' in an array");
    }
    d->depth--;
    return collect(x, v, base, object);
}

static int parse_value(jctx *x, vexio_json *v)
{
    vexio_jdoc *d = x->d;
    char c;
    skip_ws(d);
    if (d->pos >= d->len)
        return jfail(x, "expected a value, found the end of the text");
    c = d->t[d->pos];
    switch (c) {
    case '{':
        return parse_container(x, v, 1);
    case '[':
        return parse_container(x, v, 0);
    case '"':
        memset(v, 0, sizeof *v);
        v->type = VEXIO_JSTRING;
        return parse_string(x, &v->s, &v->len);
    case 't':
        return literal(x, "true", v, VEXIO_JBOOL, 1);
    case 'f':
        return literal(x, "false", v, VEXIO_JBOOL, 0);
    case 'n':
        return literal(x, "null", v, VEXIO_JNULL, 0);
    default:
        if (c == '-' || is_digit(c))
            return parse_number(x, v);
        if (c == '\'')
            return jfail(x, "strings take double quotes in JSON");
        return jfail(x, "expected a value (a string, number, object, "
                        "array, true, false or null)");
    }
}

int vexio_json_parse(vexio_jdoc *d, const char *text, size_t len,
                     const char *name, uint64_t line, const vexio_json **root,
                     vexio_error *err)
{
    jctx x = {d, name, line, err, VEX_OK};
    err->msg[0] = '\0';
    *root = NULL;
    arena_reset(d, 0);
    d->t = text ? text : "";
    d->len = text ? len : 0;
    d->pos = 0;
    d->depth = 0;
    d->n_stack = 0;
    if (parse_value(&x, &d->root) != VEX_OK)
        return x.rc;
    skip_ws(d);
    if (d->pos < d->len)
        return jfail(&x, "text after the value");
    *root = &d->root;
    return VEX_OK;
}

const vexio_json *vexio_json_get(const vexio_json *o, const char *key)
{
    size_t n = strlen(key);
    if (!o || o->type != VEXIO_JOBJECT)
        return NULL;
    for (size_t i = 0; i < o->n; i++)
        if (o->key_lens[i] == n && memcmp(o->keys[i], key, n) == 0)
            return &o->items[i];
    return NULL;
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * column.c - metadata columns: encoding, strict decoding, filter
 * evaluation to bitmaps, row reconstruction. See column.h for the model
 * and docs/FORMAT.md ("Metadata columns") for the bytes.
 */
#include "meta/column.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/endian.h"
#include "util/rd.h"

#ifdef VEX_HAVE_ZSTD
#include <zstd.h>
#endif

/* vx_err_set for an `err` that may be NULL. */

/* ---------------------------------------------------------------------
 * Decoded form
 * ------------------------------------------------------------------- */

typedef struct vcol {
    vm_str name;
    int type, enc;
    uint32_t n_present;
    const unsigned char *present; /* bitmap over rows, NULL = every row */
    uint32_t *rank;               /* present rows before each 64-row word */
    int64_t *iv;                  /* int64 and bool values */
    double *dv;                   /* double values */
    vm_str *sv;                   /* strings: per value (plain) or dict */
    uint32_t n_dict;              /* dictionary entries, 0 = plain */
    uint32_t *codes;              /* dict strings: code per value */
    uint32_t *toff;               /* tags: n_present + 1 offsets into tagv */
    vm_str *tagv;                 /* tags: every tag, row after row */
    uint32_t n_blocks;            /* zone map (int64, double) */
    unsigned char *raw;           /* decompressed value stream, or NULL */
    int compressed;               /* the value stream was compressed */
    unsigned char *zany;          /* block has a value */
    vm_value *zmin, *zmax;
} vcol;

struct vm_colset {
    vex_mem mem;
    uint32_t n_rows, n_cols;
    vcol *cols;
    uint64_t memory;
};

#define HDR_BYTES      12u /* version, 3 reserved, n_rows, n_cols */
#define ENC_ZSTD       VM_ENC_ZSTD
#define ZSTD_MAX_RATIO 1024u /* raw bytes per compressed byte, at most */
#define DIR_BYTES      12u   /* offset, length, type, enc, name_len */

/* ---------------------------------------------------------------------
 * Bits
 * ------------------------------------------------------------------- */

static unsigned width_of(uint64_t max)
{
    unsigned w = 0;
    while (w < 64 && (max >> w) != 0)
        w++;
    return w;
}

static uint64_t packed_bytes(uint64_t n, unsigned w)
{
    return (n * w + 7) / 8;
}

/* Value i of width w (LSB first) from p, which holds enough bytes. */
static uint64_t get_bits(const unsigned char *p, uint64_t i, unsigned w)
{
    uint64_t bit = i * w, v = 0;
    unsigned got = 0;
    if (w == 0)
        return 0;
    p += bit / 8;
    bit %= 8;
    while (got < w) {
        unsigned take = 8 - (unsigned)bit;
        uint64_t b = (uint64_t)(*p++ >> bit);
        if (take > w - got)
            take = w - got;
        v |= (b & ((1u << take) - 1)) << got;
        got += take;
        bit = 0;
    }
    return v;
}

static void put_bits(unsigned char *p, uint64_t i, unsigned w, uint64_t v)
{
    uint64_t bit = i * w;
    unsigned done = 0;
    p += bit / 8;
    bit %= 8;
    while (done < w) {
        unsigned take = 8 - (unsigned)bit;
        if (take > w - done)
            take = w - done;
        *p++ |= (unsigned char)(((v >> done) & ((1u << take) - 1)) << bit);
        done += take;
        bit = 0;
    }
}

static int bit_at(const unsigned char *bm, uint32_t r)
{
    return bm == NULL || (bm[r >> 3] >> (r & 7)) & 1;
}

static void set64(uint64_t *b, uint32_t r)
{
    b[r >> 6] |= 1ull << (r & 63);
}

/* ---------------------------------------------------------------------
 * Building
 * ------------------------------------------------------------------- */

typedef struct wbuf {
    unsigned char *p;
    size_t n, cap;
    const vex_mem *mem;
    int failed;
} wbuf;

static unsigned char *wb_room(wbuf *w, size_t add)
{
    if (w->failed)
        return NULL;
    if (w->n + add > w->cap) {
        size_t cap = w->cap ? w->cap : 256;
        unsigned char *q;
        while (cap < w->n + add)
            cap *= 2;
        q = vx_mem_realloc(w->mem, w->p, cap);
        if (q == NULL) {
            w->failed = 1;
            return NULL;
        }
        w->p = q;
        w->cap = cap;
    }
    w->n += add;
    return w->p + w->n - add;
}

static void wb_bytes(wbuf *w, const void *p, size_t n)
{
    unsigned char *q = wb_room(w, n);
    if (q && n)
        memcpy(q, p, n);
}

static void wb_u8(wbuf *w, unsigned v)
{
    unsigned char b = (unsigned char)v;
    wb_bytes(w, &b, 1);
}

static void wb_u32(wbuf *w, uint32_t v)
{
    unsigned char *q = wb_room(w, 4);
    if (q)
        vex_put_u32le(q, v);
}

static void wb_u64(wbuf *w, uint64_t v)
{
    unsigned char *q = wb_room(w, 8);
    if (q)
        vex_put_u64le(q, v);
}

static uint64_t dbits(double d)
{
    uint64_t u;
    memcpy(&u, &d, 8);
    return u;
}

static int cmp_str_q(const void *a, const void *b)
{
    return vx_vm_str_cmp(a, b);
}

/* One column being built: the values of rows that have it. */
typedef struct bcol {
    vm_str name;
    int type;
    uint32_t n;         /* values */
    uint32_t *rows;     /* row of each value */
    const vm_value **v; /* the values */
} bcol;

static int cmp_bcol(const void *pa, const void *pb)
{
    const bcol *a = pa, *b = pb;
    int c = vx_vm_str_cmp(&a->name, &b->name);
    return c ? c : (a->type > b->type) - (a->type < b->type);
}

/* Sorted distinct strings of `s` (n entries) into *dict / *nd. */
static int make_dict(const vex_mem *mem, const vm_str *s, size_t n,
                     vm_str **dict, uint32_t *nd)
{
    vm_str *d = vx_mem_alloc(mem, (n ? n : 1) * sizeof *d);
    uint32_t k = 0;
    if (d == NULL)
        return VEX_NOMEM;
    memcpy(d, s, n * sizeof *d);
    qsort(d, n, sizeof *d, cmp_str_q);
    for (size_t i = 0; i < n; i++)
        if (k == 0 || vx_vm_str_cmp(&d[k - 1], &d[i]) != 0)
            d[k++] = d[i];
    *dict = d;
    *nd = k;
    return VEX_OK;
}

static uint32_t dict_code(const vm_str *dict, uint32_t nd, const vm_str *s)
{
    uint32_t lo = 0, hi = nd;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (vx_vm_str_cmp(&dict[mid], s) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static void put_strings(wbuf *w, const vm_str *s, size_t n)
{
    uint32_t off = 0;
    wb_u32(w, 0);
    for (size_t i = 0; i < n; i++) {
        off += s[i].len;
        wb_u32(w, off);
    }
    for (size_t i = 0; i < n; i++)
        wb_bytes(w, s[i].p, s[i].len);
}

static void put_codes(wbuf *w, const vm_str *dict, uint32_t nd, const vm_str *s,
                      size_t n)
{
    unsigned wd = width_of(nd - 1);
    size_t bytes = packed_bytes(n, wd);
    unsigned char *q;
    wb_u8(w, wd);
    q = wb_room(w, bytes);
    if (q == NULL)
        return;
    memset(q, 0, bytes);
    for (size_t i = 0; i < n; i++)
        put_bits(q, i, wd, dict_code(dict, nd, &s[i]));
}

static size_t str_bytes(const vm_str *s, size_t n)
{
    size_t t = 0;
    for (size_t i = 0; i < n; i++)
        t += s[i].len;
    return t;
}

/* The payload of column c (values only) into w. */
static int encode_values(const bcol *c, const vex_mem *mem, wbuf *w, int *enc)
{
    uint32_t n = c->n;
    if (c->type == VM_NULL) {
        *enc = VM_ENC_PLAIN; /* presence is all there is */
        return VEX_OK;
    }
    if (c->type == VM_INT || c->type == VM_BOOL) {
        int64_t mn = INT64_MAX, mx = INT64_MIN;
        uint64_t runs = 0;
        for (uint32_t i = 0; i < n; i++) {
            int64_t x = c->type == VM_INT ? c->v[i]->u.i : c->v[i]->u.b;
            mn = x < mn ? x : mn;
            mx = x > mx ? x : mx;
            runs += i == 0 || x != (c->type == VM_INT ? c->v[i - 1]->u.i
                                                      : c->v[i - 1]->u.b);
        }
        unsigned wd =
            c->type == VM_BOOL ? 1 : width_of((uint64_t)mx - (uint64_t)mn);
        uint64_t pack = (c->type == VM_INT ? 9 : 0) + packed_bytes(n, wd);
        uint64_t rle = 4 + runs * (c->type == VM_INT ? 12 : 5);
        uint64_t plain = c->type == VM_INT ? 8ull * n : UINT64_MAX;
        if (pack <= rle && pack <= plain) {
            unsigned char *q;
            *enc = VM_ENC_BITPACK;
            if (c->type == VM_INT) {
                wb_u64(w, (uint64_t)mn);
                wb_u8(w, wd);
            }
            q = wb_room(w, packed_bytes(n, wd));
            if (q == NULL)
                return VEX_NOMEM;
            memset(q, 0, packed_bytes(n, wd));
            for (uint32_t i = 0; i < n; i++) {
                int64_t x = c->type == VM_INT ? c->v[i]->u.i : c->v[i]->u.b;
                put_bits(q, i, wd,
                         c->type == VM_INT ? (uint64_t)x - (uint64_t)mn
                                           : (uint64_t)x);
            }
        } else if (rle <= plain) {
            *enc = VM_ENC_RLE;
            wb_u32(w, (uint32_t)runs);
            for (uint32_t i = 0; i < n;) {
                int64_t x = c->type == VM_INT ? c->v[i]->u.i : c->v[i]->u.b;
                uint32_t j = i + 1;
                while (j < n &&
                       (c->type == VM_INT ? c->v[j]->u.i : c->v[j]->u.b) == x)
                    j++;
                if (c->type == VM_INT)
                    wb_u64(w, (uint64_t)x);
                else
                    wb_u8(w, (unsigned)x);
                wb_u32(w, j - i);
                i = j;
            }
        } else {
            *enc = VM_ENC_PLAIN;
            for (uint32_t i = 0; i < n; i++)
                wb_u64(w, (uint64_t)c->v[i]->u.i);
        }
        return w->failed ? VEX_NOMEM : VEX_OK;
    }
    if (c->type == VM_DOUBLE) {
        if (n < 8) {
            *enc = VM_ENC_PLAIN;
            for (uint32_t i = 0; i < n; i++)
                wb_u64(w, dbits(c->v[i]->u.d));
        } else {
            unsigned char *q = wb_room(w, 8ull * n);
            *enc = VM_ENC_BSS;
            if (q == NULL)
                return VEX_NOMEM;
            for (uint32_t i = 0; i < n; i++) {
                uint64_t u = dbits(c->v[i]->u.d);
                for (unsigned b = 0; b < 8; b++)
                    q[(size_t)b * n + i] = (unsigned char)(u >> (8 * b));
            }
        }
        return w->failed ? VEX_NOMEM : VEX_OK;
    }
    /* strings and tags: gather the strings, then choose */
    size_t ns = 0;
    vm_str *s, *dict = NULL;
    uint32_t nd = 0;
    int rc;
    for (uint32_t i = 0; i < n; i++)
        ns += c->type == VM_STRING ? 1 : c->v[i]->u.tags.n;
    s = vx_mem_alloc(mem, (ns ? ns : 1) * sizeof *s);
    if (s == NULL)
        return VEX_NOMEM;
    ns = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (c->type == VM_STRING)
            s[ns++] = c->v[i]->u.s;
        else
            for (uint32_t j = 0; j < c->v[i]->u.tags.n; j++)
                s[ns++] = c->v[i]->u.tags.v[j];
    }
    if ((rc = make_dict(mem, s, ns, &dict, &nd)) != VEX_OK) {
        vx_mem_free(mem, s);
        return rc;
    }
    {
        uint64_t plain = 4ull * (ns + 1) + str_bytes(s, ns);
        uint64_t dct = 4 + 4ull * (nd + 1) + str_bytes(dict, nd) + 1 +
                       packed_bytes(ns, width_of(nd ? nd - 1 : 0));
        if (c->type == VM_TAGS) {
            uint32_t off = 0;
            wb_u32(w, 0);
            for (uint32_t i = 0; i < n; i++) {
                off += c->v[i]->u.tags.n;
                wb_u32(w, off);
            }
        }
        if (nd > 0 && dct < plain) {
            *enc = VM_ENC_DICT;
            wb_u32(w, nd);
            put_strings(w, dict, nd);
            put_codes(w, dict, nd, s, ns);
        } else {
            *enc = VM_ENC_PLAIN;
            put_strings(w, s, ns);
        }
    }
    vx_mem_free(mem, dict);
    vx_mem_free(mem, s);
    return w->failed ? VEX_NOMEM : VEX_OK;
}

/* The value stream of column c into w: encoded, then (when `zstd` asks and
 * it saves at least a tenth) compressed, flagged by ENC_ZSTD in *enc. */
static int put_values(const bcol *c, int zstd, const vex_mem *mem, wbuf *w,
                      int *enc)
{
    wbuf v = {NULL, 0, 0, mem, 0};
    int rc = encode_values(c, mem, &v, enc);
    if (rc == VEX_OK && v.failed)
        rc = VEX_NOMEM;
#ifdef VEX_HAVE_ZSTD
    if (rc == VEX_OK && zstd && v.n >= 64 && v.n <= UINT32_MAX) {
        size_t bound = ZSTD_compressBound(v.n);
        unsigned char *z = vx_mem_alloc(mem, bound);
        size_t zn = z ? ZSTD_compress(z, bound, v.p, v.n, 3) : 0;
        if (z == NULL) {
            rc = VEX_NOMEM;
        } else if (!ZSTD_isError(zn) && zn + 8 <= v.n - v.n / 10 &&
                   v.n <= (uint64_t)zn * ZSTD_MAX_RATIO) {
            wb_u32(w, (uint32_t)v.n);
            wb_u32(w, (uint32_t)zn);
            wb_bytes(w, z, zn);
            *enc |= ENC_ZSTD;
            vx_mem_free(mem, z);
            vx_mem_free(mem, v.p);
            return w->failed ? VEX_NOMEM : VEX_OK;
        }
        vx_mem_free(mem, z);
    }
#else
    (void)zstd;
#endif
    if (rc == VEX_OK)
        wb_bytes(w, v.p, v.n);
    vx_mem_free(mem, v.p);
    return rc == VEX_OK && w->failed ? VEX_NOMEM : rc;
}

static void encode_zones(const bcol *c, uint32_t n_rows, wbuf *w)
{
    uint32_t nb = (n_rows + VM_COL_BLOCK - 1) / VM_COL_BLOCK, i = 0;
    for (uint32_t b = 0; b < nb; b++) {
        uint32_t end = (b + 1) * VM_COL_BLOCK;
        int any = 0;
        int64_t imn = 0, imx = 0;
        double dmn = 0, dmx = 0;
        for (; i < c->n && c->rows[i] < end; i++) {
            if (c->type == VM_INT) {
                int64_t x = c->v[i]->u.i;
                imn = !any || x < imn ? x : imn;
                imx = !any || x > imx ? x : imx;
            } else {
                double x = c->v[i]->u.d;
                dmn = !any || x < dmn ? x : dmn;
                dmx = !any || x > dmx ? x : dmx;
            }
            any = 1;
        }
        wb_u8(w, (unsigned)any);
        if (c->type == VM_INT) {
            wb_u64(w, (uint64_t)imn);
            wb_u64(w, (uint64_t)imx);
        } else {
            wb_u64(w, dbits(dmn));
            wb_u64(w, dbits(dmx));
        }
    }
}

int vx_vm_colset_build(const vm_record *const *recs, uint32_t n, unsigned flags,
                       const vex_mem *mem, vex_err *err, unsigned char **out,
                       size_t *out_len)
{
    bcol *cols = NULL;
    uint32_t n_cols = 0, cap = 0;
    wbuf w = {NULL, 0, 0, mem, 0};
    size_t dir_at;
    int rc = VEX_OK, zstd = (flags & VM_BUILD_ZSTD) != 0;
    *out = NULL;
    *out_len = 0;
    if (zstd && !vx_vm_colset_zstd())
        return vx_err_set(err, VEX_UNSUPPORTED,
                          "metadata columns: zstd compression asked for, and "
                          "this library was built without zstd");
    /* collect (name, type) columns; rows arrive in order */
    for (uint32_t r = 0; r < n; r++) {
        size_t nf = vx_vm_record_n_fields(recs[r]);
        const vm_field *f = vx_vm_record_fields(recs[r]);
        for (size_t j = 0; j < nf; j++) {
            bcol key, *c = NULL;
            key.name = f[j].name;
            key.type = f[j].v.type;
            for (uint32_t i = 0; i < n_cols; i++)
                if (cmp_bcol(&cols[i], &key) == 0) {
                    c = &cols[i];
                    break;
                }
            if (c == NULL) {
                if (n_cols == cap) {
                    uint32_t nc = cap ? cap * 2 : 8;
                    bcol *g = vx_mem_realloc(mem, cols, nc * sizeof *g);
                    if (g == NULL) {
                        rc = VEX_NOMEM;
                        goto done;
                    }
                    cols = g;
                    cap = nc;
                }
                c = &cols[n_cols++];
                memset(c, 0, sizeof *c);
                c->name = key.name;
                c->type = key.type;
                c->rows = vx_mem_alloc(mem, (size_t)n * sizeof *c->rows);
                c->v = vx_mem_alloc(mem, (size_t)n * sizeof *c->v);
                if (c->rows == NULL || c->v == NULL) {
                    rc = VEX_NOMEM;
                    goto done;
                }
            }
            c->rows[c->n] = r;
            c->v[c->n++] = &f[j].v;
        }
    }
    if (n_cols > 1)
        qsort(cols, n_cols, sizeof *cols, cmp_bcol);
    wb_u8(&w, VM_COLSET_VERSION);
    wb_u8(&w, 0);
    wb_u8(&w, 0);
    wb_u8(&w, 0);
    wb_u32(&w, n);
    wb_u32(&w, n_cols);
    dir_at = w.n;
    wb_room(&w, (size_t)n_cols * DIR_BYTES);
    for (uint32_t i = 0; i < n_cols && !w.failed; i++) {
        const bcol *c = &cols[i];
        size_t start = w.n;
        int enc = 0;
        wb_bytes(&w, c->name.p, c->name.len);
        wb_u32(&w, c->n);
        if (c->n < n) {
            unsigned char *bm = wb_room(&w, ((size_t)n + 7) / 8);
            if (bm) {
                memset(bm, 0, ((size_t)n + 7) / 8);
                for (uint32_t j = 0; j < c->n; j++)
                    bm[c->rows[j] >> 3] |=
                        (unsigned char)(1u << (c->rows[j] & 7));
            }
        }
        if ((rc = put_values(c, zstd, mem, &w, &enc)) != VEX_OK)
            goto done;
        if (c->type == VM_INT || c->type == VM_DOUBLE)
            encode_zones(c, n, &w);
        if (w.failed)
            break;
        if (w.n - start > UINT32_MAX || w.n > UINT32_MAX) {
            rc = vx_err_set(err, VEX_INVALID,
                            "metadata columns: more than 4 GiB");
            goto done;
        }
        unsigned char *d = w.p + dir_at + (size_t)i * DIR_BYTES;
        vex_put_u32le(d, (uint32_t)start);
        vex_put_u32le(d + 4, (uint32_t)(w.n - start));
        d[8] = (unsigned char)c->type;
        d[9] = (unsigned char)enc;
        d[10] = (unsigned char)c->name.len;
        d[11] = (unsigned char)(c->name.len >> 8);
    }
    if (w.failed)
        rc = VEX_NOMEM;
done:
    for (uint32_t i = 0; i < n_cols; i++) {
        vx_mem_free(mem, cols[i].rows);
        vx_mem_free(mem, cols[i].v);
    }
    vx_mem_free(mem, cols);
    if (rc != VEX_OK) {
        vx_mem_free(mem, w.p);
        if (rc == VEX_NOMEM)
            vx_err_set(err, rc, "metadata columns: out of memory");
        return rc;
    }
    *out = w.p;
    *out_len = w.n;
    return VEX_OK;
}

/* ---------------------------------------------------------------------
 * Opening (untrusted bytes)
 * ------------------------------------------------------------------- */

/* A column's reader: the bounded reader over its bytes (corruption stays
 * in it, first failure kept, reported by vx_vm_colset_open as
 * "column \"name\": what at offset N"), the column's name once read, and
 * a status for what is not corruption (VEX_NOMEM, VEX_UNSUPPORTED). */
typedef struct rd {
    vx_rd in;
    vex_err *err; /* for VEX_UNSUPPORTED, whose message is set at once */
    const vm_str *col;
    int rc;
} rd;

static int bad(rd *r, const char *what)
{
    return vx_rd_fail(&r->in, what);
}

/* A u32 into *v; 1 on success (0 with the failure in `in`). */
static int get_u32(vx_rd *in, uint32_t *v, const char *what)
{
    *v = vx_rd_u32(in, what);
    return vx_rd_ok(in);
}

static int nomem(rd *r)
{
    r->rc = VEX_NOMEM;
    return 0;
}

static void *calloc_n(vm_colset *s, uint64_t n, size_t size)
{
    void *p;
    if (n == 0)
        n = 1;
    if (n > SIZE_MAX / size)
        return NULL;
    p = vx_mem_calloc(&s->mem, (size_t)n, size);
    if (p)
        s->memory += n * size;
    return p;
}

/* n strings in the plain layout (offsets then bytes), each at most
 * `max` bytes of valid UTF-8; sorted strictly when `sorted`. */
static int read_strings(rd *r, vm_colset *s, uint64_t n, uint32_t max,
                        int sorted, vm_str **out)
{
    const unsigned char *offs = vx_rd_array(&r->in, n + 1, 4, "string offsets");
    const unsigned char *bytes;
    uint32_t total;
    vm_str *v;
    if (offs == NULL)
        return 0;
    total = vex_get_u32le(offs + 4 * n);
    if (vex_get_u32le(offs) != 0)
        return bad(r, "first string offset is not 0");
    if ((bytes = vx_rd_take(&r->in, total, "string bytes")) == NULL)
        return 0;
    if ((v = calloc_n(s, n, sizeof *v)) == NULL) {
        return nomem(r);
    }
    *out = v;
    for (uint64_t i = 0; i < n; i++) {
        uint32_t a = vex_get_u32le(offs + 4 * i),
                 b = vex_get_u32le(offs + 4 * i + 4);
        if (b < a || b > total)
            return bad(r, "string offsets out of order");
        if (b - a > max)
            return bad(r, "a string is longer than the limit");
        v[i].p = (const char *)bytes + a;
        v[i].len = b - a;
        if (!vx_vm_utf8_valid(v[i].p, v[i].len))
            return bad(r, "a string is not valid UTF-8");
        if (sorted && i > 0 && vx_vm_str_cmp(&v[i - 1], &v[i]) >= 0)
            return bad(r, "dictionary not strictly ascending");
    }
    return 1;
}

/* n codes of the canonical width for nd entries, each < nd, every entry
 * used. */
static int read_codes(rd *r, vm_colset *s, uint64_t n, uint32_t nd,
                      uint32_t **out)
{
    const unsigned char *wp = vx_rd_take(&r->in, 1, "code width"), *q;
    unsigned wd;
    uint32_t *c;
    unsigned char *used;
    if (wp == NULL)
        return 0;
    wd = *wp;
    if (wd != width_of(nd - 1))
        return bad(r, "code width is not the dictionary's");
    if ((q = vx_rd_take(&r->in, packed_bytes(n, wd), "codes")) == NULL)
        return 0;
    if (wd && (n * wd) % 8 && (q[packed_bytes(n, wd) - 1] >> ((n * wd) % 8)))
        return bad(r, "padding bits after the codes are not zero");
    c = calloc_n(s, n, sizeof *c);
    used = vx_mem_calloc(&s->mem, nd, 1);
    if (c == NULL || used == NULL) {
        vx_mem_free(&s->mem, c); /* not yet *out: the caller cannot free it */
        vx_mem_free(&s->mem, used);
        return nomem(r);
    }
    *out = c;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t x = get_bits(q, i, wd);
        if (x >= nd) {
            vx_mem_free(&s->mem, used);
            return bad(r, "a code is past the dictionary");
        }
        c[i] = (uint32_t)x;
        used[x] = 1;
    }
    for (uint32_t i = 0; i < nd; i++)
        if (!used[i]) {
            vx_mem_free(&s->mem, used);
            return bad(r, "a dictionary entry is never used");
        }
    vx_mem_free(&s->mem, used);
    return 1;
}

static int read_ints(rd *r, vm_colset *s, vcol *c)
{
    uint32_t n = c->n_present;
    int isbool = c->type == VM_BOOL;
    if ((c->iv = calloc_n(s, n, sizeof *c->iv)) == NULL) {
        return nomem(r);
    }
    if (c->enc == VM_ENC_PLAIN && !isbool) {
        const unsigned char *q = vx_rd_take(&r->in, 8ull * n, "values");
        if (q == NULL)
            return 0;
        for (uint32_t i = 0; i < n; i++)
            c->iv[i] = (int64_t)vex_get_u64le(q + 8ull * i);
        return 1;
    }
    if (c->enc == VM_ENC_BITPACK) {
        uint64_t base = 0, mx = 0;
        unsigned wd = 1;
        const unsigned char *q;
        if (!isbool) {
            const unsigned char *h =
                vx_rd_take(&r->in, 9, "bit-packing header");
            if (h == NULL)
                return 0;
            base = vex_get_u64le(h);
            wd = h[8];
            if (wd > 64)
                return bad(r, "bit width above 64");
        }
        if ((q = vx_rd_take(&r->in, packed_bytes(n, wd), "packed values")) ==
            NULL)
            return 0;
        if ((n * (uint64_t)wd) % 8 &&
            (q[packed_bytes(n, wd) - 1] >> ((n * (uint64_t)wd) % 8)))
            return bad(r, "padding bits after the values are not zero");
        for (uint32_t i = 0; i < n; i++) {
            uint64_t u = get_bits(q, i, wd), x = base + u;
            if (!isbool && (int64_t)x < (int64_t)base)
                return bad(r, "a packed value overflows int64");
            mx = u > mx ? u : mx;
            c->iv[i] = (int64_t)x;
        }
        if (!isbool && n) {
            int64_t mn = c->iv[0];
            for (uint32_t i = 1; i < n; i++)
                mn = c->iv[i] < mn ? c->iv[i] : mn;
            if (mn != (int64_t)base)
                return bad(r, "frame of reference is not the minimum");
            if (width_of(mx) != wd)
                return bad(r, "bit width is not the smallest");
        }
        return 1;
    }
    if (c->enc == VM_ENC_RLE) {
        uint32_t runs, at = 0;
        if (!get_u32(&r->in, &runs, "run count"))
            return 0;
        for (uint32_t k = 0; k < runs; k++) {
            const unsigned char *q = vx_rd_take(&r->in, isbool ? 5 : 12, "run");
            int64_t v;
            uint32_t len;
            if (q == NULL)
                return 0;
            v = isbool ? q[0] : (int64_t)vex_get_u64le(q);
            len = vex_get_u32le(q + (isbool ? 1 : 8));
            if (isbool && v > 1)
                return bad(r, "a bool run is not 0 or 1");
            if (len == 0 || len > n - at)
                return bad(r, "run lengths do not add up");
            if (at > 0 && c->iv[at - 1] == v)
                return bad(r, "two adjacent runs of one value");
            for (uint32_t j = 0; j < len; j++)
                c->iv[at++] = v;
        }
        if (at != n)
            return bad(r, "run lengths do not add up");
        return 1;
    }
    return bad(r, "encoding not valid for the type");
}

static int read_doubles(rd *r, vm_colset *s, vcol *c)
{
    uint32_t n = c->n_present;
    const unsigned char *q;
    if (c->enc != VM_ENC_PLAIN && c->enc != VM_ENC_BSS)
        return bad(r, "encoding not valid for the type");
    if ((c->enc == VM_ENC_BSS) != (n >= 8))
        return bad(r, "byte-stream-split is used from 8 values on");
    if ((c->dv = calloc_n(s, n, sizeof *c->dv)) == NULL) {
        return nomem(r);
    }
    if ((q = vx_rd_take(&r->in, 8ull * n, "values")) == NULL)
        return 0;
    for (uint32_t i = 0; i < n; i++) {
        uint64_t u = 0;
        if (c->enc == VM_ENC_PLAIN)
            u = vex_get_u64le(q + 8ull * i);
        else
            for (unsigned b = 0; b < 8; b++)
                u |= (uint64_t)q[(size_t)b * n + i] << (8 * b);
        memcpy(&c->dv[i], &u, 8);
        if (isnan(c->dv[i]))
            return bad(r, "a double is NaN");
    }
    return 1;
}

static int read_texts(rd *r, vm_colset *s, vcol *c)
{
    uint64_t ns = c->n_present;
    if (c->enc != VM_ENC_PLAIN && c->enc != VM_ENC_DICT)
        return bad(r, "encoding not valid for the type");
    if (c->type == VM_TAGS) {
        const unsigned char *q =
            vx_rd_take(&r->in, 4ull * (c->n_present + 1), "tag list offsets");
        if (q == NULL)
            return 0;
        if ((c->toff = calloc_n(s, c->n_present + 1ull, 4)) == NULL)
            return nomem(r);
        for (uint32_t i = 0; i <= c->n_present; i++) {
            c->toff[i] = vex_get_u32le(q + 4ull * i);
            if ((i == 0 && c->toff[0] != 0) ||
                (i > 0 && (c->toff[i] < c->toff[i - 1] ||
                           c->toff[i] - c->toff[i - 1] > VM_MAX_TAGS)))
                return bad(r, "tag list offsets out of order");
        }
        ns = c->toff[c->n_present];
    }
    if (c->enc == VM_ENC_PLAIN)
        return read_strings(r, s, ns,
                            c->type == VM_TAGS ? VM_MAX_TAG : VM_MAX_STRING, 0,
                            c->type == VM_TAGS ? &c->tagv : &c->sv);
    if (!get_u32(&r->in, &c->n_dict, "dictionary size"))
        return 0;
    if (c->n_dict == 0 || c->n_dict > ns)
        return bad(r, "dictionary size out of range");
    if (!read_strings(r, s, c->n_dict,
                      c->type == VM_TAGS ? VM_MAX_TAG : VM_MAX_STRING, 1,
                      &c->sv) ||
        !read_codes(r, s, ns, c->n_dict, &c->codes))
        return 0;
    if (c->type == VM_TAGS) {
        if ((c->tagv = calloc_n(s, ns, sizeof *c->tagv)) == NULL) {
            r->rc = VEX_NOMEM;
            return 0;
        }
        for (uint64_t i = 0; i < ns; i++)
            c->tagv[i] = c->sv[c->codes[i]];
    }
    return 1;
}

static vm_value col_value(const vcol *c, uint32_t i)
{
    vm_value v;
    v.type = (vm_type)c->type;
    switch (c->type) {
    case VM_NULL:
        break;
    case VM_BOOL:
        v.u.b = (int)c->iv[i];
        break;
    case VM_INT:
        v.u.i = c->iv[i];
        break;
    case VM_DOUBLE:
        v.u.d = c->dv[i];
        break;
    case VM_STRING:
        v.u.s = c->n_dict ? c->sv[c->codes[i]] : c->sv[i];
        break;
    default:
        v.u.tags.v = c->tagv + c->toff[i];
        v.u.tags.n = c->toff[i + 1] - c->toff[i];
        break;
    }
    return v;
}

static int num_less(const vm_value *a, const vm_value *b)
{
    return a->type == VM_INT ? a->u.i < b->u.i : a->u.d < b->u.d;
}

/* Read the zone map and check it against the values. */
static int read_zones(rd *r, vm_colset *s, vcol *c, uint32_t n_rows)
{
    uint32_t nb = (n_rows + VM_COL_BLOCK - 1) / VM_COL_BLOCK, i = 0;
    const unsigned char *q = vx_rd_take(&r->in, 17ull * nb, "zone map");
    if (q == NULL)
        return 0;
    c->n_blocks = nb;
    c->zany = calloc_n(s, nb, 1);
    c->zmin = calloc_n(s, nb, sizeof *c->zmin);
    c->zmax = calloc_n(s, nb, sizeof *c->zmax);
    if (c->zany == NULL || c->zmin == NULL || c->zmax == NULL) {
        return nomem(r);
    }
    for (uint32_t b = 0, row = 0; b < nb; b++) {
        const unsigned char *z = q + 17ull * b;
        uint32_t end = b + 1 < nb ? (b + 1) * VM_COL_BLOCK : n_rows;
        int any = 0;
        vm_value mn, mx;
        uint64_t lo = vex_get_u64le(z + 1), hi = vex_get_u64le(z + 9);
        for (; row < end; row++) {
            vm_value v;
            if (!bit_at(c->present, row))
                continue;
            v = col_value(c, i++);
            if (!any || num_less(&v, &mn))
                mn = v;
            if (!any || num_less(&mx, &v))
                mx = v;
            any = 1;
        }
        if (z[0] != any)
            return bad(r, "zone map disagrees with the values");
        if (!any) {
            if (lo || hi)
                return bad(r, "zone map of an empty block is not zero");
            continue;
        }
        if (c->type == VM_INT
                ? (lo != (uint64_t)mn.u.i || hi != (uint64_t)mx.u.i)
                : (lo != dbits(mn.u.d) || hi != dbits(mx.u.d)))
            return bad(r, "zone map disagrees with the values");
        c->zany[b] = 1;
        c->zmin[b] = mn;
        c->zmax[b] = mx;
    }
    return 1;
}

/* The value stream of column c from r (by type and encoding). */
static int read_values(rd *r, vm_colset *s, vcol *c)
{
    switch (c->type) {
    case VM_NULL:
        if (c->enc != VM_ENC_PLAIN)
            return bad(r, "encoding not valid for the type");
        return 1;
    case VM_BOOL:
    case VM_INT:
        return read_ints(r, s, c);
    case VM_DOUBLE:
        return read_doubles(r, s, c);
    case VM_STRING:
    case VM_TAGS:
        return read_texts(r, s, c);
    default:
        return bad(r, "unknown type");
    }
}

static int open_column(rd *r, vm_colset *s, vcol *c, uint32_t n_rows)
{
    const unsigned char *nm = vx_rd_take(&r->in, c->name.len, "name");
    uint32_t np;
    if (nm == NULL)
        return 0;
    c->name.p = (const char *)nm;
    r->col = &c->name;
    if (!vx_vm_name_valid(nm, c->name.len))
        return bad(r, "the name is not a valid field name");
    if (!get_u32(&r->in, &np, "value count"))
        return 0;
    if (np == 0 || np > n_rows)
        return bad(r, "value count out of range");
    c->n_present = np;
    if (np < n_rows) {
        const unsigned char *bm =
            vx_rd_take(&r->in, ((uint64_t)n_rows + 7) / 8, "presence bitmap");
        uint64_t cnt = 0;
        if (bm == NULL)
            return 0;
        if ((n_rows & 7) && (bm[n_rows >> 3] >> (n_rows & 7)))
            return bad(r, "presence bits past the last row");
        c->rank = calloc_n(s, (n_rows + 63) / 64 + 1ull, 4);
        if (c->rank == NULL) {
            r->rc = VEX_NOMEM;
            return 0;
        }
        for (uint32_t wd = 0; wd < (n_rows + 63) / 64; wd++) {
            c->rank[wd] = (uint32_t)cnt;
            for (uint32_t k = wd * 64; k < n_rows && k < wd * 64 + 64; k++)
                cnt += (bm[k >> 3] >> (k & 7)) & 1;
        }
        if (cnt != np)
            return bad(r, "presence bitmap disagrees with the value count");
        c->present = bm;
    }
    if (!c->compressed) {
        if (!read_values(r, s, c))
            return 0;
    } else {
        uint32_t raw_len, z_len;
        const unsigned char *z;
        rd vr;
#ifndef VEX_HAVE_ZSTD
        if (r->rc == VEX_OK)
            r->rc = vx_err_set(r->err, VEX_UNSUPPORTED,
                               "metadata columns: column \"%.*s\" is "
                               "compressed with zstd, and this library was "
                               "built without zstd",
                               (int)c->name.len, c->name.p);
        return 0;
#endif
        if (!get_u32(&r->in, &raw_len, "uncompressed length") ||
            !get_u32(&r->in, &z_len, "compressed length"))
            return 0;
        if ((z = vx_rd_take(&r->in, z_len, "compressed values")) == NULL)
            return 0;
        if (raw_len == 0 || raw_len > (uint64_t)z_len * ZSTD_MAX_RATIO)
            return bad(r, "uncompressed length out of range");
#ifdef VEX_HAVE_ZSTD
        {
            unsigned long long fs = ZSTD_getFrameContentSize(z, z_len);
            size_t got;
            if (fs != raw_len)
                return bad(r, "compressed frame does not hold the length");
            if ((c->raw = vx_mem_alloc(&s->mem, raw_len)) == NULL)
                return nomem(r);
            s->memory += raw_len;
            got = ZSTD_decompress(c->raw, raw_len, z, z_len);
            if (ZSTD_isError(got) || got != raw_len)
                return bad(r, "compressed values do not decompress");
        }
#endif
        /* offsets inside the decompressed bytes are reported from the
         * start of the compressed ones */
        vr.in = vx_rd_at(c->raw, raw_len, vx_rd_off(&r->in) - z_len);
        vr.err = r->err;
        vr.col = r->col;
        vr.rc = VEX_OK;
        if (!read_values(&vr, s, c) ||
            !vx_rd_end(&vr.in, "bytes after the compressed values")) {
            r->rc = vr.rc;
            vx_rd_adopt(&r->in, &vr.in);
            return 0;
        }
    }
    if ((c->type == VM_INT || c->type == VM_DOUBLE) &&
        !read_zones(r, s, c, n_rows))
        return 0;
    return vx_rd_end(&r->in, "bytes after the column");
}

int vx_vm_colset_open(const unsigned char *buf, size_t len, uint32_t n_rows,
                      const vex_mem *mem, vex_err *err, vm_colset **out)
{
    vm_colset *s;
    unsigned version;
    uint32_t n_cols, rows;
    uint64_t at;
    vx_rd dir;
    *out = NULL;
    if (len < HDR_BYTES)
        return VX_CORRUPT(err,
                          "metadata columns: %zu bytes, shorter than the "
                          "header",
                          len);
    dir = vx_rd_new(buf, len);
    version = vx_rd_u8(&dir, NULL);
    if (version > VM_COLSET_VERSION)
        return vx_err_set(err, VEX_UNSUPPORTED,
                          "metadata columns: version %u is newer than this "
                          "library's %u",
                          version, VM_COLSET_VERSION);
    if (version != VM_COLSET_VERSION || !vx_rd_zero(&dir, 3, NULL))
        return VX_CORRUPT(err, "metadata columns: bad version or reserved "
                               "bytes at offset 0");
    rows = vx_rd_u32(&dir, NULL);
    if (rows != n_rows)
        return VX_CORRUPT(err, "metadata columns: %u rows, the segment has %u",
                          rows, n_rows);
    n_cols = vx_rd_u32(&dir, NULL);
    if (n_cols > (len - HDR_BYTES) / DIR_BYTES)
        return VX_CORRUPT(err,
                          "metadata columns: %u columns do not fit in %zu "
                          "bytes",
                          n_cols, len);
    s = vx_mem_calloc(mem, 1, sizeof *s);
    if (s == NULL)
        return vx_err_set(err, VEX_NOMEM, "out of memory");
    s->mem = *mem;
    s->n_rows = n_rows;
    s->n_cols = n_cols;
    s->cols = calloc_n(s, n_cols, sizeof *s->cols);
    if (s->cols == NULL) {
        vx_vm_colset_close(s);
        return vx_err_set(err, VEX_NOMEM, "out of memory");
    }
    /* the directory (its size checked above), each entry naming the
     * column that follows the previous one */
    at = HDR_BYTES + (uint64_t)n_cols * DIR_BYTES;
    for (uint32_t i = 0; i < n_cols; i++) {
        vcol *c = &s->cols[i];
        uint32_t off = vx_rd_u32(&dir, NULL), clen = vx_rd_u32(&dir, NULL);
        unsigned enc;
        rd cr;
        c->type = vx_rd_u8(&dir, NULL);
        enc = vx_rd_u8(&dir, NULL);
        c->enc = enc & ~ENC_ZSTD;
        c->compressed = (enc & ENC_ZSTD) != 0;
        c->name.len = vx_rd_u16(&dir, NULL);
        if (off != at || clen > len - at) {
            vx_vm_colset_close(s);
            return VX_CORRUPT(err,
                              "metadata columns: column %u: offset %u and "
                              "length %u do not follow the previous column",
                              i, off, clen);
        }
        if (c->type > VM_TAGS) {
            int type = c->type;
            vx_vm_colset_close(s);
            return VX_CORRUPT(err, "metadata columns: column %u: type %d", i,
                              type);
        }
        cr.in = vx_rd_at(buf + off, clen, off);
        cr.err = err;
        cr.col = NULL;
        cr.rc = VEX_OK;
        if (!open_column(&cr, s, c, n_rows)) {
            int rc = cr.rc;
            if (rc == VEX_NOMEM)
                vx_err_set(err, VEX_NOMEM, "out of memory");
            else if (rc == VEX_OK)
                rc = VX_CORRUPT(err,
                                "metadata columns: column \"%.*s\": %s at "
                                "offset %zu",
                                cr.col ? (int)cr.col->len : 0,
                                cr.col ? cr.col->p : "", vx_rd_what(&cr.in),
                                vx_rd_fail_off(&cr.in));
            vx_vm_colset_close(s);
            return rc;
        }
        if (i > 0) {
            const vcol *p = &s->cols[i - 1];
            int cmp = vx_vm_str_cmp(&p->name, &c->name);
            if (cmp > 0 || (cmp == 0 && p->type >= c->type)) {
                vx_vm_colset_close(s);
                return VX_CORRUPT(err,
                                  "metadata columns: column %u is out of "
                                  "(name, type) order",
                                  i);
            }
        }
        at += clen;
    }
    if (at != len) {
        vx_vm_colset_close(s);
        return VX_CORRUPT(err,
                          "metadata columns: %llu bytes after the last "
                          "column",
                          (unsigned long long)(len - at));
    }
    /* a record names a field once: columns of one name never share a row */
    for (uint32_t i = 1; i < n_cols; i++) {
        if (vx_vm_str_cmp(&s->cols[i - 1].name, &s->cols[i].name) != 0)
            continue;
        for (uint32_t j = i;
             j-- > 0 && vx_vm_str_cmp(&s->cols[j].name, &s->cols[i].name) == 0;)
            for (uint32_t row = 0; row < n_rows; row++)
                if (bit_at(s->cols[j].present, row) &&
                    bit_at(s->cols[i].present, row)) {
                    int rc = VX_CORRUPT(err,
                                        "metadata columns: row %u has field "
                                        "\"%.*s\" twice",
                                        row, (int)s->cols[i].name.len,
                                        s->cols[i].name.p);
                    vx_vm_colset_close(s);
                    return rc;
                }
    }
    *out = s;
    return VEX_OK;
}

void vx_vm_colset_close(vm_colset *s)
{
    if (s == NULL)
        return;
    for (uint32_t i = 0; s->cols && i < s->n_cols; i++) {
        vcol *c = &s->cols[i];
        vx_mem_free(&s->mem, c->rank);
        vx_mem_free(&s->mem, c->iv);
        vx_mem_free(&s->mem, c->dv);
        vx_mem_free(&s->mem, c->sv);
        vx_mem_free(&s->mem, c->codes);
        vx_mem_free(&s->mem, c->toff);
        vx_mem_free(&s->mem, c->tagv);
        vx_mem_free(&s->mem, c->zany);
        vx_mem_free(&s->mem, c->zmin);
        vx_mem_free(&s->mem, c->zmax);
        vx_mem_free(&s->mem, c->raw);
    }
    vx_mem_free(&s->mem, s->cols);
    {
        vex_mem m = s->mem;
        vx_mem_free(&m, s);
    }
}

uint32_t vx_vm_colset_rows(const vm_colset *s)
{
    return s->n_rows;
}

uint32_t vx_vm_colset_columns(const vm_colset *s)
{
    return s->n_cols;
}

void vx_vm_colset_column(const vm_colset *s, uint32_t i, vm_str *name,
                         int *type, int *encoding, uint32_t *n_present)
{
    const vcol *c = &s->cols[i];
    *name = c->name;
    *type = c->type;
    *encoding = c->enc | (c->compressed ? VM_ENC_ZSTD : 0);
    *n_present = c->n_present;
}

int vx_vm_colset_zstd(void)
{
#ifdef VEX_HAVE_ZSTD
    return 1;
#else
    return 0;
#endif
}

uint64_t vx_vm_colset_memory(const vm_colset *s)
{
    return s->memory + sizeof *s;
}

/* Index of row r's value in column c (r must be present). */
static uint32_t value_index(const vcol *c, uint32_t r)
{
    uint64_t w;
    if (c->present == NULL)
        return r;
    w = 0;
    for (uint32_t k = r & ~63u; k < r; k++)
        w += (c->present[k >> 3] >> (k & 7)) & 1;
    return c->rank[r >> 6] + (uint32_t)w;
}

int vx_vm_colset_record(const vm_colset *s, uint32_t r, const vex_mem *mem,
                        vex_err *err, vm_record **out)
{
    vm_field f[VM_MAX_FIELDS];
    size_t n = 0;
    *out = NULL;
    if (r >= s->n_rows)
        return vx_err_set(err, VEX_INVALID, "metadata columns: row %u of %u", r,
                          s->n_rows);
    for (uint32_t i = 0; i < s->n_cols; i++) {
        const vcol *c = &s->cols[i];
        if (!bit_at(c->present, r))
            continue;
        if (n == VM_MAX_FIELDS)
            return VX_CORRUPT(err,
                              "metadata columns: row %u has more than %u "
                              "fields",
                              r, VM_MAX_FIELDS);
        f[n].name = c->name;
        f[n++].v = col_value(c, value_index(c, r));
    }
    if (n == 0)
        return VEX_OK;
    {
        int rc = vx_vm_record_new(f, n, mem, err, out);
        return rc == VEX_INVALID ? VEX_CORRUPT : rc;
    }
}

/* ---------------------------------------------------------------------
 * Evaluation
 * ------------------------------------------------------------------- */

typedef struct ev {
    const vm_colset *s;
    const vmf_filter *f;
    const vmf_node *nodes;
    const uint32_t *kids;
    size_t words;
    uint64_t **scratch; /* 2 bitmaps per depth */
    unsigned n_scratch;
} ev;

/* A numeric leaf decided without a vm_value per row: a comparison or
 * BETWEEN of an int64, double or bool column against literals of the
 * column's own type, or an IN / NOT IN of an int64 column against integer
 * literals. The classes agree, so every present row is TRUE or FALSE,
 * never UNKNOWN. With lt = x < lo and gt = x > hi (a comparison: lo = hi =
 * the literal), the verdict is bit lt | gt << 1 of `table`: index 0 is the
 * record evaluator's c == 0, 1 is c < 0, 2 is c > 0 (a NaN compares
 * "equal" in both), and BETWEEN is table 1 with its two bounds. Mixed
 * int/double comparisons and lists holding doubles take the generic path.
 * The result is the same bits as vx_vmf_eval_leaf row by row (test_meta
 * compares the two evaluators on random filters). */
typedef struct numleaf {
    int type; /* the column's: VM_INT, VM_DOUBLE or VM_BOOL */
    int in;   /* 0: compare; 1: IN; -1: NOT IN (VM_INT only) */
    unsigned table;
    int64_t ilo, ihi;
    double dlo, dhi;
    const vm_value *list; /* IN: sorted, distinct VM_INT literals */
    uint32_t n_list;
} numleaf;

static int numleaf_of(const vcol *c, const vmf_node *nd, const vm_value *lit,
                      numleaf *q)
{
    /* verdict tables of the operators, indexed by lt | gt << 1 */
    static const unsigned char cmp_table[] = {
        [VMF_EQ] = 1, [VMF_NE] = 6, [VMF_LT] = 2,
        [VMF_LE] = 3, [VMF_GT] = 4, [VMF_GE] = 5};
    uint32_t n_lit = nd->kind == VMF_BETWEEN ? 2 : nd->n;
    if (c->type != VM_INT && c->type != VM_DOUBLE && c->type != VM_BOOL)
        return 0;
    if (nd->kind != VMF_CMP && nd->kind != VMF_BETWEEN &&
        !(c->type == VM_INT && (nd->kind == VMF_IN || nd->kind == VMF_NOT_IN)))
        return 0;
    if (nd->kind == VMF_CMP && (n_lit != 1 || nd->op > VMF_GE))
        return 0;
    for (uint32_t i = 0; i < n_lit; i++)
        if ((int)lit[i].type != c->type)
            return 0;
    memset(q, 0, sizeof *q);
    q->type = c->type;
    if (nd->kind == VMF_IN || nd->kind == VMF_NOT_IN) {
        q->in = nd->kind == VMF_IN ? 1 : -1;
        q->list = lit;
        q->n_list = n_lit;
        return 1;
    }
    q->table = nd->kind == VMF_BETWEEN ? 1u : cmp_table[nd->op];
    if (c->type == VM_DOUBLE) {
        q->dlo = lit[0].u.d;
        q->dhi = lit[n_lit - 1].u.d;
    } else if (c->type == VM_INT) {
        q->ilo = lit[0].u.i;
        q->ihi = lit[n_lit - 1].u.i;
    } else {
        q->ilo = lit[0].u.b;
        q->ihi = lit[n_lit - 1].u.b;
    }
    return 1;
}

static int int_listed(const vm_value *list, uint32_t n, int64_t x)
{
    uint32_t lo = 0, hi = n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (list[mid].u.i == x)
            return 1;
        if (list[mid].u.i < x)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}

/* The verdict (1 TRUE, 0 FALSE) of the column's value number i. */
static inline uint64_t numleaf_test(const vcol *c, const numleaf *q, uint32_t i)
{
    unsigned lt, gt;
    if (q->in)
        return (uint64_t)(int_listed(q->list, q->n_list, c->iv[i]) ==
                          (q->in > 0));
    if (q->type == VM_DOUBLE) {
        lt = c->dv[i] < q->dlo;
        gt = c->dv[i] > q->dhi;
    } else {
        lt = c->iv[i] < q->ilo;
        gt = c->iv[i] > q->ihi;
    }
    return (q->table >> (lt | gt << 1)) & 1u;
}

/* Eight 0/1 bytes as the low 8 bits, bit j = byte j: with byte j at bits
 * 8j (assembled in that order, so on any byte order; one load where
 * bytes are little-endian), the multiply moves its bit to bit 56 + j with
 * no carries between them. */
static uint64_t pack8(const unsigned char *v)
{
    uint64_t x = 0;
    for (unsigned j = 0; j < 8; j++)
        x |= (uint64_t)v[j] << (8 * j);
    return (x * UINT64_C(0x0102040810204080)) >> 56;
}

/* The verdicts of values k .. k + 63 as the bits of a word: first one
 * byte per value, in loops by kind that are plain compares the compiler
 * vectorizes, then packed eight at a time. */
static uint64_t numleaf_word(const vcol *c, const numleaf *q, uint32_t k)
{
    unsigned char v[64];
    unsigned j;
    uint64_t w = 0;
    /* table bits: [0] neither below lo nor above hi, [1] below, [2] above */
    const unsigned char te = q->table & 1u, tl = (q->table >> 1) & 1u,
                        tg = (q->table >> 2) & 1u;
    if (q->in) {
        for (j = 0; j < 64; j++)
            v[j] = (unsigned char)(int_listed(q->list, q->n_list,
                                              c->iv[k + j]) == (q->in > 0));
    } else if (q->type == VM_DOUBLE) {
        const double *x = c->dv + k, lo = q->dlo, hi = q->dhi;
        for (j = 0; j < 64; j++) {
            unsigned char lt = x[j]<lo, gt = x[j]> hi;
            v[j] = (unsigned char)((lt & tl) | (gt & tg) |
                                   ((lt ^ 1) & (gt ^ 1) & te));
        }
    } else {
        const int64_t *x = c->iv + k, lo = q->ilo, hi = q->ihi;
        for (j = 0; j < 64; j++) {
            unsigned char lt = x[j]<lo, gt = x[j]> hi;
            v[j] = (unsigned char)((lt & tl) | (gt & tg) |
                                   ((lt ^ 1) & (gt ^ 1) & te));
        }
    }
    for (j = 0; j < 64; j += 8)
        w |= pack8(v + j) << j;
    return w;
}

/* Rows [row, end) of column c, values from number *i on: each present
 * row's verdict into T or F; `whole` >= 0 is a verdict for all of them. */
static void numleaf_rows(const vcol *c, const numleaf *q, int whole,
                         uint32_t row, uint32_t end, uint32_t *i, uint64_t *T,
                         uint64_t *F)
{
    uint32_t k = *i;
    /* a column with a value in every row, word by word (the value of row
     * r is value r; blocks start at multiples of 64) */
    if (c->present == NULL && whole < 0)
        for (; (row & 63) == 0 && row + 64 <= end; row += 64, k += 64) {
            uint64_t w = numleaf_word(c, q, k);
            T[row >> 6] |= w;
            F[row >> 6] |= ~w;
        }
    for (; row < end; row++) {
        uint64_t bit = 1ull << (row & 63), t;
        if (!bit_at(c->present, row))
            continue;
        if (whole >= 0) {
            k++;
            if (whole == VMF_UNKNOWN)
                continue;
            t = (uint64_t)whole;
        } else {
            t = numleaf_test(c, q, k++);
        }
        T[row >> 6] |= bit & (0 - t);
        F[row >> 6] |= bit & (t - 1);
    }
    *i = k;
}

/* Leaf results for column c into T (true) and F (false). */
static void leaf_column(const ev *e, uint32_t node, const vcol *c, uint64_t *T,
                        uint64_t *F)
{
    const vmf_node *nd = &e->nodes[node];
    uint32_t n_rows = e->s->n_rows;
    /* dictionary strings: decide once per entry (the bitmap index) */
    if (c->type == VM_STRING && c->n_dict) {
        unsigned char res[256], *rs = res;
        if (c->n_dict > sizeof res)
            rs = vx_mem_alloc(&e->s->mem, c->n_dict);
        if (rs) {
            for (uint32_t d = 0; d < c->n_dict; d++) {
                vm_value v;
                v.type = VM_STRING;
                v.u.s = c->sv[d];
                rs[d] = (unsigned char)vx_vmf_eval_leaf(e->f, node, &v);
            }
            for (uint32_t row = 0, i = 0; row < n_rows; row++) {
                if (!bit_at(c->present, row))
                    continue;
                int k = rs[c->codes[i++]];
                if (k == VMF_TRUE)
                    set64(T, row);
                else if (k == VMF_FALSE)
                    set64(F, row);
            }
            if (rs != res)
                vx_mem_free(&e->s->mem, rs);
            return;
        }
    }
    numleaf q;
    int fast = numleaf_of(c, nd, &vx_vmf_literals(e->f)[nd->first], &q);
    for (uint32_t b = 0, row = 0, i = 0; row < n_rows; b++) {
        uint32_t end =
            row + VM_COL_BLOCK < n_rows ? row + VM_COL_BLOCK : n_rows;
        int whole = -1; /* the block's verdict when the zone map gives one */
        if (c->n_blocks && c->zany[b] &&
            (nd->kind == VMF_CMP || nd->kind == VMF_BETWEEN)) {
            int lo = vx_vmf_eval_leaf(e->f, node, &c->zmin[b]);
            int hi = vx_vmf_eval_leaf(e->f, node, &c->zmax[b]);
            int convex = nd->kind == VMF_BETWEEN ||
                         (nd->kind == VMF_CMP && nd->op != VMF_NE);
            int monotone =
                nd->kind == VMF_CMP && nd->op != VMF_NE && nd->op != VMF_EQ;
            if (lo == VMF_UNKNOWN) /* the class decides: all unknown */
                whole = VMF_UNKNOWN;
            else if (convex && lo == VMF_TRUE && hi == VMF_TRUE)
                whole = VMF_TRUE;
            else if (monotone && lo == VMF_FALSE && hi == VMF_FALSE)
                whole = VMF_FALSE;
            else if (num_less(&c->zmin[b], &c->zmax[b]) == 0 &&
                     num_less(&c->zmax[b], &c->zmin[b]) == 0)
                whole = lo; /* one distinct value */
        }
        if (fast) {
            numleaf_rows(c, &q, whole, row, end, &i, T, F);
            row = end;
            continue;
        }
        for (; row < end; row++) {
            int k;
            vm_value v;
            if (!bit_at(c->present, row))
                continue;
            if (whole >= 0) {
                k = whole;
                i++;
            } else {
                v = col_value(c, i++);
                k = vx_vmf_eval_leaf(e->f, node, &v);
            }
            if (k == VMF_TRUE)
                set64(T, row);
            else if (k == VMF_FALSE)
                set64(F, row);
        }
    }
}

/* has |= the rows where column c has a value, a byte of the bitmap at a
 * time (bits past n_rows may be set: colset_eval masks its result). */
static void present_rows(const vcol *c, uint32_t n_rows, uint64_t *has)
{
    if (c->present == NULL) {
        memset(has, 0xff, ((size_t)n_rows + 63) / 64 * 8);
        return;
    }
    for (uint32_t r = 0; r < n_rows; r += 8)
        has[r >> 6] |= (uint64_t)c->present[r >> 3] << (r & 63);
}

static void leaf(const ev *e, uint32_t node, uint64_t *T, uint64_t *F)
{
    const vmf_node *nd = &e->nodes[node];
    const vm_colset *s = e->s;
    int miss = vx_vmf_eval_leaf(e->f, node, NULL);
    uint32_t lo = 0, hi = s->n_cols;
    uint64_t *has = e->scratch[e->n_scratch - 1]; /* rows with the field */
    memset(T, 0, e->words * 8);
    memset(F, 0, e->words * 8);
    memset(has, 0, e->words * 8);
    /* the columns of this field: a contiguous run in name order */
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (vx_vm_str_cmp(&s->cols[mid].name, &nd->field) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (uint32_t i = lo;
         i < s->n_cols && vx_vm_str_cmp(&s->cols[i].name, &nd->field) == 0;
         i++) {
        const vcol *c = &s->cols[i];
        leaf_column(e, node, c, T, F);
        present_rows(c, s->n_rows, has);
    }
    if (miss == VMF_UNKNOWN)
        return;
    for (size_t w = 0; w < e->words; w++) {
        uint64_t m = ~has[w];
        if (miss == VMF_TRUE)
            T[w] |= m;
        else
            F[w] |= m;
    }
}

/* T/F of node into T, F; depth selects scratch space for kids. */
static void node_eval(const ev *e, uint32_t node, unsigned depth, uint64_t *T,
                      uint64_t *F)
{
    const vmf_node *nd = &e->nodes[node];
    uint64_t *T2 = e->scratch[2 * depth], *F2 = e->scratch[2 * depth + 1];
    switch (nd->kind) {
    case VMF_AND:
    case VMF_OR:
        node_eval(e, e->kids[nd->first], depth + 1, T, F);
        for (uint32_t i = 1; i < nd->n; i++) {
            node_eval(e, e->kids[nd->first + i], depth + 1, T2, F2);
            for (size_t w = 0; w < e->words; w++) {
                if (nd->kind == VMF_AND) {
                    T[w] &= T2[w];
                    F[w] |= F2[w];
                } else {
                    T[w] |= T2[w];
                    F[w] &= F2[w];
                }
            }
        }
        return;
    case VMF_NOT:
        node_eval(e, e->kids[nd->first], depth + 1, F, T);
        return;
    default:
        leaf(e, node, T, F);
        return;
    }
}

static unsigned tree_depth(const vmf_node *nodes, const uint32_t *kids,
                           uint32_t node)
{
    const vmf_node *nd = &nodes[node];
    unsigned d = 0;
    if (nd->kind != VMF_AND && nd->kind != VMF_OR && nd->kind != VMF_NOT)
        return 1;
    for (uint32_t i = 0; i < (nd->kind == VMF_NOT ? 1 : nd->n); i++) {
        unsigned k = tree_depth(nodes, kids, kids[nd->first + i]);
        d = k > d ? k : d;
    }
    return d + 1;
}

int vx_vm_colset_eval(const vm_colset *s, const vmf_filter *f, uint64_t *bits,
                      uint64_t *n_match, vex_err *err)
{
    ev e;
    uint64_t *F;
    unsigned depth;
    uint64_t cnt = 0;
    e.s = s;
    e.f = f;
    e.nodes = vx_vmf_nodes(f);
    e.kids = vx_vmf_kids(f);
    e.words = ((size_t)s->n_rows + 63) / 64;
    depth = tree_depth(e.nodes, e.kids, 0);
    e.n_scratch = 2 * depth + 2;
    e.scratch = vx_mem_calloc(&s->mem, e.n_scratch, sizeof *e.scratch);
    F = vx_mem_calloc(&s->mem, e.words ? e.words : 1, 8);
    for (unsigned i = 0; e.scratch && i < e.n_scratch; i++)
        if ((e.scratch[i] = vx_mem_calloc(&s->mem, e.words ? e.words : 1, 8)) ==
            NULL)
            break;
    if (e.scratch == NULL || F == NULL || e.scratch[e.n_scratch - 1] == NULL) {
        for (unsigned i = 0; e.scratch && i < e.n_scratch; i++)
            vx_mem_free(&s->mem, e.scratch[i]);
        vx_mem_free(&s->mem, e.scratch);
        vx_mem_free(&s->mem, F);
        return vx_err_set(err, VEX_NOMEM, "out of memory for filter bitmaps");
    }
    node_eval(&e, 0, 0, bits, F);
    if (s->n_rows & 63)
        bits[e.words - 1] &= (1ull << (s->n_rows & 63)) - 1;
    for (size_t w = 0; w < e.words; w++)
        cnt += (uint64_t)__builtin_popcountll(bits[w]);
    *n_match = cnt;
    for (unsigned i = 0; i < e.n_scratch; i++)
        vx_mem_free(&s->mem, e.scratch[i]);
    vx_mem_free(&s->mem, e.scratch);
    vx_mem_free(&s->mem, F);
    return VEX_OK;
}

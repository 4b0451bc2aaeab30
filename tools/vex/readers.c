/* SPDX-License-Identifier: Apache-2.0 */
/*
 * readers.c - the texmex (.fvecs/.bvecs/.ivecs) and numpy (.npy) readers
 * and the .fvecs/.ivecs writers declared in readers.h.
 *
 * Every read goes through a small source (struct src) that is either a
 * memory buffer or a regular file read with stdio in chunks of whole
 * records (about 4 MiB), so a large file is read at I/O speed and then
 * decoded from a staging buffer. The file size is known before any record
 * is read, so each record is checked against it and no read can run past
 * the end; every multiplication of a count by a size is checked for
 * overflow, and output buffers are never larger than 4x the input (uint8 ->
 * float32), which keeps hostile shapes from causing huge allocations. Bytes
 * are decoded as little-endian explicitly (a memcpy on little-endian hosts).
 * mmap was rejected: a file truncated by another process while mapped
 * would kill the tool with SIGBUS instead of giving a message.
 */
#include "readers.h"

#include <errno.h>
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "vexdb.h"

#define CHUNK_BYTES    ((size_t)4 << 20)
#define NPY_MAX_HEADER ((uint32_t)1 << 20)
#define NPY_MAX_NDIM   8

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define HOST_LE 1
#else
#define HOST_LE 0
#endif

/* ---- errors ----------------------------------------------------------- */

#if defined(__GNUC__)
__attribute__((format(printf, 4, 5)))
#endif
static int
fail(vexio_error *err, int rc, const char *name, const char *fmt, ...)
{
    va_list ap;
    int n;
    if (!err)
        return rc;
    n = snprintf(err->msg, sizeof err->msg, "%s: ", name ? name : "(input)");
    if (n < 0 || (size_t)n >= sizeof err->msg)
        return rc;
    va_start(ap, fmt);
    vsnprintf(err->msg + n, sizeof err->msg - (size_t)n, fmt, ap);
    va_end(ap);
    return rc;
}

static void clear_err(vexio_error *err)
{
    if (err)
        err->msg[0] = '\0';
}

/* ---- element types ---------------------------------------------------- */

typedef enum elt { ELT_F32, ELT_F64, ELT_U8, ELT_I8, ELT_I32, ELT_I64 } elt;

static const char *const elt_names[] = {"float32", "float64", "uint8",
                                        "int8",    "int32",   "int64"};
static const unsigned elt_sizes[] = {4, 8, 1, 1, 4, 8};

static int elt_is_int_id(elt t)
{
    return t == ELT_I32 || t == ELT_I64;
}

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

static uint64_t le64(const uint8_t *p)
{
    return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

static int32_t le32s(const uint8_t *p)
{
    uint32_t u = le32(p);
    int32_t s;
    memcpy(&s, &u, sizeof s);
    return s;
}

static float f64_to_f32(double x)
{
    /* out-of-range double -> float conversion is undefined behaviour */
    if (x > FLT_MAX)
        return INFINITY;
    if (x < -FLT_MAX)
        return -INFINITY;
    return (float)x;
}

static void decode_floats(elt t, const uint8_t *p, size_t count, float *dst)
{
    size_t i;
    switch (t) {
    case ELT_F32:
        if (HOST_LE) {
            memcpy(dst, p, count * 4);
        } else {
            for (i = 0; i < count; i++) {
                uint32_t u = le32(p + 4 * i);
                memcpy(&dst[i], &u, 4);
            }
        }
        break;
    case ELT_F64:
        for (i = 0; i < count; i++) {
            uint64_t u = le64(p + 8 * i);
            double d;
            memcpy(&d, &u, 8);
            dst[i] = f64_to_f32(d);
        }
        break;
    case ELT_U8:
        for (i = 0; i < count; i++)
            dst[i] = (float)p[i];
        break;
    case ELT_I8:
        for (i = 0; i < count; i++)
            dst[i] = (float)(int8_t)p[i];
        break;
    default: /* integer ids are never decoded as vectors */
        break;
    }
}

static void decode_ids(elt t, const uint8_t *p, size_t count, int64_t *dst)
{
    size_t i;
    if (t == ELT_I32) {
        for (i = 0; i < count; i++)
            dst[i] = le32s(p + 4 * i);
    } else if (t == ELT_I64) {
        for (i = 0; i < count; i++) {
            uint64_t u = le64(p + 8 * i);
            memcpy(&dst[i], &u, 8);
        }
    }
}

/* ---- sources ------------------------------------------------------------ */

typedef struct src {
    const char *name;
    FILE *fp;           /* NULL for a memory source */
    const uint8_t *mem; /* the buffer of a memory source */
    uint64_t size;      /* total bytes */
    uint64_t off;       /* bytes consumed so far */
    uint8_t *buf;       /* staging buffer of a file source */
    size_t cap;
} src;

/* Point *out at the next n bytes and consume them. The caller has checked
 * that n <= size - off, so only an I/O error or a file that shrank since
 * fstat() can make this fail. */
static int src_take(src *s, size_t n, const uint8_t **out, vexio_error *err)
{
    size_t got;
    if (!s->fp) {
        *out = s->mem + s->off;
        s->off += n;
        return VEX_OK;
    }
    if (n > s->cap) {
        uint8_t *nb = realloc(s->buf, n);
        if (!nb)
            return fail(err, VEX_NOMEM, s->name,
                        "cannot allocate a %zu-byte read buffer", n);
        s->buf = nb;
        s->cap = n;
    }
    got = fread(s->buf, 1, n, s->fp);
    if (got != n) {
        if (ferror(s->fp))
            return fail(err, VEX_IOERR, s->name, "read error at byte %" PRIu64,
                        s->off + got);
        return fail(err, VEX_IOERR, s->name,
                    "file shrank while being read: it ends at byte %" PRIu64
                    ", %" PRIu64 " bytes expected",
                    s->off + got, s->size);
    }
    *out = s->buf;
    s->off += n;
    return VEX_OK;
}

static int src_rewind(src *s, vexio_error *err)
{
    if (s->fp && fseek(s->fp, 0, SEEK_SET) != 0)
        return fail(err, VEX_IOERR, s->name, "cannot seek: %s",
                    strerror(errno));
    s->off = 0;
    return VEX_OK;
}

/* ---- requests ----------------------------------------------------------- */

typedef enum want { WANT_VECTORS, WANT_IDS, WANT_INFO } want;

typedef struct req {
    want want;
    uint64_t limit;
    vexio_vectors *vec;
    vexio_ids *ids;
    vexio_info *info;
} req;

/* Check that t suits the request, then allocate room for rows x dim. */
static int req_prepare(src *s, req *r, elt t, uint32_t dim, uint64_t rows)
{
    (void)s;
    if (r->want == WANT_VECTORS) {
        if (rows > SIZE_MAX / dim / sizeof(float))
            return VEX_NOMEM;
        r->vec->data = malloc((size_t)(rows * dim) * sizeof(float));
        if (!r->vec->data)
            return VEX_NOMEM;
        r->vec->dim = dim;
        r->vec->n = rows;
    } else if (r->want == WANT_IDS) {
        if (rows > SIZE_MAX / dim / sizeof(int64_t))
            return VEX_NOMEM;
        r->ids->ids = malloc((size_t)(rows * dim) * sizeof(int64_t));
        if (!r->ids->ids)
            return VEX_NOMEM;
        r->ids->k = dim;
        r->ids->n = rows;
    } else {
        r->info->dtype = elt_names[t];
        r->info->dim = dim;
        r->info->n = rows;
    }
    return VEX_OK;
}

static int check_elt(src *s, req *r, elt t, const char *what, vexio_error *err)
{
    if (r->want == WANT_VECTORS && elt_is_int_id(t))
        return fail(err, VEX_INVALID, s->name,
                    "%s holds %s integers (ids), not vectors; vectors must be "
                    "float32, float64, uint8 or int8",
                    what, elt_names[t]);
    if (r->want == WANT_IDS && !elt_is_int_id(t))
        return fail(err, VEX_INVALID, s->name,
                    "%s holds %s values; ground-truth ids must be int32 "
                    "(.ivecs, <i4) or int64 (<i8)",
                    what, elt_names[t]);
    return VEX_OK;
}

static void decode_row(req *r, elt t, const uint8_t *p, uint32_t dim,
                       uint64_t row)
{
    if (r->want == WANT_VECTORS)
        decode_floats(t, p, dim, r->vec->data + row * dim);
    else if (r->want == WANT_IDS)
        decode_ids(t, p, dim, r->ids->ids + row * dim);
}

static int nomem(src *s, uint64_t rows, uint32_t dim, vexio_error *err)
{
    return fail(err, VEX_NOMEM, s->name,
                "cannot allocate memory for %" PRIu64 " rows of %" PRIu32, rows,
                dim);
}

/* ---- texmex ------------------------------------------------------------- */

static int check_texmex_dim(src *s, int32_t d, vexio_error *err)
{
    if (d < 0)
        return fail(err, VEX_CORRUPT, s->name,
                    "record 0 at byte 0: dimension %" PRId32 " is negative", d);
    if (d == 0 || d > VEX_MAX_DIM)
        return fail(err, VEX_CORRUPT, s->name,
                    "record 0 at byte 0: dimension %" PRId32
                    " is out of range 1..%d",
                    d, VEX_MAX_DIM);
    return VEX_OK;
}

static int read_texmex(src *s, vexio_format fmt, req *r, vexio_error *err)
{
    elt t = fmt == VEXIO_FVECS   ? ELT_F32
            : fmt == VEXIO_BVECS ? ELT_U8
                                 : ELT_I32;
    const uint8_t *p;
    uint64_t rec, n_full, rem, rows, i, per;
    uint32_t dim;
    int32_t d;
    int limited, rc;

    rc = check_elt(s, r, t, vexio_format_name(fmt), err);
    if (rc)
        return rc;
    if (s->size == 0)
        return fail(err, VEX_CORRUPT, s->name, "empty file (no records)");
    if (s->size < 4)
        return fail(err, VEX_CORRUPT, s->name,
                    "truncated: file ends at byte %" PRIu64
                    " inside the dimension field of record 0",
                    s->size);
    if ((rc = src_take(s, 4, &p, err)) != VEX_OK)
        return rc;
    d = le32s(p);
    if ((rc = check_texmex_dim(s, d, err)) != VEX_OK)
        return rc;
    if ((rc = src_rewind(s, err)) != VEX_OK)
        return rc;
    dim = (uint32_t)d;
    rec = 4 + (uint64_t)dim * elt_sizes[t];
    n_full = s->size / rec;
    rem = s->size % rec;
    rows = n_full;
    limited = r->limit && r->limit < n_full;
    if (limited)
        rows = r->limit;
    if (rows > 0 && req_prepare(s, r, t, dim, rows) != VEX_OK)
        return nomem(s, rows, dim, err);

    per = CHUNK_BYTES / rec;
    if (per == 0)
        per = 1;
    for (i = 0; i < rows; i += per) {
        uint64_t m = rows - i < per ? rows - i : per, j;
        if ((rc = src_take(s, (size_t)(m * rec), &p, err)) != VEX_OK)
            return rc;
        for (j = 0; j < m; j++) {
            const uint8_t *q = p + j * rec;
            int32_t dj = le32s(q);
            if (dj != d)
                return fail(err, VEX_CORRUPT, s->name,
                            "record %" PRIu64 " at byte %" PRIu64
                            ": dimension %" PRId32 " differs from %" PRId32
                            " of record 0",
                            i + j, (i + j) * rec, dj, d);
            decode_row(r, t, q + 4, dim, i + j);
        }
    }
    if (!limited && rem != 0) {
        /* a partial record at the end: say which field it ends in */
        uint64_t at = n_full * rec;
        if (rem < 4)
            return fail(err, VEX_CORRUPT, s->name,
                        "truncated: file ends at byte %" PRIu64
                        " inside the dimension field of record %" PRIu64
                        " (at byte %" PRIu64 ")",
                        s->size, n_full, at);
        if ((rc = src_take(s, 4, &p, err)) != VEX_OK)
            return rc;
        if (le32s(p) != d)
            return fail(err, VEX_CORRUPT, s->name,
                        "record %" PRIu64 " at byte %" PRIu64
                        ": dimension %" PRId32 " differs from %" PRId32
                        " of record 0",
                        n_full, at, le32s(p), d);
        return fail(err, VEX_CORRUPT, s->name,
                    "truncated: file ends at byte %" PRIu64
                    " inside record %" PRIu64 " (at byte %" PRIu64 ", %" PRIu64
                    " bytes long)",
                    s->size, n_full, at, rec);
    }
    if (r->want == WANT_INFO)
        r->info->data_offset = 4;
    return VEX_OK;
}

/* ---- npy header ----------------------------------------------------------
 * The header is a Python dict literal such as
 *   {'descr': '<f4', 'fortran_order': False, 'shape': (100, 128), }
 * padded with spaces and a newline. This parser accepts exactly that
 * grammar: string keys, and string, True/False or tuple-of-int values, with
 * optional trailing commas; old "100L" shape entries are accepted. */

typedef struct hparse {
    const uint8_t *p;
    size_t len, pos;
    uint64_t base; /* file offset of p[0] */
    src *s;
    vexio_error *err;
} hparse;

static int hp_fail(hparse *h, const char *what)
{
    return fail(h->err, VEX_CORRUPT, h->s->name,
                "npy header at byte %" PRIu64 ": %s", h->base + h->pos, what);
}

static void hp_ws(hparse *h)
{
    while (h->pos < h->len && (h->p[h->pos] == ' ' || h->p[h->pos] == '\t' ||
                               h->p[h->pos] == '\n' || h->p[h->pos] == '\r'))
        h->pos++;
}

static int hp_peek(hparse *h)
{
    hp_ws(h);
    return h->pos < h->len ? h->p[h->pos] : -1;
}

static int hp_expect(hparse *h, char c, const char *what)
{
    if (hp_peek(h) != c)
        return hp_fail(h, what);
    h->pos++;
    return VEX_OK;
}

static int hp_string(hparse *h, char *out, size_t cap)
{
    int q = hp_peek(h);
    size_t n = 0;
    if (q != '\'' && q != '"')
        return hp_fail(h, "expected a quoted string");
    h->pos++;
    while (h->pos < h->len && h->p[h->pos] != q) {
        uint8_t c = h->p[h->pos];
        if (c == '\\' || c < 0x20 || c >= 0x7f)
            return hp_fail(h, "unsupported character in string");
        if (n + 1 >= cap)
            return hp_fail(h, "string too long");
        out[n++] = (char)c;
        h->pos++;
    }
    if (h->pos >= h->len)
        return hp_fail(h, "unterminated string");
    h->pos++;
    out[n] = '\0';
    return VEX_OK;
}

static int hp_word(hparse *h, const char *w)
{
    size_t n = strlen(w);
    hp_ws(h);
    if (h->len - h->pos >= n && memcmp(h->p + h->pos, w, n) == 0) {
        h->pos += n;
        return 1;
    }
    return 0;
}

static int hp_uint(hparse *h, uint64_t *out)
{
    uint64_t v = 0;
    size_t start;
    hp_ws(h);
    start = h->pos;
    while (h->pos < h->len && h->p[h->pos] >= '0' && h->p[h->pos] <= '9') {
        unsigned dgt = (unsigned)(h->p[h->pos] - '0');
        if (v > (UINT64_MAX - dgt) / 10)
            return hp_fail(h, "shape entry too large");
        v = v * 10 + dgt;
        h->pos++;
    }
    if (h->pos == start)
        return hp_fail(h, "expected a non-negative integer in 'shape'");
    if (h->pos < h->len && h->p[h->pos] == 'L')
        h->pos++;
    *out = v;
    return VEX_OK;
}

typedef struct npy_header {
    char descr[32];
    int fortran;
    uint64_t shape[NPY_MAX_NDIM];
    unsigned ndim; /* may exceed NPY_MAX_NDIM; extra entries not kept */
} npy_header;

static int hp_shape(hparse *h, npy_header *hd)
{
    int rc;
    hd->ndim = 0;
    if ((rc = hp_expect(h, '(', "expected '(' to start 'shape'")) != VEX_OK)
        return rc;
    for (;;) {
        uint64_t v = 0;
        if (hp_peek(h) == ')') {
            h->pos++;
            return VEX_OK;
        }
        if ((rc = hp_uint(h, &v)) != VEX_OK)
            return rc;
        if (hd->ndim < NPY_MAX_NDIM)
            hd->shape[hd->ndim] = v;
        if (hd->ndim < 1000)
            hd->ndim++;
        if (hp_peek(h) == ',')
            h->pos++;
        else if (hp_peek(h) != ')')
            return hp_fail(h, "expected ',' or ')' in 'shape'");
    }
}

static int npy_parse_header(hparse *h, npy_header *hd)
{
    int rc, seen_descr = 0, seen_fortran = 0, seen_shape = 0;
    char key[32];
    if ((rc = hp_expect(h, '{', "expected '{'")) != VEX_OK)
        return rc;
    for (;;) {
        if (hp_peek(h) == '}') {
            h->pos++;
            break;
        }
        if ((rc = hp_string(h, key, sizeof key)) != VEX_OK)
            return rc;
        if ((rc = hp_expect(h, ':', "expected ':' after a key")) != VEX_OK)
            return rc;
        if (strcmp(key, "descr") == 0 && !seen_descr) {
            seen_descr = 1;
            if (hp_peek(h) != '\'' && hp_peek(h) != '"')
                return hp_fail(h, "'descr' must be a string (structured "
                                  "dtypes are not supported)");
            if ((rc = hp_string(h, hd->descr, sizeof hd->descr)) != VEX_OK)
                return rc;
        } else if (strcmp(key, "fortran_order") == 0 && !seen_fortran) {
            seen_fortran = 1;
            if (hp_word(h, "True"))
                hd->fortran = 1;
            else if (hp_word(h, "False"))
                hd->fortran = 0;
            else
                return hp_fail(h, "'fortran_order' must be True or False");
        } else if (strcmp(key, "shape") == 0 && !seen_shape) {
            seen_shape = 1;
            if ((rc = hp_shape(h, hd)) != VEX_OK)
                return rc;
        } else if (strcmp(key, "descr") == 0 ||
                   strcmp(key, "fortran_order") == 0 ||
                   strcmp(key, "shape") == 0) {
            return hp_fail(h, "key given twice");
        } else {
            return hp_fail(h, "unknown key (expected 'descr', "
                              "'fortran_order' and 'shape')");
        }
        if (hp_peek(h) == ',')
            h->pos++;
        else if (hp_peek(h) != '}')
            return hp_fail(h, "expected ',' or '}'");
    }
    hp_ws(h);
    if (h->pos != h->len)
        return hp_fail(h, "unexpected bytes after the dict");
    if (!seen_descr)
        return hp_fail(h, "missing key 'descr'");
    if (!seen_fortran)
        return hp_fail(h, "missing key 'fortran_order'");
    if (!seen_shape)
        return hp_fail(h, "missing key 'shape'");
    return VEX_OK;
}

static int npy_dtype(src *s, const char *descr, elt *out, vexio_error *err)
{
    static const struct {
        const char *d;
        elt t;
    } known[] = {{"<f4", ELT_F32}, {"<f8", ELT_F64}, {"|u1", ELT_U8},
                 {"<u1", ELT_U8},  {">u1", ELT_U8},  {"|i1", ELT_I8},
                 {"<i1", ELT_I8},  {">i1", ELT_I8},  {"<i4", ELT_I32},
                 {"<i8", ELT_I64}};
    size_t i;
    for (i = 0; i < sizeof known / sizeof known[0]; i++) {
        if (strcmp(descr, known[i].d) == 0) {
            *out = known[i].t;
            return VEX_OK;
        }
    }
    if (descr[0] == '>')
        return fail(err, VEX_UNSUPPORTED, s->name,
                    "npy dtype '%s' is big-endian; only little-endian data is "
                    "supported (convert with arr.astype('<%s'))",
                    descr, descr + 1);
    return fail(err, VEX_UNSUPPORTED, s->name,
                "npy dtype '%s' is not supported (vectors: <f4 <f8 |u1 |i1; "
                "ids: <i4 <i8)",
                descr);
}

static int read_npy(src *s, req *r, vexio_error *err)
{
    static const uint8_t magic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};
    const uint8_t *p;
    uint8_t major, minor;
    uint32_t hlen, lenbytes, dim;
    uint64_t data_off, n, need, rows, rowbytes, per, i;
    npy_header hd;
    hparse h;
    elt t = ELT_F32;
    int rc;

    memset(&hd, 0, sizeof hd);
    if (s->size < 8) {
        size_t k = (size_t)s->size < 6 ? (size_t)s->size : 6;
        if (s->size > 0 && (rc = src_take(s, k, &p, err)) != VEX_OK)
            return rc;
        if (s->size == 0 || memcmp(p, magic, k) != 0)
            return fail(err, VEX_CORRUPT, s->name,
                        "not an npy file: bad magic at byte 0 (expected "
                        "\\x93NUMPY)");
        return fail(err, VEX_CORRUPT, s->name,
                    "truncated: file ends at byte %" PRIu64
                    " inside the npy preamble",
                    s->size);
    }
    if ((rc = src_take(s, 8, &p, err)) != VEX_OK)
        return rc;
    if (memcmp(p, magic, 6) != 0)
        return fail(err, VEX_CORRUPT, s->name,
                    "not an npy file: bad magic at byte 0 (expected "
                    "\\x93NUMPY)");
    major = p[6];
    minor = p[7];
    if ((major != 1 && major != 2 && major != 3) || minor != 0)
        return fail(err, VEX_UNSUPPORTED, s->name,
                    "npy format version %u.%u at byte 6 is not supported "
                    "(1.0, 2.0 and 3.0 are)",
                    major, minor);
    lenbytes = major == 1 ? 2 : 4;
    if (s->size < 8 + lenbytes)
        return fail(err, VEX_CORRUPT, s->name,
                    "truncated: file ends at byte %" PRIu64
                    " inside the npy header length",
                    s->size);
    if ((rc = src_take(s, lenbytes, &p, err)) != VEX_OK)
        return rc;
    hlen = major == 1 ? (uint32_t)p[0] | (uint32_t)p[1] << 8 : le32(p);
    if (hlen > NPY_MAX_HEADER)
        return fail(err, VEX_CORRUPT, s->name,
                    "npy header length %" PRIu32 " at byte 8 is larger than "
                    "the %" PRIu32 " bytes allowed",
                    hlen, NPY_MAX_HEADER);
    data_off = 8 + (uint64_t)lenbytes + hlen;
    if (data_off > s->size)
        return fail(err, VEX_CORRUPT, s->name,
                    "npy header length %" PRIu32 " at byte 8 runs past the "
                    "end of the file (%" PRIu64 " bytes)",
                    hlen, s->size);
    if (hlen > 0 && (rc = src_take(s, hlen, &p, err)) != VEX_OK)
        return rc;
    h.p = p;
    h.len = hlen;
    h.pos = 0;
    h.base = 8 + lenbytes;
    h.s = s;
    h.err = err;
    if ((rc = npy_parse_header(&h, &hd)) != VEX_OK)
        return rc;
    if ((rc = npy_dtype(s, hd.descr, &t, err)) != VEX_OK)
        return rc;
    if (hd.fortran)
        return fail(err, VEX_UNSUPPORTED, s->name,
                    "npy array is in Fortran (column-major) order; only C "
                    "order is supported (save np.ascontiguousarray(a))");
    if (hd.ndim == 0 || hd.ndim > 2)
        return fail(err, VEX_UNSUPPORTED, s->name,
                    "npy array has %u dimensions; only 2-D (n, d) arrays and "
                    "1-D (d,) arrays (one row) are supported",
                    hd.ndim);
    n = hd.ndim == 2 ? hd.shape[0] : 1;
    if (hd.shape[hd.ndim - 1] == 0 || hd.shape[hd.ndim - 1] > VEX_MAX_DIM)
        return fail(err, VEX_CORRUPT, s->name,
                    "npy row length %" PRIu64 " is out of range 1..%d",
                    hd.shape[hd.ndim - 1], VEX_MAX_DIM);
    dim = (uint32_t)hd.shape[hd.ndim - 1];
    if (n == 0)
        return fail(err, VEX_CORRUPT, s->name, "npy array has no rows");
    if ((rc = check_elt(s, r, t, "npy array", err)) != VEX_OK)
        return rc;
    rowbytes = (uint64_t)dim * elt_sizes[t];
    if (n > UINT64_MAX / rowbytes)
        return fail(err, VEX_CORRUPT, s->name,
                    "npy shape (%" PRIu64 ", %" PRIu32 ") is too large", n,
                    dim);
    need = n * rowbytes;
    if (need != s->size - data_off)
        return fail(err, VEX_CORRUPT, s->name,
                    "npy data at byte %" PRIu64 ": shape (%" PRIu64 ", %" PRIu32
                    ") of %s needs %" PRIu64 " bytes, the file has %" PRIu64,
                    data_off, n, dim, hd.descr, need, s->size - data_off);
    rows = r->limit && r->limit < n ? r->limit : n;
    if (req_prepare(s, r, t, dim, rows) != VEX_OK)
        return nomem(s, rows, dim, err);
    per = CHUNK_BYTES / rowbytes;
    if (per == 0)
        per = 1;
    for (i = 0; i < rows; i += per) {
        uint64_t m = rows - i < per ? rows - i : per, j;
        if ((rc = src_take(s, (size_t)(m * rowbytes), &p, err)) != VEX_OK)
            return rc;
        for (j = 0; j < m; j++)
            decode_row(r, t, p + j * rowbytes, dim, i + j);
    }
    if (r->want == WANT_INFO)
        r->info->data_offset = data_off;
    return VEX_OK;
}

/* ---- entry points ------------------------------------------------------- */

const char *vexio_format_name(vexio_format f)
{
    switch (f) {
    case VEXIO_FVECS:
        return "fvecs";
    case VEXIO_BVECS:
        return "bvecs";
    case VEXIO_IVECS:
        return "ivecs";
    case VEXIO_NPY:
        return "npy";
    default:
        return "auto";
    }
}

vexio_format vexio_format_from_name(const char *path)
{
    const char *dot = path ? strrchr(path, '.') : NULL;
    if (!dot || strchr(dot, '/'))
        return VEXIO_AUTO;
    if (strcmp(dot, ".fvecs") == 0)
        return VEXIO_FVECS;
    if (strcmp(dot, ".bvecs") == 0)
        return VEXIO_BVECS;
    if (strcmp(dot, ".ivecs") == 0)
        return VEXIO_IVECS;
    if (strcmp(dot, ".npy") == 0)
        return VEXIO_NPY;
    return VEXIO_AUTO;
}

static int read_src(src *s, vexio_format fmt, req *r, vexio_error *err)
{
    int rc;
    if (fmt == VEXIO_AUTO)
        fmt = vexio_format_from_name(s->name);
    if (fmt == VEXIO_AUTO && s->size >= 6) {
        const uint8_t *p;
        if ((rc = src_take(s, 6, &p, err)) != VEX_OK)
            return rc;
        if (memcmp(p, "\x93NUMPY", 6) == 0)
            fmt = VEXIO_NPY;
        if ((rc = src_rewind(s, err)) != VEX_OK)
            return rc;
    }
    if (fmt == VEXIO_AUTO)
        return fail(err, VEX_INVALID, s->name,
                    "cannot tell the format from the file name (expected "
                    ".fvecs, .bvecs, .ivecs or .npy)");
    if (r->want == WANT_INFO)
        r->info->format = fmt;
    if (fmt == VEXIO_NPY)
        rc = read_npy(s, r, err);
    else if (fmt == VEXIO_FVECS || fmt == VEXIO_BVECS || fmt == VEXIO_IVECS)
        rc = read_texmex(s, fmt, r, err);
    else
        rc = fail(err, VEX_INVALID, s->name, "unknown format %d", (int)fmt);
    return rc;
}

/* Outputs are write-only: zero them on entry (never free what the caller
 * passed in), and free what this call allocated when it fails. */
static void req_zero(req *r)
{
    if (r->vec)
        memset(r->vec, 0, sizeof *r->vec);
    if (r->ids)
        memset(r->ids, 0, sizeof *r->ids);
    if (r->info)
        memset(r->info, 0, sizeof *r->info);
}

static void req_reset(req *r)
{
    if (r->vec) {
        free(r->vec->data);
        memset(r->vec, 0, sizeof *r->vec);
    }
    if (r->ids) {
        free(r->ids->ids);
        memset(r->ids, 0, sizeof *r->ids);
    }
    if (r->info)
        memset(r->info, 0, sizeof *r->info);
}

static int run_mem(const void *buf, size_t len, const char *name,
                   vexio_format fmt, req *r, vexio_error *err)
{
    static const uint8_t empty[1] = {0};
    src s;
    int rc;
    memset(&s, 0, sizeof s);
    s.name = name ? name : "(memory)";
    s.mem = buf ? buf : empty;
    s.size = buf ? len : 0;
    clear_err(err);
    req_zero(r);
    rc = read_src(&s, fmt, r, err);
    if (rc != VEX_OK)
        req_reset(r);
    else if (r->want == WANT_INFO)
        r->info->file_size = s.size;
    return rc;
}

static int run_file(const char *path, vexio_format fmt, req *r,
                    vexio_error *err)
{
    src s;
    struct stat st;
    int rc = VEX_OK;
    memset(&s, 0, sizeof s);
    s.name = path;
    clear_err(err);
    req_zero(r);
    s.fp = fopen(path, "rb");
    if (!s.fp) {
        rc = fail(err, VEX_IOERR, path, "cannot open: %s", strerror(errno));
        goto cleanup;
    }
    if (fstat(fileno(s.fp), &st) != 0) {
        rc = fail(err, VEX_IOERR, path, "cannot stat: %s", strerror(errno));
        goto cleanup;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = fail(err, VEX_INVALID, path, "not a regular file");
        goto cleanup;
    }
    s.size = (uint64_t)st.st_size;
    rc = read_src(&s, fmt, r, err);
    if (rc == VEX_OK && r->want == WANT_INFO)
        r->info->file_size = s.size;
cleanup:
    if (rc != VEX_OK)
        req_reset(r);
    if (s.fp)
        fclose(s.fp);
    free(s.buf);
    return rc;
}

int vexio_read_vectors(const char *path, vexio_format fmt, uint64_t limit,
                       vexio_vectors *out, vexio_error *err)
{
    req r = {WANT_VECTORS, limit, out, NULL, NULL};
    return run_file(path, fmt, &r, err);
}

int vexio_read_ids(const char *path, vexio_format fmt, uint64_t limit,
                   vexio_ids *out, vexio_error *err)
{
    req r = {WANT_IDS, limit, NULL, out, NULL};
    return run_file(path, fmt, &r, err);
}

int vexio_probe(const char *path, vexio_format fmt, vexio_info *out,
                vexio_error *err)
{
    req r = {WANT_INFO, 0, NULL, NULL, out};
    return run_file(path, fmt, &r, err);
}

int vexio_read_vectors_mem(const void *buf, size_t len, const char *name,
                           vexio_format fmt, uint64_t limit, vexio_vectors *out,
                           vexio_error *err)
{
    req r = {WANT_VECTORS, limit, out, NULL, NULL};
    return run_mem(buf, len, name, fmt, &r, err);
}

int vexio_read_ids_mem(const void *buf, size_t len, const char *name,
                       vexio_format fmt, uint64_t limit, vexio_ids *out,
                       vexio_error *err)
{
    req r = {WANT_IDS, limit, NULL, out, NULL};
    return run_mem(buf, len, name, fmt, &r, err);
}

int vexio_probe_mem(const void *buf, size_t len, const char *name,
                    vexio_format fmt, vexio_info *out, vexio_error *err)
{
    req r = {WANT_INFO, 0, NULL, NULL, out};
    return run_mem(buf, len, name, fmt, &r, err);
}

void vexio_vectors_free(vexio_vectors *v)
{
    if (!v)
        return;
    free(v->data);
    memset(v, 0, sizeof *v);
}

void vexio_ids_free(vexio_ids *ids)
{
    if (!ids)
        return;
    free(ids->ids);
    memset(ids, 0, sizeof *ids);
}

/* ---- writers ------------------------------------------------------------ */

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

/* Write n records of dim 4-byte values; `encode` fills one record's
 * payload from row i. */
typedef int (*encode_fn)(const void *data, uint32_t dim, uint64_t row,
                         uint8_t *out);

static int encode_f32(const void *data, uint32_t dim, uint64_t row,
                      uint8_t *out)
{
    const float *f = (const float *)data + row * dim;
    uint32_t i;
    for (i = 0; i < dim; i++) {
        uint32_t u;
        memcpy(&u, &f[i], 4);
        put32(out + 4 * i, u);
    }
    return 0;
}

static int encode_i32(const void *data, uint32_t dim, uint64_t row,
                      uint8_t *out)
{
    const int64_t *v = (const int64_t *)data + row * dim;
    uint32_t i;
    for (i = 0; i < dim; i++) {
        if (v[i] < INT32_MIN || v[i] > INT32_MAX)
            return -1;
        put32(out + 4 * i, (uint32_t)(int32_t)v[i]);
    }
    return 0;
}

static int write_texmex(const char *path, uint32_t dim, uint64_t n,
                        const void *data, encode_fn encode, vexio_error *err)
{
    FILE *fp = NULL;
    uint8_t *buf = NULL;
    uint64_t rec, per, i;
    int rc = VEX_OK;

    clear_err(err);
    if (dim == 0 || dim > VEX_MAX_DIM)
        return fail(err, VEX_INVALID, path,
                    "dimension %" PRIu32 " is out of range 1..%d", dim,
                    VEX_MAX_DIM);
    if (n > 0 && !data)
        return fail(err, VEX_INVALID, path, "no data to write");
    rec = 4 + 4 * (uint64_t)dim;
    per = CHUNK_BYTES / rec;
    if (per == 0)
        per = 1;
    buf = malloc((size_t)(per * rec));
    if (!buf) {
        rc = fail(err, VEX_NOMEM, path, "cannot allocate a write buffer");
        goto cleanup;
    }
    fp = fopen(path, "wb");
    if (!fp) {
        rc = fail(err, VEX_IOERR, path, "cannot create: %s", strerror(errno));
        goto cleanup;
    }
    for (i = 0; i < n; i += per) {
        uint64_t m = n - i < per ? n - i : per, j;
        for (j = 0; j < m; j++) {
            put32(buf + j * rec, dim);
            if (encode(data, dim, i + j, buf + j * rec + 4) != 0) {
                rc = fail(err, VEX_INVALID, path,
                          "record %" PRIu64 ": a value does not fit in int32",
                          i + j);
                goto cleanup;
            }
        }
        if (fwrite(buf, 1, (size_t)(m * rec), fp) != (size_t)(m * rec)) {
            rc = fail(err, VEX_IOERR, path, "write error: %s", strerror(errno));
            goto cleanup;
        }
    }
cleanup:
    if (fp && fclose(fp) != 0 && rc == VEX_OK)
        rc = fail(err, VEX_IOERR, path, "write error on close: %s",
                  strerror(errno));
    if (fp && rc != VEX_OK)
        remove(path);
    free(buf);
    return rc;
}

int vexio_write_fvecs(const char *path, uint32_t dim, uint64_t n,
                      const float *data, vexio_error *err)
{
    return write_texmex(path, dim, n, data, encode_f32, err);
}

int vexio_write_ivecs(const char *path, uint32_t k, uint64_t n,
                      const int64_t *ids, vexio_error *err)
{
    return write_texmex(path, k, n, ids, encode_i32, err);
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * rd.h - the bounded reader every decoder of untrusted bytes uses.
 *
 * A vx_rd walks a byte range (const unsigned char *p, size_t len) from
 * position 0. Each read checks the bounds; a read that would pass the end
 * returns 0 (NULL for pointers), consumes nothing and marks the reader
 * failed. The failure is sticky: later reads are no-ops returning 0, and
 * only the first failure is kept, with its offset and a short static
 * description. So a decoder reads straight through and asks once:
 *
 *     vx_rd r = vx_rd_new(buf, len);
 *     uint32_t magic = vx_rd_u32(&r, "truncated header");
 *     uint16_t n = vx_rd_u16(&r, "truncated header");
 *     const unsigned char *name = vx_rd_take(&r, n, "truncated name");
 *     if (vx_rd_ok(&r) && magic != MAGIC)
 *         vx_rd_fail_at(&r, 0, "bad magic");
 *     vx_rd_end(&r, "bytes after the last field");
 *     if (!vx_rd_ok(&r))
 *         return VX_CORRUPT(err, "thing: %s at offset %zu", vx_rd_what(&r),
 *                           vx_rd_fail_off(&r));
 *
 * Rules of use:
 *  - `what` (every read and check takes one) is the description recorded
 *    if this call is the first to fail, e.g. "truncated string length"; it
 *    must be a string literal or otherwise outlive the reader. NULL means
 *    "read past the end".
 *  - Values read before a failure are real; after it they are 0. Check
 *    vx_rd_ok() before a value decides a length, a loop count or an
 *    allocation, and validate a length against vx_rd_left() BEFORE
 *    allocating for it (vx_rd_array() does the multiplication with an
 *    overflow check).
 *  - The decoder's own checks (a bad magic, a value out of range) can be
 *    recorded with vx_rd_fail() / vx_rd_fail_at(), so that the first
 *    problem of either kind is the one reported; or returned directly,
 *    whichever reads better. Checks that need a formatted message (values
 *    in it) are returned directly with VX_CORRUPT (util/err.h).
 *  - Offsets in messages are vx_rd_fail_off(): the position of the failing
 *    read (or the position given to vx_rd_fail_at) plus the reader's
 *    `base`, the offset of p[0] in the enclosing file or blob, so a reader
 *    over one section (vx_rd_at, vx_rd_sub) reports file offsets.
 *  - Numbers are little-endian, decoded byte by byte: never a cast of the
 *    input to a struct or a wider type, so alignment and host order do not
 *    matter. vx_rd_take() returns a pointer into the input for bulk data
 *    the caller decodes or copies itself.
 *  - Sizes are uint64_t, so a 64-bit length field from a file is checked
 *    as it is, on 32-bit hosts too; nothing wraps: a check is always
 *    `n > len - pos`, never `pos + n > len`.
 *
 * Everything is static inline: the reader is a few words on the caller's
 * stack, allocates nothing and has no global state, so it suits hot paths
 * (a WAL record header, a log record) as well as file opens. Layer: util.
 */
#ifndef VEX_UTIL_RD_H
#define VEX_UTIL_RD_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct vx_rd {
    const unsigned char *p; /* the bytes */
    size_t len;             /* how many */
    size_t pos;             /* next byte to read; pos <= len always */
    size_t base;            /* offset of p[0] in the file, for messages */
    size_t fail_off;        /* base + position of the first failure */
    const char *what;       /* NULL while ok, else the first failure */
} vx_rd;

/* A reader over p[0..len) whose offsets are reported as base + position. */
static inline vx_rd vx_rd_at(const void *p, size_t len, size_t base)
{
    vx_rd r;
    r.p = (const unsigned char *)p;
    r.len = p ? len : 0;
    r.pos = 0;
    r.base = base;
    r.fail_off = 0;
    r.what = NULL;
    return r;
}

/* A reader over p[0..len); offsets are positions in p. */
static inline vx_rd vx_rd_new(const void *p, size_t len)
{
    return vx_rd_at(p, len, 0);
}

/* 1 while no read or check has failed. */
static inline int vx_rd_ok(const vx_rd *r)
{
    return r->what == NULL;
}

/* The first failure's description ("" while ok) and offset (base + pos). */
static inline const char *vx_rd_what(const vx_rd *r)
{
    return r->what ? r->what : "";
}

static inline size_t vx_rd_fail_off(const vx_rd *r)
{
    return r->fail_off;
}

/* Position of the next read in p, the same plus base, bytes left. */
static inline size_t vx_rd_pos(const vx_rd *r)
{
    return r->pos;
}

static inline size_t vx_rd_off(const vx_rd *r)
{
    return r->base + r->pos;
}

static inline size_t vx_rd_left(const vx_rd *r)
{
    return r->len - r->pos;
}

/* Record a failure at position pos of p (if it is the first); returns 0
 * so a walker can `return vx_rd_fail_at(...)`. The position is not
 * checked against len: it only names a place in messages. */
static inline int vx_rd_fail_at(vx_rd *r, size_t pos, const char *what)
{
    if (r->what == NULL) {
        r->what = what ? what : "read past the end";
        r->fail_off = r->base + pos;
    }
    return 0;
}

/* Record a failure at the current position (if it is the first). */
static inline int vx_rd_fail(vx_rd *r, const char *what)
{
    return vx_rd_fail_at(r, r->pos, what);
}

/* The next n bytes as a pointer into the input, or NULL (failed now or
 * before). n == 0 succeeds with a non-NULL pointer even over an empty
 * range. */
static inline const unsigned char *vx_rd_take(vx_rd *r, uint64_t n,
                                              const char *what)
{
    static const unsigned char none[1] = {0};
    const unsigned char *q;
    if (r->what != NULL)
        return NULL;
    if (n > (uint64_t)(r->len - r->pos)) {
        vx_rd_fail(r, what);
        return NULL;
    }
    if (r->p == NULL)
        return none; /* n == 0 over an empty range */
    q = r->p + r->pos;
    r->pos += (size_t)n;
    return q;
}

/* vx_rd_take of count elements of size bytes each; count * size must not
 * overflow (else a failure, as for a read past the end). */
static inline const unsigned char *vx_rd_array(vx_rd *r, uint64_t count,
                                               size_t size, const char *what)
{
    if (size != 0 && count > UINT64_MAX / size) {
        if (r->what == NULL)
            vx_rd_fail(r, what);
        return NULL;
    }
    return vx_rd_take(r, count * size, what);
}

/* Skip n bytes; 1 on success. */
static inline int vx_rd_skip(vx_rd *r, uint64_t n, const char *what)
{
    return vx_rd_take(r, n, what) != NULL;
}

/* Copy the next n bytes to dst (zeros when the read fails); 1 on
 * success. */
static inline int vx_rd_copy(vx_rd *r, void *dst, size_t n, const char *what)
{
    const unsigned char *q = vx_rd_take(r, n, what);
    if (n == 0)
        return q != NULL;
    if (q == NULL) {
        memset(dst, 0, n);
        return 0;
    }
    memcpy(dst, q, n);
    return 1;
}

/* Move to position pos of p (pos <= len); 1 on success. For tables of
 * sections at offsets the input itself states. */
static inline int vx_rd_seek(vx_rd *r, uint64_t pos, const char *what)
{
    if (r->what != NULL)
        return 0;
    if (pos > (uint64_t)r->len)
        return vx_rd_fail(r, what);
    r->pos = (size_t)pos;
    return 1;
}

/* A reader over the next n bytes, which this one skips; its offsets are
 * file offsets (base carried on). Failed (what recorded in both) when
 * fewer than n bytes are left. */
static inline vx_rd vx_rd_sub(vx_rd *r, uint64_t n, const char *what)
{
    size_t at = vx_rd_off(r);
    const unsigned char *q = vx_rd_take(r, n, what);
    vx_rd s = vx_rd_at(q, q ? (size_t)n : 0, at);
    if (q == NULL) {
        s.what = r->what;
        s.fail_off = r->fail_off;
    }
    return s;
}

/* Take over the first failure of another reader (a sub-reader, or one
 * over bytes decoded from this one's, with file offsets) unless r has
 * failed already. Returns 1 when `from` is ok. */
static inline int vx_rd_adopt(vx_rd *r, const vx_rd *from)
{
    if (from->what == NULL)
        return 1;
    if (r->what == NULL) {
        r->what = from->what;
        r->fail_off = from->fail_off;
    }
    return 0;
}

static inline uint8_t vx_rd_u8(vx_rd *r, const char *what)
{
    const unsigned char *q = vx_rd_take(r, 1, what);
    return q ? q[0] : 0;
}

static inline uint16_t vx_rd_u16(vx_rd *r, const char *what)
{
    const unsigned char *q = vx_rd_take(r, 2, what);
    return q ? (uint16_t)(q[0] | (unsigned)q[1] << 8) : 0;
}

static inline uint32_t vx_rd_u32(vx_rd *r, const char *what)
{
    const unsigned char *q = vx_rd_take(r, 4, what);
    return q ? (uint32_t)q[0] | (uint32_t)q[1] << 8 | (uint32_t)q[2] << 16 |
                   (uint32_t)q[3] << 24
             : 0;
}

static inline uint64_t vx_rd_u64(vx_rd *r, const char *what)
{
    const unsigned char *q = vx_rd_take(r, 8, what);
    uint64_t v = 0;
    int i;
    if (q == NULL)
        return 0;
    for (i = 7; i >= 0; i--)
        v = v << 8 | q[i];
    return v;
}

/* IEEE-754 binary32 / binary64 stored little-endian; any bit pattern
 * (NaN included) is returned as it is: range checks are the caller's. */
static inline float vx_rd_f32(vx_rd *r, const char *what)
{
    uint32_t u = vx_rd_u32(r, what);
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static inline double vx_rd_f64(vx_rd *r, const char *what)
{
    uint64_t u = vx_rd_u64(r, what);
    double d;
    memcpy(&d, &u, 8);
    return d;
}

/* An unsigned LEB128 number of at most 10 bytes that fits in 64 bits.
 * Over-long encodings (more than 10 bytes, or bits above 64) fail with
 * `what` at the varint's first byte; non-minimal ones (a trailing 0x80
 * 0x00) are accepted: decoders needing canonical bytes compare lengths. */
static inline uint64_t vx_rd_varint(vx_rd *r, const char *what)
{
    size_t start = r->pos;
    uint64_t v = 0;
    unsigned shift = 0;
    if (r->what != NULL)
        return 0;
    for (;;) {
        const unsigned char *q = vx_rd_take(r, 1, what);
        if (q == NULL) {
            r->fail_off = r->base + start;
            r->pos = start;
            return 0;
        }
        if (shift == 63 && (q[0] & 0x7e) != 0) {
            r->pos = start;
            vx_rd_fail(r, what);
            return 0;
        }
        v |= (uint64_t)(q[0] & 0x7f) << shift;
        if (!(q[0] & 0x80))
            return v;
        shift += 7;
        if (shift > 63) {
            r->pos = start;
            vx_rd_fail(r, what);
            return 0;
        }
    }
}

/* The next n bytes must be zero (reserved fields, padding): a failure
 * names the first non-zero byte's offset. 1 on success. */
static inline int vx_rd_zero(vx_rd *r, uint64_t n, const char *what)
{
    size_t start = r->pos;
    const unsigned char *q = vx_rd_take(r, n, what);
    size_t i;
    if (q == NULL)
        return 0;
    for (i = 0; i < (size_t)n; i++)
        if (q[i] != 0)
            return vx_rd_fail_at(r, start + i, what);
    return 1;
}

/* Every byte must have been read: fails at the current position with
 * `what` when bytes are left. 1 on success. */
static inline int vx_rd_end(vx_rd *r, const char *what)
{
    if (r->what != NULL)
        return 0;
    if (r->pos != r->len)
        return vx_rd_fail(r, what);
    return 1;
}

#endif

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * segment.c - write and open immutable segment files (interface and
 * contract in segment.h, every byte in docs/FORMAT.md "Segment file").
 * vx_seg_write streams the id, row-key and key-id arrays and the index blob
 * from the caller's memory into a new file and writes the header last;
 * vx_seg_open maps the file, checks everything except the INDEX section's
 * checksum, builds the live-key bitmap, and serves ids, keys, lookups and
 * the blob from the mapping. Part of the storage layer; every file access
 * goes through the vfs.
 *
 * Invariants:
 *  1. Every byte of a segment file is either in the header (covered by
 *     the header CRC), in a section (covered by its own CRC) or zero
 *     padding that vx_seg_open checks is zero; so any single damaged byte is
 *     found, by vx_seg_open or, inside the INDEX section, by vx_seg_index.
 *  2. Fields a reader of any version needs to tell "newer" or "older"
 *     from "damaged" never move: magic at 0, version at 8, header size at
 *     12, header CRC in the header's last 4 bytes. vx_seg_open checks the
 *     CRC before it looks at the version, so a flipped version byte is
 *     VEX_CORRUPT and only an intact header of another version is
 *     VEX_UNSUPPORTED.
 *  3. Sections start on 4096-byte boundaries. A real mapping is
 *     page-aligned, so the INDEX pointer is 64-aligned for in-place use
 *     (vx_ix_open_buffer) and the id and key arrays can be read as
 *     uint64_t. A vfs whose mapping is not 64-aligned gets a private
 *     aligned copy (seg_load), keeping the guarantee.
 *  4. vx_seg_write validates its input and allocates what it needs (the
 *     live-key bitmap, the key-id buffer) before creating the file, writes
 *     the sections, then the header page, then syncs; any failure after
 *     the create closes and removes the file (best effort). It never
 *     removes a file it did not create (VEX_EXISTS leaves it alone). The
 *     directory entry is made durable by the manifest publish, not here:
 *     until then the file is an orphan the engine may delete.
 *  5. After vx_seg_open the seg is read-only except for the INDEX check
 *     state, which moves UNCHECKED -> OK or UNCHECKED -> BAD exactly once
 *     under idx_mu and is published with a release store; readers that
 *     see OK or BAD with an acquire load need no lock (vx_seg_index).
 *  6. After vx_seg_open: n_rows <= n_keys; ids strictly ascending; every row
 *     key < n_keys and distinct; bit k of `live` set exactly when some
 *     row key is k; key_ids[row_keys[i]] == ids[i] and key_ids[k] == 0
 *     for every dead k. So vx_seg_find, vx_seg_key_id and vx_seg_key_live agree
 *     with each other, and no index they compute leaves the mapping.
 *     Both the writer and seg_check_keys enforce the same rules, so what
 *     vx_seg_write accepts vx_seg_open accepts.
 *
 * Rejected: checking the INDEX CRC in vx_seg_open (O(blob) at every database
 * open, which the design wants O(1)-ish per segment); a header page CRC
 * over all 4096 bytes instead of 512 plus a zero check (same protection,
 * but a longer header would make the "CRC last" rule of invariant 2 cover
 * bytes the fields do not use); leaving KEYIDS out and inverting ROWKEYS
 * at open (8 bytes of heap per key in every open segment instead of one
 * bit, where the file costs 8 bytes per key on disk and vx_seg_key_id reads
 * the mapping); a stored live-key bitmap section (redundant with ROWKEYS,
 * one more thing to cross-check; the bitmap is built in the same O(n_keys)
 * pass that checks the keys); leaving the key ids of dead keys
 * unspecified (bytes the checks could not pin down, so damage to them
 * would go unnoticed behind a re-sealed CRC and two writers of the same
 * rows would produce different files).
 */
#include "storage/segment.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "text/postings.h"
#include "util/crc32c.h"
#include "util/endian.h"
#include "util/hex.h"
#include "util/rd.h"

#define SEG_VERSION         6u /* written for a DiskANN index section */
#define SEG_VERSION_TEXT    5u /* written when some key has a text */
#define SEG_VERSION_NO_TEXT 4u /* written when no key has a text */
#define SEG_VERSION_MIN                                                        \
    2u                     /* version 2: the same without META sections,       \
                              version 3 without PAYLOAD sections, version 4    \
                              without TEXT and POSTINGS sections */
#define SEG_HDR_SIZE 512u  /* header bytes (CRC in the last 4) */
#define SEG_ALIGN    4096u /* section alignment = the header page */
#define SEG_CHUNK    (4u << 20)

/* header field offsets (docs/FORMAT.md) */
#define OFF_MAGIC      0
#define OFF_VERSION    8
#define OFF_HDR_SIZE   12
#define OFF_NUMBER     16
#define OFF_DIM        24
#define OFF_ELEM       28
#define OFF_METRIC     32
#define OFF_INDEX_KIND 36
#define OFF_N_ROWS     40
#define OFF_N_KEYS     48
#define OFF_MIN_SEQ    56
#define OFF_MAX_SEQ    64
#define OFF_FILE_SIZE  72
#define OFF_N_SECTIONS 80
#define OFF_RESERVED1  84 /* 4 zero bytes */
#define OFF_TABLE      88 /* SEG_MAX_SECTIONS x 24 bytes */
#define SEC_ENTRY      24
#define OFF_RESERVED2  (OFF_TABLE + SEG_MAX_SECTIONS * SEC_ENTRY) /* 472 */
#define OFF_CRC        (SEG_HDR_SIZE - 4)                         /* 508 */

static const unsigned char seg_magic[8] = {'V', 'E', 'X', 'S', 'E', 'G', 0, 0};
static const unsigned char seg_zeros[SEG_ALIGN];

enum { IDX_UNCHECKED = 0, IDX_OK = 1, IDX_BAD = 2 };

struct seg {
    vex_mem mem;
    vex_file *file;
    char *path;
    const unsigned char *base; /* the file's bytes */
    size_t len;
    int mapped; /* base is a vfs mapping (else our aligned copy) */
    seg_info info;
    const uint64_t *ids, *row_keys, *key_ids; /* in the mapping */
    const unsigned char *meta; /* META section in the mapping, or NULL */
    uint64_t meta_len, meta_off;
    /* PAYLOAD section in the mapping: n_keys + 1 offsets, then bytes */
    const uint64_t *pay_off;
    const unsigned char *pay_bytes;
    /* TEXT section (same layout as PAYLOAD) and the POSTINGS over it */
    const uint64_t *text_off;
    const unsigned char *text_bytes;
    vt_postings *post;
    uint64_t *live; /* n_keys bits, bit k set: key k live (invariant 6) */
    int has_index;
    uint64_t idx_off, idx_len;
    uint32_t idx_crc;
    /* invariant 5 */
    int mu_init;
    pthread_mutex_t idx_mu;
    atomic_int idx_state;
    int idx_rc;
    char idx_msg[VEX_ERRMSG_MAX];
};

/* "<path>: <what> at offset N" as VEX_CORRUPT (or rc). */
#if defined(__GNUC__)
__attribute__((format(printf, 5, 6)))
#endif
static int
seg_fail(vex_err *err, int rc, const char *path, uint64_t off, const char *fmt,
         ...)
{
    char what[VEX_ERRMSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    if (rc == VEX_CORRUPT)
        return VX_CORRUPT(err, "%s: %s at offset %" PRIu64, path, what, off);
    return vx_err_set(err, rc, "%s: %s at offset %" PRIu64, path, what, off);
}

static uint64_t align_up(uint64_t x)
{
    return (x + SEG_ALIGN - 1) / SEG_ALIGN * SEG_ALIGN;
}

/* ---- the live-key bitmap ------------------------------------------------ */

static int bit_get(const uint64_t *b, uint64_t k)
{
    return (int)((b[k / 64] >> (k % 64)) & 1);
}

static void bit_set(uint64_t *b, uint64_t k)
{
    b[k / 64] |= 1ull << (k % 64);
}

/* A zeroed bitmap of n bits; NULL when n is 0 or out of memory
 * (*nomem tells the two apart). */
static uint64_t *bits_alloc(const vex_mem *m, uint64_t n, int *nomem)
{
    uint64_t words = n / 64 + (n % 64 != 0);
    uint64_t *b;
    *nomem = 0;
    if (n == 0)
        return NULL;
    b = words > SIZE_MAX / 8 ? NULL
                             : vx_mem_calloc(m, (size_t)words, sizeof *b);
    *nomem = b == NULL;
    return b;
}

/* ---- names --------------------------------------------------------------- */

int vx_seg_file_name(char *buf, size_t n, uint64_t number)
{
    if (buf == NULL || n < SEG_NAME_LEN + 1) {
        if (buf && n)
            buf[0] = '\0';
        return VEX_INVALID;
    }
    snprintf(buf, n, "seg-%016llx.vseg", (unsigned long long)number);
    return VEX_OK;
}

int vx_seg_parse_name(const char *name, uint64_t *number)
{
    uint64_t v = 0;
    if (name == NULL || strlen(name) != SEG_NAME_LEN ||
        memcmp(name, "seg-", 4) != 0 || memcmp(name + 20, ".vseg", 5) != 0 ||
        !vex_parse_hex(name + 4, 16, &v))
        return 0;
    if (number)
        *number = v;
    return 1;
}

/* ---- the writer ------------------------------------------------------- */

/* Write n bytes of p at off in chunks, extending *crc over them. */
static int write_chunks(vex_file *f, const unsigned char *p, uint64_t n,
                        uint64_t off, uint32_t *crc, vex_err *err)
{
    while (n > 0) {
        size_t k = n > SEG_CHUNK ? SEG_CHUNK : (size_t)n;
        int rc;
        if (crc)
            *crc = vex_crc32c_extend(*crc, p, k);
        rc = vex_file_write(f, p, k, off, err);
        if (rc != VEX_OK)
            return rc;
        p += k;
        off += k;
        n -= k;
    }
    return VEX_OK;
}

/* Write the KEYIDS section at off: key_ids with 0 for every key not set
 * in `live`, through buf (buf_n entries). */
static int write_key_ids(vex_file *f, const uint64_t *key_ids,
                         const uint64_t *live, uint64_t n_keys, uint64_t off,
                         uint64_t *buf, size_t buf_n, uint32_t *crc,
                         vex_err *err)
{
    uint64_t k = 0;
    while (k < n_keys) {
        size_t j, n = n_keys - k > buf_n ? buf_n : (size_t)(n_keys - k);
        int rc;
        for (j = 0; j < n; j++)
            buf[j] = bit_get(live, k + j) ? key_ids[k + j] : 0;
        rc = write_chunks(f, (const unsigned char *)buf, (uint64_t)n * 8,
                          off + 8 * k, crc, err);
        if (rc != VEX_OK)
            return rc;
        k += n;
    }
    return VEX_OK;
}

/* Write the PAYLOAD (or TEXT) section at off: n_keys + 1 offsets (dead
 * keys empty), then the live keys' bytes in key order, both through buf
 * (buf_n entries; entries larger than it are written straight). */
static int write_payloads(vex_file *f, uint64_t n_keys,
                          const unsigned char *const *pay,
                          const uint32_t *pay_len, const uint64_t *live,
                          uint64_t off, uint64_t *buf, size_t buf_n,
                          uint32_t *crc, vex_err *err)
{
    unsigned char *bb = (unsigned char *)buf;
    size_t cap = buf_n * 8, used = 0;
    uint64_t k = 0, at = 0, pos = off;
    int rc = VEX_OK;
    /* the offsets: entry j is the sum of the lengths of keys below j */
    while (k <= n_keys && rc == VEX_OK) {
        size_t j, n = n_keys + 1 - k > buf_n ? buf_n : (size_t)(n_keys + 1 - k);
        for (j = 0; j < n; j++, k++) {
            buf[j] = at;
            if (k < n_keys && bit_get(live, k))
                at += pay_len[k];
        }
        rc = write_chunks(f, bb, (uint64_t)n * 8, pos, crc, err);
        pos += (uint64_t)n * 8;
    }
    for (k = 0; k < n_keys && rc == VEX_OK; k++) {
        size_t n = bit_get(live, k) ? pay_len[k] : 0;
        if (n == 0)
            continue;
        if (used + n > cap && used > 0) {
            rc = write_chunks(f, bb, used, pos, crc, err);
            pos += used;
            used = 0;
        }
        if (rc != VEX_OK)
            break;
        if (n > cap) {
            rc = write_chunks(f, pay[k], n, pos, crc, err);
            pos += n;
        } else {
            memcpy(bb + used, pay[k], n);
            used += n;
        }
    }
    if (rc == VEX_OK && used > 0)
        rc = write_chunks(f, bb, used, pos, crc, err);
    return rc;
}

static void put_section(unsigned char *h, int i, uint32_t kind, uint32_t crc,
                        uint64_t off, uint64_t len)
{
    unsigned char *e = h + OFF_TABLE + SEC_ENTRY * i;
    vex_put_u32le(e, kind);
    vex_put_u32le(e + 4, crc);
    vex_put_u64le(e + 8, off);
    vex_put_u64le(e + 16, len);
}

/* vx_seg_write's input checks, before anything is created (invariant 4):
 * VEX_OK with *live the bitmap of the row keys (NULL when n_keys is 0),
 * or VEX_INVALID / VEX_NOMEM with *live NULL. */
static int check_input(const seg_write_info *wi, const char *path,
                       const vex_mem *m, uint64_t **live, vex_err *err)
{
    uint64_t i, n = wi->n_rows;
    int nomem;
    *live = NULL;
    if (wi->n_keys > SEG_MAX_ROWS)
        return vx_err_set(err, VEX_INVALID,
                          "%s: %" PRIu64 " keys, at most 2^40", path,
                          wi->n_keys);
    if (n > wi->n_keys)
        return vx_err_set(err, VEX_INVALID,
                          "%s: %" PRIu64 " rows but only %" PRIu64
                          " keys (n_rows <= n_keys)",
                          path, n, wi->n_keys);
    if (n > 0 && (wi->ids == NULL || wi->row_keys == NULL))
        return vx_err_set(err, VEX_INVALID,
                          "%s: NULL ids or row keys for %" PRIu64 " rows", path,
                          n);
    if (wi->n_keys > 0 && wi->key_ids == NULL)
        return vx_err_set(err, VEX_INVALID,
                          "%s: NULL key ids for %" PRIu64 " keys", path,
                          wi->n_keys);
    if (wi->index_write != NULL &&
        (wi->index_blob != NULL || wi->index_kind != VEX_INDEX_DISKANN))
        return vx_err_set(err, VEX_INVALID,
                          "%s: an index writer with an index blob, or for "
                          "index kind %u",
                          path, wi->index_kind);
    if (wi->index_write == NULL && wi->index_kind == VEX_INDEX_DISKANN)
        return vx_err_set(err, VEX_INVALID,
                          "%s: a DiskANN segment without its index writer",
                          path);
    if (wi->index_blob == NULL && wi->blob_size != 0)
        return vx_err_set(err, VEX_INVALID,
                          "%s: NULL index blob of %" PRIu64 " bytes", path,
                          wi->blob_size);
    if (wi->meta == NULL && wi->meta_len != 0)
        return vx_err_set(err, VEX_INVALID,
                          "%s: NULL metadata of %" PRIu64 " bytes", path,
                          wi->meta_len);
    if ((wi->pay == NULL) != (wi->pay_len == NULL))
        return vx_err_set(err, VEX_INVALID,
                          "%s: payload pointers and lengths not both given",
                          path);
    for (i = 0; wi->pay && i < wi->n_keys; i++)
        if (wi->pay_len[i] > VEX_MAX_PAYLOAD ||
            (wi->pay_len[i] > 0 && wi->pay[i] == NULL))
            return vx_err_set(err, VEX_INVALID,
                              "%s: key %" PRIu64 ": payload of %u bytes at %p",
                              path, i, wi->pay_len[i],
                              (const void *)wi->pay[i]);
    if ((wi->text == NULL) != (wi->text_len == NULL) ||
        (wi->text != NULL && wi->analyzer == NULL))
        return vx_err_set(err, VEX_INVALID,
                          "%s: text pointers, lengths and analyzer not all "
                          "given",
                          path);
    for (i = 0; wi->text && i < wi->n_keys; i++) {
        if (wi->text_len[i] > VT_MAX_TEXT ||
            (wi->text_len[i] > 0 && wi->text[i] == NULL))
            return vx_err_set(
                err, VEX_INVALID, "%s: key %" PRIu64 ": text of %u bytes at %p",
                path, i, wi->text_len[i], (const void *)wi->text[i]);
        if (vx_text_check_utf8((const char *)wi->text[i], wi->text_len[i], path,
                               err) != VEX_OK)
            return VEX_INVALID;
    }
    for (i = 1; i < n; i++)
        if (wi->ids[i] <= wi->ids[i - 1])
            return vx_err_set(err, VEX_INVALID,
                              "%s: ids not strictly ascending at row "
                              "%" PRIu64,
                              path, i);
    *live = bits_alloc(m, wi->n_keys, &nomem);
    if (nomem)
        return vx_err_set(err, VEX_NOMEM,
                          "%s: out of memory (bitmap of %" PRIu64 " keys)",
                          path, wi->n_keys);
    for (i = 0; i < n; i++) {
        uint64_t k = wi->row_keys[i];
        const char *what = NULL;
        if (k >= wi->n_keys)
            what = "not below n_keys";
        else if (bit_get(*live, k))
            what = "already the key of an earlier row";
        else if (wi->key_ids[k] != wi->ids[i])
            what = "whose key id differs from the row's id";
        if (what != NULL) {
            vx_mem_free(m, *live);
            *live = NULL;
            return vx_err_set(err, VEX_INVALID,
                              "%s: row %" PRIu64 " (id %" PRIu64
                              ") has key %" PRIu64 ", %s",
                              path, i, wi->ids[i], k, what);
        }
        bit_set(*live, k);
    }
    return VEX_OK;
}

/* The POSTINGS section's blob: the live keys' texts analysed with
 * wi->analyzer (keys without one, or dead, have no document), on m. */
static int seg_build_postings(const seg_write_info *wi, const uint64_t *live,
                              const vex_mem *m, unsigned char **out,
                              size_t *out_len, const char *path, vex_err *err)
{
    vt_builder *b = NULL;
    uint64_t k;
    int rc;
    if (wi->n_keys >= VT_NO_TEXT)
        return vx_err_set(err, VEX_INVALID,
                          "%s: %" PRIu64 " keys, too many for text postings",
                          path, wi->n_keys);
    rc = vx_post_builder_new(m, wi->analyzer, VT_POST_BLOCK, &b, err);
    for (k = 0; k < wi->n_keys && rc == VEX_OK; k++)
        if (bit_get(live, k) && wi->text_len[k] > 0)
            rc = vx_post_builder_add(b, (uint32_t)k, (const char *)wi->text[k],
                                     wi->text_len[k], err);
    if (rc == VEX_OK)
        rc = vx_post_builder_finish(b, (uint32_t)wi->n_keys, out, out_len, err);
    vx_post_builder_free(b);
    if (rc != VEX_OK)
        return vx_err_set(err, rc, "%s: text postings: %s", path,
                          rc == VEX_NOMEM ? "out of memory" : "refused");
    return VEX_OK;
}

/* The CRC32C of [off, off + len) of f, read back through buf. */
static int seg_crc_back(vex_file *f, uint64_t off, uint64_t len,
                        const vex_mem *m, uint32_t *crc, const char *path,
                        vex_err *err)
{
    size_t buf_len = SEG_CHUNK;
    unsigned char *buf = vx_mem_alloc(m, buf_len);
    uint32_t c = 0;
    if (buf == NULL)
        return vx_err_set(err, VEX_NOMEM, "%s: out of memory", path);
    for (uint64_t at = 0; at < len;) {
        size_t n = len - at < buf_len ? (size_t)(len - at) : buf_len;
        int rc = vx_file_read_exact(f, buf, n, off + at, err);
        if (rc != VEX_OK) {
            vx_mem_free(m, buf);
            return rc;
        }
        c = vex_crc32c_extend(c, buf, n);
        at += n;
    }
    vx_mem_free(m, buf);
    *crc = c;
    return VEX_OK;
}

int vx_seg_write(vex_vfs *vfs, const char *path, const seg_write_info *wi,
                 const vex_mem *mem, vex_err *err)
{
    /* the sections in file order (the writer's layout, docs/FORMAT.md);
     * META and INDEX are written only when given */
    enum {
        S_IDS,
        S_ROWKEYS,
        S_KEYIDS,
        S_META,
        S_PAYLOAD,
        S_TEXT,
        S_POSTINGS,
        S_INDEX,
        S_N
    };
    static const uint32_t kinds[S_N] = {
        SEG_SEC_IDS,     SEG_SEC_ROWKEYS, SEG_SEC_KEYIDS,   SEG_SEC_META,
        SEG_SEC_PAYLOAD, SEG_SEC_TEXT,    SEG_SEC_POSTINGS, SEG_SEC_INDEX};
    unsigned char page[SEG_ALIGN];
    vex_mem m;
    vex_file *f = NULL;
    uint64_t *live = NULL, *buf = NULL;
    uint64_t off[S_N], len[S_N], end, total = 0;
    uint32_t crc[S_N] = {0, 0, 0, 0, 0, 0, 0, 0};
    unsigned char *post = NULL;
    size_t post_len = 0;
    int present[S_N];
    size_t buf_n = 0;
    int n_sec = 0, i, rc;

    if (vfs == NULL || path == NULL || wi == NULL)
        return vx_err_set(err, VEX_INVALID, "vx_seg_write: NULL argument");
    if (mem)
        m = *mem;
    else if (vx_mem_init(&m, NULL) != VEX_OK)
        return vx_err_set(err, VEX_INVALID, "vx_seg_write: bad allocator");
    if (!vex_host_is_le())
        return vx_err_set(err, VEX_UNSUPPORTED,
                          "%s: segment arrays are little-endian and this "
                          "host is big-endian",
                          path);
    rc = check_input(wi, path, &m, &live, err);
    if (rc != VEX_OK)
        return rc;
    /* the layout: the header page, then each section present on the next
     * boundary after the previous one */
    present[S_IDS] = present[S_ROWKEYS] = present[S_KEYIDS] = 1;
    present[S_META] = wi->meta != NULL;
    present[S_PAYLOAD] = wi->pay != NULL;
    present[S_TEXT] = present[S_POSTINGS] = wi->text != NULL;
    present[S_INDEX] = wi->index_blob != NULL || wi->index_write != NULL;
    if (wi->text != NULL) {
        rc = seg_build_postings(wi, live, &m, &post, &post_len, path, err);
        if (rc != VEX_OK)
            goto cleanup;
    }
    len[S_IDS] = wi->n_rows * 8;
    len[S_ROWKEYS] = wi->n_rows * 8;
    len[S_KEYIDS] = wi->n_keys * 8;
    len[S_META] = present[S_META] ? wi->meta_len : 0;
    len[S_PAYLOAD] = 0;
    if (present[S_PAYLOAD]) {
        len[S_PAYLOAD] = 8 * (wi->n_keys + 1);
        for (uint64_t k = 0; k < wi->n_keys; k++)
            if (bit_get(live, k))
                len[S_PAYLOAD] += wi->pay_len[k];
    }
    len[S_TEXT] = 0;
    if (present[S_TEXT]) {
        len[S_TEXT] = 8 * (wi->n_keys + 1);
        for (uint64_t k = 0; k < wi->n_keys; k++)
            if (bit_get(live, k))
                len[S_TEXT] += wi->text_len[k];
    }
    len[S_POSTINGS] = post_len;
    len[S_INDEX] = wi->blob_size;
    end = SEG_ALIGN;
    for (i = 0; i < S_N; i++) {
        off[i] = 0;
        if (!present[i])
            continue;
        n_sec++;
        off[i] = align_up(end);
        if (len[i] > UINT64_MAX - off[i]) {
            rc = vx_err_set(err, VEX_INVALID,
                            "%s: section of %" PRIu64 " bytes too large", path,
                            len[i]);
            goto cleanup;
        }
        end = off[i] + len[i];
    }
    total = end;
    if (wi->n_keys > 0 || wi->pay || wi->text) {
        buf_n = wi->n_keys + 1 > SEG_CHUNK / 8 ? SEG_CHUNK / 8
                                               : (size_t)wi->n_keys + 1;
        buf = vx_mem_alloc(&m, buf_n * 8);
        if (buf == NULL) {
            rc = vx_err_set(err, VEX_NOMEM, "%s: out of memory (%zu bytes)",
                            path, buf_n * 8);
            goto cleanup;
        }
    }

    rc = vex_vfs_open(
        vfs, path, VX_FILE_READWRITE | VX_FILE_CREATE | VX_FILE_EXCL, &f, err);
    if (rc != VEX_OK) {
        f = NULL; /* not ours to remove (invariant 4) */
        goto cleanup;
    }
    end = SEG_ALIGN;
    for (i = 0; i < S_N; i++) {
        if (!present[i])
            continue;
        if (off[i] > end) /* < 4096 zero bytes up to the boundary */
            rc = write_chunks(f, seg_zeros, off[i] - end, end, NULL, err);
        if (rc == VEX_OK && i == S_INDEX && wi->index_write) {
            rc = wi->index_write(wi->index_ctx, f, off[i], &len[i], err);
            if (rc == VEX_OK)
                rc = seg_crc_back(f, off[i], len[i], &m, &crc[i], path, err);
            if (rc == VEX_OK)
                total = off[i] + len[i];
        } else if (rc == VEX_OK && i == S_KEYIDS) {
            rc = write_key_ids(f, wi->key_ids, live, wi->n_keys, off[i], buf,
                               buf_n, &crc[i], err);
        } else if (rc == VEX_OK && (i == S_PAYLOAD || i == S_TEXT)) {
            rc = write_payloads(f, wi->n_keys,
                                i == S_PAYLOAD ? wi->pay : wi->text,
                                i == S_PAYLOAD ? wi->pay_len : wi->text_len,
                                live, off[i], buf, buf_n, &crc[i], err);
        } else if (rc == VEX_OK) {
            rc = write_chunks(f,
                              i == S_IDS        ? (const void *)wi->ids
                              : i == S_ROWKEYS  ? (const void *)wi->row_keys
                              : i == S_META     ? (const void *)wi->meta
                              : i == S_POSTINGS ? (const void *)post
                                                : wi->index_blob,
                              len[i], off[i], &crc[i], err);
        }
        if (rc != VEX_OK)
            goto cleanup;
        end = off[i] + len[i];
    }

    memset(page, 0, sizeof page);
    memcpy(page + OFF_MAGIC, seg_magic, 8);
    vex_put_u32le(page + OFF_VERSION, wi->index_write ? SEG_VERSION
                                      : wi->text      ? SEG_VERSION_TEXT
                                                      : SEG_VERSION_NO_TEXT);
    vex_put_u32le(page + OFF_HDR_SIZE, SEG_HDR_SIZE);
    vex_put_u64le(page + OFF_NUMBER, wi->number);
    vex_put_u32le(page + OFF_DIM, wi->dim);
    vex_put_u32le(page + OFF_ELEM, wi->elem);
    vex_put_u32le(page + OFF_METRIC, wi->metric);
    vex_put_u32le(page + OFF_INDEX_KIND, wi->index_kind);
    vex_put_u64le(page + OFF_N_ROWS, wi->n_rows);
    vex_put_u64le(page + OFF_N_KEYS, wi->n_keys);
    vex_put_u64le(page + OFF_MIN_SEQ, wi->min_seq);
    vex_put_u64le(page + OFF_MAX_SEQ, wi->max_seq);
    vex_put_u64le(page + OFF_FILE_SIZE, total);
    vex_put_u32le(page + OFF_N_SECTIONS, (uint32_t)n_sec);
    for (i = 0, n_sec = 0; i < S_N; i++)
        if (present[i])
            put_section(page, n_sec++, kinds[i], crc[i], off[i], len[i]);
    vex_put_u32le(page + OFF_CRC, vex_crc32c(page, OFF_CRC));
    rc = vex_file_write(f, page, sizeof page, 0, err);
    if (rc == VEX_OK)
        rc = vex_file_sync(f, VEX_SYNC_FULL, err);
cleanup:
    if (f != NULL && rc == VEX_OK) {
        /* the handle's path is gone once close fails: name the file here */
        vex_err cerr;
        char msg[VEX_ERRMSG_MAX];
        vx_err_init(&cerr);
        rc = vex_file_close(f, &cerr);
        if (rc != VEX_OK) {
            vx_err_copy(&cerr, msg, sizeof msg);
            seg_fail(err, rc, path, total, "close failed (%s)", msg);
        }
        vx_err_destroy(&cerr);
    } else if (f != NULL) {
        vex_file_close(f, NULL);
    }
    if (f != NULL && rc != VEX_OK)
        vex_vfs_remove(vfs, path, NULL); /* best effort (invariant 4) */
    vx_mem_free(&m, buf);
    vx_mem_free(&m, live);
    vx_mem_free(&m, post);
    return rc;
}

/* ---- the reader --------------------------------------------------------- */

/* Offset of the first non-zero byte in [from, to) of f's bytes, or `to`
 * (the range is inside them). */
static uint64_t first_nonzero(const vx_rd *f, uint64_t from, uint64_t to)
{
    vx_rd z = *f;
    if (vx_rd_seek(&z, from, NULL) && vx_rd_zero(&z, to - from, NULL))
        return to;
    return vx_rd_ok(&z) ? to : vx_rd_fail_off(&z);
}

/* Map the file, or read it into an aligned buffer when the mapping is not
 * 64-aligned (invariant 3). */
static int seg_load(seg *s, vex_err *err)
{
    const void *addr = NULL;
    size_t len = 0;
    unsigned char *copy;
    int rc = vex_file_mmap(s->file, &addr, &len, err);
    if (rc != VEX_OK)
        return rc;
    if (addr == NULL || (uintptr_t)addr % 64 == 0) {
        s->base = addr;
        s->len = len;
        s->mapped = 1;
        return VEX_OK;
    }
    rc = vex_file_munmap(s->file, addr, len, err);
    if (rc != VEX_OK)
        return rc;
    copy = vx_mem_alloc_aligned(&s->mem, len, 64);
    if (copy == NULL)
        return vx_err_set(err, VEX_NOMEM, "%s: out of memory (%zu bytes)",
                          s->path, len);
    rc = vx_file_read_exact(s->file, copy, len, 0, err);
    if (rc != VEX_OK) {
        vx_mem_free_aligned(&s->mem, copy);
        return rc;
    }
    s->base = copy;
    s->len = len;
    s->mapped = 0;
    return VEX_OK;
}

/* The array sections: kind, name in messages, and where seg_parse found
 * them. */
typedef struct arr_sec {
    uint32_t kind;
    const char *name;
    uint64_t off;
    int seen;
} arr_sec;

/* The contents of IDS, ROWKEYS and KEYIDS, whose CRCs and lengths
 * seg_parse has checked (invariant 6); builds s->live. */
static int seg_check_keys(seg *s, uint64_t ids_off, uint64_t rk_off,
                          uint64_t ki_off, vex_err *err)
{
    const char *path = s->path;
    uint64_t i, n = s->info.n_rows, n_keys = s->info.n_keys;
    int nomem;
    for (i = 1; i < n; i++)
        if (s->ids[i] <= s->ids[i - 1])
            return seg_fail(err, VEX_CORRUPT, path, ids_off + 8 * i,
                            "ids section: id %" PRIu64
                            " not above the previous one (%" PRIu64 ")",
                            s->ids[i], s->ids[i - 1]);
    s->live = bits_alloc(&s->mem, n_keys, &nomem);
    if (nomem)
        return vx_err_set(err, VEX_NOMEM,
                          "%s: out of memory (bitmap of %" PRIu64 " keys)",
                          path, n_keys);
    for (i = 0; i < n; i++) {
        uint64_t k = s->row_keys[i];
        if (k >= n_keys)
            return seg_fail(err, VEX_CORRUPT, path, rk_off + 8 * i,
                            "rowkeys section: row %" PRIu64 " has key %" PRIu64
                            ", not below n_keys %" PRIu64,
                            i, k, n_keys);
        if (bit_get(s->live, k))
            return seg_fail(
                err, VEX_CORRUPT, path, rk_off + 8 * i,
                "rowkeys section: row %" PRIu64 " repeats key %" PRIu64, i, k);
        bit_set(s->live, k);
        if (s->key_ids[k] != s->ids[i])
            return seg_fail(err, VEX_CORRUPT, path, ki_off + 8 * k,
                            "keyids section: key %" PRIu64 " holds id %" PRIu64
                            ", but row %" PRIu64
                            " with that key has id %" PRIu64,
                            k, s->key_ids[k], i, s->ids[i]);
    }
    for (i = 0; i < n_keys; i++)
        if (s->key_ids[i] != 0 && !bit_get(s->live, i))
            return seg_fail(err, VEX_CORRUPT, path, ki_off + 8 * i,
                            "keyids section: dead key %" PRIu64
                            " holds id %" PRIu64 ", not 0",
                            i, s->key_ids[i]);
    return VEX_OK;
}

/* The PAYLOAD section at off (len bytes, its CRC checked): n_keys + 1
 * offsets from 0, non-decreasing, steps of at most VEX_MAX_PAYLOAD and 0
 * for dead keys, the last equal to the bytes after the offsets. */
static int seg_check_payloads(seg *s, uint64_t off, uint64_t len,
                              const char *what, uint64_t max,
                              const uint64_t **offs,
                              const unsigned char **bytes, vex_err *err)
{
    uint64_t n = s->info.n_keys, head = 8 * (n + 1);
    const uint64_t *o;
    if (len < head)
        return seg_fail(err, VEX_CORRUPT, s->path, off,
                        "%s section of %" PRIu64 " bytes, shorter than "
                        "its %" PRIu64 " offsets",
                        what, len, n + 1);
    o = (const uint64_t *)(const void *)(s->base + off);
    if (o[0] != 0)
        return seg_fail(err, VEX_CORRUPT, s->path, off,
                        "%s offsets do not start at 0", what);
    for (uint64_t k = 0; k < n; k++) {
        uint64_t step = o[k + 1] - o[k];
        if (o[k + 1] < o[k] || step > max || (step > 0 && !bit_get(s->live, k)))
            return seg_fail(
                err, VEX_CORRUPT, s->path, off + 8 * (k + 1),
                "%s of key %" PRIu64 ": offset %" PRIu64 " after %" PRIu64
                " (descending, longer than %" PRIu64 " bytes, or a dead key's)",
                what, k, o[k + 1], o[k], max);
    }
    if (o[n] != len - head)
        return seg_fail(err, VEX_CORRUPT, s->path, off + 8 * n,
                        "%s offsets end at %" PRIu64 ", the section "
                        "holds %" PRIu64 " bytes of %s",
                        what, o[n], len - head, what);
    *offs = o;
    *bytes = s->base + off + head;
    return VEX_OK;
}

/* The TEXT section (as a PAYLOAD section, each text valid UTF-8) and the
 * POSTINGS blob over it, opened strictly: built with the keys' texts, so
 * a key has a document exactly when it has a text. */
static int seg_check_text(seg *s, uint64_t toff, uint64_t tlen, uint64_t poff,
                          uint64_t plen, vex_err *err)
{
    uint64_t k, n = s->info.n_keys;
    int rc = seg_check_payloads(s, toff, tlen, "text", VT_MAX_TEXT,
                                &s->text_off, &s->text_bytes, err);
    if (rc != VEX_OK)
        return rc;
    for (k = 0; k < n; k++) {
        uint64_t a = s->text_off[k], b = s->text_off[k + 1];
        if (vx_text_check_utf8((const char *)s->text_bytes + a, (size_t)(b - a),
                               "text", NULL) != VEX_OK)
            return seg_fail(err, VEX_CORRUPT, s->path, toff + 8 * (n + 1) + a,
                            "text of key %" PRIu64 " is not valid UTF-8", k);
    }
    {
        char name[VEX_ERRMSG_MAX / 2];
        snprintf(name, sizeof name, "%s: postings section", s->path);
        rc = vx_post_open(&s->mem, s->base + poff, (size_t)plen, name,
                          (size_t)poff, &s->post, err);
    }
    if (rc != VEX_OK)
        return rc;
    if (vx_post_n_keys(s->post) != n)
        return seg_fail(err, VEX_CORRUPT, s->path, poff,
                        "postings cover %u keys, the segment has %" PRIu64,
                        vx_post_n_keys(s->post), n);
    for (k = 0; k < n; k++)
        if ((s->text_off[k + 1] > s->text_off[k]) !=
            (vx_post_doc_len(s->post, (uint32_t)k) != VT_NO_TEXT))
            return seg_fail(err, VEX_CORRUPT, s->path, poff,
                            "key %" PRIu64 " has %s text but %s document in "
                            "the postings",
                            k, s->text_off[k + 1] > s->text_off[k] ? "a" : "no",
                            s->text_off[k + 1] > s->text_off[k] ? "no" : "a");
    return VEX_OK;
}

void vx_seg_payload(const seg *s, uint64_t key, const unsigned char **p,
                    size_t *len)
{
    *p = NULL;
    *len = 0;
    if (s->pay_off == NULL || key >= s->info.n_keys ||
        s->pay_off[key + 1] == s->pay_off[key])
        return;
    *p = s->pay_bytes + s->pay_off[key];
    *len = (size_t)(s->pay_off[key + 1] - s->pay_off[key]);
}

uint64_t vx_seg_payload_bytes(const seg *s)
{
    return s->pay_off ? s->pay_off[s->info.n_keys] : 0;
}

void vx_seg_text(const seg *s, uint64_t key, const char **p, size_t *len)
{
    *p = NULL;
    *len = 0;
    if (s->text_off == NULL || key >= s->info.n_keys ||
        s->text_off[key + 1] == s->text_off[key])
        return;
    *p = (const char *)s->text_bytes + s->text_off[key];
    *len = (size_t)(s->text_off[key + 1] - s->text_off[key]);
}

uint64_t vx_seg_text_bytes(const seg *s)
{
    return s->text_off ? s->text_off[s->info.n_keys] : 0;
}

const vt_postings *vx_seg_postings(const seg *s)
{
    return s->post;
}

void vx_seg_index_range(const seg *s, uint64_t *off, uint64_t *len)
{
    *off = s->has_index ? s->idx_off : 0;
    *len = s->has_index ? s->idx_len : 0;
}

int vx_seg_meta(const seg *s, const unsigned char **p, size_t *len,
                uint64_t *off)
{
    *p = s->meta;
    *len = s->meta ? (size_t)s->meta_len : 0;
    *off = s->meta ? s->meta_off : 0;
    return s->meta != NULL;
}

/* Check the header, the section table and the array sections; fill
 * s->info, the section fields and s->live. */
static int seg_parse(seg *s, uint64_t expect, vex_err *err)
{
    enum { A_IDS, A_ROWKEYS, A_KEYIDS, A_N };
    arr_sec arr[A_N] = {{SEG_SEC_IDS, "ids", 0, 0},
                        {SEG_SEC_ROWKEYS, "rowkeys", 0, 0},
                        {SEG_SEC_KEYIDS, "keyids", 0, 0}};
    const unsigned char *h = s->base, *magic;
    const char *path = s->path;
    uint64_t size = s->len, prev_end = SEG_HDR_SIZE, z, total;
    uint32_t hsize, version, crc, want, n_sec, i;
    uint64_t pay_at = 0, pay_len = UINT64_MAX; /* UINT64_MAX: no section */
    uint64_t text_at = 0, text_len = UINT64_MAX;
    uint64_t post_at = 0, post_len = UINT64_MAX;
    vx_rd f, hr;
    int a;

    if (size < SEG_ALIGN)
        return seg_fail(err, VEX_CORRUPT, path, size,
                        "file is %" PRIu64 " bytes, shorter than the %u-byte "
                        "header page: truncated",
                        size, SEG_ALIGN);
    f = vx_rd_new(h, s->len); /* the whole file */
    /* the header's fields, in file order (all inside the header page) */
    hr = vx_rd_new(h, SEG_HDR_SIZE);
    magic = vx_rd_take(&hr, 8, NULL);
    version = vx_rd_u32(&hr, NULL);
    hsize = vx_rd_u32(&hr, NULL);
    s->info.number = vx_rd_u64(&hr, NULL);
    s->info.dim = vx_rd_u32(&hr, NULL);
    s->info.elem = vx_rd_u32(&hr, NULL);
    s->info.metric = vx_rd_u32(&hr, NULL);
    s->info.index_kind = vx_rd_u32(&hr, NULL);
    s->info.n_rows = vx_rd_u64(&hr, NULL);
    s->info.n_keys = vx_rd_u64(&hr, NULL);
    s->info.min_seq = vx_rd_u64(&hr, NULL);
    s->info.max_seq = vx_rd_u64(&hr, NULL);
    total = vx_rd_u64(&hr, NULL);
    n_sec = vx_rd_u32(&hr, NULL);
    s->info.file_size = size;
    if (memcmp(magic, seg_magic, 8) != 0)
        return seg_fail(err, VEX_CORRUPT, path, 0,
                        "bad magic (not a segment file)");
    /* invariant 2: the checksum first, then the version */
    if (hsize < 64 || hsize > SEG_ALIGN || hsize % 4 != 0)
        return seg_fail(err, VEX_CORRUPT, path, OFF_HDR_SIZE,
                        "bad header size %u", hsize);
    {
        vx_rd c = f;
        vx_rd_seek(&c, hsize - 4, NULL);
        crc = vx_rd_u32(&c, NULL);
    }
    want = vex_crc32c(h, hsize - 4);
    if (crc != want)
        return seg_fail(err, VEX_CORRUPT, path, hsize - 4,
                        "header checksum mismatch (stored 0x%08x, computed "
                        "0x%08x)",
                        crc, want);
    if (version > SEG_VERSION)
        return seg_fail(err, VEX_UNSUPPORTED, path, OFF_VERSION,
                        "format version %u is newer than %u", version,
                        SEG_VERSION);
    if (version >= 1 && version < SEG_VERSION_MIN)
        return seg_fail(err, VEX_UNSUPPORTED, path, OFF_VERSION,
                        "format version %u is older than %u (a segment from "
                        "before index keys) and not readable by this build",
                        version, SEG_VERSION_MIN);
    if (version < SEG_VERSION_MIN)
        return seg_fail(err, VEX_CORRUPT, path, OFF_VERSION,
                        "bad format version %u", version);
    if (hsize != SEG_HDR_SIZE)
        return seg_fail(err, VEX_CORRUPT, path, OFF_HDR_SIZE,
                        "header size %u, expected %u", hsize, SEG_HDR_SIZE);
    /* format 6 is exactly the segments with a DiskANN index */
    if ((version == SEG_VERSION) != (s->info.index_kind == VEX_INDEX_DISKANN))
        return seg_fail(err, VEX_CORRUPT, path, OFF_INDEX_KIND,
                        "index kind %u in a format %u segment",
                        s->info.index_kind, version);
    if (!vex_host_is_le())
        return seg_fail(err, VEX_UNSUPPORTED, path, 0,
                        "sections are little-endian and this host is "
                        "big-endian");
    if (s->info.number != expect)
        return seg_fail(err, VEX_CORRUPT, path, OFF_NUMBER,
                        "file number %" PRIu64 ", expected %" PRIu64
                        " (renamed or foreign file)",
                        s->info.number, expect);
    if (total != size)
        return seg_fail(err, VEX_CORRUPT, path, OFF_FILE_SIZE,
                        "header says %" PRIu64 " bytes, the file has %" PRIu64
                        " (truncated or extended)",
                        total, size);
    if (s->info.n_keys > SEG_MAX_ROWS)
        return seg_fail(err, VEX_CORRUPT, path, OFF_N_KEYS,
                        "%" PRIu64 " keys, more than 2^40", s->info.n_keys);
    if (s->info.n_rows > s->info.n_keys)
        return seg_fail(err, VEX_CORRUPT, path, OFF_N_ROWS,
                        "%" PRIu64 " rows, more than the %" PRIu64 " keys",
                        s->info.n_rows, s->info.n_keys);
    if (n_sec > SEG_MAX_SECTIONS)
        return seg_fail(err, VEX_CORRUPT, path, OFF_N_SECTIONS,
                        "%u sections, at most %d", n_sec, SEG_MAX_SECTIONS);
    /* reserved bytes and unused table entries are zero */
    z = first_nonzero(&f, OFF_RESERVED1, OFF_RESERVED1 + 4);
    if (z == OFF_RESERVED1 + 4)
        z = first_nonzero(&f, OFF_TABLE + (uint64_t)SEC_ENTRY * n_sec, OFF_CRC);
    if (z != OFF_CRC)
        return seg_fail(err, VEX_CORRUPT, path, z,
                        "non-zero reserved header byte");
    vx_rd_skip(&hr, 4, NULL); /* OFF_RESERVED1: the table follows */
    for (i = 0; i < n_sec; i++) {
        uint64_t eoff = vx_rd_off(&hr);
        uint32_t kind = vx_rd_u32(&hr, NULL), scrc = vx_rd_u32(&hr, NULL);
        uint64_t off = vx_rd_u64(&hr, NULL), len = vx_rd_u64(&hr, NULL);
        arr_sec *as = NULL;
        for (a = 0; a < A_N; a++)
            if (arr[a].kind == kind)
                as = &arr[a];
        if (as == NULL && kind != SEG_SEC_INDEX &&
            (kind != SEG_SEC_META || version < 3) &&
            (kind != SEG_SEC_PAYLOAD || version < 4) &&
            ((kind != SEG_SEC_TEXT && kind != SEG_SEC_POSTINGS) || version < 5))
            return seg_fail(err, VEX_UNSUPPORTED, path, eoff,
                            "section %u has unknown kind %u", i, kind);
        if (as                         ? as->seen
            : kind == SEG_SEC_META     ? s->meta != NULL
            : kind == SEG_SEC_PAYLOAD  ? pay_len != UINT64_MAX
            : kind == SEG_SEC_TEXT     ? text_len != UINT64_MAX
            : kind == SEG_SEC_POSTINGS ? post_len != UINT64_MAX
                                       : s->has_index)
            return seg_fail(err, VEX_CORRUPT, path, eoff,
                            "section %u repeats kind %u", i, kind);
        if (off % SEG_ALIGN != 0 || off < prev_end || off > size ||
            len > size - off)
            return seg_fail(err, VEX_CORRUPT, path, eoff,
                            "section %u (kind %u): offset %" PRIu64
                            " length %" PRIu64 " is misaligned, overlapping "
                            "or past the end (%" PRIu64 " bytes)",
                            i, kind, off, len, size);
        z = first_nonzero(&f, prev_end, off);
        if (z != off)
            return seg_fail(err, VEX_CORRUPT, path, z,
                            "non-zero padding byte before section %u", i);
        prev_end = off + len;
        if (as != NULL) {
            uint64_t n =
                kind == SEG_SEC_KEYIDS ? s->info.n_keys : s->info.n_rows;
            as->seen = 1;
            as->off = off;
            if (len != n * 8)
                return seg_fail(err, VEX_CORRUPT, path, eoff + 16,
                                "%s section of %" PRIu64 " bytes for "
                                "%" PRIu64 " %s",
                                as->name, len, n,
                                kind == SEG_SEC_KEYIDS ? "keys" : "rows");
            want = vex_crc32c(h + off, (size_t)len);
            if (want != scrc)
                return seg_fail(err, VEX_CORRUPT, path, off,
                                "%s section checksum mismatch (stored "
                                "0x%08x, computed 0x%08x)",
                                as->name, scrc, want);
        } else if (kind == SEG_SEC_PAYLOAD || kind == SEG_SEC_TEXT ||
                   kind == SEG_SEC_POSTINGS) {
            /* checked after the keys (dead keys must be empty) */
            const char *what = kind == SEG_SEC_PAYLOAD ? "payload"
                               : kind == SEG_SEC_TEXT  ? "text"
                                                       : "postings";
            if (kind == SEG_SEC_PAYLOAD) {
                pay_at = off;
                pay_len = len;
            } else if (kind == SEG_SEC_TEXT) {
                text_at = off;
                text_len = len;
            } else {
                post_at = off;
                post_len = len;
            }
            want = vex_crc32c(h + off, (size_t)len);
            if (want != scrc)
                return seg_fail(err, VEX_CORRUPT, path, off,
                                "%s section checksum mismatch (stored "
                                "0x%08x, computed 0x%08x)",
                                what, scrc, want);
        } else if (kind == SEG_SEC_META) {
            /* kept as it is: its columns are checked strictly when
             * opened (vx_vm_colset_open) */
            s->meta = h + off;
            s->meta_len = len;
            s->meta_off = off;
            want = vex_crc32c(h + off, (size_t)len);
            if (want != scrc)
                return seg_fail(err, VEX_CORRUPT, path, off,
                                "meta section checksum mismatch (stored "
                                "0x%08x, computed 0x%08x)",
                                scrc, want);
        } else {
            s->has_index = 1;
            s->idx_off = off;
            s->idx_len = len;
            s->idx_crc = scrc;
        }
    }
    for (a = 0; a < A_N; a++)
        if (!arr[a].seen)
            return seg_fail(err, VEX_CORRUPT, path, OFF_N_SECTIONS,
                            "no %s section", arr[a].name);
    if (prev_end != size)
        return seg_fail(err, VEX_CORRUPT, path, prev_end,
                        "%" PRIu64 " bytes after the last section",
                        size - prev_end);
    /* 8-byte aligned (invariant 3) and checked to be in the file */
    s->ids = (const uint64_t *)(const void *)(h + arr[A_IDS].off);
    s->row_keys = (const uint64_t *)(const void *)(h + arr[A_ROWKEYS].off);
    s->key_ids = (const uint64_t *)(const void *)(h + arr[A_KEYIDS].off);
    a = seg_check_keys(s, arr[A_IDS].off, arr[A_ROWKEYS].off, arr[A_KEYIDS].off,
                       err);
    if (a == VEX_OK && pay_len != UINT64_MAX)
        a = seg_check_payloads(s, pay_at, pay_len, "payload", VEX_MAX_PAYLOAD,
                               &s->pay_off, &s->pay_bytes, err);
    if (a == VEX_OK && (text_len == UINT64_MAX) != (post_len == UINT64_MAX))
        return seg_fail(err, VEX_CORRUPT, path, OFF_N_SECTIONS,
                        "a text section without postings or the reverse");
    if (a == VEX_OK && text_len != UINT64_MAX)
        a = seg_check_text(s, text_at, text_len, post_at, post_len, err);
    return a;
}

int vx_seg_open(vex_vfs *vfs, const char *path, uint64_t expect_number,
                const vex_mem *mem, vex_err *err, seg **out)
{
    vex_mem m;
    seg *s;
    int rc;

    if (out)
        *out = NULL;
    if (vfs == NULL || path == NULL || out == NULL)
        return vx_err_set(err, VEX_INVALID, "vx_seg_open: NULL argument");
    if (mem)
        m = *mem;
    else if (vx_mem_init(&m, NULL) != VEX_OK)
        return vx_err_set(err, VEX_INVALID, "vx_seg_open: bad allocator");
    s = vx_mem_calloc(&m, 1, sizeof *s);
    if (s == NULL)
        return vx_err_set(err, VEX_NOMEM, "%s: out of memory", path);
    s->mem = m;
    atomic_init(&s->idx_state, IDX_UNCHECKED);
    s->path = vx_vfs_strdup(&s->mem, path);
    if (s->path == NULL) {
        rc = vx_err_set(err, VEX_NOMEM, "%s: out of memory", path);
        goto cleanup;
    }
    if (pthread_mutex_init(&s->idx_mu, NULL) != 0) {
        rc = vx_err_set(err, VEX_NOMEM, "%s: mutex", path);
        goto cleanup;
    }
    s->mu_init = 1;
    rc = vex_vfs_open(vfs, path, VX_FILE_READONLY, &s->file, err);
    if (rc == VEX_OK)
        rc = seg_load(s, err);
    if (rc == VEX_OK)
        rc = seg_parse(s, expect_number, err);
cleanup:
    if (rc != VEX_OK) {
        vx_seg_close(s);
        s = NULL;
    }
    *out = s;
    return rc;
}

void vx_seg_get_info(const seg *s, seg_info *out)
{
    *out = s->info;
}

const uint64_t *vx_seg_ids(const seg *s)
{
    return s->ids;
}

const uint64_t *vx_seg_row_keys(const seg *s)
{
    return s->row_keys;
}

const uint64_t *vx_seg_key_ids(const seg *s)
{
    return s->key_ids;
}

int vx_seg_find(const seg *s, uint64_t id, uint64_t *key)
{
    uint64_t lo = 0, hi = s->info.n_rows;
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        uint64_t v = s->ids[mid];
        if (v == id) {
            if (key)
                *key = s->row_keys[mid];
            return 1;
        }
        if (v < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}

uint64_t vx_seg_key_id(const seg *s, uint64_t key)
{
    return key < s->info.n_keys ? s->key_ids[key] : 0;
}

int vx_seg_key_live(const seg *s, uint64_t key)
{
    return key < s->info.n_keys && bit_get(s->live, key);
}

const uint64_t *vx_seg_live_words(const seg *s)
{
    return s->live;
}

int vx_seg_index(seg *s, const void **blob, uint64_t *size, vex_err *err)
{
    int state;
    *blob = NULL;
    *size = 0;
    if (!s->has_index)
        return vx_err_set(err, VEX_NOTFOUND, "%s: no index section", s->path);
    state = atomic_load_explicit(&s->idx_state, memory_order_acquire);
    if (state == IDX_UNCHECKED) { /* invariant 5 */
        pthread_mutex_lock(&s->idx_mu);
        state = atomic_load_explicit(&s->idx_state, memory_order_relaxed);
        if (state == IDX_UNCHECKED) {
            uint32_t want =
                vex_crc32c(s->base + s->idx_off, (size_t)s->idx_len);
            state = IDX_OK;
            if (want != s->idx_crc) {
                s->idx_rc = VEX_CORRUPT;
                snprintf(s->idx_msg, sizeof s->idx_msg,
                         "%s: index section checksum mismatch (stored "
                         "0x%08x, computed 0x%08x) at offset %" PRIu64,
                         s->path, s->idx_crc, want, s->idx_off);
                state = IDX_BAD;
            }
            atomic_store_explicit(&s->idx_state, state, memory_order_release);
        }
        pthread_mutex_unlock(&s->idx_mu);
    }
    if (state == IDX_BAD)
        return vx_err_set(err, s->idx_rc, "%s", s->idx_msg);
    *blob = s->base + s->idx_off;
    *size = s->idx_len;
    return VEX_OK;
}

vex_file *vx_seg_file(const seg *s)
{
    return s->file;
}

uint32_t vx_seg_kind(const seg *s)
{
    return s->info.index_kind;
}

int vx_seg_check_index_crc(seg *s, vex_err *err)
{
    uint32_t want;
    int rc;
    if (!s->has_index)
        return VEX_OK;
    rc = seg_crc_back(s->file, s->idx_off, s->idx_len, &s->mem, &want, s->path,
                      err);
    if (rc != VEX_OK)
        return rc;
    if (want != s->idx_crc)
        return VX_CORRUPT(err,
                          "%s: index section checksum mismatch (stored "
                          "0x%08x, computed 0x%08x) at offset %" PRIu64,
                          s->path, s->idx_crc, want, s->idx_off);
    return VEX_OK;
}

void vx_seg_advise_cold(seg *s, const void *p, uint64_t len)
{
    const unsigned char *q = p;
    if (!s->mapped || q < s->base || len > s->len ||
        (uint64_t)(q - s->base) > s->len - len)
        return;
    vex_file_advise(s->file, p, (size_t)len, VEX_ADVICE_COLD);
}

const char *vx_seg_path(const seg *s)
{
    return s->path;
}

void vx_seg_close(seg *s)
{
    vex_mem mem;
    if (s == NULL)
        return;
    mem = s->mem;
    vx_post_close(s->post); /* points into the mapping */
    if (s->base && s->mapped)
        vex_file_munmap(s->file, s->base, s->len, NULL);
    else if (s->base)
        vx_mem_free_aligned(&mem, (void *)(uintptr_t)s->base);
    vex_file_close(s->file, NULL);
    if (s->mu_init)
        pthread_mutex_destroy(&s->idx_mu);
    vx_mem_free(&mem, s->live);
    vx_mem_free(&mem, s->path);
    vx_mem_free(&mem, s);
}

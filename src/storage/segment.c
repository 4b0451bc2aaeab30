/*
 * segment.c - write and open immutable segment files (interface and
 * contract in segment.h, every byte in docs/FORMAT.md "Segment file").
 * seg_write streams the id array and the index blob from the caller's
 * memory into a new file and writes the header last; seg_open maps the
 * file, checks everything except the INDEX section's checksum, and
 * serves ids, lookups and the blob from the mapping. Part of the storage
 * layer; every file access goes through the vfs.
 *
 * Invariants:
 *  1. Every byte of a segment file is either in the header (covered by
 *     the header CRC), in a section (covered by its own CRC) or zero
 *     padding that seg_open checks is zero; so any single damaged byte is
 *     found, by seg_open or, inside the INDEX section, by seg_index.
 *  2. Fields a reader of any version needs to tell "newer" from "damaged"
 *     never move: magic at 0, version at 8, header size at 12, header CRC
 *     in the header's last 4 bytes. seg_open checks the CRC before it
 *     looks at the version, so a flipped version byte is VEX_CORRUPT and
 *     only an intact newer header is VEX_UNSUPPORTED.
 *  3. Sections start on 4096-byte boundaries. A real mapping is
 *     page-aligned, so the INDEX pointer is 64-aligned for in-place use
 *     (vex_index_open_buffer) and the ids can be read as uint64_t. A vfs
 *     whose mapping is not 64-aligned gets a private aligned copy
 *     (seg_load), keeping the guarantee.
 *  4. seg_write validates its input before creating the file, writes
 *     the sections, then the header page, then syncs; any failure after
 *     the create closes and removes the file (best effort). It never
 *     removes a file it did not create (VEX_EXISTS leaves it alone). The
 *     directory entry is made durable by the manifest publish, not here:
 *     until then the file is an orphan the engine may delete.
 *  5. After seg_open the seg is read-only except for the INDEX check
 *     state, which moves UNCHECKED -> OK or UNCHECKED -> BAD exactly once
 *     under idx_mu and is published with a release store; readers that
 *     see OK or BAD with an acquire load need no lock (seg_index).
 *
 * Rejected: checking the INDEX CRC in seg_open (O(blob) at every database
 * open, which the design wants O(1)-ish per segment); a header page CRC
 * over all 4096 bytes instead of 512 plus a zero check (same protection,
 * but a longer header would make the "CRC last" rule of invariant 2 cover
 * bytes the fields do not use).
 */
#include "storage/segment.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "util/crc32c.h"
#include "util/endian.h"
#include "util/hex.h"

#define SEG_VERSION  1u
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
#define OFF_MIN_SEQ    48
#define OFF_MAX_SEQ    56
#define OFF_FILE_SIZE  64
#define OFF_N_SECTIONS 72
#define OFF_RESERVED1  76 /* 4 zero bytes */
#define OFF_TABLE      80 /* SEG_MAX_SECTIONS x 24 bytes */
#define SEC_ENTRY      24
#define OFF_RESERVED2  (OFF_TABLE + SEG_MAX_SECTIONS * SEC_ENTRY) /* 464 */
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
    const uint64_t *ids;
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
    return vex_vfs_fail(err, rc, "%s: %s at offset %" PRIu64, path, what, off);
}

static uint64_t align_up(uint64_t x)
{
    return (x + SEG_ALIGN - 1) / SEG_ALIGN * SEG_ALIGN;
}

/* ---- names --------------------------------------------------------------- */

int seg_file_name(char *buf, size_t n, uint64_t number)
{
    if (buf == NULL || n < SEG_NAME_LEN + 1) {
        if (buf && n)
            buf[0] = '\0';
        return VEX_INVALID;
    }
    snprintf(buf, n, "seg-%016llx.vseg", (unsigned long long)number);
    return VEX_OK;
}

int seg_parse_name(const char *name, uint64_t *number)
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

static void put_section(unsigned char *h, int i, uint32_t kind, uint32_t crc,
                        uint64_t off, uint64_t len)
{
    unsigned char *e = h + OFF_TABLE + SEC_ENTRY * i;
    vex_put_u32le(e, kind);
    vex_put_u32le(e + 4, crc);
    vex_put_u64le(e + 8, off);
    vex_put_u64le(e + 16, len);
}

int seg_write(vex_vfs *vfs, const char *path, const seg_write_info *wi,
              const vex_mem *mem, vex_err *err)
{
    unsigned char page[SEG_ALIGN];
    vex_file *f = NULL;
    uint64_t ids_len, idx_off = 0, total, i;
    uint32_t ids_crc = 0, idx_crc = 0;
    int has_index, rc;

    (void)mem; /* nothing is allocated: data goes from the caller to disk */
    if (vfs == NULL || path == NULL || wi == NULL)
        return vex_vfs_fail(err, VEX_INVALID, "seg_write: NULL argument");
    if (wi->n_rows > SEG_MAX_ROWS)
        return vex_vfs_fail(err, VEX_INVALID,
                            "%s: %" PRIu64 " rows, at most 2^40", path,
                            wi->n_rows);
    if (wi->n_rows > 0 && wi->ids == NULL)
        return vex_vfs_fail(err, VEX_INVALID,
                            "%s: NULL ids for %" PRIu64 " rows", path,
                            wi->n_rows);
    if (wi->index_blob == NULL && wi->blob_size != 0)
        return vex_vfs_fail(err, VEX_INVALID,
                            "%s: NULL index blob of %" PRIu64 " bytes", path,
                            wi->blob_size);
    for (i = 1; i < wi->n_rows; i++)
        if (wi->ids[i] <= wi->ids[i - 1])
            return vex_vfs_fail(err, VEX_INVALID,
                                "%s: ids not strictly ascending at row "
                                "%" PRIu64 " (%" PRIu64 " after %" PRIu64 ")",
                                path, i, wi->ids[i], wi->ids[i - 1]);
    if (!vex_host_is_le())
        return vex_vfs_fail(err, VEX_UNSUPPORTED,
                            "%s: segment arrays are little-endian and this "
                            "host is big-endian",
                            path);
    /* the layout: header page, ids, then the blob on the next boundary */
    ids_len = wi->n_rows * 8;
    has_index = wi->index_blob != NULL;
    total = SEG_ALIGN + ids_len;
    if (has_index) {
        idx_off = align_up(total);
        if (wi->blob_size > UINT64_MAX - idx_off)
            return vex_vfs_fail(err, VEX_INVALID,
                                "%s: index blob of %" PRIu64 " bytes too "
                                "large",
                                path, wi->blob_size);
        total = idx_off + wi->blob_size;
    }

    rc = vex_vfs_open(vfs, path,
                      VEX_OPEN_READWRITE | VEX_OPEN_CREATE | VEX_OPEN_EXCL, &f,
                      err);
    if (rc != VEX_OK)
        return rc; /* not ours to remove (invariant 4) */
    rc = write_chunks(f, (const unsigned char *)wi->ids, ids_len, SEG_ALIGN,
                      &ids_crc, err);
    if (rc == VEX_OK && has_index && idx_off > SEG_ALIGN + ids_len)
        rc = write_chunks(f, seg_zeros, idx_off - (SEG_ALIGN + ids_len),
                          SEG_ALIGN + ids_len, NULL, err);
    if (rc == VEX_OK && has_index)
        rc = write_chunks(f, wi->index_blob, wi->blob_size, idx_off, &idx_crc,
                          err);
    if (rc != VEX_OK)
        goto cleanup;

    memset(page, 0, sizeof page);
    memcpy(page + OFF_MAGIC, seg_magic, 8);
    vex_put_u32le(page + OFF_VERSION, SEG_VERSION);
    vex_put_u32le(page + OFF_HDR_SIZE, SEG_HDR_SIZE);
    vex_put_u64le(page + OFF_NUMBER, wi->number);
    vex_put_u32le(page + OFF_DIM, wi->dim);
    vex_put_u32le(page + OFF_ELEM, wi->elem);
    vex_put_u32le(page + OFF_METRIC, wi->metric);
    vex_put_u32le(page + OFF_INDEX_KIND, wi->index_kind);
    vex_put_u64le(page + OFF_N_ROWS, wi->n_rows);
    vex_put_u64le(page + OFF_MIN_SEQ, wi->min_seq);
    vex_put_u64le(page + OFF_MAX_SEQ, wi->max_seq);
    vex_put_u64le(page + OFF_FILE_SIZE, total);
    vex_put_u32le(page + OFF_N_SECTIONS, has_index ? 2 : 1);
    put_section(page, 0, SEG_SEC_IDS, ids_crc, SEG_ALIGN, ids_len);
    if (has_index)
        put_section(page, 1, SEG_SEC_INDEX, idx_crc, idx_off, wi->blob_size);
    vex_put_u32le(page + OFF_CRC, vex_crc32c(page, OFF_CRC));
    rc = vex_file_write(f, page, sizeof page, 0, err);
    if (rc == VEX_OK)
        rc = vex_file_sync(f, VEX_SYNC_FULL, err);
cleanup:
    if (rc == VEX_OK) {
        /* the handle's path is gone once close fails: name the file here */
        vex_err cerr;
        char msg[VEX_ERRMSG_MAX];
        vex_err_init(&cerr);
        rc = vex_file_close(f, &cerr);
        if (rc != VEX_OK) {
            vex_err_copy(&cerr, msg, sizeof msg);
            seg_fail(err, rc, path, total, "close failed (%s)", msg);
        }
        vex_err_destroy(&cerr);
    } else {
        vex_file_close(f, NULL);
    }
    if (rc != VEX_OK)
        vex_vfs_remove(vfs, path, NULL); /* best effort (invariant 4) */
    return rc;
}

/* ---- the reader --------------------------------------------------------- */

/* Offset of the first non-zero byte in p[from, to), or `to`. */
static uint64_t first_nonzero(const unsigned char *p, uint64_t from,
                              uint64_t to)
{
    while (from < to && p[from] == 0)
        from++;
    return from;
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
    copy = vex_mem_alloc_aligned(&s->mem, len, 64);
    if (copy == NULL)
        return vex_vfs_fail(err, VEX_NOMEM, "%s: out of memory (%zu bytes)",
                            s->path, len);
    rc = vex_file_read_exact(s->file, copy, len, 0, err);
    if (rc != VEX_OK) {
        vex_mem_free_aligned(&s->mem, copy);
        return rc;
    }
    s->base = copy;
    s->len = len;
    s->mapped = 0;
    return VEX_OK;
}

/* Check the header and the section table; fill s->info and the section
 * fields. */
static int seg_parse(seg *s, uint64_t expect, vex_err *err)
{
    const unsigned char *h = s->base;
    const char *path = s->path;
    uint64_t size = s->len, prev_end = SEG_HDR_SIZE, z, total;
    uint32_t hsize, version, crc, want, n_sec, i;
    int have_ids = 0;

    if (size < SEG_ALIGN)
        return seg_fail(err, VEX_CORRUPT, path, size,
                        "file is %" PRIu64 " bytes, shorter than the %u-byte "
                        "header page: truncated",
                        size, SEG_ALIGN);
    if (memcmp(h + OFF_MAGIC, seg_magic, 8) != 0)
        return seg_fail(err, VEX_CORRUPT, path, 0,
                        "bad magic (not a segment file)");
    /* invariant 2: the checksum first, then the version */
    hsize = vex_get_u32le(h + OFF_HDR_SIZE);
    if (hsize < 64 || hsize > SEG_ALIGN || hsize % 4 != 0)
        return seg_fail(err, VEX_CORRUPT, path, OFF_HDR_SIZE,
                        "bad header size %u", hsize);
    crc = vex_get_u32le(h + hsize - 4);
    want = vex_crc32c(h, hsize - 4);
    if (crc != want)
        return seg_fail(err, VEX_CORRUPT, path, hsize - 4,
                        "header checksum mismatch (stored 0x%08x, computed "
                        "0x%08x)",
                        crc, want);
    version = vex_get_u32le(h + OFF_VERSION);
    if (version > SEG_VERSION)
        return seg_fail(err, VEX_UNSUPPORTED, path, OFF_VERSION,
                        "format version %u is newer than %u", version,
                        SEG_VERSION);
    if (version != SEG_VERSION)
        return seg_fail(err, VEX_CORRUPT, path, OFF_VERSION,
                        "bad format version %u", version);
    if (hsize != SEG_HDR_SIZE)
        return seg_fail(err, VEX_CORRUPT, path, OFF_HDR_SIZE,
                        "header size %u, expected %u", hsize, SEG_HDR_SIZE);
    if (!vex_host_is_le())
        return seg_fail(err, VEX_UNSUPPORTED, path, 0,
                        "sections are little-endian and this host is "
                        "big-endian");
    s->info.number = vex_get_u64le(h + OFF_NUMBER);
    s->info.dim = vex_get_u32le(h + OFF_DIM);
    s->info.elem = vex_get_u32le(h + OFF_ELEM);
    s->info.metric = vex_get_u32le(h + OFF_METRIC);
    s->info.index_kind = vex_get_u32le(h + OFF_INDEX_KIND);
    s->info.n_rows = vex_get_u64le(h + OFF_N_ROWS);
    s->info.min_seq = vex_get_u64le(h + OFF_MIN_SEQ);
    s->info.max_seq = vex_get_u64le(h + OFF_MAX_SEQ);
    s->info.file_size = size;
    total = vex_get_u64le(h + OFF_FILE_SIZE);
    n_sec = vex_get_u32le(h + OFF_N_SECTIONS);
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
    if (s->info.n_rows > SEG_MAX_ROWS)
        return seg_fail(err, VEX_CORRUPT, path, OFF_N_ROWS,
                        "%" PRIu64 " rows, more than 2^40", s->info.n_rows);
    if (n_sec > SEG_MAX_SECTIONS)
        return seg_fail(err, VEX_CORRUPT, path, OFF_N_SECTIONS,
                        "%u sections, at most %d", n_sec, SEG_MAX_SECTIONS);
    /* reserved bytes and unused table entries are zero */
    z = first_nonzero(h, OFF_RESERVED1, OFF_RESERVED1 + 4);
    if (z == OFF_RESERVED1 + 4)
        z = first_nonzero(h, OFF_TABLE + (uint64_t)SEC_ENTRY * n_sec, OFF_CRC);
    if (z != OFF_CRC)
        return seg_fail(err, VEX_CORRUPT, path, z,
                        "non-zero reserved header byte");
    for (i = 0; i < n_sec; i++) {
        const unsigned char *e = h + OFF_TABLE + SEC_ENTRY * i;
        uint64_t eoff = OFF_TABLE + (uint64_t)SEC_ENTRY * i;
        uint32_t kind = vex_get_u32le(e), scrc = vex_get_u32le(e + 4);
        uint64_t off = vex_get_u64le(e + 8), len = vex_get_u64le(e + 16);
        if (kind != SEG_SEC_IDS && kind != SEG_SEC_INDEX)
            return seg_fail(err, VEX_UNSUPPORTED, path, eoff,
                            "section %u has unknown kind %u", i, kind);
        if ((kind == SEG_SEC_IDS && have_ids) ||
            (kind == SEG_SEC_INDEX && s->has_index))
            return seg_fail(err, VEX_CORRUPT, path, eoff,
                            "section %u repeats kind %u", i, kind);
        if (off % SEG_ALIGN != 0 || off < prev_end || off > size ||
            len > size - off)
            return seg_fail(err, VEX_CORRUPT, path, eoff,
                            "section %u (kind %u): offset %" PRIu64
                            " length %" PRIu64 " is misaligned, overlapping "
                            "or past the end (%" PRIu64 " bytes)",
                            i, kind, off, len, size);
        z = first_nonzero(h, prev_end, off);
        if (z != off)
            return seg_fail(err, VEX_CORRUPT, path, z,
                            "non-zero padding byte before section %u", i);
        prev_end = off + len;
        if (kind == SEG_SEC_IDS) {
            uint64_t k, n = s->info.n_rows;
            const uint64_t *ids = (const uint64_t *)(const void *)(h + off);
            have_ids = 1;
            if (len != n * 8)
                return seg_fail(err, VEX_CORRUPT, path, eoff + 16,
                                "ids section of %" PRIu64 " bytes for "
                                "%" PRIu64 " rows",
                                len, n);
            want = vex_crc32c(h + off, (size_t)len);
            if (want != scrc)
                return seg_fail(err, VEX_CORRUPT, path, off,
                                "ids section checksum mismatch (stored "
                                "0x%08x, computed 0x%08x)",
                                scrc, want);
            for (k = 1; k < n; k++)
                if (ids[k] <= ids[k - 1])
                    return seg_fail(err, VEX_CORRUPT, path, off + 8 * k,
                                    "ids section: id %" PRIu64
                                    " not above the previous one (%" PRIu64 ")",
                                    ids[k], ids[k - 1]);
            s->ids = ids;
        } else {
            s->has_index = 1;
            s->idx_off = off;
            s->idx_len = len;
            s->idx_crc = scrc;
        }
    }
    if (!have_ids)
        return seg_fail(err, VEX_CORRUPT, path, OFF_N_SECTIONS,
                        "no ids section");
    if (prev_end != size)
        return seg_fail(err, VEX_CORRUPT, path, prev_end,
                        "%" PRIu64 " bytes after the last section",
                        size - prev_end);
    return VEX_OK;
}

int seg_open(vex_vfs *vfs, const char *path, uint64_t expect_number,
             const vex_mem *mem, vex_err *err, seg **out)
{
    vex_mem m;
    seg *s;
    int rc;

    if (out)
        *out = NULL;
    if (vfs == NULL || path == NULL || out == NULL)
        return vex_vfs_fail(err, VEX_INVALID, "seg_open: NULL argument");
    if (mem)
        m = *mem;
    else if (vex_mem_init(&m, NULL) != VEX_OK)
        return vex_vfs_fail(err, VEX_INVALID, "seg_open: bad allocator");
    s = vex_mem_calloc(&m, 1, sizeof *s);
    if (s == NULL)
        return vex_vfs_fail(err, VEX_NOMEM, "%s: out of memory", path);
    s->mem = m;
    atomic_init(&s->idx_state, IDX_UNCHECKED);
    s->path = vex_vfs_strdup(&s->mem, path);
    if (s->path == NULL) {
        rc = vex_vfs_fail(err, VEX_NOMEM, "%s: out of memory", path);
        goto cleanup;
    }
    if (pthread_mutex_init(&s->idx_mu, NULL) != 0) {
        rc = vex_vfs_fail(err, VEX_NOMEM, "%s: mutex", path);
        goto cleanup;
    }
    s->mu_init = 1;
    rc = vex_vfs_open(vfs, path, VEX_OPEN_READONLY, &s->file, err);
    if (rc == VEX_OK)
        rc = seg_load(s, err);
    if (rc == VEX_OK)
        rc = seg_parse(s, expect_number, err);
cleanup:
    if (rc != VEX_OK) {
        seg_close(s);
        s = NULL;
    }
    *out = s;
    return rc;
}

void seg_get_info(const seg *s, seg_info *out)
{
    *out = s->info;
}

const uint64_t *seg_ids(const seg *s)
{
    return s->ids;
}

int seg_find(const seg *s, uint64_t id, uint64_t *row)
{
    uint64_t lo = 0, hi = s->info.n_rows;
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        uint64_t v = s->ids[mid];
        if (v == id) {
            if (row)
                *row = mid;
            return 1;
        }
        if (v < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}

int seg_index(seg *s, const void **blob, uint64_t *size, vex_err *err)
{
    int state;
    *blob = NULL;
    *size = 0;
    if (!s->has_index)
        return vex_vfs_fail(err, VEX_NOTFOUND, "%s: no index section", s->path);
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
        return vex_vfs_fail(err, s->idx_rc, "%s", s->idx_msg);
    *blob = s->base + s->idx_off;
    *size = s->idx_len;
    return VEX_OK;
}

const char *seg_path(const seg *s)
{
    return s->path;
}

void seg_close(seg *s)
{
    vex_mem mem;
    if (s == NULL)
        return;
    mem = s->mem;
    if (s->base && s->mapped)
        vex_file_munmap(s->file, s->base, s->len, NULL);
    else if (s->base)
        vex_mem_free_aligned(&mem, (void *)(uintptr_t)s->base);
    vex_file_close(s->file, NULL);
    if (s->mu_init)
        pthread_mutex_destroy(&s->idx_mu);
    vex_mem_free(&mem, s->path);
    vex_mem_free(&mem, s);
}

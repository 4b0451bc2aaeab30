/* SPDX-License-Identifier: Apache-2.0 */
/*
 * manifest.c - the collection manifest (interface and contract in
 * manifest.h, bytes in docs/FORMAT.md "Collection manifest"): an encoder
 * and a hostile-input decoder for the snapshot files MANIFEST-<n>, and the
 * publish/load protocol around the file CURRENT that makes one snapshot
 * the collection's durable state. Part of the storage layer; every file
 * operation goes through the vfs.
 *
 * Invariants (what is durable when, what load guarantees):
 *  1. A MANIFEST file is written once, under a fresh number (created with
 *     VX_FILE_EXCL), and never modified: vx_manifest_publish never rewrites
 *     a file it did not create, and removes (best effort) only the one it
 *     created when it fails before the rename.
 *  2. CURRENT never durably names a manifest whose bytes or name are not
 *     durable: publish fsyncs MANIFEST-<n> (step 1), fsyncs CURRENT.tmp
 *     (step 2) and fsyncs the directory (step 3) before the rename
 *     (step 4). So after any crash, CURRENT names a complete manifest.
 *  3. CURRENT changes only by the atomic rename of a complete, synced
 *     CURRENT.tmp: at every moment, and after a crash, it holds either the
 *     old or the new name, never a mix (vfs rename contract; vfs_crash.c
 *     rule 6). CURRENT carries its own CRC, so a file damaged some other
 *     way is detected, not misread.
 *  4. The publish is acknowledged (VEX_OK) only after the directory fsync
 *     that follows the rename (step 5): an acknowledged manifest stays
 *     current across a crash until a later publish replaces it.
 *  5. A failure before the rename leaves the old CURRENT untouched
 *     (ambiguous = 0). A failure at or after the rename is ambiguous: the
 *     rename may or may not have happened, or may be undone by a crash;
 *     the caller must stop writing (sticky error, as in wal.c rule 7) and
 *     reload to learn which manifest won.
 *  6. Load trusts nothing: CURRENT's CRC and format, the manifest's length
 *     field, trailing CRC, every field's range and every cross-field rule
 *     are checked, and the manifest's own number must equal the number in
 *     its name. Any failure is VEX_CORRUPT; there is no fallback to an
 *     older manifest (manifest.h says why).
 *
 * States of one publish: ENCODED -> MANIFEST_WRITTEN (step 1) ->
 * CURRENT_TMP_WRITTEN (step 2) -> NAMES_DURABLE (step 3) -> RENAMED
 * (step 4, from here failures are ambiguous) -> DURABLE (step 5, VEX_OK).
 * All in vx_manifest_publish; a failure in the first four states goes to
 * man_publish_undo.
 */
#include "storage/manifest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/crc32c.h"
#include "util/endian.h"
#include "util/hex.h"
#include "util/rd.h"

#define MAN_VERSION                                                            \
    5u /* 2 adds the schema blob, 3 the history block, 4 the compression       \
          field, 5 the extension block; 1..4 are still read */
#define MAN_EXT_DANN      1u   /* extension entry: DiskANN settings */
#define MAN_EXT_DANN_SIZE 24u  /* its payload */
#define MAN_EXT_TEXT      2u   /* extension entry: the records' text field */
#define MAN_EXT_TEXT_SIZE 8u   /* its payload */
#define MAN_HIST_SIZE     16u  /* format 3: as_of_seq, publish_unix */
#define MAN_HDR_SIZE      64u  /* header */
#define MAN_CFG_SIZE      128u /* configuration, after the header */
#define MAN_SEG_SIZE      48u  /* one segment table entry */
#define MAN_FIXED         (MAN_HDR_SIZE + MAN_CFG_SIZE) /* segment table start */
#define MAN_MIN_SIZE      (MAN_FIXED + 4u)              /* no segments + CRC */
#define MAN_PATH_MAX      4096u
#define CUR_SIZE          35u /* "MANIFEST-<16 hex> <8 hex>\n" */
#define CUR_NAME_LEN      25u
#define HNSW_MAX_M        256u

static const unsigned char man_magic[8] = {'V', 'E', 'X', 'M',
                                           'A', 'N', 'I', 'F'};

/* ---- names -------------------------------------------------------------- */

int vx_manifest_file_name(char *buf, size_t n, uint64_t number)
{
    if (buf == NULL || n < MAN_FILE_NAME_SIZE) {
        if (buf && n)
            buf[0] = '\0';
        return VEX_INVALID;
    }
    snprintf(buf, n, "MANIFEST-%016llx", (unsigned long long)number);
    return VEX_OK;
}

/* Parse 16 lowercase hex digits at p. */

int vx_manifest_parse_name(const char *name, uint64_t *number)
{
    uint64_t v;
    if (name == NULL || strlen(name) != MAN_FILE_NAME_SIZE - 1 ||
        memcmp(name, "MANIFEST-", 9) != 0 || !vex_parse_hex(name + 9, 16, &v))
        return 0;
    if (number)
        *number = v;
    return 1;
}

static int man_join(char *out, const char *dir, const char *name, vex_err *err)
{
    int n = snprintf(out, MAN_PATH_MAX, "%s/%s", dir, name);
    if (n < 0 || (size_t)n >= MAN_PATH_MAX)
        return vx_err_set(err, VEX_INVALID, "%s: path too long", dir);
    return VEX_OK;
}

/* ---- validation shared by encode and decode ---------------------------- */

/* The DiskANN settings (the extension entry's fields; *off is the offset
 * inside the entry's payload). */
static const char *man_dann_problem(const man_config *c, unsigned *off)
{
    uint32_t bits;
    memcpy(&bits, &c->dann_alpha, sizeof bits);
    *off = 0;
    if (c->dann_min_rows == 0)
        return c->dann_r || c->dann_l || c->dann_pq_m || bits
                   ? "DiskANN settings without diskann_min_rows"
                   : NULL;
    if (c->elem != VEX_ELEM_F32 ||
        (c->metric != VEX_METRIC_L2 && c->metric != VEX_METRIC_COSINE))
        return "DiskANN segments for a metric other than l2 and cosine";
    *off = 8;
    if (c->dann_r < 4 || c->dann_r > 256)
        return "diskann_r not 4..256";
    *off = 12;
    if (c->dann_l < c->dann_r || c->dann_l > 4096)
        return "diskann_l not diskann_r..4096";
    *off = 16;
    if (!(c->dann_alpha >= 1.0f && c->dann_alpha <= 2.0f))
        return "diskann_alpha not 1..2";
    *off = 20;
    if (c->dann_pq_m < 1 || c->dann_pq_m > c->dim)
        return "diskann_pq_m not 1..dim";
    return NULL;
}

/* NULL when the configuration is valid, else the reason. `*off` gets the
 * offset of the field inside the configuration section. */
static const char *man_config_problem(const man_config *c, unsigned *off)
{
    size_t i, n = strnlen(c->name, MAN_NAME_MAX + 1);
    *off = 0;
    if (n == 0)
        return "empty collection name";
    if (n > MAN_NAME_MAX)
        return "collection name longer than 64 bytes";
    if (c->name[0] == '.')
        return "collection name starts with '.'";
    for (i = 0; i < n; i++) {
        char ch = c->name[i];
        if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
              (ch >= '0' && ch <= '9') || ch == '_' || ch == '.' ||
              ch == '-')) {
            *off = (unsigned)i;
            return "collection name has a character outside [A-Za-z0-9_.-]";
        }
    }
    *off = 64;
    if (c->dim < 1 || c->dim > VEX_MAX_DIM)
        return "dimension not in 1..65536";
    *off = 68;
    if (c->elem != VEX_ELEM_F32 && c->elem != VEX_ELEM_BIT)
        return "unknown element type";
    *off = 72;
    if (c->metric < VEX_METRIC_L2 || c->metric > VEX_METRIC_JACCARD)
        return "unknown metric";
    if ((c->elem == VEX_ELEM_F32) != (c->metric <= VEX_METRIC_COSINE))
        return "metric does not suit the element type";
    *off = 76;
    if (c->index_kind == VEX_INDEX_FLAT) {
        if (c->hnsw_m || c->hnsw_ef_construction || c->hnsw_ef_search ||
            c->hnsw_seed)
            return "HNSW parameters set for a flat index";
    } else if (c->index_kind == VEX_INDEX_HNSW) {
        *off = 80;
        if (c->hnsw_m == 1 || c->hnsw_m > HNSW_MAX_M)
            return "hnsw_m not 0 or 2..256";
        *off = 84;
        if (c->hnsw_ef_construction > VEX_MAX_K)
            return "hnsw_ef_construction above 100000";
        *off = 88;
        if (c->hnsw_ef_search > VEX_MAX_K)
            return "hnsw_ef_search above 100000";
    } else {
        return "unknown index kind";
    }
    *off = 112;
    if (c->quant > VEX_QUANT_OPQ)
        return "unknown quantizer";
    if (c->quant && c->elem != VEX_ELEM_F32)
        return "a quantizer for non-float32 vectors";
    *off = 116;
    if (c->quant == VEX_QUANT_PQ || c->quant == VEX_QUANT_OPQ) {
        if (c->quant_m < 1 || c->quant_m > c->dim ||
            (c->quant_bits == 4 && c->quant_m > 256))
            return "quant_m not 1..dim (at most 256 with 4-bit codes)";
        *off = 120;
        if (c->quant_bits != 4 && c->quant_bits != 8)
            return "quant_bits not 4 or 8";
    } else if (c->quant_m || c->quant_bits) {
        return "quant_m or quant_bits set without PQ/OPQ";
    }
    *off = 124;
    {
        /* without a quantizer the field is +0.0, bit for bit: -0.0 equals
         * 0 as a float but would not be written back the same (the format
         * is canonical; fuzz_manifest found it) */
        uint32_t bits;
        memcpy(&bits, &c->quant_refine, sizeof bits);
        if (c->quant ? !(c->quant_refine >= 1.0f && c->quant_refine <= 1000.0f)
                     : bits != 0)
            return "quant_refine not 1..1000 with a quantizer, 0 without";
    }
    return NULL;
}

/* NULL when the segment's table entry is valid for manifest `m` (deleted
 * ids not looked at), else the reason; *field is the offset of the field
 * inside the entry. */
static const char *man_seg_problem(const manifest *m, const man_segment *s,
                                   unsigned *field)
{
    *field = 0;
    if (s->number >= m->next_file)
        return "segment number not below next_file";
    if (s->number == m->number)
        return "segment number equals the manifest number";
    *field = 40;
    if (s->n_deleted > s->n_rows)
        return "more deleted ids than rows";
    *field = 24;
    if (s->min_seq > s->max_seq)
        return "min_seq above max_seq";
    *field = 32;
    if (s->max_seq > m->flushed_seq)
        return "max_seq above flushed_seq";
    return NULL;
}

static int manifest_cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Duplicate segment numbers: VEX_OK with *dup_idx = n when none, else the
 * index of a segment whose number occurs twice. VEX_NOMEM. */
static int man_find_dup(const man_segment *segs, uint32_t n, const vex_mem *mem,
                        uint32_t *dup_idx)
{
    uint64_t *v, dup = 0;
    uint32_t i;
    int found = 0;
    *dup_idx = n;
    if (n < 2)
        return VEX_OK;
    v = vx_mem_alloc(mem, (size_t)n * sizeof *v);
    if (v == NULL)
        return VEX_NOMEM;
    for (i = 0; i < n; i++)
        v[i] = segs[i].number;
    qsort(v, n, sizeof *v, manifest_cmp_u64);
    for (i = 1; i < n && !found; i++)
        if (v[i] == v[i - 1]) {
            dup = v[i];
            found = 1;
        }
    vx_mem_free(mem, v);
    if (found)
        for (i = n; i-- > 0;) /* the later of the two */
            if (segs[i].number == dup) {
                *dup_idx = i;
                break;
            }
    return VEX_OK;
}

/* ---- encoding ------------------------------------------------------------ */

int vx_manifest_encode(const manifest *m, const vex_mem *mem, vex_err *err,
                       unsigned char **buf, size_t *len)
{
    const char *why;
    unsigned char *b = NULL, *p;
    uint64_t total_del = 0, size;
    unsigned off;
    uint32_t i, dup, hist, ext;
    int rc;

    if (buf)
        *buf = NULL;
    if (len)
        *len = 0;
    if (m == NULL || mem == NULL || buf == NULL || len == NULL)
        return vx_err_set(err, VEX_INVALID,
                          "vx_manifest_encode: NULL argument");
    why = man_config_problem(&m->config, &off);
    if (why == NULL)
        why = man_dann_problem(&m->config, &off);
    if (why)
        return vx_err_set(err, VEX_INVALID, "vx_manifest_encode: %s", why);
    if (m->number >= m->next_file)
        return vx_err_set(err, VEX_INVALID,
                          "vx_manifest_encode: number %llu not below next_file "
                          "%llu",
                          (unsigned long long)m->number,
                          (unsigned long long)m->next_file);
    if (m->n_segments > MAN_MAX_SEGMENTS)
        return vx_err_set(err, VEX_INVALID,
                          "vx_manifest_encode: %u segments, at most %u",
                          m->n_segments, MAN_MAX_SEGMENTS);
    if (m->n_segments && m->segs == NULL)
        return vx_err_set(err, VEX_INVALID,
                          "vx_manifest_encode: segs is NULL for %u segments",
                          m->n_segments);
    for (i = 0; i < m->n_segments; i++) {
        const man_segment *s = &m->segs[i];
        uint64_t k;
        why = man_seg_problem(m, s, &off);
        if (why)
            return vx_err_set(
                err, VEX_INVALID,
                "vx_manifest_encode: segment %u (number %llu): %s", i,
                (unsigned long long)s->number, why);
        if (s->n_deleted && s->deleted == NULL)
            return vx_err_set(err, VEX_INVALID,
                              "vx_manifest_encode: segment %u: deleted is NULL "
                              "for %llu ids",
                              i, (unsigned long long)s->n_deleted);
        for (k = 1; k < s->n_deleted; k++)
            if (s->deleted[k] <= s->deleted[k - 1])
                return vx_err_set(err, VEX_INVALID,
                                  "vx_manifest_encode: segment %u: deleted ids "
                                  "not strictly ascending at index %llu",
                                  i, (unsigned long long)k);
        if (s->n_deleted > (SIZE_MAX - MAN_MIN_SIZE) / 16 - total_del)
            return vx_err_set(err, VEX_NOMEM,
                              "vx_manifest_encode: too many deleted ids");
        total_del += s->n_deleted; /* the size below cannot overflow */
    }
    rc = man_find_dup(m->segs, m->n_segments, mem, &dup);
    if (rc != VEX_OK)
        return vx_err_set(err, rc, "vx_manifest_encode: out of memory");
    if (dup < m->n_segments)
        return vx_err_set(err, VEX_INVALID,
                          "vx_manifest_encode: segment %u: number %llu used "
                          "twice",
                          dup, (unsigned long long)m->segs[dup].number);

    if (m->config.compression > MAN_COMPRESS_MAX)
        return vx_err_set(err, VEX_INVALID,
                          "vx_manifest_encode: unknown compression %u",
                          m->config.compression);
    if (m->config.text > 1 || m->config.text_stemmer > 1 ||
        m->config.text_stopwords > 1 ||
        (!m->config.text &&
         (m->config.text_stemmer || m->config.text_stopwords)))
        return vx_err_set(err, VEX_INVALID,
                          "vx_manifest_encode: text field %u, stemmer %u, "
                          "stop words %u",
                          m->config.text, m->config.text_stemmer,
                          m->config.text_stopwords);
    if (m->config.compression && !m->as_of_seq && !m->publish_unix)
        return vx_err_set(err, VEX_INVALID,
                          "vx_manifest_encode: a compressed collection's "
                          "manifest (format 4) needs the history block");
    ext = (m->config.dann_min_rows ? 8 + MAN_EXT_DANN_SIZE : 0) +
          (m->config.text ? 8 + MAN_EXT_TEXT_SIZE : 0);
    if (ext && !m->as_of_seq && !m->publish_unix)
        return vx_err_set(err, VEX_INVALID,
                          "vx_manifest_encode: a manifest with an extension "
                          "block (format 5) needs the history block");
    if ((m->as_of_seq || m->publish_unix) && m->as_of_seq < m->flushed_seq)
        return vx_err_set(err, VEX_INVALID,
                          "vx_manifest_encode: as_of_seq %llu below "
                          "flushed_seq %llu",
                          (unsigned long long)m->as_of_seq,
                          (unsigned long long)m->flushed_seq);
    hist = m->as_of_seq || m->publish_unix ? MAN_HIST_SIZE : 0;
    if (m->schema_len > MAN_MAX_SCHEMA || (m->schema_len && !m->schema))
        return vx_err_set(err, VEX_INVALID,
                          "vx_manifest_encode: schema of %u bytes (at most %u, "
                          "non-NULL)",
                          m->schema_len, MAN_MAX_SCHEMA);
    size = (uint64_t)MAN_MIN_SIZE + (uint64_t)MAN_SEG_SIZE * m->n_segments +
           8 * total_del + m->schema_len + hist + ext;
    b = vx_mem_calloc(mem, 1, (size_t)size);
    if (b == NULL)
        return vx_err_set(err, VEX_NOMEM,
                          "vx_manifest_encode: out of memory (%llu bytes)",
                          (unsigned long long)size);
    /* header */
    memcpy(b, man_magic, 8);
    /* the oldest format that holds the content */
    vex_put_u32le(b + 8, ext                     ? 5u
                         : m->config.compression ? 4u
                         : hist                  ? 3u
                         : m->schema_len         ? 2u
                                                 : 1u);
    vex_put_u32le(b + 12, ext); /* format 5; else 0 */
    vex_put_u64le(b + 16, size);
    vex_put_u64le(b + 24, m->number);
    vex_put_u64le(b + 32, m->next_file);
    vex_put_u64le(b + 40, m->flushed_seq);
    vex_put_u32le(b + 48, m->n_segments);
    vex_put_u32le(b + 52, m->config.compression); /* format 4, 5; else 0 */
    vex_put_u64le(b + 56, total_del);
    /* configuration (reserved bytes stay zero from calloc) */
    p = b + MAN_HDR_SIZE;
    memcpy(p, m->config.name, strlen(m->config.name));
    vex_put_u32le(p + 64, m->config.dim);
    vex_put_u32le(p + 68, m->config.elem);
    vex_put_u32le(p + 72, m->config.metric);
    vex_put_u32le(p + 76, m->config.index_kind);
    vex_put_u32le(p + 80, m->config.hnsw_m);
    vex_put_u32le(p + 84, m->config.hnsw_ef_construction);
    vex_put_u32le(p + 88, m->config.hnsw_ef_search);
    vex_put_u64le(p + 96, m->config.hnsw_seed);
    vex_put_u64le(p + 104, m->config.created_unix);
    if (m->config.quant) { /* zero without: the bytes of a manifest written
                              before quantization existed */
        uint32_t r;
        memcpy(&r, &m->config.quant_refine, 4);
        vex_put_u32le(p + 112, m->config.quant);
        vex_put_u32le(p + 116, m->config.quant_m);
        vex_put_u32le(p + 120, m->config.quant_bits);
        vex_put_u32le(p + 124, r);
    }
    vex_put_u32le(p + 92, m->schema_len);
    /* segment table, then every segment's deleted ids */
    p = b + MAN_FIXED;
    for (i = 0; i < m->n_segments; i++, p += MAN_SEG_SIZE) {
        const man_segment *s = &m->segs[i];
        vex_put_u64le(p, s->number);
        vex_put_u64le(p + 8, s->n_rows);
        vex_put_u64le(p + 16, s->file_size);
        vex_put_u64le(p + 24, s->min_seq);
        vex_put_u64le(p + 32, s->max_seq);
        vex_put_u64le(p + 40, s->n_deleted);
    }
    for (i = 0; i < m->n_segments; i++) {
        uint64_t k;
        for (k = 0; k < m->segs[i].n_deleted; k++, p += 8)
            vex_put_u64le(p, m->segs[i].deleted[k]);
    }
    if (m->schema_len) {
        memcpy(p, m->schema, m->schema_len);
        p += m->schema_len;
    }
    if (hist) {
        vex_put_u64le(p, m->as_of_seq);
        vex_put_u64le(p + 8, m->publish_unix);
        p += MAN_HIST_SIZE;
    }
    /* the extension block: its entries in ascending kind */
    if (m->config.dann_min_rows) {
        uint32_t a;
        memcpy(&a, &m->config.dann_alpha, 4);
        vex_put_u32le(p, MAN_EXT_DANN);
        vex_put_u32le(p + 4, MAN_EXT_DANN_SIZE);
        vex_put_u64le(p + 8, m->config.dann_min_rows);
        vex_put_u32le(p + 16, m->config.dann_r);
        vex_put_u32le(p + 20, m->config.dann_l);
        vex_put_u32le(p + 24, a);
        vex_put_u32le(p + 28, m->config.dann_pq_m);
        p += 8 + MAN_EXT_DANN_SIZE;
    }
    if (m->config.text) {
        vex_put_u32le(p, MAN_EXT_TEXT);
        vex_put_u32le(p + 4, MAN_EXT_TEXT_SIZE);
        vex_put_u32le(p + 8, m->config.text_stemmer);
        vex_put_u32le(p + 12, m->config.text_stopwords);
        p += 8 + MAN_EXT_TEXT_SIZE;
    }
    vex_put_u32le(p, vex_crc32c(b, (size_t)size - 4));
    *buf = b;
    *len = (size_t)size;
    return VEX_OK;
}

/* ---- decoding ------------------------------------------------------------ */

void vx_manifest_free(manifest *m, const vex_mem *mem)
{
    uint32_t i;
    if (m == NULL)
        return;
    if (m->segs)
        for (i = 0; i < m->n_segments; i++)
            vx_mem_free(mem, m->segs[i].deleted);
    vx_mem_free(mem, m->segs);
    vx_mem_free(mem, m->schema);
    memset(m, 0, sizeof *m);
}

#define BAD(off, ...)                                                          \
    do {                                                                       \
        char what_[256];                                                       \
        snprintf(what_, sizeof what_, __VA_ARGS__);                            \
        rc = VX_CORRUPT(err, "%s: %s at offset %llu", fname, what_,            \
                        (unsigned long long)(off));                            \
        goto cleanup;                                                          \
    } while (0)

int vx_manifest_decode(const unsigned char *buf, size_t len, const char *fname,
                       const vex_mem *mem, vex_err *err, manifest *out)
{
    manifest m;
    const unsigned char *name;
    uint64_t size, total_del, sum_del = 0, ids_off;
    uint32_t version, res12, res52, i, dup, hist, ext, last_kind;
    const char *why;
    unsigned off;
    vx_rd in, cfg;
    int rc = VEX_OK;

    memset(&m, 0, sizeof m);
    if (out)
        memset(out, 0, sizeof *out);
    if (fname == NULL)
        fname = "manifest";
    if ((buf == NULL && len) || mem == NULL || out == NULL)
        return vx_err_set(err, VEX_INVALID,
                          "vx_manifest_decode: NULL argument");
    /* the frozen part: magic, length field, trailing CRC (FORMAT.md) */
    if (len >= 8 && memcmp(buf, man_magic, 8) != 0)
        BAD(0, "bad magic");
    if (len < MAN_MIN_SIZE)
        BAD(len, "truncated (%zu bytes, the smallest manifest has %u)", len,
            MAN_MIN_SIZE);
    /* one reader over everything before the CRC; the header and the
     * configuration fit in MAN_MIN_SIZE, what follows is read only after
     * the exact length is checked below */
    in = vx_rd_new(buf, len - 4);
    vx_rd_skip(&in, 8, NULL);
    version = vx_rd_u32(&in, NULL);
    res12 = vx_rd_u32(&in, NULL);
    size = vx_rd_u64(&in, NULL);
    m.number = vx_rd_u64(&in, NULL);
    m.next_file = vx_rd_u64(&in, NULL);
    m.flushed_seq = vx_rd_u64(&in, NULL);
    m.n_segments = vx_rd_u32(&in, NULL);
    res52 = vx_rd_u32(&in, NULL);
    total_del = vx_rd_u64(&in, NULL);
    cfg = vx_rd_sub(&in, MAN_CFG_SIZE, NULL); /* offsets stay file offsets */
    name = vx_rd_take(&cfg, MAN_NAME_MAX, NULL);
    m.config.dim = vx_rd_u32(&cfg, NULL);
    m.config.elem = vx_rd_u32(&cfg, NULL);
    m.config.metric = vx_rd_u32(&cfg, NULL);
    m.config.index_kind = vx_rd_u32(&cfg, NULL);
    m.config.hnsw_m = vx_rd_u32(&cfg, NULL);
    m.config.hnsw_ef_construction = vx_rd_u32(&cfg, NULL);
    m.config.hnsw_ef_search = vx_rd_u32(&cfg, NULL);
    m.schema_len = vx_rd_u32(&cfg, NULL);
    m.config.hnsw_seed = vx_rd_u64(&cfg, NULL);
    m.config.created_unix = vx_rd_u64(&cfg, NULL);
    m.config.quant = vx_rd_u32(&cfg, NULL);
    m.config.quant_m = vx_rd_u32(&cfg, NULL);
    m.config.quant_bits = vx_rd_u32(&cfg, NULL);
    m.config.quant_refine = vx_rd_f32(&cfg, NULL);
    if (size != len)
        BAD(16, "length field says %llu bytes but there are %zu",
            (unsigned long long)size, len);
    if (vex_get_u32le(buf + len - 4) != vex_crc32c(buf, len - 4))
        BAD(len - 4, "checksum mismatch");
    if (version > MAN_VERSION) {
        rc = vx_err_set(err, VEX_UNSUPPORTED,
                        "%s: format version %u is newer than %u at offset 8",
                        fname, version, MAN_VERSION);
        goto cleanup;
    }
    if (version < 1)
        BAD(8, "bad format version %u", version);
    hist = version >= 3 ? MAN_HIST_SIZE : 0;
    ext = version >= 5 ? res12 : 0;
    if (version < 5 && res12 != 0)
        BAD(12, "reserved field not zero");
    if (version >= 5 && (ext < 8 || ext > len))
        BAD(12, "extension block of %u bytes (format 5 has one of at least 8)",
            ext);
    if (version < 4 && res52 != 0)
        BAD(52, "reserved field not zero");
    if (version == 4 && res52 == 0)
        BAD(52, "format 4 without compression (written as format 3 or 5)");
    if (version >= 4 && res52 > MAN_COMPRESS_MAX) {
        rc = vx_err_set(err, VEX_UNSUPPORTED,
                        "%s: compression %u at offset 52 is unknown to this "
                        "library",
                        fname, res52);
        goto cleanup;
    }
    m.config.compression = res52;
    if (version == 1 && m.schema_len != 0)
        BAD(MAN_HDR_SIZE + 92, "reserved field not zero");
    if (version == 2 && (m.schema_len == 0 || m.schema_len > MAN_MAX_SCHEMA))
        BAD(MAN_HDR_SIZE + 92, "schema length %u, must be 1..%u", m.schema_len,
            MAN_MAX_SCHEMA);
    if (version >= 3 && m.schema_len > MAN_MAX_SCHEMA)
        BAD(MAN_HDR_SIZE + 92, "schema length %u, must be 0..%u", m.schema_len,
            MAN_MAX_SCHEMA);
    if (m.n_segments > MAN_MAX_SEGMENTS)
        BAD(48, "%u segments, at most %u", m.n_segments, MAN_MAX_SEGMENTS);
    /* the exact length follows from the two counts: check it before any
     * allocation (n_segments is bounded, total_del by the length) */
    if (total_del > len / 8 ||
        (uint64_t)MAN_MIN_SIZE + (uint64_t)MAN_SEG_SIZE * m.n_segments +
                8 * total_del + m.schema_len + hist + ext !=
            len)
        BAD(56,
            "%u segments, %llu deleted ids and a schema of %u bytes do not "
            "fill the %zu bytes exactly",
            m.n_segments, (unsigned long long)total_del, m.schema_len, len);
    if (m.number >= m.next_file)
        BAD(24, "number %llu not below next_file %llu",
            (unsigned long long)m.number, (unsigned long long)m.next_file);

    /* configuration */
    {
        size_t n = 0;
        while (n < MAN_NAME_MAX && name[n])
            n++;
        memcpy(m.config.name, name, n);
        m.config.name[n] = '\0';
        for (i = (uint32_t)n; i < MAN_NAME_MAX; i++)
            if (name[i])
                BAD(MAN_HDR_SIZE + i, "non-zero byte after the name");
    }
    if (!vx_rd_zero(&cfg, vx_rd_left(&cfg), "reserved byte not zero"))
        BAD(vx_rd_fail_off(&cfg), "%s", vx_rd_what(&cfg));
    why = man_config_problem(&m.config, &off);
    if (why)
        BAD(MAN_HDR_SIZE + off, "%s", why);

    /* segment table (size checked above: the allocation is bounded by the
     * input length) */
    if (m.n_segments) {
        m.segs = vx_mem_calloc(mem, m.n_segments, sizeof *m.segs);
        if (m.segs == NULL) {
            rc = vx_err_set(err, VEX_NOMEM, "%s: out of memory (%u segments)",
                            fname, m.n_segments);
            goto cleanup;
        }
    }
    for (i = 0; i < m.n_segments; i++) {
        man_segment *s = &m.segs[i];
        uint64_t at = vx_rd_off(&in);
        s->number = vx_rd_u64(&in, "truncated segment table");
        s->n_rows = vx_rd_u64(&in, "truncated segment table");
        s->file_size = vx_rd_u64(&in, "truncated segment table");
        s->min_seq = vx_rd_u64(&in, "truncated segment table");
        s->max_seq = vx_rd_u64(&in, "truncated segment table");
        s->n_deleted = vx_rd_u64(&in, "truncated segment table");
        if (!vx_rd_ok(&in))
            break;
        why = man_seg_problem(&m, s, &off);
        if (why)
            BAD(at + off, "segment %u (number %llu): %s", i,
                (unsigned long long)s->number, why);
        if (s->n_deleted > total_del - sum_del)
            BAD(at + 40, "segment %u: deleted ids exceed the total", i);
        sum_del += s->n_deleted;
    }
    if (vx_rd_ok(&in) && sum_del != total_del)
        BAD(56, "total deleted ids %llu but the segments list %llu",
            (unsigned long long)total_del, (unsigned long long)sum_del);
    rc = man_find_dup(m.segs, vx_rd_ok(&in) ? m.n_segments : 0, mem, &dup);
    if (rc != VEX_OK) {
        rc = vx_err_set(err, rc, "%s: out of memory", fname);
        goto cleanup;
    }
    if (vx_rd_ok(&in) && dup < m.n_segments)
        BAD(MAN_FIXED + (uint64_t)MAN_SEG_SIZE * dup,
            "segment %u: number %llu used twice", dup,
            (unsigned long long)m.segs[dup].number);

    /* deleted ids: each array's size was bounded by the total above */
    for (i = 0; i < m.n_segments && vx_rd_ok(&in); i++) {
        man_segment *s = &m.segs[i];
        uint64_t k, n = s->n_deleted;
        if (n == 0)
            continue;
        s->deleted = vx_mem_alloc(mem, (size_t)n * sizeof *s->deleted);
        if (s->deleted == NULL) {
            rc = vx_err_set(err, VEX_NOMEM,
                            "%s: out of memory (%llu deleted ids)", fname,
                            (unsigned long long)n);
            goto cleanup;
        }
        for (k = 0; k < n; k++) {
            ids_off = vx_rd_off(&in);
            s->deleted[k] = vx_rd_u64(&in, "truncated deleted ids");
            if (vx_rd_ok(&in) && k && s->deleted[k] <= s->deleted[k - 1])
                BAD(ids_off, "deleted ids of segment %u not ascending", i);
        }
    }
    if (m.schema_len && vx_rd_ok(&in)) {
        m.schema = vx_mem_alloc(mem, m.schema_len);
        if (m.schema == NULL) {
            rc = vx_err_set(err, VEX_NOMEM, "%s: out of memory", fname);
            goto cleanup;
        }
        vx_rd_copy(&in, m.schema, m.schema_len, "truncated schema");
    }
    if (hist && vx_rd_ok(&in)) {
        uint64_t at = vx_rd_off(&in);
        m.as_of_seq = vx_rd_u64(&in, "truncated history block");
        m.publish_unix = vx_rd_u64(&in, "truncated history block");
        if (vx_rd_ok(&in) && m.as_of_seq < m.flushed_seq)
            BAD(at, "as_of_seq %llu below flushed_seq %llu",
                (unsigned long long)m.as_of_seq,
                (unsigned long long)m.flushed_seq);
        if (vx_rd_ok(&in) && m.as_of_seq == 0 && m.publish_unix == 0)
            BAD(at, "empty history block (format 3 is written only with "
                    "one)");
    }
    /* the extension block (format 5): entries of kind, length, payload */
    last_kind = 0;
    for (uint64_t end = vx_rd_off(&in) + ext;
         ext && vx_rd_ok(&in) && vx_rd_off(&in) < end;) {
        uint64_t at = vx_rd_off(&in);
        uint32_t kind = vx_rd_u32(&in, "truncated extension entry");
        uint32_t elen = vx_rd_u32(&in, "truncated extension entry");
        if (!vx_rd_ok(&in))
            break;
        if (elen > end - vx_rd_off(&in))
            BAD(at + 4, "extension entry of %u bytes past the block", elen);
        if (kind != MAN_EXT_DANN && kind != MAN_EXT_TEXT) {
            rc = vx_err_set(err, VEX_UNSUPPORTED,
                            "%s: extension entry kind %u at offset %llu is "
                            "unknown to this library (a newer feature)",
                            fname, kind, (unsigned long long)at);
            goto cleanup;
        }
        if (kind <= last_kind)
            BAD(at, "extension entry kind %u repeated or out of order", kind);
        last_kind = kind;
        if (kind == MAN_EXT_TEXT) {
            if (elen != MAN_EXT_TEXT_SIZE)
                BAD(at + 4, "text entry of %u bytes, expected %u", elen,
                    MAN_EXT_TEXT_SIZE);
            m.config.text = 1;
            m.config.text_stemmer = vx_rd_u32(&in, NULL);
            m.config.text_stopwords = vx_rd_u32(&in, NULL);
            if (m.config.text_stemmer > 1 || m.config.text_stopwords > 1)
                BAD(at + 8,
                    "text entry: stemmer %u, stop words %u (each 0 "
                    "or 1)",
                    m.config.text_stemmer, m.config.text_stopwords);
            continue;
        }
        if (elen != MAN_EXT_DANN_SIZE)
            BAD(at + 4, "DiskANN entry of %u bytes, expected %u", elen,
                MAN_EXT_DANN_SIZE);
        m.config.dann_min_rows = vx_rd_u64(&in, NULL);
        m.config.dann_r = vx_rd_u32(&in, NULL);
        m.config.dann_l = vx_rd_u32(&in, NULL);
        m.config.dann_alpha = vx_rd_f32(&in, NULL);
        m.config.dann_pq_m = vx_rd_u32(&in, NULL);
        if (m.config.dann_min_rows == 0)
            BAD(at + 8, "DiskANN entry with diskann_min_rows 0");
        why = man_dann_problem(&m.config, &off);
        if (why)
            BAD(at + 8 + off, "%s", why);
    }
    /* the length check above makes these reads exact; kept as the
     * reader's own check all the same */
    vx_rd_end(&in, "bytes after the schema");
    if (!vx_rd_ok(&in))
        BAD(vx_rd_fail_off(&in), "%s", vx_rd_what(&in));
    *out = m;
    return VEX_OK;
cleanup:
    vx_manifest_free(&m, mem);
    return rc;
}

#undef BAD

/* ---- CURRENT ------------------------------------------------------------- */

static void cur_encode(char out[CUR_SIZE + 1], uint64_t number)
{
    char name[MAN_FILE_NAME_SIZE];
    vx_manifest_file_name(name, sizeof name, number);
    snprintf(out, CUR_SIZE + 1, "%s %08x\n", name,
             (unsigned)vex_crc32c(name, CUR_NAME_LEN));
}

/* Parse the n bytes of CURRENT. */
static int cur_decode(const char *b, size_t n, const char *path, vex_err *err,
                      uint64_t *number)
{
    char name[MAN_FILE_NAME_SIZE];
    uint64_t crc;
    if (n < CUR_SIZE)
        return VX_CORRUPT(err, "%s: truncated (%zu of %u bytes) at offset %zu",
                          path, n, CUR_SIZE, n);
    if (n > CUR_SIZE)
        return VX_CORRUPT(err, "%s: longer than %u bytes at offset %u", path,
                          CUR_SIZE, CUR_SIZE);
    memcpy(name, b, CUR_NAME_LEN);
    name[CUR_NAME_LEN] = '\0';
    if (!vx_manifest_parse_name(name, number))
        return VX_CORRUPT(err, "%s: no manifest name at offset 0", path);
    if (b[CUR_NAME_LEN] != ' ' || b[CUR_SIZE - 1] != '\n' ||
        !vex_parse_hex(b + CUR_NAME_LEN + 1, 8, &crc))
        return VX_CORRUPT(err, "%s: bad checksum field at offset %u", path,
                          CUR_NAME_LEN);
    if ((uint32_t)crc != vex_crc32c(b, CUR_NAME_LEN))
        return VX_CORRUPT(err, "%s: checksum mismatch at offset %u", path,
                          CUR_NAME_LEN + 1);
    return VEX_OK;
}

/* ---- publish ------------------------------------------------------------- */

/* Write `n` bytes to a new file (exclusively when `excl`), fsync, close.
 * *created says whether the file now exists because of this call. */
static int man_write_file(vex_vfs *vfs, const char *path, const void *b,
                          size_t n, int excl, int *created, vex_err *err)
{
    vex_file *f = NULL;
    int rc = vex_vfs_open(vfs, path,
                          VX_FILE_READWRITE | VX_FILE_CREATE |
                              (excl ? VX_FILE_EXCL : VX_FILE_TRUNCATE),
                          &f, err);
    if (rc != VEX_OK)
        return rc;
    *created = 1;
    rc = vex_file_write(f, b, n, 0, err);
    if (rc == VEX_OK)
        rc = vex_file_sync(f, VEX_SYNC_FULL, err);
    if (rc == VEX_OK)
        return vex_file_close(f, err);
    vex_file_close(f, NULL);
    return rc;
}

/* Prefix the message the failed call left with the publish step. */
static int man_step_fail(vex_err *err, int rc, const char *step)
{
    char msg[VEX_ERRMSG_MAX];
    if (err == NULL)
        return rc;
    vx_err_copy(err, msg, sizeof msg);
    return vx_err_set(err, rc, "vx_manifest_publish: %s: %s", step, msg);
}

int vx_manifest_publish(vex_vfs *vfs, const char *dir, const manifest *m,
                        const vex_mem *mem, vex_err *err, int *ambiguous)
{
    char name[MAN_FILE_NAME_SIZE], cur[CUR_SIZE + 1];
    char man_path[MAN_PATH_MAX], tmp_path[MAN_PATH_MAX], cur_path[MAN_PATH_MAX];
    unsigned char *buf = NULL;
    size_t len = 0;
    const char *step;
    int man_created = 0, tmp_created = 0, rc;

    if (ambiguous)
        *ambiguous = 0;
    if (vfs == NULL || dir == NULL || m == NULL || mem == NULL)
        return vx_err_set(err, VEX_INVALID,
                          "vx_manifest_publish: NULL argument");
    vx_manifest_file_name(name, sizeof name, m->number);
    rc = man_join(man_path, dir, name, err);
    if (rc == VEX_OK)
        rc = man_join(tmp_path, dir, "CURRENT.tmp", err);
    if (rc == VEX_OK)
        rc = man_join(cur_path, dir, "CURRENT", err);
    if (rc == VEX_OK)
        rc = vx_manifest_encode(m, mem, err, &buf, &len);
    if (rc != VEX_OK)
        return rc;

    /* step 1 (invariant 1: exclusively, so nobody's file is overwritten) */
    step = "step 1, writing the manifest";
    rc = man_write_file(vfs, man_path, buf, len, 1, &man_created, err);
    /* step 2 */
    if (rc == VEX_OK) {
        step = "step 2, writing CURRENT.tmp";
        cur_encode(cur, m->number);
        rc = man_write_file(vfs, tmp_path, cur, CUR_SIZE, 0, &tmp_created, err);
    }
    /* step 3 (invariant 2). Under the crash vfs model a directory's
     * entries survive all together or not at all, so step 5 alone would
     * do; POSIX promises no such thing (a rename may reach the disk before
     * an earlier create in the same directory), so the create is made
     * durable first. test_manifest cannot observe this step. */
    if (rc == VEX_OK) {
        step = "step 3, syncing the directory before the rename";
        rc = vex_vfs_sync_dir(vfs, dir, err);
    }
    if (rc != VEX_OK)
        goto undo;
    /* step 4: from here a failure is ambiguous (invariant 5) */
    if (ambiguous)
        *ambiguous = 1;
    step = "step 4, renaming CURRENT.tmp to CURRENT (ambiguous)";
    rc = vex_vfs_rename(vfs, tmp_path, cur_path, err);
    /* step 5 (invariant 4) */
    if (rc == VEX_OK) {
        step = "step 5, syncing the directory after the rename (ambiguous)";
        rc = vex_vfs_sync_dir(vfs, dir, err);
    }
    vx_mem_free(mem, buf);
    if (rc != VEX_OK)
        return man_step_fail(err, rc, step);
    if (ambiguous)
        *ambiguous = 0;
    return VEX_OK;
undo:
    /* Before the rename: CURRENT is untouched. Remove what this call
     * created, best effort, keeping the first error's message. */
    if (tmp_created)
        vex_vfs_remove(vfs, tmp_path, NULL);
    if (man_created)
        vex_vfs_remove(vfs, man_path, NULL);
    vx_mem_free(mem, buf);
    return man_step_fail(err, rc, step);
}

/* ---- load ---------------------------------------------------------------- */

int vx_manifest_current(vex_vfs *vfs, const char *dir, vex_err *err,
                        uint64_t *number)
{
    char path[MAN_PATH_MAX], cur[CUR_SIZE + 1];
    vex_file *f = NULL;
    size_t got = 0;
    int rc;
    *number = 0;
    rc = man_join(path, dir, "CURRENT", err);
    if (rc != VEX_OK)
        return rc;
    rc = vex_vfs_open(vfs, path, VX_FILE_READONLY, &f, err);
    if (rc == VEX_NOTFOUND)
        return vx_err_set(err, VEX_NOTFOUND,
                          "%s: not found (not a collection directory)", path);
    if (rc == VEX_OK)
        rc = vex_file_read(f, cur, sizeof cur, 0, &got, err);
    if (rc == VEX_OK)
        rc = vex_file_close(f, err);
    else
        vex_file_close(f, NULL);
    if (rc == VEX_OK)
        rc = cur_decode(cur, got, path, err, number);
    return rc;
}

int vx_manifest_load(vex_vfs *vfs, const char *dir, const vex_mem *mem,
                     vex_err *err, manifest *out)
{
    char name[MAN_FILE_NAME_SIZE];
    uint64_t number = 0;
    int rc;

    if (out)
        memset(out, 0, sizeof *out);
    if (vfs == NULL || dir == NULL || mem == NULL || out == NULL)
        return vx_err_set(err, VEX_INVALID, "vx_manifest_load: NULL argument");
    /* CURRENT */
    rc = vx_manifest_current(vfs, dir, err, &number);
    if (rc != VEX_OK)
        return rc;
    rc = vx_manifest_load_number(vfs, dir, number, mem, err, out);
    if (rc == VEX_NOTFOUND) {
        vx_manifest_file_name(name, sizeof name, number);
        return VX_CORRUPT(err,
                          "%s/CURRENT: names %s, which is missing, at offset 0",
                          dir, name);
    }
    return rc;
}

int vx_manifest_load_number(vex_vfs *vfs, const char *dir, uint64_t number,
                            const vex_mem *mem, vex_err *err, manifest *out)
{
    char name[MAN_FILE_NAME_SIZE], path[MAN_PATH_MAX];
    vex_file *f = NULL;
    unsigned char *buf = NULL;
    uint64_t size = 0;
    int rc;

    if (out)
        memset(out, 0, sizeof *out);
    if (vfs == NULL || dir == NULL || mem == NULL || out == NULL)
        return vx_err_set(err, VEX_INVALID,
                          "vx_manifest_load_number: NULL argument");

    /* the manifest it names */
    vx_manifest_file_name(name, sizeof name, number);
    rc = man_join(path, dir, name, err);
    if (rc != VEX_OK)
        return rc;
    rc = vex_vfs_open(vfs, path, VX_FILE_READONLY, &f, err);
    if (rc == VEX_NOTFOUND) {
        rc = vx_err_set(err, VEX_NOTFOUND, "%s: no such manifest", path);
        goto cleanup;
    }
    if (rc == VEX_OK)
        rc = vex_file_size(f, &size, err);
    if (rc != VEX_OK)
        goto cleanup;
    if (size > SIZE_MAX - 1) {
        rc = vx_err_set(err, VEX_NOMEM, "%s: %llu bytes", path,
                        (unsigned long long)size);
        goto cleanup;
    }
    buf = vx_mem_alloc(mem, size ? (size_t)size : 1);
    if (buf == NULL) {
        rc = vx_err_set(err, VEX_NOMEM, "%s: out of memory (%llu bytes)", path,
                        (unsigned long long)size);
        goto cleanup;
    }
    if (size)
        rc = vx_file_read_exact(f, buf, (size_t)size, 0, err);
    if (rc == VEX_OK)
        rc = vex_file_close(f, err);
    else
        vex_file_close(f, NULL);
    f = NULL;
    if (rc == VEX_OK)
        rc = vx_manifest_decode(buf, (size_t)size, path, mem, err, out);
    if (rc == VEX_OK && out->number != number) {
        rc = VX_CORRUPT(err,
                        "%s: holds number %016llx, not the one in its name, "
                        "at offset 24",
                        path, (unsigned long long)out->number);
        vx_manifest_free(out, mem);
    }
cleanup:
    vex_file_close(f, NULL);
    vx_mem_free(mem, buf);
    return rc;
}

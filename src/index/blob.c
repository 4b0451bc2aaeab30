/* SPDX-License-Identifier: Apache-2.0 */
/*
 * blob.c - encode and check the index blob container (see blob.h and
 * docs/FORMAT.md for the byte layout).
 *
 * Header fields (little-endian):
 *     0  magic "VEXINDEX"       8
 *     8  version                4    VEX_BLOB_VERSION
 *    12  header size            4    384
 *    16  kind, elem, metric, dim          4 x 4
 *    32  n_slots, n_live                  2 x 8
 *    48  m, ef_construction, ef_search    3 x 4
 *    60  n_sections             4
 *    64  seed, entry, slot_bytes, upper_len, total size   5 x 8
 *   104  quant u8, quant bits u8, quant M u16, default refine f32
 *        (version 3, a quantized index; version 1: reserved, zero)
 *   112  section table: up to 9 (version 1: 8) x
 *        { id u32, crc32c u32, offset u64, length u64 }
 *   328  reserved, zero         52
 *   380  CRC32C of bytes 0..379 4
 */
#include "index/blob.h"

#include <inttypes.h>
#include <string.h>

#include "util/crc32c.h"
#include "util/endian.h"
#include "util/rd.h"
#include "vexdb.h"

#define BLOB_OFF_TABLE 112
#define BLOB_OFF_CRC   380

/* The next entry of a section table. */
static void table_entry(vx_rd *h, vex_blob_section *s)
{
    s->id = vx_rd_u32(h, NULL);
    s->crc = vx_rd_u32(h, NULL);
    s->offset = vx_rd_u64(h, NULL);
    s->length = vx_rd_u64(h, NULL);
}

uint64_t vx_blob_layout(vex_blob_info *info)
{
    uint64_t at = VEX_BLOB_HEADER;
    uint32_t i;
    for (i = 0; i < info->n_sections; i++) {
        at = (at + VEX_BLOB_ALIGN - 1) / VEX_BLOB_ALIGN * VEX_BLOB_ALIGN;
        info->sec[i].offset = at;
        if (info->sec[i].length > UINT64_MAX - at - VEX_BLOB_ALIGN)
            return 0;
        at += info->sec[i].length;
    }
    return at;
}

void vx_blob_finish(vex_blob_info *info, unsigned char *buf)
{
    uint64_t total = VEX_BLOB_HEADER;
    uint32_t i;
    unsigned char *h = buf;
    for (i = 0; i < info->n_sections; i++) {
        info->sec[i].crc =
            vex_crc32c(buf + info->sec[i].offset, (size_t)info->sec[i].length);
        total = info->sec[i].offset + info->sec[i].length;
    }
    memset(h, 0, VEX_BLOB_HEADER);
    memcpy(h, VEX_BLOB_MAGIC, 8);
    /* an unquantized index is written as version 1, byte for byte what
     * readers before quantization wrote and read */
    vex_put_u32le(h + 8, info->quant ? VEX_BLOB_VERSION : 1);
    vex_put_u32le(h + 12, VEX_BLOB_HEADER);
    vex_put_u32le(h + 16, info->kind);
    vex_put_u32le(h + 20, info->elem);
    vex_put_u32le(h + 24, info->metric);
    vex_put_u32le(h + 28, info->dim);
    vex_put_u64le(h + 32, info->n_slots);
    vex_put_u64le(h + 40, info->n_live);
    vex_put_u32le(h + 48, info->m);
    vex_put_u32le(h + 52, info->ef_construction);
    vex_put_u32le(h + 56, info->ef_search);
    vex_put_u32le(h + 60, info->n_sections);
    vex_put_u64le(h + 64, info->seed);
    vex_put_u64le(h + 72, info->entry);
    vex_put_u64le(h + 80, info->slot_bytes);
    vex_put_u64le(h + 88, info->upper_len);
    vex_put_u64le(h + 96, total);
    if (info->quant) {
        uint32_t r;
        memcpy(&r, &info->quant_refine, 4);
        h[104] = (unsigned char)info->quant;
        h[105] = (unsigned char)info->quant_bits;
        h[106] = (unsigned char)(info->quant_m & 0xff);
        h[107] = (unsigned char)(info->quant_m >> 8);
        vex_put_u32le(h + 108, r);
    }
    for (i = 0; i < info->n_sections; i++) {
        unsigned char *e = h + BLOB_OFF_TABLE + 24 * i;
        vex_put_u32le(e, info->sec[i].id);
        vex_put_u32le(e + 4, info->sec[i].crc);
        vex_put_u64le(e + 8, info->sec[i].offset);
        vex_put_u64le(e + 16, info->sec[i].length);
    }
    vex_put_u32le(h + BLOB_OFF_CRC, vex_crc32c(h, BLOB_OFF_CRC));
}

int vx_blob_parse(const unsigned char *buf, uint64_t size, vex_blob_info *info,
                  vex_err *err)
{
    const unsigned char *magic;
    uint32_t version, hsize, crc, want, i;
    uint64_t total, prev_end = VEX_BLOB_HEADER;
    vx_rd h, q;

    memset(info, 0, sizeof *info);
    if (size < VEX_BLOB_HEADER)
        return VX_CORRUPT(err,
                          "index blob: %" PRIu64 " bytes, shorter than its "
                          "%d-byte header",
                          size, VEX_BLOB_HEADER);
    /* the header, field by field (its length is checked above) */
    h = vx_rd_new(buf, VEX_BLOB_HEADER);
    magic = vx_rd_take(&h, 8, NULL);
    version = vx_rd_u32(&h, NULL);
    hsize = vx_rd_u32(&h, NULL);
    info->kind = vx_rd_u32(&h, NULL);
    info->elem = vx_rd_u32(&h, NULL);
    info->metric = vx_rd_u32(&h, NULL);
    info->dim = vx_rd_u32(&h, NULL);
    info->n_slots = vx_rd_u64(&h, NULL);
    info->n_live = vx_rd_u64(&h, NULL);
    info->m = vx_rd_u32(&h, NULL);
    info->ef_construction = vx_rd_u32(&h, NULL);
    info->ef_search = vx_rd_u32(&h, NULL);
    info->n_sections = vx_rd_u32(&h, NULL);
    info->seed = vx_rd_u64(&h, NULL);
    info->entry = vx_rd_u64(&h, NULL);
    info->slot_bytes = vx_rd_u64(&h, NULL);
    info->upper_len = vx_rd_u64(&h, NULL);
    total = vx_rd_u64(&h, NULL);
    q = vx_rd_sub(&h, 8, NULL); /* byte 104: the quantizer fields */
    if (memcmp(magic, VEX_BLOB_MAGIC, 8) != 0)
        return VX_CORRUPT(err, "index blob: bad magic at byte 0 (not a VexDB "
                               "index)");
    /* the header's checksum before its version: every version keeps the
     * header's size and the checksum's place (FORMAT.md), so a damaged
     * version field is damage, not a newer format */
    crc = vex_get_u32le(buf + BLOB_OFF_CRC);
    want = vex_crc32c(buf, BLOB_OFF_CRC);
    if (crc != want)
        return VX_CORRUPT(err,
                          "index blob: header checksum mismatch at byte %d "
                          "(stored 0x%08x, computed 0x%08x)",
                          BLOB_OFF_CRC, crc, want);
    if (version == 2)
        return vx_err_set(err, VEX_UNSUPPORTED,
                          "index blob: format version 2 at byte 8, a "
                          "quantized index of a development layout (HNSW "
                          "vectors inside the graph slots) that this "
                          "library does not read; rebuild the index");
    if (version != 1 && version != VEX_BLOB_VERSION)
        return vx_err_set(
            err, version > VEX_BLOB_VERSION ? VEX_UNSUPPORTED : VEX_CORRUPT,
            "index blob: format version %u at byte 8; this "
            "library reads version %d",
            version, VEX_BLOB_VERSION);
    if (hsize != VEX_BLOB_HEADER)
        return VX_CORRUPT(err,
                          "index blob: header size %u at byte 12, expected "
                          "%d",
                          hsize, VEX_BLOB_HEADER);
    if (!vex_host_is_le())
        return vx_err_set(err, VEX_UNSUPPORTED,
                          "index blob: arrays are little-endian and this "
                          "host is big-endian");
    if (version == 1 && !vx_rd_zero(&q, 8, NULL))
        return VX_CORRUPT(err, "index blob: version 1 with non-zero reserved "
                               "bytes at 104");
    if (version >= 3) {
        info->quant = vx_rd_u8(&q, NULL);
        info->quant_bits = vx_rd_u8(&q, NULL);
        info->quant_m = vx_rd_u16(&q, NULL);
        info->quant_refine = vx_rd_f32(&q, NULL);
        if (info->quant == 0)
            return VX_CORRUPT(err,
                              "index blob: version %u without a "
                              "quantizer at byte 104",
                              version);
    }
    if (total != size)
        return VX_CORRUPT(err,
                          "index blob: header says %" PRIu64 " bytes at "
                          "byte 96, the buffer has %" PRIu64
                          " (truncated or padded)",
                          total, size);
    if (info->n_sections > (version == 1 ? 8u : VEX_BLOB_SECTIONS))
        return VX_CORRUPT(err, "index blob: %u sections at byte 60, at most %d",
                          info->n_sections,
                          version == 1 ? 8 : VEX_BLOB_SECTIONS);
    /* the section table follows at byte 112 */
    for (i = 0; i < info->n_sections; i++) {
        vex_blob_section *s = &info->sec[i];
        table_entry(&h, s);
        if (s->offset % VEX_BLOB_ALIGN != 0 || s->offset < prev_end ||
            s->offset > size || s->length > size - s->offset)
            return VX_CORRUPT(err,
                              "index blob: section %u (id %u) at byte %d: "
                              "offset %" PRIu64 " length %" PRIu64
                              " is misaligned, overlapping or past the end "
                              "(%" PRIu64 " bytes)",
                              i, s->id, BLOB_OFF_TABLE + 24 * (int)i, s->offset,
                              s->length, size);
        prev_end = s->offset + s->length;
        want = vex_crc32c(buf + s->offset, (size_t)s->length);
        if (want != s->crc)
            return VX_CORRUPT(err,
                              "index blob: section %u (id %u) at byte "
                              "%" PRIu64 ": checksum mismatch (stored "
                              "0x%08x, computed 0x%08x)",
                              i, s->id, s->offset, s->crc, want);
    }
    return VEX_OK;
}

int vx_blob_cold_range(const unsigned char *buf, uint64_t size, uint64_t *off,
                       uint64_t *len)
{
    uint32_t i, n;
    vx_rd h;
    *off = *len = 0;
    if (size < VEX_BLOB_HEADER)
        return 0;
    h = vx_rd_new(buf, VEX_BLOB_HEADER);
    vx_rd_seek(&h, 8, NULL);
    if (vx_rd_u32(&h, NULL) != VEX_BLOB_VERSION)
        return 0;
    vx_rd_seek(&h, 60, NULL);
    n = vx_rd_u32(&h, NULL);
    vx_rd_seek(&h, 104, NULL);
    if (vx_rd_u8(&h, NULL) == 0)
        return 0;
    vx_rd_seek(&h, BLOB_OFF_TABLE, NULL);
    for (i = 0; i < n && i < VEX_BLOB_SECTIONS; i++) {
        vex_blob_section s;
        table_entry(&h, &s);
        if (s.id != VEX_SEC_VECTORS || s.offset > size ||
            s.length > size - s.offset)
            continue;
        *off = s.offset;
        *len = s.length;
        return 1;
    }
    return 0;
}

void vx_blob_parts(const unsigned char *buf, uint64_t size,
                   uint64_t parts[VX_BLOB_PARTS])
{
    uint32_t i, n, version, elem, dim;
    uint64_t n_slots, vec_bytes, slots = 0;
    int has_vectors = 0;
    vx_rd h;
    memset(parts, 0, VX_BLOB_PARTS * sizeof *parts);
    if (size < VEX_BLOB_HEADER)
        return;
    h = vx_rd_new(buf, VEX_BLOB_HEADER);
    vx_rd_seek(&h, 8, NULL);
    version = vx_rd_u32(&h, NULL);
    if (version != 1 && version != VEX_BLOB_VERSION)
        return;
    vx_rd_seek(&h, 20, NULL);
    elem = vx_rd_u32(&h, NULL);
    vx_rd_seek(&h, 28, NULL);
    dim = vx_rd_u32(&h, NULL);
    n_slots = vx_rd_u64(&h, NULL);
    vec_bytes = elem == VEX_ELEM_BIT ? (dim + 7u) / 8u : (uint64_t)dim * 4u;
    vx_rd_seek(&h, 60, NULL);
    n = vx_rd_u32(&h, NULL);
    vx_rd_seek(&h, BLOB_OFF_TABLE, NULL);
    for (i = 0; i < n && i < VEX_BLOB_SECTIONS; i++) {
        vex_blob_section s;
        int part;
        table_entry(&h, &s);
        if (s.offset > size || s.length > size - s.offset)
            continue;
        switch (s.id) {
        case VEX_SEC_VECTORS:
            has_vectors = 1;
            part = VX_BLOB_PART_VECTORS;
            break;
        case VEX_SEC_AUX:
            part = VX_BLOB_PART_VECTORS;
            break;
        case VEX_SEC_CODES:
        case VEX_SEC_QUANTIZER:
            part = VX_BLOB_PART_CODES;
            break;
        case VEX_SEC_IDS:
            part = VX_BLOB_PART_IDS;
            break;
        case VEX_SEC_SLOTS:
            slots = s.length;
            part = VX_BLOB_PART_GRAPH;
            break;
        case VEX_SEC_LEVELS:
        case VEX_SEC_STATE:
        case VEX_SEC_UPPER_OFF:
        case VEX_SEC_UPPER:
            part = VX_BLOB_PART_GRAPH;
            break;
        default:
            continue;
        }
        parts[part] += s.length;
    }
    /* an unquantized HNSW keeps each vector in its level-0 slot */
    if (slots && !has_vectors) {
        uint64_t v = n_slots <= slots / (vec_bytes ? vec_bytes : 1)
                         ? n_slots * vec_bytes
                         : slots;
        parts[VX_BLOB_PART_VECTORS] += v;
        parts[VX_BLOB_PART_GRAPH] -= v;
    }
}

const vex_blob_section *vx_blob_find(const vex_blob_info *info, uint32_t id)
{
    uint32_t i;
    for (i = 0; i < info->n_sections; i++)
        if (info->sec[i].id == id)
            return &info->sec[i];
    return NULL;
}

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
#include "vexdb.h"

#define OFF_TABLE 112
#define OFF_CRC   380

/* Entry i of the section table of the header at h. */
static void table_entry(const unsigned char *h, uint32_t i, vex_blob_section *s)
{
    const unsigned char *e = h + OFF_TABLE + 24 * i;
    s->id = vex_get_u32le(e);
    s->crc = vex_get_u32le(e + 4);
    s->offset = vex_get_u64le(e + 8);
    s->length = vex_get_u64le(e + 16);
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
        unsigned char *e = h + OFF_TABLE + 24 * i;
        vex_put_u32le(e, info->sec[i].id);
        vex_put_u32le(e + 4, info->sec[i].crc);
        vex_put_u64le(e + 8, info->sec[i].offset);
        vex_put_u64le(e + 16, info->sec[i].length);
    }
    vex_put_u32le(h + OFF_CRC, vex_crc32c(h, OFF_CRC));
}

int vx_blob_parse(const unsigned char *buf, uint64_t size, vex_blob_info *info,
                  vex_err *err)
{
    const unsigned char *h = buf;
    uint32_t version, hsize, crc, want, i;
    uint64_t total, prev_end = VEX_BLOB_HEADER;

    memset(info, 0, sizeof *info);
    if (size < VEX_BLOB_HEADER)
        return vx_err_set(err, VEX_CORRUPT,
                          "index blob: %" PRIu64 " bytes, shorter than its "
                          "%d-byte header",
                          size, VEX_BLOB_HEADER);
    if (memcmp(h, VEX_BLOB_MAGIC, 8) != 0)
        return vx_err_set(err, VEX_CORRUPT,
                          "index blob: bad magic at byte 0 (not a VexDB "
                          "index)");
    version = vex_get_u32le(h + 8);
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
    crc = vex_get_u32le(h + OFF_CRC);
    want = vex_crc32c(h, OFF_CRC);
    if (crc != want)
        return vx_err_set(err, VEX_CORRUPT,
                          "index blob: header checksum mismatch at byte %d "
                          "(stored 0x%08x, computed 0x%08x)",
                          OFF_CRC, crc, want);
    hsize = vex_get_u32le(h + 12);
    if (hsize != VEX_BLOB_HEADER)
        return vx_err_set(err, VEX_CORRUPT,
                          "index blob: header size %u at byte 12, expected "
                          "%d",
                          hsize, VEX_BLOB_HEADER);
    if (!vex_host_is_le())
        return vx_err_set(err, VEX_UNSUPPORTED,
                          "index blob: arrays are little-endian and this "
                          "host is big-endian");
    info->kind = vex_get_u32le(h + 16);
    info->elem = vex_get_u32le(h + 20);
    info->metric = vex_get_u32le(h + 24);
    info->dim = vex_get_u32le(h + 28);
    info->n_slots = vex_get_u64le(h + 32);
    info->n_live = vex_get_u64le(h + 40);
    info->m = vex_get_u32le(h + 48);
    info->ef_construction = vex_get_u32le(h + 52);
    info->ef_search = vex_get_u32le(h + 56);
    info->n_sections = vex_get_u32le(h + 60);
    info->seed = vex_get_u64le(h + 64);
    info->entry = vex_get_u64le(h + 72);
    info->slot_bytes = vex_get_u64le(h + 80);
    info->upper_len = vex_get_u64le(h + 88);
    total = vex_get_u64le(h + 96);
    if (version == 1 && vex_get_u64le(h + 104) != 0)
        return vx_err_set(err, VEX_CORRUPT,
                          "index blob: version 1 with non-zero reserved "
                          "bytes at 104");
    if (version >= 3) {
        uint32_t r = vex_get_u32le(h + 108);
        info->quant = h[104];
        info->quant_bits = h[105];
        info->quant_m = (uint32_t)h[106] | (uint32_t)h[107] << 8;
        memcpy(&info->quant_refine, &r, 4);
        if (info->quant == 0)
            return vx_err_set(err, VEX_CORRUPT,
                              "index blob: version %u without a "
                              "quantizer at byte 104",
                              version);
    }
    if (total != size)
        return vx_err_set(err, VEX_CORRUPT,
                          "index blob: header says %" PRIu64 " bytes at "
                          "byte 96, the buffer has %" PRIu64
                          " (truncated or padded)",
                          total, size);
    if (info->n_sections > (version == 1 ? 8u : VEX_BLOB_SECTIONS))
        return vx_err_set(
            err, VEX_CORRUPT, "index blob: %u sections at byte 60, at most %d",
            info->n_sections, version == 1 ? 8 : VEX_BLOB_SECTIONS);
    for (i = 0; i < info->n_sections; i++) {
        vex_blob_section *s = &info->sec[i];
        table_entry(h, i, s);
        if (s->offset % VEX_BLOB_ALIGN != 0 || s->offset < prev_end ||
            s->offset > size || s->length > size - s->offset)
            return vx_err_set(err, VEX_CORRUPT,
                              "index blob: section %u (id %u) at byte %d: "
                              "offset %" PRIu64 " length %" PRIu64
                              " is misaligned, overlapping or past the end "
                              "(%" PRIu64 " bytes)",
                              i, s->id, OFF_TABLE + 24 * (int)i, s->offset,
                              s->length, size);
        prev_end = s->offset + s->length;
        want = vex_crc32c(buf + s->offset, (size_t)s->length);
        if (want != s->crc)
            return vx_err_set(err, VEX_CORRUPT,
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
    *off = *len = 0;
    if (size < VEX_BLOB_HEADER || vex_get_u32le(buf + 8) != VEX_BLOB_VERSION ||
        buf[104] == 0)
        return 0;
    n = vex_get_u32le(buf + 60);
    for (i = 0; i < n && i < VEX_BLOB_SECTIONS; i++) {
        vex_blob_section s;
        table_entry(buf, i, &s);
        if (s.id != VEX_SEC_VECTORS || s.offset > size ||
            s.length > size - s.offset)
            continue;
        *off = s.offset;
        *len = s.length;
        return 1;
    }
    return 0;
}

const vex_blob_section *vx_blob_find(const vex_blob_info *info, uint32_t id)
{
    uint32_t i;
    for (i = 0; i < info->n_sections; i++)
        if (info->sec[i].id == id)
            return &info->sec[i];
    return NULL;
}

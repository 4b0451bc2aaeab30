/*
 * logrec.c - the log record payload codec (logrec.h; bytes in
 * docs/FORMAT.md). Encoders write what the decoders accept and nothing
 * else; the decoders treat their input as hostile (it comes from a log
 * file on replay) and read it through the bounded reader (util/rd.h).
 */
#include "engine/logrec.h"

#include <stdio.h>
#include <string.h>

#include "meta/value.h"
#include "util/endian.h"
#include "util/rd.h"

int vx_logrec_kind_has_vec(int kind)
{
    return kind == VX_OP_INSERT || kind == VX_OP_UPSERT ||
           kind == VX_OP_INSERT_M || kind == VX_OP_UPSERT_M;
}

int vx_logrec_kind_has_meta(int kind)
{
    return kind >= VX_OP_INSERT_M && kind <= VX_OP_SETMETA;
}

const char *vx_logrec_op_name(int kind)
{
    switch (kind) {
    case VX_OP_INSERT:
    case VX_OP_INSERT_M:
        return "insert";
    case VX_OP_UPSERT:
    case VX_OP_UPSERT_M:
        return "upsert";
    case VX_OP_SETMETA:
        return "metadata update";
    default:
        return "delete";
    }
}

size_t vx_logrec_op_size(size_t vec_bytes, int kind, size_t meta_len)
{
    return VX_LOGREC_OP_HEADER +
           (vx_logrec_kind_has_vec(kind) ? vec_bytes : 0) +
           (vx_logrec_kind_has_meta(kind) ? meta_len : 0);
}

void vx_logrec_header(unsigned char *p, uint32_t n_ops)
{
    vex_put_u32le(p, VX_LOGREC_MAGIC);
    vex_put_u32le(p + 4, n_ops);
}

size_t vx_logrec_op_decode(const unsigned char *p, size_t n, size_t vec_bytes,
                           int *kind, uint64_t *id, const void **vec,
                           const unsigned char **meta, size_t *meta_len)
{
    vx_rd r = vx_rd_new(p, n);
    uint32_t ml = 0;
    int k;
    *kind = 0;
    *id = 0;
    *vec = NULL;
    *meta = NULL;
    *meta_len = 0;
    if (n < VX_LOGREC_OP_HEADER)
        return 0;
    k = vx_rd_u8(&r, NULL);
    if (k < VX_OP_INSERT || k > VX_OP_SETMETA)
        return 0;
    if (vx_logrec_kind_has_meta(k)) {
        vx_rd_zero(&r, 3, NULL);
        ml = vx_rd_u32(&r, NULL);
        if (ml == 0 || ml > VM_MAX_ENCODED)
            return 0;
    } else {
        vx_rd_zero(&r, 7, NULL);
    }
    *id = vx_rd_u64(&r, NULL);
    if (vx_logrec_kind_has_vec(k))
        *vec = vx_rd_take(&r, vec_bytes, NULL);
    if (ml)
        *meta = vx_rd_take(&r, ml, NULL);
    if (!vx_rd_ok(&r)) {
        *vec = NULL;
        *meta = NULL;
        return 0;
    }
    *kind = k;
    *meta_len = ml;
    return vx_rd_pos(&r);
}

void vx_logrec_op_encode(unsigned char *p, int kind, uint64_t id,
                         const void *vec, size_t vec_bytes,
                         const unsigned char *meta, size_t meta_len)
{
    size_t pos = VX_LOGREC_OP_HEADER;
    memset(p, 0, VX_LOGREC_OP_HEADER);
    p[0] = (unsigned char)kind;
    if (vx_logrec_kind_has_meta(kind))
        vex_put_u32le(p + 4, (uint32_t)meta_len);
    vex_put_u64le(p + 8, id);
    if (vx_logrec_kind_has_vec(kind)) {
        memcpy(p + pos, vec, vec_bytes);
        pos += vec_bytes;
    }
    if (vx_logrec_kind_has_meta(kind) && meta != NULL)
        memcpy(p + pos, meta, meta_len);
}

/* Decode the metadata of operation i strictly (and free it again). */
static int check_meta(const unsigned char *meta, size_t meta_len,
                      const vex_mem *mem, uint32_t i, size_t pos, vex_err *err)
{
    vm_record *rec = NULL;
    vex_err e;
    int rc;
    vx_err_init(&e);
    rc = vx_vm_record_decode(meta, meta_len, mem, &e, &rec);
    vx_vm_record_free(rec, mem);
    if (rc != VEX_OK) {
        char msg[VEX_ERRMSG_MAX];
        vx_err_copy(&e, msg, sizeof msg);
        rc = vx_err_set(err, rc == VEX_NOMEM ? rc : VEX_CORRUPT,
                        "operation %u at byte %zu: %.400s", i, pos, msg);
    }
    vx_err_destroy(&e);
    return rc;
}

int vx_logrec_check(const unsigned char *p, size_t n,
                    const vex_index_config *cfg, void *vec_scratch,
                    const vex_mem *mem, vex_err *err, uint32_t *n_ops)
{
    uint32_t count, i;
    size_t pos;
    char why[160];
    *n_ops = 0;
    if (n < VX_LOGREC_HEADER || vex_get_u32le(p) != VX_LOGREC_MAGIC)
        return vx_err_set(err, VEX_CORRUPT, "bad operation header");
    count = vex_get_u32le(p + 4);
    for (i = 0, pos = VX_LOGREC_HEADER; i < count; i++) {
        int kind;
        uint64_t id;
        const void *vec;
        const unsigned char *meta;
        size_t meta_len, used;
        int rc;
        used = vx_logrec_op_decode(p + pos, n - pos, cfg->vec_bytes, &kind, &id,
                                   &vec, &meta, &meta_len);
        if (used == 0)
            return vx_err_set(err, VEX_CORRUPT,
                              "operation %u at byte %zu is malformed", i, pos);
        if (kind == VX_OP_SETMETA)
            return vx_err_set(err, VEX_CORRUPT,
                              "operation %u at byte %zu is a metadata update "
                              "without a vector (never logged)",
                              i, pos);
        if (vec) {
            /* the float checks read aligned floats: a vector after
             * variable-length metadata is checked on a copy */
            if ((uintptr_t)vec % sizeof(float) != 0) {
                memcpy(vec_scratch, vec, cfg->vec_bytes);
                vec = vec_scratch;
            }
            if (vx_vector_check(cfg, vec, why, sizeof why) != VEX_OK)
                return vx_err_set(err, VEX_CORRUPT, "operation %u: %s", i, why);
        }
        if (meta_len &&
            (rc = check_meta(meta, meta_len, mem, i, pos, err)) != VEX_OK)
            return rc;
        pos += used;
    }
    if (pos != n)
        return vx_err_set(err, VEX_CORRUPT,
                          "%zu bytes after the last of %u operations", n - pos,
                          count);
    *n_ops = count;
    return VEX_OK;
}

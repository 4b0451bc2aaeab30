/* SPDX-License-Identifier: Apache-2.0 */
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
#include "text/text.h"
#include "util/endian.h"
#include "util/rd.h"

_Static_assert(VM_MAX_ENCODED == VEX_MAX_META_BYTES,
               "vexdb.h documents the metadata limit");
/* a payload length and the sizes of one operation fit the u32 fields */
_Static_assert(VEX_MAX_PAYLOAD <= UINT32_MAX, "payload length field");
_Static_assert(VT_MAX_TEXT == VEX_MAX_TEXT, "vexdb.h documents the text limit");

int vx_logrec_kind_has_vec(int kind)
{
    return kind == VX_OP_INSERT || kind == VX_OP_UPSERT ||
           kind == VX_OP_INSERT_M || kind == VX_OP_UPSERT_M ||
           kind == VX_OP_INSERT_P || kind == VX_OP_UPSERT_P ||
           kind == VX_OP_INSERT_T || kind == VX_OP_UPSERT_T;
}

int vx_logrec_kind_has_meta(int kind)
{
    return kind >= VX_OP_INSERT_M && kind <= VX_OP_UPSERT_T;
}

/* kinds with the 24-byte header: a payload length (possibly 0 for 9, 10) */
int vx_logrec_kind_has_payload(int kind)
{
    return kind >= VX_OP_INSERT_P && kind <= VX_OP_UPSERT_T;
}

int vx_logrec_kind_has_text(int kind)
{
    return kind == VX_OP_INSERT_T || kind == VX_OP_UPSERT_T;
}

int vx_logrec_kind_is_insert(int kind)
{
    return kind == VX_OP_INSERT || kind == VX_OP_INSERT_M ||
           kind == VX_OP_INSERT_P || kind == VX_OP_INSERT_T;
}

int vx_logrec_put_kind(int insert, size_t meta_len, size_t pay_len,
                       size_t txt_len)
{
    if (txt_len > 0)
        return insert ? VX_OP_INSERT_T : VX_OP_UPSERT_T;
    if (pay_len > 0)
        return insert ? VX_OP_INSERT_P : VX_OP_UPSERT_P;
    if (meta_len > 0)
        return insert ? VX_OP_INSERT_M : VX_OP_UPSERT_M;
    return insert ? VX_OP_INSERT : VX_OP_UPSERT;
}

const char *vx_logrec_op_name(int kind)
{
    switch (kind) {
    case VX_OP_INSERT:
    case VX_OP_INSERT_M:
    case VX_OP_INSERT_P:
    case VX_OP_INSERT_T:
        return "insert";
    case VX_OP_UPSERT:
    case VX_OP_UPSERT_M:
    case VX_OP_UPSERT_P:
    case VX_OP_UPSERT_T:
        return "upsert";
    case VX_OP_SETMETA:
        return "metadata update";
    default:
        return "delete";
    }
}

static size_t op_header(int kind)
{
    return vx_logrec_kind_has_payload(kind) ? VX_LOGREC_OP_HEADER_P
                                            : VX_LOGREC_OP_HEADER;
}

size_t vx_logrec_op_size(size_t vec_bytes, int kind, size_t meta_len,
                         size_t pay_len, size_t txt_len)
{
    return op_header(kind) + (vx_logrec_kind_has_vec(kind) ? vec_bytes : 0) +
           (vx_logrec_kind_has_meta(kind) ? meta_len : 0) +
           (vx_logrec_kind_has_payload(kind) ? pay_len : 0) +
           (vx_logrec_kind_has_text(kind) ? txt_len : 0);
}

void vx_logrec_header(unsigned char *p, uint32_t n_ops)
{
    vex_put_u32le(p, VX_LOGREC_MAGIC);
    vex_put_u32le(p + 4, n_ops);
}

size_t vx_logrec_op_decode(const unsigned char *p, size_t n, size_t vec_bytes,
                           vx_op *op)
{
    vx_rd r = vx_rd_new(p, n);
    uint32_t ml = 0, pl = 0, tl = 0;
    int k;
    memset(op, 0, sizeof *op);
    if (n < VX_LOGREC_OP_HEADER)
        return 0;
    k = vx_rd_u8(&r, NULL);
    if (k < VX_OP_INSERT || k > VX_OP_UPSERT_T)
        return 0;
    if (vx_logrec_kind_has_meta(k)) {
        vx_rd_zero(&r, 3, NULL);
        ml = vx_rd_u32(&r, NULL);
        /* kinds 4-6 exist for their metadata; 7 to 10 may have none */
        if ((ml == 0 && !vx_logrec_kind_has_payload(k)) || ml > VM_MAX_ENCODED)
            return 0;
    } else {
        vx_rd_zero(&r, 7, NULL);
    }
    op->id = vx_rd_u64(&r, NULL);
    if (vx_logrec_kind_has_text(k)) {
        /* 9, 10: a text, and maybe a payload */
        pl = vx_rd_u32(&r, NULL);
        tl = vx_rd_u32(&r, NULL);
        if (pl > VEX_MAX_PAYLOAD || tl == 0 || tl > VT_MAX_TEXT)
            return 0;
    } else if (vx_logrec_kind_has_payload(k)) {
        pl = vx_rd_u32(&r, NULL);
        vx_rd_zero(&r, 4, NULL);
        if (pl == 0 || pl > VEX_MAX_PAYLOAD)
            return 0;
    }
    if (vx_logrec_kind_has_vec(k))
        op->vec = vx_rd_take(&r, vec_bytes, NULL);
    if (ml)
        op->meta = vx_rd_take(&r, ml, NULL);
    if (pl)
        op->pay = vx_rd_take(&r, pl, NULL);
    if (tl)
        op->txt = (const char *)vx_rd_take(&r, tl, NULL);
    if (!vx_rd_ok(&r)) {
        memset(op, 0, sizeof *op);
        return 0;
    }
    op->kind = k;
    op->meta_len = ml;
    op->pay_len = pl;
    op->txt_len = tl;
    return vx_rd_pos(&r);
}

void vx_logrec_op_encode(unsigned char *p, const vx_op *op, size_t vec_bytes)
{
    int kind = op->kind;
    size_t pos = op_header(kind);
    memset(p, 0, pos);
    p[0] = (unsigned char)kind;
    if (vx_logrec_kind_has_meta(kind))
        vex_put_u32le(p + 4, (uint32_t)op->meta_len);
    vex_put_u64le(p + 8, op->id);
    if (vx_logrec_kind_has_payload(kind))
        vex_put_u32le(p + 16, (uint32_t)op->pay_len);
    if (vx_logrec_kind_has_text(kind))
        vex_put_u32le(p + 20, (uint32_t)op->txt_len);
    if (vx_logrec_kind_has_vec(kind)) {
        memcpy(p + pos, op->vec, vec_bytes);
        pos += vec_bytes;
    }
    if (vx_logrec_kind_has_meta(kind)) {
        if (op->meta != NULL && op->meta_len > 0)
            memcpy(p + pos, op->meta, op->meta_len);
        pos += op->meta_len;
    }
    if (vx_logrec_kind_has_payload(kind)) {
        if (op->pay != NULL && op->pay_len > 0)
            memcpy(p + pos, op->pay, op->pay_len);
        pos += op->pay_len;
    }
    if (vx_logrec_kind_has_text(kind) && op->txt != NULL)
        memcpy(p + pos, op->txt, op->txt_len);
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
        vx_op op;
        const void *vec;
        size_t used;
        int rc;
        used = vx_logrec_op_decode(p + pos, n - pos, cfg->vec_bytes, &op);
        vec = op.vec;
        if (used == 0)
            return vx_err_set(err, VEX_CORRUPT,
                              "operation %u at byte %zu is malformed", i, pos);
        if (op.kind == VX_OP_SETMETA)
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
        if (op.meta_len &&
            (rc = check_meta(op.meta, op.meta_len, mem, i, pos, err)) != VEX_OK)
            return rc;
        if (op.txt_len) {
            vex_err e;
            vx_err_init(&e);
            rc = vx_text_check_utf8(op.txt, op.txt_len, "text", &e);
            if (rc != VEX_OK) {
                char msg[VEX_ERRMSG_MAX];
                vx_err_copy(&e, msg, sizeof msg);
                rc =
                    vx_err_set(err, VEX_CORRUPT,
                               "operation %u at byte %zu: %.400s", i, pos, msg);
            }
            vx_err_destroy(&e);
            if (rc != VEX_OK)
                return rc;
        }
        pos += used;
    }
    if (pos != n)
        return vx_err_set(err, VEX_CORRUPT,
                          "%zu bytes after the last of %u operations", n - pos,
                          count);
    *n_ops = count;
    return VEX_OK;
}

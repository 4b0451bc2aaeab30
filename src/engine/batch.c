/*
 * batch.c - vex_batch: operations encoded ahead of a commit, in the log
 * record encoding (engine/logrec.h), so that a commit checks them in the
 * caller's thread and hands the bytes to the writer queue as they are.
 * A batch is bounded by VX_BATCH_MAX_BYTES of log record (metadata-only
 * updates count with the vector the leader adds to them).
 */
#include <string.h>

#include "engine/coll_int.h"
#include "engine/logrec.h"
#include "engine/meta_api.h"
#include "meta/value.h"
#include "util/endian.h"

struct vex_batch {
    vex_mem mem;
    size_t vec_bytes;
    unsigned char *buf;
    size_t len, cap, n;
    size_t logged; /* len plus the vector of every metadata-only update,
                      which the log record carries (bounded by
                      VX_BATCH_MAX_BYTES) */
};

int vex_batch_create(size_t vector_size, const vex_allocator *alloc,
                     vex_batch **out)
{
    vex_mem mem;
    vex_batch *b;
    if (out == NULL)
        return VEX_MISUSE;
    *out = NULL;
    if (vector_size == 0 || vector_size > (size_t)VEX_MAX_DIM * 4)
        return VEX_INVALID;
    if (vx_mem_init(&mem, alloc) != VEX_OK)
        return VEX_INVALID;
    b = vx_mem_calloc(&mem, 1, sizeof *b);
    if (b == NULL)
        return VEX_NOMEM;
    b->mem = mem;
    b->vec_bytes = vector_size;
    *out = b;
    return VEX_OK;
}

void vex_batch_free(vex_batch *b)
{
    vex_mem mem;
    if (b == NULL)
        return;
    mem = b->mem;
    vx_mem_free(&mem, b->buf);
    vx_mem_free(&mem, b);
}

size_t vex_batch_count(const vex_batch *b)
{
    return b ? b->n : 0;
}

void vex_batch_clear(vex_batch *b)
{
    if (b) {
        b->len = 0;
        b->logged = 0;
        b->n = 0;
    }
}

static int batch_add(vex_batch *b, int kind, uint64_t id, const void *vec,
                     const vex_meta *meta)
{
    const vm_record *rec = vx_meta_record(meta);
    size_t need, meta_len = 0;
    if (b == NULL || (vx_logrec_kind_has_vec(kind) && vec == NULL))
        return VEX_MISUSE;
    if (vx_vm_record_n_fields(rec) > 0 || kind == VX_OP_SETMETA) {
        if (kind == VX_OP_INSERT)
            kind = VX_OP_INSERT_M;
        else if (kind == VX_OP_UPSERT)
            kind = VX_OP_UPSERT_M;
        meta_len = vx_vm_record_encoded_size(rec);
    }
    need = vx_logrec_op_size(b->vec_bytes, kind, meta_len);
    if (b->logged + need + (kind == VX_OP_SETMETA ? b->vec_bytes : 0) >
        VX_BATCH_MAX_BYTES)
        return VEX_FULL;
    if (b->len + need > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 4096;
        unsigned char *p;
        while (cap < b->len + need)
            cap *= 2;
        p = vx_mem_realloc(&b->mem, b->buf, cap);
        if (p == NULL)
            return VEX_NOMEM;
        b->buf = p;
        b->cap = cap;
    }
    vx_logrec_op_encode(b->buf + b->len, kind, id, vec, b->vec_bytes, NULL, 0);
    if (meta_len) {
        unsigned char *p = b->buf + b->len + need - meta_len;
        vex_put_u32le(b->buf + b->len + 4, (uint32_t)meta_len);
        vx_vm_record_encode(rec, p);
    }
    b->len += need;
    b->logged += need + (kind == VX_OP_SETMETA ? b->vec_bytes : 0);
    b->n++;
    return VEX_OK;
}

int vex_batch_insert(vex_batch *b, uint64_t id, const void *vector)
{
    return batch_add(b, VX_OP_INSERT, id, vector, NULL);
}

int vex_batch_upsert(vex_batch *b, uint64_t id, const void *vector)
{
    return batch_add(b, VX_OP_UPSERT, id, vector, NULL);
}

int vex_batch_delete(vex_batch *b, uint64_t id)
{
    return batch_add(b, VX_OP_DELETE, id, NULL, NULL);
}

int vex_batch_insert_meta(vex_batch *b, uint64_t id, const void *vector,
                          const vex_meta *meta)
{
    return batch_add(b, VX_OP_INSERT, id, vector, meta);
}

int vex_batch_upsert_meta(vex_batch *b, uint64_t id, const void *vector,
                          const vex_meta *meta)
{
    return batch_add(b, VX_OP_UPSERT, id, vector, meta);
}

int vex_batch_update_meta(vex_batch *b, uint64_t id, const vex_meta *meta)
{
    return batch_add(b, VX_OP_SETMETA, id, NULL, meta);
}

int vex_batch_commit(vex_collection *c, const vex_batch *b)
{
    vx_wreq w;
    size_t pos = 0, i = 0, n_setmeta = 0;
    int wrc;
    if ((wrc = vx_coll_writable(c, "batch commit")) != VEX_OK)
        return wrc;
    if (b == NULL)
        return vx_err_set(&c->err, VEX_MISUSE, "batch is NULL");
    if (b->vec_bytes != c->vec_bytes)
        return vx_err_set(&c->err, VEX_INVALID,
                          "the batch holds vectors of %zu bytes, the "
                          "collection's have %zu",
                          b->vec_bytes, c->vec_bytes);
    if (b->n == 0)
        return VEX_OK;
    /* vectors and metadata are checked here, in the caller's thread */
    while (pos < b->len) {
        int kind = 0, rc = VEX_OK;
        uint64_t id = 0;
        const void *vec = NULL;
        const unsigned char *meta;
        size_t meta_len;
        char msg[VEX_ERRMSG_MAX];
        pos += vx_logrec_op_decode(b->buf + pos, b->len - pos, c->vec_bytes,
                                   &kind, &id, &vec, &meta, &meta_len);
        if (vx_logrec_kind_has_vec(kind) &&
            vx_coll_check_vec(c, vec, vx_logrec_op_name(kind), i, id, msg,
                              sizeof msg) != VEX_OK)
            return vx_err_set(&c->err, VEX_INVALID, "%s", msg);
        if (kind != VX_OP_DELETE && c->schema) {
            vm_record *rec = NULL;
            if (meta_len)
                rc = vx_vm_record_decode(meta, meta_len, c->mem, &c->err, &rec);
            if (rc == VEX_OK)
                rc = vx_coll_check_meta(c, rec, kind, id, i, msg, sizeof msg);
            vx_vm_record_free(rec, c->mem);
            if (rc != VEX_OK)
                return vx_err_set(&c->err, rc, "%s", msg);
        }
        n_setmeta += kind == VX_OP_SETMETA;
        i++;
    }
    memset(&w, 0, sizeof w);
    w.ops = b->buf;
    w.ops_len = b->len;
    w.n_ops = b->n;
    w.n_setmeta = n_setmeta;
    return vx_coll_submit(c, &w);
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * qcodes.c - quantized codes of an index: storage, training, blob
 * sections (see qcodes.h; bytes in docs/FORMAT.md, "Index blob").
 *
 * Codes are allocated only once the quantizer is trained (an untrained
 * quantized index searches full vectors and has no codes to keep), then
 * follow the kind's capacity. The quantizer section is the quantizer's own
 * checksummed blob (vx_vq_serialize), copied on open; the codes section is
 * used in place when the blob is borrowed, like HNSW's slots. The block
 * copy of 4-bit codes (qcodes.h) follows every write one lane at a time
 * (vx_vq_pq4_set), so an add or a remove costs O(M) more, not a repack.
 */
#include "index/qcodes.h"

#include <math.h>
#include <string.h>

#include "index/index.h"

int vx_qc_create(const vex_mem *mem, vex_err *err, const vex_index_config *cfg,
                 vex_qcodes **out)
{
    vex_qcodes *qc;
    int rc;
    *out = NULL;
    qc = vx_mem_calloc(mem, 1, sizeof *qc);
    if (qc == NULL)
        return vx_err_set(err, VEX_NOMEM, "out of memory creating index");
    qc->mem = mem;
    vx_vq_params_init(&qc->params, (vq_kind)cfg->quant, cfg->dim, cfg->metric);
    qc->params.pq_m = cfg->quant_m;
    if (cfg->quant_bits)
        qc->params.pq_nbits = cfg->quant_bits;
    rc = vx_vq_create(mem, &qc->params, &qc->q, err);
    if (rc != VEX_OK) {
        vx_mem_free(mem, qc);
        return rc;
    }
    qc->code_size = vx_vq_code_size(qc->q);
    *out = qc;
    return VEX_OK;
}

void vx_qc_destroy(vex_qcodes *qc)
{
    if (qc == NULL)
        return;
    vx_vq_destroy(qc->q);
    if (!qc->borrowed)
        vx_mem_free_aligned(qc->mem, qc->codes);
    vx_mem_free_aligned(qc->mem, qc->blocks);
    vx_mem_free(qc->mem, qc);
}

void vx_qc_use_blocks(vex_qcodes *qc)
{
    qc->use_blocks = 1;
}

static void blocks_free(vex_qcodes *qc)
{
    vx_mem_free_aligned(qc->mem, qc->blocks);
    qc->blocks = NULL;
    qc->blocks_cap = 0;
    qc->block_bytes = 0;
}

/* A block copy for q with room for `cap` slots (rounded up to 32),
 * keeping the blocks of the current copy, if any; the new lanes are zero.
 * Unchanged on failure. Only for a store that asked and 4-bit PQ/OPQ. */
static int blocks_alloc(vex_qcodes *qc, const vq_quantizer *q, uint64_t cap)
{
    size_t bb = vx_vq_pq4_blocks_size(q, 1), n_blocks, bytes;
    unsigned char *b;
    cap = cap == 0 ? 32 : (cap + 31) / 32 * 32;
    if (cap / 32 > SIZE_MAX || vex_mul_overflow((size_t)(cap / 32), bb, &bytes))
        return VEX_NOMEM;
    b = vx_mem_alloc_aligned(qc->mem, bytes, 64);
    if (b == NULL)
        return VEX_NOMEM;
    n_blocks = qc->blocks ? (size_t)(qc->blocks_cap / 32) : 0;
    if (n_blocks > cap / 32)
        n_blocks = (size_t)(cap / 32);
    if (n_blocks)
        memcpy(b, qc->blocks, n_blocks * bb);
    memset(b + n_blocks * bb, 0, bytes - n_blocks * bb);
    vx_mem_free_aligned(qc->mem, qc->blocks);
    qc->blocks = b;
    qc->blocks_cap = cap;
    qc->block_bytes = bb;
    return VEX_OK;
}

static int blocks_wanted(const vex_qcodes *qc, const vq_quantizer *q)
{
    return qc->use_blocks && vx_vq_pq4_blocks_size(q, 1) > 0;
}

/* (Re)allocate the code array for `cap` slots, keeping `keep` codes. */
static int codes_alloc(vex_qcodes *qc, uint64_t cap, uint64_t keep)
{
    size_t bytes;
    unsigned char *c;
    if (cap == 0)
        cap = 1;
    if (cap > SIZE_MAX || vex_mul_overflow((size_t)cap, qc->code_size, &bytes))
        return VEX_NOMEM;
    c = vx_mem_alloc_aligned(qc->mem, bytes, 64);
    if (c == NULL)
        return VEX_NOMEM;
    memset(c, 0, bytes);
    if (keep && qc->codes)
        memcpy(c, qc->codes, (size_t)keep * qc->code_size);
    if (!qc->borrowed)
        vx_mem_free_aligned(qc->mem, qc->codes);
    qc->codes = c;
    qc->cap = cap;
    qc->borrowed = 0;
    return VEX_OK;
}

int vx_qc_reserve(vex_qcodes *qc, uint64_t cap, vex_err *err)
{
    uint64_t keep = qc->cap;
    if (cap > qc->want)
        qc->want = cap;
    if (!qc->trained || (cap <= qc->cap && !qc->borrowed))
        return VEX_OK;
    /* geometric growth: streams of small adds copy O(n) in total */
    if (cap < qc->cap + qc->cap / 2)
        cap = qc->cap + qc->cap / 2;
    /* the block copy first: if the codes then fail, the copy is just
     * larger than needed and blocks_cap >= cap still holds */
    if ((qc->blocks && cap > qc->blocks_cap &&
         blocks_alloc(qc, qc->q, cap) != VEX_OK) ||
        codes_alloc(qc, cap, keep) != VEX_OK)
        return vx_err_set(err, VEX_NOMEM,
                          "out of memory growing the codes to %llu",
                          (unsigned long long)cap);
    return VEX_OK;
}

int vx_qc_train(vex_qcodes *qc, const float *x, size_t n, uint64_t n_slots,
                vex_err *err)
{
    vq_quantizer *q = NULL;
    int rc;
    if (qc->trained)
        return vx_err_set(err, VEX_MISUSE, "the quantizer is trained already");
    /* a fresh quantizer, so that a failed training leaves nothing
     * half-done behind */
    rc = vx_vq_create(qc->mem, &qc->params, &q, err);
    if (rc == VEX_OK) {
        rc = vx_vq_train(q, x, n);
        if (rc != VEX_OK)
            vx_err_set(err, rc, "training the quantizer: %s", vx_vq_errmsg(q));
    }
    if (rc == VEX_OK) {
        qc->cap = 0;
        rc = codes_alloc(qc, qc->want > n_slots ? qc->want : n_slots, 0);
        /* the block copy: all lanes zero, filled by the kind's vx_qc_encode */
        blocks_free(qc);
        if (rc == VEX_OK && blocks_wanted(qc, q))
            rc = blocks_alloc(qc, q, qc->cap);
        if (rc != VEX_OK)
            vx_err_set(err, rc, "out of memory for the codes");
    }
    if (rc != VEX_OK) {
        vx_vq_destroy(q);
        return rc;
    }
    vx_vq_destroy(qc->q);
    qc->q = q;
    qc->trained = 1;
    return VEX_OK;
}

void vx_qc_untrain(vex_qcodes *qc)
{
    if (!qc->borrowed)
        vx_mem_free_aligned(qc->mem, qc->codes);
    qc->codes = NULL;
    qc->cap = 0;
    qc->borrowed = 0;
    qc->trained = 0;
    blocks_free(qc);
    vx_vq_destroy(qc->q);
    qc->q = NULL;
    /* a fresh untrained quantizer (for its code size and the next try) */
    if (vx_vq_create(qc->mem, &qc->params, &qc->q, NULL) != VEX_OK)
        qc->q = NULL;
}

int vx_qc_encode(vex_qcodes *qc, uint64_t slot, const float *x, size_t n,
                 vex_err *err)
{
    size_t i;
    int rc;
    if (!qc->trained || n == 0)
        return VEX_OK;
    rc = vx_vq_encode(qc->q, x, n, qc->codes + slot * qc->code_size);
    if (rc != VEX_OK)
        return vx_err_set(err, rc, "encoding vectors: %s", vx_vq_errmsg(qc->q));
    if (qc->blocks)
        for (i = 0; i < n; i++)
            vx_vq_pq4_set(qc->q, qc->blocks, (size_t)slot + i,
                          qc_code(qc, slot + i));
    return VEX_OK;
}

void vx_qc_move(vex_qcodes *qc, uint64_t dst, uint64_t src)
{
    if (!qc->trained)
        return;
    memcpy(qc->codes + dst * qc->code_size, qc->codes + src * qc->code_size,
           qc->code_size);
    if (qc->blocks)
        vx_vq_pq4_set(qc->q, qc->blocks, (size_t)dst, qc_code(qc, dst));
}

size_t vx_qc_candidates(float refine, float dflt, size_t k)
{
    double r = refine > 0.0f ? refine : dflt, c;
    if (!(r >= 1.0))
        r = 1.0;
    c = ceil(r * (double)k);
    if (c > VEX_MAX_K)
        c = VEX_MAX_K;
    return c < (double)k ? k : (size_t)c;
}

void vx_qc_blob_sections(const vex_qcodes *qc, vex_blob_info *info,
                         uint64_t n_slots)
{
    vex_blob_section *s;
    if (!qc->trained)
        return;
    s = &info->sec[info->n_sections++];
    s->id = VEX_SEC_QUANTIZER;
    s->length = vx_vq_blob_size(qc->q);
    s = &info->sec[info->n_sections++];
    s->id = VEX_SEC_CODES;
    s->length = n_slots * qc->code_size;
}

int vx_qc_blob_write(vex_qcodes *qc, const vex_blob_info *info,
                     unsigned char *buf, uint64_t n_slots, vex_err *err)
{
    const vex_blob_section *sq = vx_blob_find(info, VEX_SEC_QUANTIZER);
    const vex_blob_section *sc = vx_blob_find(info, VEX_SEC_CODES);
    int rc;
    if (sq == NULL)
        return VEX_OK;
    rc = vx_vq_serialize(qc->q, buf + sq->offset, (size_t)sq->length);
    if (rc != VEX_OK)
        return vx_err_set(err, rc, "writing the quantizer: %s",
                          vx_vq_errmsg(qc->q));
    if (n_slots)
        memcpy(buf + sc->offset, qc->codes, (size_t)sc->length);
    return VEX_OK;
}

int vx_qc_blob_open(vex_qcodes *qc, const vex_blob_info *info,
                    const unsigned char *buf, uint64_t n_slots, int borrow,
                    vex_err *err)
{
    const vex_blob_section *sq = vx_blob_find(info, VEX_SEC_QUANTIZER);
    const vex_blob_section *sc = vx_blob_find(info, VEX_SEC_CODES);
    vq_quantizer *q = NULL;
    vex_err e;
    int rc;
    if (sq == NULL && sc == NULL)
        return VEX_OK; /* untrained */
    if (sq == NULL || sc == NULL)
        return vx_err_set(
            err, VEX_CORRUPT, "index blob: a %s section without the %s section",
            sq ? "quantizer" : "codes", sq ? "codes" : "quantizer");
    vx_err_init(&e);
    rc = vx_vq_deserialize(qc->mem, buf + sq->offset, (size_t)sq->length, &q,
                           &e);
    if (rc != VEX_OK) {
        rc = vx_err_set(err, rc == VEX_NOMEM ? VEX_NOMEM : VEX_CORRUPT,
                        "index blob: quantizer section at byte %llu: %s",
                        (unsigned long long)sq->offset, e.msg);
        vx_err_destroy(&e);
        return rc;
    }
    vx_err_destroy(&e);
    if ((uint32_t)vx_vq_get_kind(q) != info->quant ||
        vx_vq_dim(q) != info->dim ||
        vx_vq_metric(q) != (vex_metric)info->metric ||
        vx_vq_pq_m(q) != info->quant_m ||
        ((info->quant == VEX_QUANT_PQ || info->quant == VEX_QUANT_OPQ) &&
         vx_vq_pq_nbits(q) != info->quant_bits)) {
        rc = vx_err_set(err, VEX_CORRUPT,
                        "index blob: the quantizer section (kind %d, dim "
                        "%u, M %u) does not match the header (quant %u, "
                        "dim %u, M %u)",
                        (int)vx_vq_get_kind(q), vx_vq_dim(q), vx_vq_pq_m(q),
                        info->quant, info->dim, info->quant_m);
        vx_vq_destroy(q);
        return rc;
    }
    if (sc->length / vx_vq_code_size(q) != n_slots ||
        sc->length % vx_vq_code_size(q) != 0) {
        size_t cs = vx_vq_code_size(q);
        vx_vq_destroy(q);
        return vx_err_set(err, VEX_CORRUPT,
                          "index blob: codes section of %llu bytes, expected "
                          "%llu codes of %zu bytes",
                          (unsigned long long)sc->length,
                          (unsigned long long)n_slots, cs);
    }
    vx_vq_destroy(qc->q);
    qc->q = q;
    qc->code_size = vx_vq_code_size(q);
    qc->trained = 1;
    qc->want = n_slots;
    if (borrow) {
        qc->codes = (unsigned char *)(uintptr_t)(buf + sc->offset);
        qc->cap = n_slots;
        qc->borrowed = 1;
    } else {
        qc->cap = 0;
        rc = codes_alloc(qc, n_slots, 0);
        if (rc != VEX_OK)
            return vx_err_set(err, rc, "out of memory copying the codes");
        if (n_slots)
            memcpy(qc->codes, buf + sc->offset, (size_t)sc->length);
    }
    /* the block copy is ours even when the codes are borrowed */
    blocks_free(qc);
    if (blocks_wanted(qc, q)) {
        rc = blocks_alloc(qc, q, qc->cap);
        if (rc == VEX_OK)
            rc = vx_vq_pq4_pack(q, qc->codes, (size_t)n_slots, qc->blocks);
        if (rc != VEX_OK)
            return vx_err_set(err, VEX_NOMEM,
                              "out of memory for the codes' block copy");
    }
    return VEX_OK;
}

uint64_t vx_qc_memory(const vex_qcodes *qc)
{
    uint64_t b = sizeof *qc;
    if (qc->trained) {
        /* borrowed codes count too: searches read them all */
        b += vx_vq_blob_size(qc->q) + qc->cap * qc->code_size;
        b += qc->blocks_cap / 32 * qc->block_bytes;
    }
    return b;
}

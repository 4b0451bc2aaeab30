/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_logrec.c - fuzz target for the log record codec itself
 * (src/engine/logrec.h), called directly, without a database: the
 * decoder a replay runs on every record of a log file. fuzz_db_log
 * covers the same bytes through a whole collection open; this one is
 * thousands of times faster per input, so a campaign explores the codec
 * far deeper. Input (the same as fuzz_db_log's, so the two share seeds):
 * byte 0 picks the configuration (bit 1: bit vectors of dim 12 under
 * Hamming, else float32 dim 4 under L2), then records, each a 2-byte
 * little-endian length and that many bytes.
 *
 * Checked for each record: vx_logrec_check gives VEX_OK or VEX_CORRUPT
 * (never a crash, never reads past the record); after VEX_OK, the
 * operations decode one after another to exactly the record's length,
 * none is a metadata-only update, payloads (kinds 7 and 8) are 1 to
 * VEX_MAX_PAYLOAD bytes (0 to that with kinds 9 and 10, which always
 * carry a text), and encoding them again gives the same
 * bytes (the encoding is canonical: what replay accepts is what the
 * write path writes).
 */
#include <stdlib.h>
#include <string.h>

#include "engine/logrec.h"
#include "fuzz.h"
#include "util/mem.h"

static void check(int ok)
{
    if (!ok)
        abort();
}

static void one_record(const unsigned char *p, size_t n,
                       const vex_index_config *cfg, const vex_mem *mem)
{
    _Alignas(64) unsigned char scratch[64];
    unsigned char *copy;
    uint32_t n_ops = 0;
    size_t pos = VX_LOGREC_HEADER;
    vex_err err;
    int rc;
    vx_err_init(&err);
    rc = vx_logrec_check(p, n, cfg, scratch, mem, &err, &n_ops);
    check(rc == VEX_OK || rc == VEX_CORRUPT);
    vx_err_destroy(&err);
    if (rc != VEX_OK)
        return;
    copy = malloc(n ? n : 1);
    check(copy != NULL);
    vx_logrec_header(copy, n_ops);
    for (uint32_t i = 0; i < n_ops; i++) {
        vx_op op;
        size_t used;
        used = vx_logrec_op_decode(p + pos, n - pos, cfg->vec_bytes, &op);
        check(used > 0 && op.kind != VX_OP_SETMETA);
        check(used == vx_logrec_op_size(cfg->vec_bytes, op.kind, op.meta_len,
                                        op.pay_len, op.txt_len));
        /* kinds 7 and 8 always carry a payload; 9 and 10 may, and always
         * carry a text */
        check(op.pay_len <= VEX_MAX_PAYLOAD &&
              (op.pay_len == 0 || vx_logrec_kind_has_payload(op.kind)) &&
              (op.pay_len > 0 || !vx_logrec_kind_has_payload(op.kind) ||
               vx_logrec_kind_has_text(op.kind)));
        check((op.txt_len > 0) == vx_logrec_kind_has_text(op.kind));
        vx_logrec_op_encode(copy + pos, &op, cfg->vec_bytes);
        pos += used;
    }
    check(pos == n);
    check(memcmp(copy, p, n) == 0);
    free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    vex_index_config cfg;
    vex_mem mem;
    size_t pos = 1;
    if (size < 1)
        return 0;
    memset(&cfg, 0, sizeof cfg);
    if (data[0] & 2) {
        cfg.elem = VEX_ELEM_BIT;
        cfg.metric = VEX_METRIC_HAMMING;
        cfg.dim = 12;
    } else {
        cfg.elem = VEX_ELEM_F32;
        cfg.metric = VEX_METRIC_L2;
        cfg.dim = 4;
    }
    cfg.vec_bytes = vex_vector_size(cfg.elem, cfg.dim);
    check(vx_mem_init(&mem, NULL) == VEX_OK);
    while (pos + 2 <= size) {
        size_t n = (size_t)data[pos] | (size_t)data[pos + 1] << 8;
        pos += 2;
        if (n > size - pos)
            n = size - pos;
        one_record(data + pos, n, &cfg, &mem);
        pos += n;
    }
    return 0;
}

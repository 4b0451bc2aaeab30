/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_postings.c - fuzz target for the BM25 postings opener,
 * vx_post_open (src/text/postings.c, bytes in docs/FORMAT.md "Text
 * postings"). Byte 0 of the input is flags, the rest is the blob:
 *  - bit 0 set: the trailing CRC32C is recomputed first, so damaged fields
 *    get past the checksum and the structural checks behind it are what
 *    is fuzzed.
 * Checked: the status is VEX_OK or VEX_CORRUPT, never a crash; a blob
 * that opens is used whole: every posting list walked (keys ascending,
 * below n_keys, tf at most the document's length), every term found by
 * its own bytes, and BM25 top-k run for single terms and for all terms
 * at once, each result a key holding a term.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "text/postings.h"
#include "util/crc32c.h"
#include "util/endian.h"
#include "vexdb.h"

static void check(int ok)
{
    if (!ok)
        abort();
}

typedef struct fz_walk {
    const vt_postings *p;
    int64_t last;
} fz_walk;

static int fz_each(void *ctx, uint32_t key, uint32_t tf)
{
    fz_walk *w = ctx;
    check((int64_t)key > w->last && key < vx_post_n_keys(w->p));
    check(tf >= 1 && tf <= vx_post_doc_len(w->p, key));
    w->last = key;
    return 0;
}

static void exercise(const vt_postings *p)
{
    enum { MAXQ = 64 };
    vt_qterm q[MAXQ];
    vt_hit h[8];
    vt_bm25 prm;
    uint32_t t, n = vx_post_n_terms(p), nq = 0;
    size_t nh, i;
    uint64_t docs = vx_post_n_docs(p);
    prm.k1 = 1.2;
    prm.b = 0.75;
    prm.avgdl = docs && vx_post_total_len(p)
                    ? (double)vx_post_total_len(p) / (double)docs
                    : 1.0;
    for (t = 0; t < n; t++) {
        size_t len;
        const char *term = vx_post_term(p, t, &len);
        fz_walk w = {p, -1};
        check(vx_post_find(p, term, len) == (int64_t)t);
        check(vx_post_each(p, t, fz_each, &w) == VEX_OK);
        if (nq < MAXQ) {
            q[nq].term = t;
            q[nq].weight = vx_bm25_idf(docs, vx_post_df(p, t));
            check(vx_post_search(p, &prm, &q[nq], 1, 8, NULL, NULL, h, &nh,
                                 NULL, NULL) == VEX_OK);
            for (i = 0; i < nh; i++)
                check(h[i].key < vx_post_n_keys(p) && h[i].score > 0.0);
            nq++;
        }
    }
    check(vx_post_search(p, &prm, q, nq, 5, NULL, NULL, h, &nh, NULL, NULL) ==
          VEX_OK);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    vex_mem m;
    vt_postings *p = NULL;
    unsigned char *copy;
    int rc;
    if (size < 1)
        return 0;
    copy = malloc(size); /* the blob without the flags byte, own buffer */
    if (copy == NULL)
        return 0;
    memcpy(copy, data + 1, size - 1);
    if ((data[0] & 1) && size - 1 >= 4)
        vex_put_u32le(copy + size - 5, vex_crc32c(copy, size - 5));
    vx_mem_init(&m, NULL);
    rc = vx_post_open(&m, copy, size - 1, "fuzz", 0, &p, NULL);
    check(rc == VEX_OK || rc == VEX_CORRUPT);
    if (rc == VEX_OK) {
        exercise(p);
        vx_post_close(p);
    }
    free(copy);
    return 0;
}

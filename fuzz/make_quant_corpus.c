/* SPDX-License-Identifier: Apache-2.0 */
/*
 * make_quant_corpus.c - writes the seed corpus of fuzz_quant to
 * fuzz/corpus/quant/: a blob of every kind (SQ8 per-dimension and
 * uniform, BQ, PQ 8- and 4-bit with and without padding, OPQ) trained on
 * small seeded data, each prefixed with the flags byte 0 (as is) and 1
 * (re-sealed), plus a truncated and a field-damaged copy. Built with the
 * fuzz targets, run by hand once:
 *     build/fuzz/make_quant_corpus fuzz/corpus/quant
 * The blobs depend on the training code; a change there changes the
 * seeds (they stay valid inputs either way).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quant/quant.h"
#include "util/endian.h"
#include "util/rng.h"

static const char *dir;

static void put(const char *name, int flags, const unsigned char *p, size_t n)
{
    char path[4096];
    FILE *f;
    unsigned char fl = (unsigned char)flags;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    f = fopen(path, "wb");
    if (f == NULL || fwrite(&fl, 1, 1, f) != 1 ||
        (n && fwrite(p, 1, n, f) != n) || fclose(f) != 0) {
        fprintf(stderr, "cannot write %s\n", path);
        exit(1);
    }
}

int main(int argc, char **argv)
{
    static const struct {
        const char *name;
        vq_kind kind;
        uint32_t dim, m, nbits;
        vex_metric metric;
        int uniform;
    } cfg[] = {
        {"sq8_l2", VQ_SQ8, 7, 0, 8, VEX_METRIC_L2, 0},
        {"sq8_uniform_cos", VQ_SQ8, 5, 0, 8, VEX_METRIC_COSINE, 1},
        {"bq_ip", VQ_BQ, 11, 0, 8, VEX_METRIC_IP, 0},
        {"pq8_l2", VQ_PQ, 4, 2, 8, VEX_METRIC_L2, 0},
        {"pq4_pad_ip", VQ_PQ, 5, 2, 4, VEX_METRIC_IP, 0},
        {"opq4_l2", VQ_OPQ, 4, 2, 4, VEX_METRIC_L2, 0},
    };
    enum { N = 300 };
    vex_mem mem;
    vex_rng r;
    size_t c, i;
    float *x;
    char name[128];
    if (argc != 2) {
        fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    dir = argv[1];
    vx_mem_init(&mem, NULL);
    vex_rng_seed(&r, 20240901);
    x = malloc(sizeof(float) * N * 16);
    for (i = 0; i < N * 16; i++)
        x[i] = (float)vex_rng_normal(&r) + (float)(i % 3);
    for (c = 0; c < sizeof cfg / sizeof cfg[0]; c++) {
        vq_params p;
        vq_quantizer *q = NULL;
        unsigned char *b;
        size_t n;
        vx_vq_params_init(&p, cfg[c].kind, cfg[c].dim, cfg[c].metric);
        p.pq_m = cfg[c].m;
        if (cfg[c].m)
            p.pq_nbits = cfg[c].nbits;
        p.sq8_uniform = cfg[c].uniform;
        p.train_iter = 3;
        p.opq_iter = 2;
        if (vx_vq_create(&mem, &p, &q, NULL) != VEX_OK ||
            vx_vq_train(q, x, N) != VEX_OK) {
            fprintf(stderr, "%s: %s\n", cfg[c].name, vx_vq_errmsg(q));
            return 1;
        }
        n = vx_vq_blob_size(q);
        b = malloc(n);
        if (b == NULL || vx_vq_serialize(q, b, n) != VEX_OK)
            return 1;
        snprintf(name, sizeof name, "%s", cfg[c].name);
        put(name, 0, b, n);
        snprintf(name, sizeof name, "%s_resealed", cfg[c].name);
        put(name, 1, b, n);
        snprintf(name, sizeof name, "%s_truncated", cfg[c].name);
        put(name, 0, b, n / 2);
        vex_put_u32le(b + 40, 1000); /* M out of range, then re-sealed */
        snprintf(name, sizeof name, "%s_bad_m", cfg[c].name);
        put(name, 1, b, n);
        free(b);
        vx_vq_destroy(q);
    }
    free(x);
    return 0;
}

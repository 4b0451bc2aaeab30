/* SPDX-License-Identifier: Apache-2.0 */
/*
 * make_dann_corpus.c - seeds for fuzz_diskann: small valid DiskANN
 * indexes (L2 with 4-bit codes, cosine, 8-bit codes, a record over a
 * page), each under the three flag bytes of the target. Run by hand:
 *     build/fuzz/make_dann_corpus fuzz/corpus/diskann
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "index/diskann.h"
#include "io/vfs.h"
#include "util/rng.h"

static int one(const char *dir, const char *name, size_t n, uint32_t dim,
               vex_metric m, uint32_t R)
{
    vex_mem mem;
    vex_vfs *vfs = NULL;
    vex_file *f = NULL;
    vx_dann_params p;
    vex_rng r;
    float *v = malloc(n * dim * sizeof *v);
    uint32_t *keys = malloc(n * sizeof *keys);
    unsigned char *buf = NULL;
    uint64_t len = 0;
    int rc;
    vx_mem_init(&mem, NULL);
    vex_rng_seed(&r, n + dim);
    for (size_t i = 0; i < n * dim; i++)
        v[i] = (float)vex_rng_normal(&r);
    for (size_t i = 0; i < n; i++)
        keys[i] = (uint32_t)(i * 3 + 1);
    vx_vfs_mem_create(NULL, &vfs);
    vex_vfs_open(vfs, "/i", VX_FILE_READWRITE | VX_FILE_CREATE, &f, NULL);
    vx_dann_params_init(&p);
    p.metric = m;
    p.R = R;
    p.L = 2 * R;
    rc = vx_dann_write(&mem, NULL, v, keys, n, dim, &p, f, 0, &len, NULL);
    if (rc == VEX_OK && (buf = malloc(len + 1)) != NULL &&
        vx_file_read_exact(f, buf + 1, len, 0, NULL) == VEX_OK) {
        for (int flags = 0; flags < 3; flags++) {
            char path[512];
            FILE *o;
            buf[0] = (unsigned char)flags;
            snprintf(path, sizeof path, "%s/%s-%d", dir, name, flags);
            o = fopen(path, "wb");
            if (o == NULL || fwrite(buf, 1, len + 1, o) != len + 1)
                rc = VEX_IOERR;
            if (o)
                fclose(o);
        }
    }
    free(buf);
    vex_file_close(f, NULL);
    vfs->methods->destroy(vfs);
    free(v);
    free(keys);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: make_dann_corpus DIR\n");
        return 2;
    }
    if (one(argv[1], "l2-16x4", 16, 4, VEX_METRIC_L2, 4) != VEX_OK ||
        one(argv[1], "cos-40x3", 40, 3, VEX_METRIC_COSINE, 6) != VEX_OK ||
        one(argv[1], "l2-260x8", 260, 8, VEX_METRIC_L2, 8) != VEX_OK ||
        one(argv[1], "l2-20x1030", 20, 1030, VEX_METRIC_L2, 4) != VEX_OK)
        return 1;
    return 0;
}

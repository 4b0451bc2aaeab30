/* SPDX-License-Identifier: Apache-2.0 */
/*
 * make_manifest_corpus.c - writes the seed inputs of fuzz_manifest.c (see
 * its header for the input layout) into a directory: valid manifests with
 * 0, 1 and 40 segments (deleted-id lists, UINT64_MAX values), the same
 * truncated, bit-flipped and with a damaged field under a re-seal flag,
 * a newer version, and CURRENT files (valid, wrong checksum, truncated,
 * naming a missing manifest). Run by hand after a format change:
 *   build/fuzz/make_manifest_corpus fuzz/corpus/manifest
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storage/manifest.h"
#include "util/crc32c.h"
#include "util/endian.h"
#include "vexdb.h"

static const char *g_dir;

static void put(const char *name, unsigned char flags, const void *p, size_t n)
{
    char path[1024];
    FILE *fp;
    snprintf(path, sizeof path, "%s/%s", g_dir, name);
    fp = fopen(path, "wb");
    if (fp == NULL || fputc(flags, fp) == EOF ||
        (n && fwrite(p, 1, n, fp) != n) || fclose(fp) != 0) {
        fprintf(stderr, "cannot write %s\n", path);
        exit(1);
    }
}

static uint64_t g_ids[40][8];
static man_segment g_segs[40];

static void build(manifest *m, uint32_t n_segs, int big)
{
    uint32_t i, k;
    memset(m, 0, sizeof *m);
    m->number = big ? UINT64_MAX - 1 : 7;
    m->next_file = big ? UINT64_MAX : 8 + n_segs;
    m->flushed_seq = big ? UINT64_MAX : 100000;
    snprintf(m->config.name, sizeof m->config.name, "%s",
             big ? "a-very_long.name-that-fills-all-sixty-four-bytes_"
                   "0123456789abcd"
                 : "docs");
    m->config.dim = big ? VEX_MAX_DIM : 128;
    m->config.elem = big ? VEX_ELEM_BIT : VEX_ELEM_F32;
    m->config.metric = big ? VEX_METRIC_JACCARD : VEX_METRIC_COSINE;
    m->config.index_kind = big ? VEX_INDEX_FLAT : VEX_INDEX_HNSW;
    if (!big) {
        m->config.hnsw_m = 16;
        m->config.hnsw_ef_construction = 200;
        m->config.hnsw_ef_search = 64;
        m->config.hnsw_seed = 42;
    }
    m->config.created_unix = 1700000000;
    m->n_segments = n_segs;
    m->segs = n_segs ? g_segs : NULL;
    for (i = 0; i < n_segs; i++) {
        man_segment *s = &g_segs[i];
        s->number = big ? m->number - 1 - i : 8 + i;
        s->n_rows = big ? UINT64_MAX : 100 + i;
        s->file_size = 4096 * (i + 1);
        s->min_seq = 1000 * i + 1;
        s->max_seq = 1000 * i + 900;
        s->n_deleted = i % 8;
        s->deleted = g_ids[i];
        for (k = 0; k < s->n_deleted; k++)
            g_ids[i][k] = big ? UINT64_MAX - s->n_deleted + k : 3 * k + i;
    }
}

static void reseal(unsigned char *b, size_t n)
{
    vex_put_u64le(b + 16, n);
    vex_put_u32le(b + n - 4, vex_crc32c(b, n - 4));
}

int main(int argc, char **argv)
{
    static const struct {
        const char *name;
        uint32_t n_segs;
        int big;
    } valid[] = {
        {"empty", 0, 0}, {"one", 1, 0}, {"many", 40, 0}, {"big", 3, 1}};
    vex_mem mem;
    unsigned char *b, *c;
    size_t n, i;
    char name[64], cur[40];
    if (argc != 2) {
        fprintf(stderr, "usage: %s corpus-dir\n", argv[0]);
        return 2;
    }
    g_dir = argv[1];
    if (vx_mem_init(&mem, NULL) != VEX_OK)
        return 1;
    for (i = 0; i < sizeof valid / sizeof valid[0]; i++) {
        manifest m;
        build(&m, valid[i].n_segs, valid[i].big);
        if (vx_manifest_encode(&m, &mem, NULL, &b, &n) != VEX_OK)
            return 1;
        snprintf(name, sizeof name, "valid_%s", valid[i].name);
        put(name, 0, b, n);
        if (i != 1) {
            vx_mem_free(&mem, b);
            continue;
        }
        /* damage to the one-segment manifest */
        c = malloc(n);
        put("truncated", 0, b, n - 5);
        memcpy(c, b, n);
        c[100] ^= 0x10;
        put("bit_flip", 0, c, n);
        memcpy(c, b, n);
        vex_put_u32le(c + 8, 4);
        reseal(c, n);
        put("newer_version", 0, c, n);
        memcpy(c, b, n);
        vex_put_u32le(c + 48, 1000);
        put("sealed_n_segments", 1, c, n);
        memcpy(c, b, n);
        vex_put_u64le(c + 56, 1u << 30);
        put("sealed_total_deleted", 1, c, n);
        memcpy(c, b, n);
        vex_put_u64le(c + 192 + 40, 50); /* n_deleted of segment 0 */
        put("sealed_n_deleted", 1, c, n);
        memcpy(c, b, n);
        vex_put_u64le(c + 192, 7); /* segment number = manifest number */
        put("sealed_seg_number", 1, c, n);
        memcpy(c, b, n);
        c[64] = '.';
        put("sealed_name", 1, c, n);
        memcpy(c, b, n);
        vex_put_u32le(c + 64 + 72, VEX_METRIC_HAMMING);
        put("sealed_metric", 1, c, n);
        free(c);
        vx_mem_free(&mem, b);
    }
    /* a quantized collection, and its quantizer bits damaged */
    {
        manifest m;
        build(&m, 1, 0);
        m.config.quant = VEX_QUANT_PQ;
        m.config.quant_m = 16;
        m.config.quant_bits = 8;
        m.config.quant_refine = 10.0f;
        if (vx_manifest_encode(&m, &mem, NULL, &b, &n) != VEX_OK)
            return 1;
        put("valid_quant", 0, b, n);
        c = malloc(n);
        memcpy(c, b, n);
        vex_put_u32le(c + 64 + 120, 5); /* quant_bits */
        put("sealed_quant_bits", 1, c, n);
        free(c);
        vx_mem_free(&mem, b);
    }
    /* format 3: the history block (as_of_seq, publish_unix), with and
     * without a schema, and damaged */
    {
        manifest m;
        unsigned char blob[3] = {7, 8, 9};
        build(&m, 1, 0);
        m.as_of_seq = m.flushed_seq + 4;
        m.publish_unix = 1800000000;
        if (vx_manifest_encode(&m, &mem, NULL, &b, &n) != VEX_OK)
            return 1;
        put("valid_history", 0, b, n);
        c = malloc(n);
        memcpy(c, b, n);
        vex_put_u64le(c + n - 20, m.flushed_seq - 1);
        put("sealed_as_of_below_flushed", 1, c, n);
        memcpy(c, b, n);
        vex_put_u64le(c + n - 20, 0);
        vex_put_u64le(c + n - 12, 0);
        put("sealed_history_zero", 1, c, n);
        free(c);
        vx_mem_free(&mem, b);
        m.schema = blob;
        m.schema_len = 3;
        if (vx_manifest_encode(&m, &mem, NULL, &b, &n) != VEX_OK)
            return 1;
        put("valid_history_schema", 0, b, n);
        vx_mem_free(&mem, b);
    }
    /* CURRENT files (flag 2) */
    snprintf(cur, sizeof cur, "MANIFEST-0000000000000003 %08x\n",
             (unsigned)vex_crc32c("MANIFEST-0000000000000003", 25));
    put("current_valid", 2, cur, 35);
    put("current_truncated", 2, cur, 20);
    cur[30] = cur[30] == '0' ? '1' : '0';
    put("current_bad_crc", 2, cur, 35);
    snprintf(cur, sizeof cur, "MANIFEST-0000000000000009 %08x\n",
             (unsigned)vex_crc32c("MANIFEST-0000000000000009", 25));
    put("current_missing_manifest", 2, cur, 35);
    return 0;
}

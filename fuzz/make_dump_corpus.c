/* SPDX-License-Identifier: Apache-2.0 */
/*
 * make_dump_corpus.c - writes the seed corpus of fuzz_dump: a small
 * database (an HNSW collection with metadata, payloads and deletes,
 * flushed, then more writes left in the log) made through the public API,
 * and each of its files with the flag byte fuzz_dump.c reads in front.
 * Run by hand: build/fuzz/make_dump_corpus fuzz/corpus/dump
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vexdb.h"

static int put(const char *dir, const char *name, unsigned char flags,
               const char *from)
{
    char path[1024];
    unsigned char buf[1 << 16];
    size_t n;
    FILE *in = fopen(from, "rb"), *out;
    if (in == NULL)
        return -1;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    out = fopen(path, "wb");
    if (out == NULL) {
        fclose(in);
        return -1;
    }
    fputc(flags, out);
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
        fwrite(buf, 1, n, out);
    fclose(in);
    return fclose(out);
}

int main(int argc, char **argv)
{
    char tmp[] = "/tmp/vex_dump_corpus_XXXXXX", path[1024], cmd[1200];
    vex_collection_config cfg;
    vex_db_options o;
    vex_collection *c = NULL;
    vex_meta *m = NULL;
    vex_db *db = NULL;
    float v[4];
    int rc;
    if (argc != 2 || mkdtemp(tmp) == NULL) {
        fprintf(stderr, "usage: make_dump_corpus DIR\n");
        return 2;
    }
    snprintf(path, sizeof path, "%s/db", tmp);
    vex_db_options_init(&o);
    o.create_if_missing = 1;
    o.flush_on_close = 0;
    rc = vex_db_open(path, &o, &db);
    vex_collection_config_init(&cfg);
    cfg.dim = 4;
    cfg.index_kind = VEX_INDEX_HNSW;
    if (rc == VEX_OK)
        rc = vex_collection_create(db, "c", &cfg, &c);
    if (rc == VEX_OK)
        rc = vex_meta_create(NULL, &m);
    for (uint64_t id = 0; id < 40 && rc == VEX_OK; id++) {
        vex_record r;
        for (int d = 0; d < 4; d++)
            v[d] = (float)((id * 7 + (uint64_t)d * 3) % 11) + 1.0f;
        vex_meta_clear(m);
        vex_meta_set_int(m, "year", 2000 + (int64_t)id % 5);
        vex_record_init(&r);
        r.id = id;
        r.vector = v;
        r.meta = m;
        r.payload = "p";
        r.payload_len = 1;
        rc = vex_insert_record(c, &r);
    }
    if (rc == VEX_OK)
        rc = vex_flush(c);
    for (uint64_t id = 0; id < 6 && rc == VEX_OK; id++)
        rc = id % 2 ? vex_delete(c, id) : vex_upsert_meta(c, 100 + id, v, m);
    vex_meta_free(m);
    vex_collection_close(c);
    vex_db_close(db);
    if (rc != VEX_OK) {
        fprintf(stderr, "make_dump_corpus: %s\n", vex_status_name(rc));
        return 1;
    }
    /* flags: bit 0 manifest present, bits 1-2 the place, bits 3-4 items */
    snprintf(cmd, sizeof cmd, "%s/collections/c/wal/wal-0000000000000029.log",
             path);
    rc |= put(argv[1], "log_with_manifest", 0x01 | (2 << 3), cmd);
    rc |= put(argv[1], "log_alone", 0x00, cmd);
    snprintf(cmd, sizeof cmd, "%s/collections/c/seg-0000000000000002.vseg",
             path);
    rc |= put(argv[1], "segment", 0x02 | (1 << 3), cmd);
    snprintf(cmd, sizeof cmd, "%s/collections/c/MANIFEST-0000000000000003",
             path);
    rc |= put(argv[1], "manifest", 0x04, cmd);
    snprintf(cmd, sizeof cmd, "%s/collections/c/CURRENT", path);
    rc |= put(argv[1], "current", 0x06, cmd);
    snprintf(cmd, sizeof cmd, "%s/VEXDB", path);
    rc |= put(argv[1], "marker", 0x06, cmd);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", tmp);
    return rc ? 1 : 0;
}

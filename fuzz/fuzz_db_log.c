/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_db_log.c - fuzz target for a collection's log records as the engine
 * replays them (src/engine/recovery.c over src/engine/logrec.c, "Log record
 * payload" in docs/FORMAT.md). The write-ahead log's own framing and checksums
 * are fuzzed by fuzz_wal; here the records are intact as far as the log can
 * tell, and the payloads are arbitrary. Input: byte 0 picks the
 * collection (bit 0: flat or HNSW; bit 1: float32 dim 4 or bit dim 12),
 * then records, each a 2-byte little-endian length and that many bytes.
 * They are appended to a new collection's log, then the database is
 * opened. Checked: opening gives VEX_OK or VEX_CORRUPT, never a crash;
 * after VEX_OK, search, get, get_meta, a filtered search and a scan
 * work, and a write followed by a reopen works.
 */
#include <stdlib.h>
#include <string.h>

#include "engine/db.h"
#include "fuzz.h"
#include "io/vfs.h"
#include "storage/wal.h"
#include "vexdb.h"

static void check(int ok)
{
    if (!ok)
        abort();
}

static int open_coll(vex_vfs *v, vex_db **db, vex_collection **c)
{
    vex_db_options o;
    int rc;
    vex_db_options_init(&o);
    o.create_if_missing = 1;
    o.n_threads = 1;
    o.memtable_exact_rows = 16;
    *c = NULL;
    rc = vx_db_open_vfs("db", &o, v, db);
    if (rc == VEX_OK)
        rc = vex_collection_open(*db, "c", c);
    return rc;
}

static int count_cb(void *ctx, uint64_t id, const vex_meta *meta)
{
    (void)id;
    (void)meta;
    ++*(size_t *)ctx;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    vex_vfs *v = NULL;
    vex_db *db = NULL;
    vex_collection *c = NULL;
    vex_collection_config cfg;
    wal *w = NULL;
    wal_options wo;
    size_t pos = 1, vec_bytes;
    unsigned char q[16];
    vex_hit hits[4];
    size_t nh;
    int rc;

    if (size < 1 || vx_vfs_mem_create(NULL, &v) != VEX_OK)
        return 0;
    vex_collection_config_init(&cfg);
    cfg.index_kind = (data[0] & 1) ? VEX_INDEX_HNSW : VEX_INDEX_FLAT;
    if (data[0] & 2) {
        cfg.elem = VEX_ELEM_BIT;
        cfg.metric = VEX_METRIC_HAMMING;
        cfg.dim = 12;
    } else {
        cfg.dim = 4;
    }
    cfg.text = (data[0] & 4) ? 1 : 0; /* a text field: kinds 9 and 10 */
    vec_bytes = vex_vector_size(cfg.elem, cfg.dim);
    check(open_coll(v, &db, &c) == VEX_NOTFOUND);
    check(vex_collection_create(db, "c", &cfg, NULL) == VEX_OK);
    vex_db_close(db);

    vx_wal_options_init(&wo);
    check(vx_wal_open(v, "db/collections/c/wal", &wo, NULL, NULL, &w) ==
          VEX_OK);
    while (pos + 2 <= size) {
        size_t n = (size_t)data[pos] | (size_t)data[pos + 1] << 8;
        pos += 2;
        if (n > size - pos)
            n = size - pos;
        check(vx_wal_append(w, data + pos, n, NULL, NULL) == VEX_OK);
        pos += n;
    }
    vx_wal_close(w, NULL);

    rc = open_coll(v, &db, &c);
    check(rc == VEX_OK || rc == VEX_CORRUPT);
    if (rc == VEX_OK) {
        /* a valid query: (0.5, 0, 0, 0), or bits 0 and 2 of each byte */
        memset(q, 0, sizeof q);
        if (cfg.elem == VEX_ELEM_BIT)
            memset(q, 0x05, vec_bytes);
        else
            memcpy(q, &(float){0.5f}, sizeof(float));
        rc = vex_search(c, q, 4, NULL, hits, NULL, &nh);
        check(rc == VEX_OK);
        {
            vex_meta *m = NULL;
            vex_filter *f = NULL;
            vex_search_params sp;
            check(vex_meta_create(NULL, &m) == VEX_OK);
            for (size_t i = 0; i < nh; i++) {
                unsigned char out[16];
                check(vex_get(c, hits[i].id, out) == VEX_OK);
                check(vex_get_meta(c, hits[i].id, m) == VEX_OK);
            }
            check(vex_filter_parse(c, "n >= 0 OR n IS NULL", &f) == VEX_OK);
            vex_search_params_init(&sp);
            sp.where = f;
            check(vex_search(c, q, 4, &sp, hits, NULL, &nh) == VEX_OK);
            if (cfg.text) { /* keyword and hybrid legs over the replay */
                sp.text = "doc hello";
                check(vex_search(c, NULL, 4, &sp, hits, NULL, &nh) == VEX_OK);
                for (size_t i = 0; i < nh; i++) {
                    char t[8];
                    size_t tl;
                    check(vex_get_text(c, hits[i].id, t, sizeof t, &tl) ==
                          VEX_OK);
                    check(tl > 0);
                }
                check(vex_search(c, q, 4, &sp, hits, NULL, &nh) == VEX_OK);
            }
            check(vex_scan(c, f, count_cb, &nh) == VEX_OK);
            vex_filter_free(f);
            vex_meta_free(m);
        }
        rc = vex_upsert(c, 12345, q);
        check(rc == VEX_OK);
        vex_db_close(db);
        rc = open_coll(v, &db, &c);
        check(rc == VEX_OK);
        check(vex_get(c, 12345, q) == VEX_OK);
    }
    vex_db_close(db);
    v->methods->destroy(v);
    return 0;
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_import.c - fuzz target for what `vex import` makes of untrusted
 * CSV and JSON Lines text after the readers (fuzz_csv, fuzz_json) have
 * split it: ids, vectors (float32, and bit vectors packed from 0 and 1),
 * payloads (also base64), texts, tags, and metadata typed by a schema or
 * per value, then the ids checked against the file and the collection
 * (tools/vex/cmd_import.c through import.h, which writes nothing).
 *
 * The first input byte picks the format (bit 0: JSON Lines), --upsert
 * (bit 1), --skip-bad (bit 2), --start-id 1000 (bit 3) and one of three
 * collections (bits 4-5) of an in-memory database made on the first
 * call: every metadata type in an open schema, with record 1 present;
 * bit vectors of 10 elements under hamming, with record 1 present; and a
 * closed schema with a required field and a text field, empty. The rest
 * is the file. Checks, besides the sanitizers': the counts never exceed
 * the records the text can hold; without --skip-bad nothing is counted
 * bad; the collection is never written.
 */
#include <stdlib.h>
#include <string.h>

#include "engine/db.h"
#include "fuzz.h"
#include "import.h"
#include "io/vfs.h"
#include "vexdb.h"

static void check(int ok)
{
    if (!ok)
        abort();
}

static vex_db *fz_db;
static vex_collection *fz_coll[3];

static vex_collection *fz_make(const char *name, uint32_t dim,
                               vex_metric metric, const vex_schema_field *f,
                               uint32_t n_f, int closed, int text)
{
    vex_collection_config cfg;
    vex_collection *c = NULL;
    vex_collection_config_init(&cfg);
    cfg.dim = dim;
    cfg.metric = metric;
    cfg.index_kind = VEX_INDEX_FLAT;
    if (metric == VEX_METRIC_HAMMING)
        cfg.elem = VEX_ELEM_BIT;
    cfg.schema_fields = f;
    cfg.n_schema_fields = n_f;
    cfg.schema_closed = closed ? 1u : 0u;
    cfg.text = text ? 1 : 0;
    check(vex_collection_create(fz_db, name, &cfg, &c) == VEX_OK);
    return c;
}

static void fz_setup(void)
{
    static const vex_schema_field open_schema[] = {
        {"year", VEX_TYPE_INT, 1},   {"lang", VEX_TYPE_STRING, 1},
        {"tags", VEX_TYPE_TAGS, 1},  {"score", VEX_TYPE_DOUBLE, 1},
        {"draft", VEX_TYPE_BOOL, 1},
    };
    static const vex_schema_field closed_schema[] = {
        {"k", VEX_TYPE_STRING, 0},
        {"v", VEX_TYPE_DOUBLE, 1},
    };
    static const float one4[4] = {1, 2, 3, 4};
    static const unsigned char bits10[2] = {0x81, 0x02};
    vex_db_options o;
    vex_vfs *vfs = NULL;
    check(vx_vfs_mem_create(NULL, &vfs) == VEX_OK);
    vex_db_options_init(&o);
    o.create_if_missing = 1;
    o.n_threads = 1;
    o.background_threads = 1;
    check(vx_db_open_vfs("db", &o, vfs, &fz_db) == VEX_OK);
    fz_coll[0] = fz_make("typed", 4, VEX_METRIC_L2, open_schema,
                         sizeof open_schema / sizeof open_schema[0], 0, 0);
    fz_coll[1] = fz_make("bits", 10, VEX_METRIC_HAMMING, NULL, 0, 0, 0);
    fz_coll[2] = fz_make("closed", 3, VEX_METRIC_COSINE, closed_schema,
                         sizeof closed_schema / sizeof closed_schema[0], 1, 1);
    check(vex_insert(fz_coll[0], 1, one4) == VEX_OK);
    check(vex_insert(fz_coll[1], 1, bits10) == VEX_OK);
    /* the database and its in-memory files live as long as the process */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    vex_import_check_options o;
    vex_collection *c;
    uint64_t good = 0, bad = 0, before, lines = 1;
    const char *text;
    size_t len;
    int rc;
    if (size < 1)
        return 0;
    if (fz_db == NULL)
        fz_setup();
    memset(&o, 0, sizeof o);
    o.jsonl = data[0] & 1;
    o.upsert = (data[0] >> 1) & 1;
    o.skip_bad = (data[0] >> 2) & 1;
    o.have_start = (data[0] >> 3) & 1;
    o.start_id = 1000;
    c = fz_coll[((data[0] >> 4) & 3) % 3];
    text = (const char *)data + 1;
    len = size - 1;
    for (size_t i = 0; i < len; i++)
        lines += text[i] == '\n';
    before = vex_collection_count(c);
    rc = vex_import_check(c, "fuzz", text, len, &o, &good, &bad);
    check(rc == 0 || rc == -1);
    if (rc == 0) {
        check(good + bad <= lines);
        check(o.skip_bad || bad == 0);
    }
    check(vex_collection_count(c) == before);
    return 0;
}

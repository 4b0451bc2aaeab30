/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_dump.c - fuzz target for vex_dump_file's listing of untrusted files
 * (src/engine/dump.c, through vx_dump_vfs on the in-memory vfs). Byte 0 of
 * the input is flags, the rest is the file:
 *  - bit 0 set: the directory also holds a valid manifest (dim 4 float32),
 *    so a log file is listed with its operations decoded;
 *  - bits 1..2: where the file is put: 0 c/wal/wal-0000000000000001.log,
 *    1 c/seg-0000000000000002.vseg, 2 c/MANIFEST-0000000000000009,
 *    3 c/CURRENT (the kind comes from the magic; the name matters for the
 *    log's manifest lookup and the segment number check);
 *  - bits 3..4: max_items 0 (all), 1, 4 or 16.
 * Checked: the status is VEX_OK, VEX_CORRUPT or VEX_UNSUPPORTED (never a
 * crash or an out-of-bounds read under ASan); VEX_CORRUPT exactly when
 * there is a "damage:" line, VEX_UNSUPPORTED only with an "error:" line,
 * VEX_OK with neither; every line is shorter than the 1 KiB line buffer.
 */
#include <stdlib.h>
#include <string.h>

#include "engine/db.h"
#include "fuzz.h"
#include "io/vfs.h"
#include "storage/manifest.h"
#include "vexdb.h"

static void check(int ok)
{
    if (!ok)
        abort();
}

typedef struct seen {
    int damage, error;
} seen;

static int on_line(void *ctx, const char *line)
{
    seen *s = ctx;
    check(strlen(line) < 1024);
    if (strncmp(line, "damage: ", 8) == 0)
        s->damage++;
    if (strncmp(line, "error: ", 7) == 0)
        s->error++;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const names[4] = {
        "c/wal/wal-0000000000000001.log", "c/seg-0000000000000002.vseg",
        "c/MANIFEST-0000000000000009", "c/CURRENT"};
    static const uint64_t items[4] = {0, 1, 4, 16};
    vex_dump_options o;
    vex_vfs *v = NULL;
    vex_file *f = NULL;
    vex_mem mem;
    seen s = {0, 0};
    int rc;
    if (size < 1 || vx_mem_init(&mem, NULL) != VEX_OK ||
        vx_vfs_mem_create(NULL, &v) != VEX_OK)
        return 0;
    check(vex_vfs_mkdir(v, "c", NULL) == VEX_OK);
    check(vex_vfs_mkdir(v, "c/wal", NULL) == VEX_OK);
    if (data[0] & 1) {
        manifest m;
        memset(&m, 0, sizeof m);
        m.number = 3;
        m.next_file = 4;
        strcpy(m.config.name, "c");
        m.config.dim = 4;
        m.config.elem = VEX_ELEM_F32;
        m.config.metric = VEX_METRIC_L2;
        m.config.index_kind = VEX_INDEX_FLAT;
        check(vx_manifest_publish(v, "c", &m, &mem, NULL, NULL) == VEX_OK);
    }
    check(vex_vfs_open(v, names[(data[0] >> 1) & 3],
                       VX_FILE_READWRITE | VX_FILE_CREATE | VX_FILE_TRUNCATE,
                       &f, NULL) == VEX_OK);
    if (size > 1)
        check(vex_file_write(f, data + 1, size - 1, 0, NULL) == VEX_OK);
    check(vex_file_close(f, NULL) == VEX_OK);
    vex_dump_options_init(&o);
    o.max_items = items[(data[0] >> 3) & 3];
    rc = vx_dump_vfs(v, names[(data[0] >> 1) & 3], &o, on_line, &s);
    check(rc == VEX_OK || rc == VEX_CORRUPT || rc == VEX_UNSUPPORTED);
    check((rc == VEX_CORRUPT) == (s.damage > 0));
    check(rc != VEX_UNSUPPORTED || s.error > 0);
    check(rc != VEX_OK || s.error == 0);
    vex_vfs_destroy(v);
    return 0;
}

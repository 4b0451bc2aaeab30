/* SPDX-License-Identifier: Apache-2.0 */
/*
 * import.h - the checking half of `vex import` (cmd_import.c) on its own:
 * a CSV or JSON Lines text parsed and every record checked against a
 * collection exactly as `vex import` does before it writes, with nothing
 * written. For the fuzz target of the import (fuzz/fuzz_import.c), which
 * feeds it untrusted text; the tool itself goes through `vex import`.
 */
#ifndef VEX_TOOLS_IMPORT_H
#define VEX_TOOLS_IMPORT_H

#include <stddef.h>
#include <stdint.h>

#include "vexdb.h"

typedef struct vex_import_check_options {
    int jsonl;      /* 1: JSON Lines, 0: CSV */
    int upsert;     /* as --upsert: an existing id is not a bad record */
    int skip_bad;   /* as --skip-bad: bad records are counted, not fatal */
    int have_start; /* as --start-id start_id: numbers records without ids */
    uint64_t start_id;
} vex_import_check_options;

/* Parse data[0..len) (named `name` in messages, which go to stderr as
 * `vex import` prints them) and check every record for collection c. 0
 * with the records that would be written in *n_good and the bad ones
 * skipped in *n_bad (0 without skip_bad); -1 when the text is refused
 * (a bad record without skip_bad, a malformed file, out of memory). Reads
 * c (ids already present), never writes it. */
int vex_import_check(vex_collection *c, const char *name, const char *data,
                     size_t len, const vex_import_check_options *o,
                     uint64_t *n_good, uint64_t *n_bad);

#endif

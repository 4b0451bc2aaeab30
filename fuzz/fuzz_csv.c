/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_csv.c - fuzz target for the vex tool's CSV reader
 * (tools/vex/textio.h). The input is read as a CSV file to its end,
 * going on after bad records as `vex import --skip-bad` does. A failure
 * must leave a message; every record must have the header's number of
 * cells, each within the input's size, and every cell byte is read so the
 * sanitizers see a bad pointer; the reader must always make progress.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "textio.h"
#include "vexdb.h"

static void check(int ok)
{
    if (!ok)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    vexio_csv *r = NULL;
    vexio_error err;
    const vexio_csv_cell *cells;
    uint64_t line, last_line = 0;
    size_t n, calls = 0, last_off = 0;
    volatile unsigned sum = 0;
    int rc;

    rc = vexio_csv_open((const char *)data, size, "fuzz", &r, &err);
    if (rc != VEX_OK) {
        check(r == NULL && err.msg[0] != '\0');
        return 0;
    }
    n = vexio_csv_columns(r);
    check(n >= 1 && n <= size + 1);
    for (size_t i = 0; i < n; i++)
        check(strlen(vexio_csv_column(r, i)) >= 1);
    while ((rc = vexio_csv_next(r, &cells, &line, &err)) != 0) {
        size_t off = vexio_csv_offset(r);
        check(++calls <= size + 1);
        check(off > last_off || off == size); /* progress */
        check(off <= size);
        last_off = off;
        if (rc < 0) {
            check(err.msg[0] != '\0' && rc != -VEX_NOMEM);
            continue;
        }
        check(rc == 1 && line >= 1 && line >= last_line);
        last_line = line;
        for (size_t i = 0; i < n; i++) {
            check(cells[i].len <= size);
            for (size_t j = 0; j < cells[i].len; j++)
                sum += (unsigned char)cells[i].s[j];
        }
    }
    vexio_csv_free(r);
    (void)sum;
    return 0;
}

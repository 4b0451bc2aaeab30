/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cmd_metrics.c - `vex metrics DB [COLLECTION...]`: the database's
 * metrics in the Prometheus text format (vex_metrics_text), after
 * opening the named collections (all of them when none is named)
 * read-only. Counters and histograms count this process's own work, so
 * from the tool they are zero: what it shows are the gauges (rows,
 * segments, memtables, bytes on disk and in memory). A service exposes
 * its live counters by calling vex_metrics_text itself.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "clidb.h"
#include "vexdb.h"

typedef struct metrics_open {
    vex_db *db;
    vex_collection **v;
    int n, cap, failed;
} metrics_open;

static int metrics_open_one(void *ctx, const char *name)
{
    metrics_open *mo = ctx;
    vex_collection *c = NULL;
    if (mo->n == mo->cap) {
        int cap = mo->cap ? mo->cap * 2 : 16;
        vex_collection **v = realloc(mo->v, (size_t)cap * sizeof *v);
        if (v == NULL)
            return VEX_NOMEM;
        mo->v = v;
        mo->cap = cap;
    }
    if (vex_collection_open(mo->db, name, &c) != VEX_OK) {
        fprintf(stderr, "vex metrics: %s: %s\n", name, vex_db_errmsg(mo->db));
        mo->failed = 1;
        return 0;
    }
    mo->v[mo->n++] = c;
    return 0;
}

static int run_metrics(const vex_cmd *cmd, const vex_optval *vals, char **pos,
                       int n_pos)
{
    metrics_open mo;
    char *text = NULL;
    size_t len = 0;
    int rc, status = VEX_EXIT_OK;
    (void)cmd;
    (void)vals;
    memset(&mo, 0, sizeof mo);
    if (vex_cli_db_open("metrics", pos[0], VEX_CLI_READ, &mo.db) != VEX_OK)
        return VEX_EXIT_FAIL;
    if (n_pos == 1) {
        rc = vex_collection_list(mo.db, metrics_open_one, &mo);
        if (rc != VEX_OK) {
            fprintf(stderr, "vex metrics: %s\n",
                    rc == VEX_NOMEM ? "out of memory" : vex_db_errmsg(mo.db));
            status = VEX_EXIT_FAIL;
        }
    } else {
        for (int i = 1; i < n_pos; i++)
            if (metrics_open_one(&mo, pos[i]) != VEX_OK)
                status = VEX_EXIT_FAIL;
    }
    if (mo.failed)
        status = VEX_EXIT_FAIL;
    rc = vex_metrics_text(mo.db, &text, &len);
    if (rc != VEX_OK) {
        fprintf(stderr, "vex metrics: %s\n", vex_db_errmsg(mo.db));
        status = VEX_EXIT_FAIL;
    } else if (fwrite(text, 1, len, stdout) != len) {
        status = VEX_EXIT_FAIL;
    }
    vex_metrics_free(mo.db, text);
    for (int i = 0; i < mo.n; i++)
        vex_collection_close(mo.v[i]);
    free(mo.v);
    if (vex_db_close(mo.db) != VEX_OK)
        status = VEX_EXIT_FAIL;
    return status;
}

const vex_cmd vex_cmd_metrics = {
    "metrics",
    "print a database's metrics in the Prometheus text format",
    "DB [COLLECTION...]",
    1,
    VEX_MAX_POS,
    NULL,
    0,
    "Opens the database read-only and the named collections (all of them\n"
    "when none is named), and prints vex_metrics_text: one HELP and TYPE\n"
    "line per metric family, then its series labelled db and collection\n"
    "(docs/observability.md lists them). Counters count this process's\n"
    "work, so here only the gauges (rows, memtables, segments, bytes on\n"
    "disk and in memory) carry information; a service exposes its live\n"
    "counters by calling vex_metrics_text. Writes nothing.\n",
    run_metrics,
};

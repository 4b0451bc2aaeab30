/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cmd_backup.c - `vex backup DB DEST`: a consistent copy of a database
 * while an application may keep writing to it (vex_backup on a read-only
 * open: no lock is taken, nothing in DB is written). The copy is verified
 * before it is put in place at DEST.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "clidb.h"
#include "vexdb.h"

typedef struct prog {
    double t0, last;
} prog;

/* "backing up  45%  120.3 of 267.0 MiB  85.1 MiB/s  ETA 2 s" on a
 * terminal, at most five times a second */
static int on_progress(void *ctx, uint64_t done, uint64_t total)
{
    prog *p = ctx;
    double now = vex_cli_now(), mib = 1024.0 * 1024.0, rate;
    if (now - p->last < 0.2 && done < total)
        return 0;
    p->last = now;
    rate = now > p->t0 ? (double)done / (now - p->t0) : 0;
    fprintf(
        stderr,
        "\r\033[Kbacking up %3u%%  %.1f of %.1f MiB  %.1f MiB/s  ETA %.0f s",
        (unsigned)(total ? done * 100 / total : 100), (double)done / mib,
        (double)total / mib, rate / mib,
        rate > 0 ? (double)(total - done) / rate : 0.0);
    fflush(stderr);
    return 0;
}

static int run_backup(const vex_cmd *cmd, const vex_optval *vals, char **pos,
                      int n_pos)
{
    prog pr;
    vex_backup_options bo;
    vex_backup_report r;
    vex_db *db = NULL;
    double t0 = vex_cli_now();
    int json = vals[vex_args_index(cmd, "json")].given, rc;
    (void)n_pos;
    if (vex_cli_db_open("backup", pos[0], VEX_CLI_READ, &db) != VEX_OK)
        return VEX_EXIT_FAIL;
    vex_backup_options_init(&bo);
    bo.hard_link = vals[vex_args_index(cmd, "hard-link")].given;
    bo.verify = !vals[vex_args_index(cmd, "no-verify")].given;
    vex_backup_report_init(&r);
    pr.t0 = pr.last = t0;
    if (vex_cli_progress_enabled() && !json) {
        bo.progress = on_progress;
        bo.progress_ctx = &pr;
    }
    rc = vex_backup(db, pos[1], &bo, &r);
    if (vex_cli_progress_enabled() && !json)
        fprintf(stderr, "\r\033[K");
    if (rc != VEX_OK) {
        const char *msg = vex_db_errmsg(db);
        if (strncmp(msg, "backup: ", 8) == 0)
            msg += 8;
        fprintf(stderr, "vex backup: %s\n", msg);
        vex_db_close(db);
        return VEX_EXIT_FAIL;
    }
    if (json)
        printf("{\"dest\":");
    if (json) {
        vex_cli_json_string(stdout, pos[1]);
        printf(",\"collections\":%" PRIu64 ",\"segments\":%" PRIu64
               ",\"linked\":%" PRIu64 ",\"bytes\":%" PRIu64
               ",\"log_records\":%" PRIu64 ",\"verified\":%s,\"seconds\":%.3f}"
               "\n",
               r.collections, r.segments, r.linked, r.bytes, r.log_records,
               bo.verify ? "true" : "false", vex_cli_now() - t0);
    } else {
        printf("backup of %s in %s: %" PRIu64 " collections, %" PRIu64
               " segments (%" PRIu64 " hard-linked), %" PRIu64
               " log records, %" PRIu64 " bytes written%s, %.2f s\n",
               pos[0], pos[1], r.collections, r.segments, r.linked,
               r.log_records, r.bytes, bo.verify ? ", verified" : "",
               vex_cli_now() - t0);
    }
    return vex_db_close(db) == VEX_OK ? VEX_EXIT_OK : VEX_EXIT_FAIL;
}

static const vex_opt backup_opts[] = {
    {"hard-link", VEX_OPT_FLAG, NULL, 0, 0, 0,
     "hard-link segment files where the file system allows (segments never "
     "change); copy the rest"},
    {"no-verify", VEX_OPT_FLAG, NULL, 0, 0, 0,
     "do not verify the copy before putting it in place"},
    {"json", VEX_OPT_FLAG, NULL, 0, 0, 0, "print the result as JSON"},
};

const vex_cmd vex_cmd_backup = {
    "backup",
    "copy a database consistently, even while it is being written",
    "DB DEST",
    2,
    2,
    backup_opts,
    sizeof backup_opts / sizeof backup_opts[0],
    "Writes a consistent copy of database DB to the new directory DEST\n"
    "(which must not exist). Each collection is copied as of one moment:\n"
    "the segment files its current manifest names and its log up to the\n"
    "last complete commit, so the copy holds every commit up to a point and\n"
    "none after it, even while an application keeps writing to DB (the\n"
    "copy takes no lock and writes nothing in DB). The copy is built in\n"
    "DEST.partial, verified (as `vex verify`) and renamed to DEST; on any\n"
    "failure nothing is left at DEST.\n",
    run_backup,
};

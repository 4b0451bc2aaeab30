/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cmd_verify.c - `vex verify DB [COLLECTION]`: every checksum of every
 * file, every graph invariant and id map (vex_db_verify), one line per
 * finding naming the file and byte offset, then a summary. Reads only and
 * takes no lock, so it runs beside an application that has the database
 * open. Exit 0 when nothing is damaged (warnings allowed), 1 on damage or
 * when the database cannot be read, 2 for a bad command line.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "clidb.h"
#include "vexdb.h"

typedef struct vctx {
    int json, quiet, progress;
    uint64_t files;
} vctx;

static const char *sev_name(vex_severity s)
{
    return s == VEX_SEVERITY_ERROR     ? "error"
           : s == VEX_SEVERITY_WARNING ? "warning"
                                       : "info";
}

static int on_finding(void *ctx, const vex_finding *f)
{
    vctx *v = ctx;
    if (f->severity == VEX_SEVERITY_INFO) { /* a file checked: progress */
        v->files++;
        if (v->progress)
            fprintf(stderr, "\r\033[Kverifying: %" PRIu64 " checks, %s",
                    v->files, f->file);
        if (v->quiet != 2)
            return 0;
    }
    if (v->progress)
        fprintf(stderr, "\r\033[K");
    if (v->json) {
        printf("{\"severity\":\"%s\",\"status\":\"%s\",\"collection\":",
               sev_name(f->severity), vex_status_name(f->status));
        vex_cli_json_string(stdout, f->collection);
        printf(",\"file\":");
        vex_cli_json_string(stdout, f->file);
        if (f->offset != VEX_NO_OFFSET)
            printf(",\"offset\":%" PRIu64, f->offset);
        printf(",\"message\":");
        vex_cli_json_string(stdout, f->message);
        printf("}\n");
    } else if (f->file[0] == '\0' && f->severity == VEX_SEVERITY_ERROR) {
        fprintf(stderr, "vex verify: %s\n", f->message); /* no database */
    } else if (!(v->quiet && f->severity == VEX_SEVERITY_WARNING)) {
        printf("%s: %s", sev_name(f->severity), f->file[0] ? f->file : ".");
        if (f->offset != VEX_NO_OFFSET)
            printf(" at offset %" PRIu64, f->offset);
        printf(": %s\n", f->message);
    }
    fflush(stdout);
    return 0;
}

static int run_verify(const vex_cmd *cmd, const vex_optval *vals, char **pos,
                      int n_pos)
{
    vex_verify_options o;
    vex_verify_report r;
    vctx v;
    struct stat st;
    int rc;
    if (stat(pos[0], &st) != 0 && errno == ENOENT) {
        vex_cli_no_db("verify", pos[0]);
        return VEX_EXIT_FAIL;
    }
    memset(&v, 0, sizeof v);
    v.json = vals[vex_args_index(cmd, "json")].given;
    v.quiet = vals[vex_args_index(cmd, "quiet")].given;
    if (vals[vex_args_index(cmd, "verbose")].given)
        v.quiet = 2;
    v.progress = vex_cli_progress_enabled() && !v.json;
    vex_verify_options_init(&o);
    o.collection = n_pos > 1 ? pos[1] : NULL;
    o.on_finding = on_finding;
    o.ctx = &v;
    o.report_info = 1; /* progress, and the facts with --verbose */
    vex_verify_report_init(&r);
    rc = vex_db_verify(pos[0], &o, &r);
    if (v.progress)
        fprintf(stderr, "\r\033[K");
    if (v.json) {
        printf("{\"summary\":true,\"status\":\"%s\",\"errors\":%" PRIu64
               ",\"warnings\":%" PRIu64 ",\"collections\":%" PRIu64
               ",\"files\":%" PRIu64 ",\"bytes\":%" PRIu64
               ",\"segments\":%" PRIu64 ",\"log_records\":%" PRIu64
               ",\"rows\":%" PRIu64 ",\"graph_nodes\":%" PRIu64
               ",\"graph_links\":%" PRIu64 "}\n",
               vex_status_name(rc), r.errors, r.warnings, r.collections,
               r.files, r.bytes, r.segments, r.log_records, r.rows,
               r.graph_nodes, r.graph_links);
    } else if (rc == VEX_OK || r.collections || r.files) {
        printf("%s: %" PRIu64 " collections, %" PRIu64 " files (%" PRIu64
               " bytes), %" PRIu64 " segments, %" PRIu64 " log records, "
               "%" PRIu64 " rows, %" PRIu64 " graph nodes, %" PRIu64
               " links checked; %" PRIu64 " errors, %" PRIu64 " warnings\n",
               r.errors ? "DAMAGED" : "ok", r.collections, r.files, r.bytes,
               r.segments, r.log_records, r.rows, r.graph_nodes, r.graph_links,
               r.errors, r.warnings);
    }
    if (rc != VEX_OK && !r.errors && !r.files)
        fprintf(stderr, "vex verify: %s: %s\n", pos[0],
                rc == VEX_NOTFOUND ? "no such database or collection"
                                   : vex_errstr(rc));
    return rc == VEX_OK ? VEX_EXIT_OK : VEX_EXIT_FAIL;
}

static const vex_opt verify_opts[] = {
    {"json", VEX_OPT_FLAG, NULL, 0, 0, 0,
     "one JSON object per finding, then a summary object"},
    {"quiet", VEX_OPT_FLAG, NULL, 0, 0, 0,
     "print errors and the summary only (no warnings)"},
    {"verbose", VEX_OPT_FLAG, NULL, 0, 0, 0,
     "also print what each file holds (one line per file checked)"},
};

const vex_cmd vex_cmd_verify = {
    "verify",
    "check every file of a database for damage",
    "DB [COLLECTION]",
    1,
    2,
    verify_opts,
    sizeof verify_opts / sizeof verify_opts[0],
    "Reads every file of the database (or of one collection) and checks\n"
    "every checksum, every field rule, every graph invariant (link targets,\n"
    "levels, entry point, degree bounds, no self links) and every id map,\n"
    "and that manifests, segments and the log agree. Prints one line per\n"
    "finding, \"error: FILE at offset N: what\" (FILE relative to DB), and\n"
    "a summary. Warnings (a torn log tail, leftover files the next open\n"
    "removes, unreachable graph nodes) are not damage. Reads only and takes\n"
    "no lock: it works while an application has the database open.\n"
    "Exit status: 0 no damage, 1 damage found or DB unreadable, 2 usage.\n",
    run_verify,
};

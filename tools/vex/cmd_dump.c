/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cmd_dump.c - `vex dump DB [FILE...]`: a human-readable listing of a
 * database's files (vex_dump_file): the marker, each collection's CURRENT,
 * manifests, segments and log files, or only the FILEs named (relative to
 * DB, or paths as given). For debugging and bug reports. Reads only.
 * With --json, one object per file: {"file", "lines": [...], "status":
 * "ok" | "damaged" | the error's name}.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "clidb.h"
#include "vexdb.h"

/* How files are listed: the library's options, and text or JSON. */
typedef struct dump_how {
    vex_dump_options o;
    int json;
    int lines; /* JSON: lines of the current file printed so far */
} dump_how;

static int print_line(void *ctx, const char *line)
{
    dump_how *h = ctx;
    if (!h->json) {
        puts(line);
        return 0;
    }
    if (h->lines++)
        putchar(',');
    vex_cli_json_string(stdout, line);
    return 0;
}

/* Dump one file; returns the exit status for it. */
static int dump_one(const char *path, const char *shown, dump_how *h)
{
    int rc;
    if (h->json) {
        printf("{\"file\":");
        vex_cli_json_string(stdout, shown);
        printf(",\"lines\":[");
        h->lines = 0;
    } else {
        printf("== %s\n", shown);
    }
    rc = vex_dump_file(path, &h->o, print_line, h);
    if (h->json)
        printf("],\"status\":\"%s\"}\n", rc == VEX_OK ? "ok"
                                         : rc == VEX_CORRUPT
                                             ? "damaged"
                                             : vex_status_name(rc));
    fflush(stdout);
    if (rc != VEX_OK) {
        fprintf(stderr, "vex dump: %s: %s\n", shown,
                rc == VEX_CORRUPT ? "damaged (see the damage: lines)"
                                  : vex_errstr(rc));
        return VEX_EXIT_FAIL;
    }
    return VEX_EXIT_OK;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every file under dir (relative names under rel), sorted, recursively. */
static int dump_tree(const char *dir, const char *rel, dump_how *o)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char **names = NULL;
    size_t n = 0, cap = 0;
    int status = VEX_EXIT_OK;
    if (d == NULL) {
        fprintf(stderr, "vex dump: %s: cannot list\n", dir);
        return VEX_EXIT_FAIL;
    }
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0 ||
            strcmp(e->d_name, "LOCK") == 0)
            continue;
        if (n == cap) {
            char **p;
            cap = cap ? cap * 2 : 16;
            p = realloc(names, cap * sizeof *p);
            if (p == NULL)
                break;
            names = p;
        }
        if ((names[n] = strdup(e->d_name)) != NULL)
            n++;
    }
    closedir(d);
    if (n)
        qsort(names, n, sizeof *names, cmp_str);
    for (size_t i = 0; i < n; i++) {
        char path[4096], shown[4096];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        snprintf(shown, sizeof shown, "%s%s%s", rel, rel[0] ? "/" : "",
                 names[i]);
        if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
            if (dump_tree(path, shown, o) != VEX_EXIT_OK)
                status = VEX_EXIT_FAIL;
        } else if (dump_one(path, shown, o) != VEX_EXIT_OK) {
            status = VEX_EXIT_FAIL;
        }
        free(names[i]);
    }
    free(names);
    return status;
}

static int run_dump(const vex_cmd *cmd, const vex_optval *vals, char **pos,
                    int n_pos)
{
    dump_how o;
    const vex_optval *items = &vals[vex_args_index(cmd, "max-items")];
    struct stat st;
    int status = VEX_EXIT_OK;
    vex_dump_options_init(&o.o);
    o.json = vals[vex_args_index(cmd, "json")].given;
    o.lines = 0;
    if (items->given)
        o.o.max_items = items->u;
    if (vals[vex_args_index(cmd, "all")].given)
        o.o.max_items = 0;
    if (stat(pos[0], &st) != 0 || !S_ISDIR(st.st_mode)) {
        if (n_pos == 1 && stat(pos[0], &st) == 0) /* a file alone */
            return dump_one(pos[0], pos[0], &o);
        vex_cli_no_db("dump", pos[0]);
        return VEX_EXIT_FAIL;
    }
    if (n_pos == 1)
        return dump_tree(pos[0], "", &o);
    for (int i = 1; i < n_pos; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", pos[0], pos[i]);
        if (stat(path, &st) != 0 && stat(pos[i], &st) == 0)
            snprintf(path, sizeof path, "%s", pos[i]); /* as given */
        if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
            if (dump_tree(path, pos[i], &o) != VEX_EXIT_OK)
                status = VEX_EXIT_FAIL;
        } else if (dump_one(path, pos[i], &o) != VEX_EXIT_OK) {
            status = VEX_EXIT_FAIL;
        }
    }
    return status;
}

static const vex_opt dump_opts[] = {
    {"max-items", VEX_OPT_UINT, "N", 0, 0, UINT64_MAX,
     "entries listed per list (ids, records, ...), 0 = all; default 16"},
    {"all", VEX_OPT_FLAG, NULL, 0, 0, 0, "list every entry (--max-items 0)"},
    {"json", VEX_OPT_FLAG, NULL, 0, 0, 0,
     "one JSON object per file: {\"file\", \"lines\": [...], \"status\": "
     "\"ok\" | \"damaged\" | an error}"},
};

const vex_cmd vex_cmd_dump = {
    "dump",
    "list a database's files for debugging and bug reports",
    "DB [FILE...]",
    1,
    VEX_MAX_POS,
    dump_opts,
    sizeof dump_opts / sizeof dump_opts[0],
    "Lists every file of database DB (or only each FILE, a path relative\n"
    "to DB such as collections/docs/CURRENT, or a directory of it, or a\n"
    "path as given): the marker, CURRENT, manifests (configuration,\n"
    "segments, deleted ids, schema), segments (header, sections with their\n"
    "checksums, rows, metadata columns, index and graph) and write-ahead\n"
    "log files (every record and its operations). Damage is shown as\n"
    "\"damage: what at offset N\". DB may also be a single file. Reads only.\n"
    "Exit status: 0 every file intact, 1 damage or an unreadable file.\n",
    run_dump,
};

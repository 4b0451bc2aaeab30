/* SPDX-License-Identifier: Apache-2.0 */
/*
 * args.h - the vex tool's command table and option parser. Each command
 * declares its options as a table (name, kind, range, help); the parser
 * fills one vex_optval per table row and the help text is generated from
 * the same table, so a new option is one row. Syntax: `--name value`,
 * `--name=value`, flags as `--name`, `--` ends options; every command also
 * takes `--help`. Unknown options, missing or malformed values, values out
 * of range and options given twice are usage errors (exit code 2).
 *
 * VEX_OPT_UINT_LIST takes a comma-separated list of integers
 * (`--ef 10,20,40`); `vex bench` prints one result row per value.
 */
#ifndef VEX_TOOLS_ARGS_H
#define VEX_TOOLS_ARGS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* exit codes of the tool */
#define VEX_EXIT_OK    0
#define VEX_EXIT_FAIL  1 /* a file, data or library error */
#define VEX_EXIT_USAGE 2 /* bad command line */

#define VEX_MAX_OPTS 32
/* positional arguments: ids of vex get and vex delete, files of vex
 * import; 4096 fit a command line (ARG_MAX is at least 128 KiB on Linux)
 * and one vex_batch of deletes */
#define VEX_MAX_POS  4096
#define VEX_MAX_LIST 64

typedef enum vex_opt_kind {
    VEX_OPT_FLAG,     /* no value */
    VEX_OPT_STRING,   /* any non-empty string */
    VEX_OPT_UINT,     /* decimal integer in [min, max] */
    VEX_OPT_UINT_LIST /* 1..VEX_MAX_LIST comma-separated integers */
} vex_opt_kind;

typedef struct vex_opt {
    const char *name; /* without the leading "--" */
    vex_opt_kind kind;
    const char *metavar; /* shown in help: "FILE", "N" */
    int required;
    uint64_t min, max; /* VEX_OPT_UINT only */
    const char *help;
} vex_opt;

typedef struct vex_optval {
    int given;
    const char *str;             /* the value as given (not for flags) */
    uint64_t u;                  /* VEX_OPT_UINT; the first value of a list */
    uint64_t list[VEX_MAX_LIST]; /* VEX_OPT_UINT_LIST */
    size_t n_list;
} vex_optval;

typedef struct vex_cmd vex_cmd;
struct vex_cmd {
    const char *name;
    const char *summary;     /* one line for `vex --help` */
    const char *positionals; /* usage text of positional args, or "" */
    unsigned min_pos, max_pos;
    const vex_opt *opts;
    size_t n_opts;
    const char *description; /* printed after the option list */
    int (*run)(const vex_cmd *cmd, const vex_optval *vals, char **pos,
               int n_pos);
};

/* Parse argv[0..argc) (the words after the command name). Returns
 * VEX_EXIT_OK, VEX_EXIT_USAGE after printing a message to stderr, or -1
 * when --help was asked for (the caller prints the help). */
int vex_args_parse(const vex_cmd *cmd, int argc, char **argv,
                   vex_optval vals[VEX_MAX_OPTS], char *pos[VEX_MAX_POS],
                   int *n_pos);

/* The command's help text: usage, options, description. */
void vex_args_help(const vex_cmd *cmd, FILE *out);

/* Index of the option named `name` in cmd->opts; aborts if there is none
 * (a programming error in the command's table). */
size_t vex_args_index(const vex_cmd *cmd, const char *name);

#endif

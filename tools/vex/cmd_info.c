/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cmd_info.c - `vex info FILE`: the format, element type, number of records
 * and dimension of a vector or ground-truth file. Every record is read and
 * checked, so this is also how to validate a dataset file.
 */
#include <inttypes.h>
#include <string.h>

#include "cli.h"
#include "readers.h"
#include "vexdb.h"

static int run_info(const vex_cmd *cmd, const vex_optval *vals, char **pos,
                    int n_pos)
{
    vexio_info info;
    vexio_error err;
    int rc, i, status = VEX_EXIT_OK;
    int json = vals[vex_args_index(cmd, "json")].given;

    for (i = 0; i < n_pos; i++) {
        rc = vexio_probe(pos[i], VEXIO_AUTO, &info, &err);
        if (rc != VEX_OK) {
            fprintf(stderr, "vex info: %s\n", err.msg);
            status = VEX_EXIT_FAIL;
            continue;
        }
        if (json) {
            printf("{\"file\":");
            vex_cli_json_string(stdout, pos[i]);
            printf(",\"format\":\"%s\",\"dtype\":\"%s\",\"n\":%" PRIu64
                   ",\"dim\":%" PRIu32 ",\"bytes\":%" PRIu64 "}\n",
                   vexio_format_name(info.format), info.dtype, info.n, info.dim,
                   info.file_size);
        } else {
            printf("%s: %s, %" PRIu64 " records of %" PRIu32 " %s, %" PRIu64
                   " bytes\n",
                   pos[i], vexio_format_name(info.format), info.n, info.dim,
                   info.dtype, info.file_size);
        }
    }
    return status;
}

static const vex_opt info_opts[] = {
    {"json", VEX_OPT_FLAG, NULL, 0, 0, 0, "one JSON object per file"},
};

const vex_cmd vex_cmd_info = {
    "info",
    "describe vector files (.fvecs .bvecs .ivecs .npy), checking every record",
    "FILE...",
    1,
    VEX_MAX_POS,
    info_opts,
    sizeof info_opts / sizeof info_opts[0],
    "Prints the format, the number of records, their dimension and the\n"
    "element type. A malformed file gives a message naming the record and\n"
    "byte offset, and exit status 1.\n",
    run_info,
};

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cliutil.c - the small helpers of cli.h that every command shares and
 * that need no database: the clock, whether stderr is a terminal, the
 * simple progress line, the CPU count and JSON strings. Apart from main.c
 * so that a fuzz target can link a command's code without the tool's
 * main().
 */
#include <stdint.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "vexdb.h"

double vex_cli_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int vex_cli_progress_enabled(void)
{
    return isatty(STDERR_FILENO);
}

void vex_cli_progress(int enabled, const char *what, uint64_t i, uint64_t n,
                      int done)
{
    if (!enabled)
        return;
    if (done)
        fprintf(stderr, "\r\033[K");
    else
        fprintf(stderr, "\r%s %3u%%", what, (unsigned)(n ? i * 100 / n : 100));
    fflush(stderr);
}

unsigned vex_cli_online_cpus(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1)
        n = 1;
    if (n > VEX_MAX_THREADS)
        n = VEX_MAX_THREADS;
    return (unsigned)n;
}

void vex_cli_json_string(FILE *out, const char *s)
{
    fputc('"', out);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(out, "\\%c", c);
        else if (c < 0x20)
            fprintf(out, "\\u%04x", c);
        else
            fputc(c, out);
    }
    fputc('"', out);
}

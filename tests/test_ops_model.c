/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_ops_model.c - seeded random programs through the operation-sequence
 * fuzzer's entry point (fuzz/fuzz_ops.c): every collection kind, every
 * operation, checked against the model after each step. Usage:
 *   test_ops_model [programs [first-seed [dense]]]
 * (default 300 programs from seed 1; "dense" keeps HNSW graphs at hnsw_m
 * 16, clearing the sparse-graph bit of every program)
 * A failure aborts with the seed printed first, so a run can be repeated
 * with that seed alone; long runs by hand: test_ops_model 100000 1000.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"
#include "util/rng.h"

static volatile sig_atomic_t g_seed_lo, g_seed_hi;

/* A failed check aborts: say which program, so it can be run alone. */
static void on_abort(int sig)
{
    char msg[96];
    unsigned long long seed =
        ((unsigned long long)g_seed_hi << 32) | (unsigned)g_seed_lo;
    int n = snprintf(msg, sizeof msg,
                     "test_ops_model: failed at seed %llu (rerun: "
                     "test_ops_model 1 %llu)\n",
                     seed, seed);
    if (n > 0 && write(2, msg, (size_t)n) < 0)
        _exit(3);
    signal(sig, SIG_DFL);
    raise(sig);
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 300;
    uint64_t first = argc > 2 ? strtoull(argv[2], NULL, 10) : 1;
    int dense = argc > 3 && strcmp(argv[3], "dense") == 0;
    static uint8_t buf[1024];
    signal(SIGABRT, on_abort);
    for (long i = 0; i < n; i++) {
        uint64_t seed = first + (uint64_t)i;
        vex_rng r;
        size_t len;
        vex_rng_seed(&r, seed);
        len = 16 + vex_rng_below(&r, 500);
        for (size_t j = 0; j < len; j++)
            buf[j] = (uint8_t)vex_rng_next(&r);
        if (dense)
            buf[0] &= (uint8_t)~0x10u;
        /* close/reopen, flush and compact are rarer than writes */
        for (size_t j = 1; j < len; j++)
            if (buf[j] % 16 >= 10 && buf[j] % 16 <= 12 &&
                vex_rng_below(&r, 4) != 0)
                buf[j] = (uint8_t)(buf[j] & 0xf0) | 1;
        g_seed_lo = (sig_atomic_t)(seed & 0xffffffffu);
        g_seed_hi = (sig_atomic_t)(seed >> 32);
        LLVMFuzzerTestOneInput(buf, len);
    }
    fprintf(stderr, "%ld programs passed (seeds %llu..%llu)\n", n,
            (unsigned long long)first,
            (unsigned long long)(first + (uint64_t)n - 1));
    return 0;
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * simd_dispatch.c - choose the kernel table once per process.
 *
 * CPU features are read once (pthread_once) with cpuid, and XGETBV tells
 * whether the OS saves the wider register state: a CPU can report AVX-512
 * while the kernel (or a hypervisor) has not enabled ZMM state, and using
 * it then faults. A table is runnable only when it was compiled in (CMake
 * defines VEX_HAVE_X86_KERNELS / VEX_HAVE_NEON_KERNELS for this file) and
 * every ISA extension its file was compiled for is present:
 *
 *   avx2    AVX2, FMA, F16C, POPCNT, SSE4.2 (crc32), OS-enabled YMM state
 *   avx512  AVX-512 F, BW, DQ, VL, VNNI, VPOPCNTDQ (plus all of avx2) and
 *           OS-enabled opmask/ZMM state
 *   neon    always on aarch64 (NEON is part of the base ISA)
 *
 * The table in use is the library's only global mutable state. It is an
 * atomic pointer: vx_simd() loads it (acquire) and, the first time, fills
 * it under pthread_once from VEX_SIMD (scalar|avx2|avx512|neon|auto) or
 * the best runnable table. An unset, unknown or not-runnable VEX_SIMD value
 * silently means "auto": the library never prints, and a test harness
 * that wants to know can compare vex_simd_name() with what it asked for.
 * vex_simd_force() stores the pointer; the first-use initialiser only
 * installs its choice if nothing was forced before it ran.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "simd/simd.h"
#include "simd/simd_impl.h"
#include "vexdb.h"

#if defined(VEX_HAVE_X86_KERNELS)
#include <cpuid.h>
#endif

/* ---- CPU features --------------------------------------------------- */

/* Only x86 needs them: without x86 kernels there is nothing to detect
 * (and nothing left unused in a build for another architecture). */
#if defined(VEX_HAVE_X86_KERNELS)
static pthread_once_t g_cpu_once = PTHREAD_ONCE_INIT;
static int g_cpu_avx2; /* written once under g_cpu_once, then read-only */
static int g_cpu_avx512;

static uint64_t read_xcr0(void)
{
    uint32_t lo, hi;
    /* xgetbv with ecx = 0; spelled as asm so no -mxsave is needed */
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}

static void cpu_detect(void)
{
    unsigned a, b, c, d, max_leaf;
    unsigned c1, b7 = 0, c7 = 0;
    uint64_t xcr0 = 0;
    int os_ymm, os_zmm;
    max_leaf = __get_cpuid_max(0, NULL);
    if (max_leaf < 1 || !__get_cpuid(1, &a, &b, &c, &d))
        return;
    c1 = c;
    if (max_leaf >= 7) {
        __cpuid_count(7, 0, a, b, c, d);
        b7 = b;
        c7 = c;
    }
    if (c1 & (1u << 27)) /* OSXSAVE: XGETBV is usable */
        xcr0 = read_xcr0();
    os_ymm = (xcr0 & 0x6) == 0x6;   /* SSE and AVX state */
    os_zmm = (xcr0 & 0xe6) == 0xe6; /* plus opmask, ZMM_Hi256, Hi16_ZMM */
    g_cpu_avx2 = os_ymm && (c1 & (1u << 28))                 /* AVX */
                 && (c1 & (1u << 12))                        /* FMA */
                 && (c1 & (1u << 29))                        /* F16C */
                 && (c1 & (1u << 23))                        /* POPCNT */
                 && (c1 & (1u << 20))                        /* SSE4.2 */
                 && (b7 & (1u << 5));                        /* AVX2 */
    g_cpu_avx512 = g_cpu_avx2 && os_zmm && (b7 & (1u << 16)) /* F */
                   && (b7 & (1u << 17))                      /* DQ */
                   && (b7 & (1u << 30))                      /* BW */
                   && (b7 & (1u << 31))                      /* VL */
                   && (c7 & (1u << 11))                      /* VNNI */
                   && (c7 & (1u << 14));                     /* VPOPCNTDQ */
}

static void cpu_once(void)
{
    pthread_once(&g_cpu_once, cpu_detect);
}
#endif

/* ---- tables ------------------------------------------------------------ */

const vex_simd_table *vx_simd_table_avx2(void)
{
#if defined(VEX_HAVE_X86_KERNELS)
    cpu_once();
    if (g_cpu_avx2)
        return &vx_simd_avx2_table;
#endif
    return NULL;
}

const vex_simd_table *vx_simd_table_avx512(void)
{
#if defined(VEX_HAVE_X86_KERNELS)
    cpu_once();
    if (g_cpu_avx512)
        return &vx_simd_avx512_table;
#endif
    return NULL;
}

const vex_simd_table *vx_simd_table_neon(void)
{
#if defined(VEX_HAVE_NEON_KERNELS)
    return &vex_simd_neon_table;
#else
    return NULL;
#endif
}

/* Known names; "auto" is handled by the callers. */
static int known_name(const char *name)
{
    return strcmp(name, "scalar") == 0 || strcmp(name, "avx2") == 0 ||
           strcmp(name, "avx512") == 0 || strcmp(name, "neon") == 0;
}

const vex_simd_table *vx_simd_table_by_name(const char *name)
{
    if (name == NULL)
        return NULL;
    if (strcmp(name, "scalar") == 0)
        return vx_simd_table_scalar();
    if (strcmp(name, "avx2") == 0)
        return vx_simd_table_avx2();
    if (strcmp(name, "avx512") == 0)
        return vx_simd_table_avx512();
    if (strcmp(name, "neon") == 0)
        return vx_simd_table_neon();
    return NULL;
}

static const vex_simd_table *best_table(void)
{
    const vex_simd_table *t;
    if ((t = vx_simd_table_avx512()) != NULL)
        return t;
    if ((t = vx_simd_table_avx2()) != NULL)
        return t;
    if ((t = vx_simd_table_neon()) != NULL)
        return t;
    return vx_simd_table_scalar();
}

/* ---- the choice ------------------------------------------------------ */

static _Atomic(const vex_simd_table *) g_table;
static pthread_once_t g_choice_once = PTHREAD_ONCE_INIT;

static void choose_initial(void)
{
    const char *env = getenv("VEX_SIMD");
    const vex_simd_table *want = env ? vx_simd_table_by_name(env) : NULL;
    const vex_simd_table *expected = NULL;
    if (want == NULL)
        want = best_table();
    /* keep a choice made by vex_simd_force() before first use */
    atomic_compare_exchange_strong_explicit(
        &g_table, &expected, want, memory_order_acq_rel, memory_order_acquire);
}

const vex_simd_table *vx_simd(void)
{
    const vex_simd_table *t =
        atomic_load_explicit(&g_table, memory_order_acquire);
    if (t != NULL)
        return t;
    pthread_once(&g_choice_once, choose_initial);
    return atomic_load_explicit(&g_table, memory_order_acquire);
}

const char *vex_simd_name(void)
{
    return vx_simd()->name;
}

int vex_simd_force(const char *name)
{
    const vex_simd_table *t;
    if (name == NULL || strcmp(name, "auto") == 0) {
        t = best_table();
    } else {
        if (!known_name(name))
            return VEX_INVALID;
        t = vx_simd_table_by_name(name);
        if (t == NULL)
            return VEX_UNSUPPORTED;
    }
    atomic_store_explicit(&g_table, t, memory_order_release);
    return VEX_OK;
}

/* Kernel set names only: "auto" is not a set and gives 0. */
int vex_simd_supported(const char *name)
{
    return vx_simd_table_by_name(name) != NULL;
}

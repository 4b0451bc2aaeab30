/*
 * simd_dispatch.c - choose the kernel table once per process.
 *
 * Placeholder order until the ISA files land: scalar only.
 */
#include <stdlib.h>
#include <string.h>

#include "simd/simd.h"
#include "vexdb.h"

static const vex_simd_table *g_table;

const vex_simd_table *vex_simd_table_avx2(void)
{
    return NULL;
}
const vex_simd_table *vex_simd_table_avx512(void)
{
    return NULL;
}
const vex_simd_table *vex_simd_table_neon(void)
{
    return NULL;
}

const vex_simd_table *vex_simd_table_by_name(const char *name)
{
    if (strcmp(name, "scalar") == 0)
        return vex_simd_table_scalar();
    return NULL;
}

const vex_simd_table *vex_simd(void)
{
    if (g_table == NULL)
        g_table = vex_simd_table_scalar();
    return g_table;
}

const char *vex_simd_name(void)
{
    return vex_simd()->name;
}

int vex_simd_force(const char *name)
{
    const vex_simd_table *t;
    if (name == NULL || strcmp(name, "auto") == 0) {
        g_table = vex_simd_table_scalar();
        return VEX_OK;
    }
    if (strcmp(name, "scalar") && strcmp(name, "avx2") &&
        strcmp(name, "avx512") && strcmp(name, "neon"))
        return VEX_INVALID;
    t = vex_simd_table_by_name(name);
    if (t == NULL)
        return VEX_UNSUPPORTED;
    g_table = t;
    return VEX_OK;
}

int vex_simd_supported(const char *name)
{
    return name && vex_simd_table_by_name(name) != NULL;
}

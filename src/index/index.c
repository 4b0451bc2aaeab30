/* SPDX-License-Identifier: Apache-2.0 */
/*
 * index.c - helpers shared by every index kind (see index.h).
 */
#include <math.h>
#include <stdio.h>

#include "index/index.h"
#include "simd/simd.h"

int vx_vector_check(const vex_index_config *c, const void *v, char *why,
                    size_t why_size)
{
    if (c->elem == VEX_ELEM_F32) {
        const float *x = v;
        float n2 = vx_simd()->norm2_f32(x, c->dim);
        uint32_t i;
        /* a NaN or infinite component makes the squared norm NaN or
         * infinite, so the per-component scan runs only to name it */
        if (!isfinite(n2)) {
            for (i = 0; i < c->dim; i++) {
                if (!isfinite(x[i])) {
                    snprintf(why, why_size, "component %u is %s", i,
                             isnan(x[i]) ? "NaN" : "infinite");
                    return VEX_INVALID;
                }
            }
            snprintf(why, why_size,
                     "components too large (the squared norm "
                     "overflows float32)");
            return VEX_INVALID;
        }
        if (c->metric == VEX_METRIC_COSINE && !(n2 > 0.0f)) {
            snprintf(why, why_size,
                     "zero vector (or too small to normalise) "
                     "has no cosine direction");
            return VEX_INVALID;
        }
    } else {
        const unsigned char *b = v;
        unsigned used = c->dim % 8;
        if (used != 0 && (b[c->vec_bytes - 1] >> used) != 0) {
            snprintf(why, why_size,
                     "padding bits above bit %u of the last byte must be "
                     "zero",
                     c->dim - 1);
            return VEX_INVALID;
        }
    }
    return VEX_OK;
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * abi.h - public structs that grow without breaking programs.
 *
 * Every options, parameters and statistics struct of vexdb.h starts with
 * `uint32_t struct_size`, and fields are only ever appended. A program
 * compiled against an older vexdb.h passes its older, smaller size; one
 * compiled against this header passes sizeof. The library accepts any
 * size from the struct's first released size (VX_ABI_V1_*: the layout of
 * vexdb.h 0.1.0) up to its own sizeof:
 *
 *   in   (options the caller fills): the fields of the newest layout that
 *        fits in struct_size are copied over a struct holding every
 *        default (vx_abi_in), and the library reads only that full copy;
 *        fields the caller's header did not have take their defaults.
 *   out  (statistics the library fills): the library fills a full struct
 *        and copies the caller's part of it back (vx_abi_out).
 *   init (the *_init functions): vexdb.h makes each init a macro passing
 *        sizeof of the caller's struct, so init never writes past it
 *        (vx_abi_init); the exported function of the init's own name is
 *        kept for programs built against 0.1.0 and writes that layout.
 *
 * "The newest layout that fits" rather than "every byte up to
 * struct_size": a field appended to a struct may sit where the older
 * layout had only trailing padding, and those bytes of an older caller's
 * struct are not a value. So a size between two layouts reads only the
 * older layout's fields.
 *
 * A size below the first layout (a struct never initialised) or above
 * sizeof (a program built against a newer header than the library it
 * runs with) is VEX_MISUSE with a message that says which.
 *
 * When a struct gains fields in a release, add its previous layout's end
 * to the layout's list below (the ends, ascending) and keep the test
 * tests/test_abi.c, which compiles against a copy of each older layout,
 * in step.
 */
#ifndef VEX_UTIL_ABI_H
#define VEX_UTIL_ABI_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "util/err.h"
#include "vexdb.h"

/* Bytes of `type` up to and including `field`. */
#define VX_SIZE_UPTO(type, field)                                              \
    (offsetof(type, field) + sizeof(((type *)0)->field))

/* The layouts of one public struct: the ends of its released layouts,
 * oldest first, then the current sizeof. */
typedef struct vx_abi_layout {
    const char *what; /* "options", "params", "stats", "config" */
    const char *init; /* the init function's name, for messages */
    size_t n;
    size_t ends[4];
} vx_abi_layout;

/* vexdb.h 0.1.0 (the first release) ended each struct at these fields. */
#define VX_ABI_LAYOUT(type, v1_last, what, init)                               \
    ((vx_abi_layout){                                                          \
        what, init, 2, {VX_SIZE_UPTO(type, v1_last), sizeof(type)}})

/* Structs that grew in 0.5.0: the 0.1.0 end, the 0.4.0 end, sizeof. */
#define VX_ABI_LAYOUT3(type, v1_last, v4_last, what, init)                     \
    ((vx_abi_layout){what,                                                     \
                     init,                                                     \
                     3,                                                        \
                     {VX_SIZE_UPTO(type, v1_last),                             \
                      VX_SIZE_UPTO(type, v4_last), sizeof(type)}})

#define VX_ABI_SEARCH_PARAMS                                                   \
    ((vx_abi_layout){"params",                                                 \
                     "vex_search_params_init",                                 \
                     2,                                                        \
                     {VX_SIZE_UPTO(vex_search_params, meta_out),               \
                      sizeof(vex_search_params)}})
#define VX_ABI_INDEX_OPTIONS                                                   \
    VX_ABI_LAYOUT(vex_index_options, quant_refine, "options",                  \
                  "vex_index_options_init")
#define VX_ABI_OPEN_OPTIONS                                                    \
    VX_ABI_LAYOUT(vex_open_options, flags, "options", "vex_open_options_init")
#define VX_ABI_DB_OPTIONS                                                      \
    VX_ABI_LAYOUT3(vex_db_options, allocator, manifest_retention, "options",   \
                   "vex_db_options_init")
/* vex_collection_config: 0.1.0, 0.3.0 (compression), 0.5.0 (text, DiskANN) */
#define VX_ABI_COLLECTION_CONFIG                                               \
    VX_ABI_LAYOUT3(vex_collection_config, schema_closed, compression,          \
                   "config", "vex_collection_config_init")
#define VX_ABI_STATS                                                           \
    VX_ABI_LAYOUT3(vex_stats, write_stalls, payload_bytes, "stats",            \
                   "vex_stats_init")
/* vex_record is new in 0.2.0: its first layout is its current one. */
/* vex_record: 0.2.0, then 0.5.0 (text) */
#define VX_ABI_RECORD                                                          \
    ((vx_abi_layout){                                                          \
        "record",                                                              \
        "vex_record_init",                                                     \
        2,                                                                     \
        {VX_SIZE_UPTO(vex_record, payload_len), sizeof(vex_record)}})
/* vex_search_stats: 0.1.0, then 0.3.0 (unknown_field), then explain
 * (0.4.0), then the legs and postings and the DiskANN reads
 * (0.5.0) */
#define VX_ABI_SEARCH_STATS                                                    \
    ((vx_abi_layout){"params.stats",                                           \
                     "vex_search_stats_init",                                  \
                     4,                                                        \
                     {VX_SIZE_UPTO(vex_search_stats, match_sets_built),        \
                      VX_SIZE_UPTO(vex_search_stats, unknown_field),           \
                      VX_SIZE_UPTO(vex_search_stats, n_explain),               \
                      sizeof(vex_search_stats)}})

/* vex_health is new in 0.4.0: its first layout is its current one. */
#define VX_ABI_HEALTH                                                          \
    VX_ABI_LAYOUT(vex_health, sticky_message, "health", "vex_health_init")

/* Bytes of a caller's struct of `size` bytes that belong to a layout the
 * library knows: the end of the newest layout not longer than `size`, or
 * 0 when `size` is below the first. */
static inline size_t vx_abi_known(const vx_abi_layout *l, size_t size)
{
    size_t known = 0;
    for (size_t i = 0; i < l->n; i++)
        if (l->ends[i] <= size)
            known = l->ends[i];
    return known;
}

/* Check a caller's struct_size: VEX_OK, or VEX_MISUSE with a message. */
static inline int vx_abi_check(const vx_abi_layout *l, uint32_t size,
                               vex_err *err)
{
    size_t full = l->ends[l->n - 1];
    if (size > full)
        return vx_err_set(err, VEX_MISUSE,
                          "%s.struct_size is %u, larger than this library's "
                          "%zu: the program was compiled against a newer "
                          "vexdb.h than the library it runs with",
                          l->what, size, full);
    if (size < l->ends[0])
        return vx_err_set(err, VEX_MISUSE,
                          "%s.struct_size is %u, below the first release's "
                          "%zu: fill the struct with %s()",
                          l->what, size, l->ends[0], l->init);
    return VEX_OK;
}

/* Take a caller's input struct: *full already holds every default (and
 * struct_size = sizeof); the caller's known fields are copied over it.
 * Returns as vx_abi_check. */
static inline int vx_abi_in(const vx_abi_layout *l, const void *user,
                            void *full, vex_err *err)
{
    uint32_t size;
    int rc;
    memcpy(&size, user, sizeof size);
    if ((rc = vx_abi_check(l, size, err)) != VEX_OK)
        return rc;
    size_t known = vx_abi_known(l, size);
    uint32_t full_size = (uint32_t)l->ends[l->n - 1];
    memcpy(full, user, known);
    memcpy(full, &full_size, sizeof full_size);
    return VEX_OK;
}

/* Give back an output struct: copy the caller's known part of *full to
 * *user (whose struct_size was checked with vx_abi_check), keeping the
 * caller's struct_size. */
static inline void vx_abi_out(const vx_abi_layout *l, void *user,
                              const void *full)
{
    uint32_t size;
    memcpy(&size, user, sizeof size);
    size_t known = vx_abi_known(l, size);
    memcpy(user, full, known);
    memcpy(user, &size, sizeof size);
}

/* An init function: write the defaults in *full to a caller's struct of
 * `size` bytes (zeros past the library's sizeof) and set its struct_size
 * to `size`, so a struct from a newer header is refused when used rather
 * than read short. */
static inline void vx_abi_init(const vx_abi_layout *l, void *user, size_t size,
                               const void *full)
{
    size_t full_size = l->ends[l->n - 1];
    uint32_t s = size > UINT32_MAX ? UINT32_MAX : (uint32_t)size;
    if (size > full_size)
        memset((char *)user + full_size, 0, size - full_size);
    memcpy(user, full, size < full_size ? size : full_size);
    if (size >= sizeof s)
        memcpy(user, &s, sizeof s);
}

#endif

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * status.c - status code names and descriptions, and the library version.
 *
 * Everything here is generated from VEX_STATUS_TABLE in vexdb.h, so adding a
 * code there is the only change needed.
 */
#include "vexdb.h"

const char *vex_errstr(int rc)
{
    switch (rc) {
#define VEX_STATUS_TEXT_(name, value, text)                                    \
    case value:                                                                \
        return text;
        VEX_STATUS_TABLE(VEX_STATUS_TEXT_)
#undef VEX_STATUS_TEXT_
    default:
        return "unknown status code";
    }
}

const char *vex_status_name(int rc)
{
    switch (rc) {
#define VEX_STATUS_NAME_(name, value, text)                                    \
    case value:                                                                \
        return #name;
        VEX_STATUS_TABLE(VEX_STATUS_NAME_)
#undef VEX_STATUS_NAME_
    default:
        return "VEX_?";
    }
}

const char *vex_version(void)
{
    return VEX_VERSION_STRING;
}

int vex_version_number(void)
{
    return VEX_VERSION_NUMBER;
}

/* The optional parts this library was built with (CMake defines
 * VEX_HAVE_* for the library's own sources when it finds them). */
uint32_t vex_features(void)
{
    uint32_t f = 0;
#ifdef VEX_HAVE_ZSTD
    f |= VEX_FEATURE_ZSTD;
#endif
#ifdef VEX_HAVE_URING
    f |= VEX_FEATURE_IO_URING;
#endif
    return f;
}

const char *vex_feature_name(uint32_t feature)
{
    switch (feature) {
    case VEX_FEATURE_ZSTD:
        return "zstd";
    case VEX_FEATURE_IO_URING:
        return "io_uring";
    default:
        return NULL;
    }
}

// SPDX-License-Identifier: Apache-2.0
// Compiled (not run) to prove include/vexdb.h is valid C++.
#include "vexdb.h"
int vex_check_header_cxx(void);
int vex_check_header_cxx(void)
{
    return VEX_OK + (vex_version() != nullptr);
}

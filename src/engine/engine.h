/* SPDX-License-Identifier: Apache-2.0 */
/*
 * engine.h - internal entry points of the engine layer for tests and
 * tools built with the library's private headers. Not exported from the
 * shared library (the vx_ prefix marks internal non-static symbols).
 */
#ifndef VEX_ENGINE_H
#define VEX_ENGINE_H

#include "index/index.h"
#include "vexdb.h"

#endif

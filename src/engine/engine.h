/*
 * engine.h - internal entry points of the engine layer for tests and
 * tools built with the library's private headers. Not exported from the
 * shared library (the vexi_ prefix marks internal non-static symbols).
 */
#ifndef VEX_ENGINE_H
#define VEX_ENGINE_H

#include "index/index.h"
#include "vexdb.h"

/* Run the index's invariant check and return its graph statistics. */
int vexi_index_graph_stats(vex_index *ix, vex_graph_stats *stats);

#endif

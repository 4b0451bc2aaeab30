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

/* The option checks of vex_index_create(), reporting into `e`. */
int vexi_check_index_options(const vex_index_options *o, vex_err *e);

/* Resolve adaptive (0) HNSW parameters of `o` into c->hnsw_* (the rule is
 * documented with vex_index_options). */
void vexi_hnsw_defaults(vex_index_config *c, const vex_index_options *o);

/* Call fn for every live vector of the index (see the scan method in
 * index/index.h). */
int vexi_index_scan(vex_index *ix, vex_scan_fn fn, void *ctx);

#endif

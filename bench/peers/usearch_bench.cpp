// SPDX-License-Identifier: Apache-2.0
// usearch_bench.cpp - the USearch side of bench/hnsw_interleaved.py: the
// same dataset, recall rule and "serve" loop as hnswlib_bench.cpp
// (peer_common.hpp), for USearch's dense index (index_dense_t) in float32
// with connectivity M, expansion_add efConstruction and expansion_search
// ef. Cosine data is normalised and searched by inner product, as for
// hnswlib, so neither library computes norms per distance.
//
// Built by hnsw_interleaved.py from the headers of USearch's npm package
// (`npm pack usearch`; -I PACKAGE/include, and with its NumKong kernels
// when PACKAGE/numkong/include is there: -DUSEARCH_USE_NUMKONG=1
// -DNK_DYNAMIC_DISPATCH=0 -march=native), with -O3 -march=native. A
// benchmark peer, not part of VexDB; nothing of USearch is kept in the
// repository.
//
// usage: usearch_bench BASE QUERY GT l2|cosine M EFC THREADS K serve
#include <usearch/index_dense.hpp>

#include <atomic>
#include <thread>

#include "peer_common.hpp"

using namespace unum::usearch;

int main(int argc, char **argv)
{
    if (argc != 10 || std::strcmp(argv[9], "serve") != 0) {
        std::fprintf(stderr,
                     "usage: %s BASE QUERY GT l2|cosine M EFC THREADS K "
                     "serve\n",
                     argv[0]);
        return 2;
    }
    peer::dataset ds(argv[1], argv[2], argv[3], argv[4],
                     std::strtoul(argv[8], 0, 10));
    size_t M = std::strtoul(argv[5], 0, 10), efc = std::strtoul(argv[6], 0, 10);
    size_t threads = std::strtoul(argv[7], 0, 10);
    if (threads < 1)
        threads = 1;

    metric_punned_t metric(
        ds.dim, ds.cosine ? metric_kind_t::ip_k : metric_kind_t::l2sq_k,
        scalar_kind_t::f32_k);
    index_dense_config_t config(M, efc, 64);
    long rss0 = peer::rss_bytes();
    double t0 = peer::now();
    auto made = index_dense_t::make(metric, config);
    if (!made) {
        std::fprintf(stderr, "usearch: %s\n", made.error.release());
        return 1;
    }
    index_dense_t index = std::move(made.index);
    if (!index.try_reserve(index_limits_t(ds.n, threads))) {
        std::fprintf(stderr, "usearch: cannot reserve %zu vectors\n", ds.n);
        return 1;
    }
    std::atomic<size_t> next(0);
    std::atomic<bool> failed(false);
    std::vector<std::thread> pool;
    for (size_t t = 0; t < threads; t++)
        pool.emplace_back([&, t]() {
            for (size_t i; (i = next++) < ds.n;)
                if (!index.add((default_key_t)i, &ds.base[i * ds.dim], t))
                    failed = true;
        });
    for (auto &th : pool)
        th.join();
    if (failed) {
        std::fprintf(stderr, "usearch: an add failed\n");
        return 1;
    }
    double build = peer::now() - t0;
    long rss1 = peer::rss_bytes();

    std::vector<default_key_t> keys(ds.k);
    std::vector<float> dist(ds.k);
    auto search = [&](size_t i) {
        size_t ok = 0;
        auto res = index.search(&ds.query[i * ds.dim], ds.k, 0);
        size_t got = res.dump_to(keys.data(), dist.data());
        // squared L2, or 1 - dot on normalised data
        for (size_t j = 0; j < got; j++)
            if ((double)dist[j] <= ds.thr[i])
                ok++;
        return ok;
    };
    return peer::serve(
        "usearch", ds, build, rss1 - rss0,
        [&](size_t ef) { index.change_expansion_search(ef); }, search);
}

// SPDX-License-Identifier: Apache-2.0
// hnswlib_filter_bench.cpp - the hnswlib side of bench/filter_bench.py:
// filtered search the way hnswlib 0.6.2 users do it (it has no filter
// hook): search for k' = ef candidates and keep the first k that match.
//
// Builds hnswlib (Debian libhnswlib-dev, header-only) on a texmex base
// file with M and efConstruction on T threads, then for each mask file
// (one byte per base id, 1 = matches) and each ef searches every query on
// one thread with k' = ef, drops the non-matching candidates, and writes
// the first k ids of each query (-1 padded) to OUT.<mask index>.<ef>.ids
// (int64), printing one JSON line {mask, ef, qps_1t, build_s}. Recall is
// computed by the script. A benchmark peer, not part of VexDB.
//
// usage: hnswlib_filter_bench BASE QUERY l2|cosine M EFC THREADS K OUT
//        EF[,EF...] MASK...
#include <hnswlib/hnswlib.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

static double now()
{
    return std::chrono::duration<double>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

static std::vector<float> read_fvecs(const char *path, size_t *n, size_t *d)
{
    FILE *f = std::fopen(path, "rb");
    std::vector<float> v;
    int dim = 0;
    *n = 0;
    if (!f) {
        std::perror(path);
        std::exit(2);
    }
    while (std::fread(&dim, 4, 1, f) == 1) {
        size_t at = v.size();
        v.resize(at + (size_t)dim);
        if (std::fread(v.data() + at, 4, (size_t)dim, f) != (size_t)dim)
            std::exit(2);
        ++*n;
    }
    std::fclose(f);
    *d = (size_t)dim;
    return v;
}

static void normalize(std::vector<float> &v, size_t n, size_t d)
{
    for (size_t i = 0; i < n; i++) {
        double s = 0;
        for (size_t j = 0; j < d; j++)
            s += (double)v[i * d + j] * v[i * d + j];
        s = std::sqrt(s);
        if (s > 0)
            for (size_t j = 0; j < d; j++)
                v[i * d + j] = (float)(v[i * d + j] / s);
    }
}

int main(int argc, char **argv)
{
    if (argc < 11) {
        std::fprintf(stderr,
                     "usage: %s BASE QUERY l2|cosine M EFC THREADS K "
                     "OUT EF[,EF...] MASK...\n",
                     argv[0]);
        return 2;
    }
    size_t n, d, nq, dq;
    std::vector<float> base = read_fvecs(argv[1], &n, &d);
    std::vector<float> q = read_fvecs(argv[2], &nq, &dq);
    bool cosine = std::strcmp(argv[3], "cosine") == 0;
    size_t M = std::strtoul(argv[4], nullptr, 10);
    size_t efc = std::strtoul(argv[5], nullptr, 10);
    unsigned threads = (unsigned)std::strtoul(argv[6], nullptr, 10);
    size_t k = std::strtoul(argv[7], nullptr, 10);
    std::string out = argv[8];
    std::vector<size_t> efs;
    for (char *p = argv[9]; *p;) {
        efs.push_back(std::strtoul(p, &p, 10));
        if (*p == ',')
            p++;
    }
    if (cosine) {
        normalize(base, n, d);
        normalize(q, nq, d);
    }
    hnswlib::SpaceInterface<float> *space =
        cosine
            ? (hnswlib::SpaceInterface<float> *)new hnswlib::InnerProductSpace(
                  d)
            : (hnswlib::SpaceInterface<float> *)new hnswlib::L2Space(d);
    hnswlib::HierarchicalNSW<float> index(space, n, M, efc, 100);
    double t0 = now();
    std::vector<std::thread> pool;
    for (unsigned t = 0; t < threads; t++)
        pool.emplace_back([&, t] {
            for (size_t i = t; i < n; i += threads)
                index.addPoint(base.data() + i * d, i);
        });
    for (auto &th : pool)
        th.join();
    double build_s = now() - t0;

    for (int mi = 10; mi < argc; mi++) {
        std::vector<unsigned char> mask(n);
        FILE *f = std::fopen(argv[mi], "rb");
        if (!f || std::fread(mask.data(), 1, n, f) != n) {
            std::perror(argv[mi]);
            return 2;
        }
        std::fclose(f);
        for (size_t ef : efs) {
            std::vector<long long> ids(nq * k, -1);
            index.setEf(ef);
            double t1 = now();
            for (size_t i = 0; i < nq; i++) {
                auto res = index.searchKnn(q.data() + i * d, ef);
                std::vector<std::pair<float, size_t>> got;
                while (!res.empty()) {
                    got.push_back({res.top().first, res.top().second});
                    res.pop();
                }
                size_t h = 0;
                for (size_t j = got.size(); j-- > 0 && h < k;)
                    if (mask[got[j].second])
                        ids[i * k + h++] = (long long)got[j].second;
            }
            double qps = (double)nq / (now() - t1);
            std::string path = out + "." + std::to_string(mi - 10) + "." +
                               std::to_string(ef) + ".ids";
            FILE *o = std::fopen(path.c_str(), "wb");
            std::fwrite(ids.data(), sizeof(long long), ids.size(), o);
            std::fclose(o);
            std::printf("{\"mask\":%d,\"ef\":%zu,\"qps_1t\":%.1f,"
                        "\"build_s\":%.3f}\n",
                        mi - 10, ef, qps, build_s);
            std::fflush(stdout);
        }
    }
    delete space;
    return 0;
}

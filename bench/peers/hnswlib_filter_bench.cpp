// SPDX-License-Identifier: Apache-2.0
// hnswlib_filter_bench.cpp - the hnswlib side of bench/filter_bench.py and
// bench/filter_interleaved.py: filtered search the way hnswlib 0.6.2 users
// do it (it has no filter hook): search for k' = ef candidates and keep
// the first k that match.
//
// Builds hnswlib (Debian libhnswlib-dev, header-only) on a texmex base
// file with M and efConstruction on T threads (the first point alone,
// then the threads take the next id from a counter, as hnswlib's Python
// binding does: two threads adding into an empty graph race for the entry
// point). A mask file holds one byte per base id, 1 = matches. A pass
// searches every query on one thread with k' = ef, drops the
// non-matching candidates and keeps the first k ids of each query (-1
// padded), written as int64 to a file; recall is computed by the script.
// A benchmark peer, not part of VexDB.
//
// usage: hnswlib_filter_bench BASE QUERY l2|cosine M EFC THREADS K OUT
//        EF[,EF...] MASK...
//   batch: for each mask and each ef one pass, ids to
//   OUT.<mask index>.<ef>.ids, one JSON line {mask, ef, qps_1t, build_s}
//   (bench/filter_bench.py)
// usage: hnswlib_filter_bench BASE QUERY l2|cosine M EFC THREADS K serve
//   serve: after the build {"lib":"hnswlib","ready":true,...}, then one
//   request per stdin line, one JSON line per answer:
//     mask PATH       load a mask: {"lib":"hnswlib","mask":PATH,"matches":M}
//     ef N OUTPATH    one pass with the current mask, ids to OUTPATH:
//                     {"lib":"hnswlib","ef":N,"qps_1t":..,"p50_us":..,
//                     "p99_us":..}
//     quit            ends (so does the end of input)
//   (bench/filter_interleaved.py)
#include <hnswlib/hnswlib.h>

#include <atomic>
#include <thread>

#include "peer_common.hpp"

namespace
{

struct filtered {
    hnswlib::HierarchicalNSW<float> *index;
    const std::vector<float> *query;
    size_t dim, nq, k;
};

bool read_mask(const char *path, size_t n, std::vector<unsigned char> &mask)
{
    mask.assign(n, 0);
    FILE *f = std::fopen(path, "rb");
    bool ok = f && std::fread(mask.data(), 1, n, f) == n;
    if (!ok)
        std::perror(path);
    if (f)
        std::fclose(f);
    return ok;
}

// One single-thread pass: per query k' = ef candidates, the first k that
// match into ids (nearest first), latencies (us) into lat. Returns the
// pass's seconds.
double filtered_pass(const filtered &fs, size_t ef,
                     const std::vector<unsigned char> &mask,
                     std::vector<long long> &ids, std::vector<double> &lat)
{
    std::vector<std::pair<float, size_t>> got;
    ids.assign(fs.nq * fs.k, -1);
    lat.resize(fs.nq);
    fs.index->setEf(ef);
    double t0 = peer::now();
    for (size_t i = 0; i < fs.nq; i++) {
        double q0 = peer::now();
        auto res = fs.index->searchKnn(fs.query->data() + i * fs.dim, ef);
        got.clear();
        while (!res.empty()) { // farthest first
            got.push_back({res.top().first, res.top().second});
            res.pop();
        }
        size_t h = 0;
        for (size_t j = got.size(); j-- > 0 && h < fs.k;)
            if (mask[got[j].second])
                ids[i * fs.k + h++] = (long long)got[j].second;
        lat[i] = (peer::now() - q0) * 1e6;
    }
    return peer::now() - t0;
}

bool write_ids(const std::string &path, const std::vector<long long> &ids)
{
    FILE *o = std::fopen(path.c_str(), "wb");
    bool ok = o && std::fwrite(ids.data(), sizeof(long long), ids.size(), o) ==
                       ids.size();
    if (o && std::fclose(o) != 0)
        ok = false;
    if (!ok)
        std::perror(path.c_str());
    return ok;
}

int serve(const filtered &fs, size_t n, double build_s, long rss_delta)
{
    std::vector<unsigned char> mask(n, 1);
    std::vector<long long> ids;
    std::vector<double> lat;
    std::string line;
    std::printf("{\"lib\":\"hnswlib\",\"ready\":true,\"n\":%zu,"
                "\"build_s\":%.6f,\"rss_delta_bytes\":%ld}\n",
                n, build_s, rss_delta);
    std::fflush(stdout);
    char buf[8192];
    while (std::fgets(buf, sizeof buf, stdin)) {
        line = buf;
        while (!line.empty() && (line.back() == '\n' || line.back() == '\r'))
            line.pop_back();
        size_t ef = 0;
        int at = 0;
        if (line == "quit")
            break;
        if (line.compare(0, 5, "mask ") == 0) {
            if (!read_mask(line.c_str() + 5, n, mask))
                return 2;
            size_t m = 0;
            for (unsigned char b : mask)
                m += b != 0;
            // the path is the driver's own temp file: no JSON escaping
            std::printf("{\"lib\":\"hnswlib\",\"mask\":\"%s\","
                        "\"matches\":%zu}\n",
                        line.c_str() + 5, m);
        } else if (std::sscanf(line.c_str(), "ef %zu %n", &ef, &at) == 1 &&
                   ef > 0 && at > 0 && line[(size_t)at] != '\0') {
            double secs = filtered_pass(fs, ef, mask, ids, lat);
            if (!write_ids(line.substr((size_t)at), ids))
                return 2;
            std::sort(lat.begin(), lat.end());
            std::printf("{\"lib\":\"hnswlib\",\"ef\":%zu,\"qps_1t\":%.3f,"
                        "\"p50_us\":%.3f,\"p99_us\":%.3f}\n",
                        ef, (double)fs.nq / secs, lat[fs.nq / 2],
                        lat[(size_t)std::ceil(0.99 * (double)fs.nq) - 1]);
        } else {
            std::fprintf(stderr, "hnswlib_filter_bench: bad request: %s\n",
                         line.c_str());
            return 2;
        }
        std::fflush(stdout);
    }
    return 0;
}

} // namespace

int main(int argc, char **argv)
{
    bool serving = argc == 9 && std::strcmp(argv[8], "serve") == 0;
    if (!serving && argc < 11) {
        std::fprintf(stderr,
                     "usage: %s BASE QUERY l2|cosine M EFC THREADS K "
                     "OUT EF[,EF...] MASK...\n"
                     "       %s BASE QUERY l2|cosine M EFC THREADS K "
                     "serve\n",
                     argv[0], argv[0]);
        return 2;
    }
    size_t n, d, nq, dq;
    std::vector<float> base = peer::read_vecs<float>(argv[1], &d, &n);
    std::vector<float> q = peer::read_vecs<float>(argv[2], &dq, &nq);
    bool cosine = std::strcmp(argv[3], "cosine") == 0;
    size_t M = std::strtoul(argv[4], nullptr, 10);
    size_t efc = std::strtoul(argv[5], nullptr, 10);
    unsigned threads = (unsigned)std::strtoul(argv[6], nullptr, 10);
    size_t k = std::strtoul(argv[7], nullptr, 10);
    if (n == 0 || nq == 0 || dq != d || k == 0) {
        std::fprintf(stderr, "hnswlib_filter_bench: empty base or queries, "
                             "dimensions differ, or k is 0\n");
        return 2;
    }
    if (threads < 1)
        threads = 1;
    if (cosine) {
        peer::normalize(base, d);
        peer::normalize(q, d);
    }
    hnswlib::L2Space l2(d);
    hnswlib::InnerProductSpace ip(d);
    hnswlib::SpaceInterface<float> *space =
        cosine ? (hnswlib::SpaceInterface<float> *)&ip : &l2;
    long rss0 = peer::rss_bytes();
    double t0 = peer::now();
    hnswlib::HierarchicalNSW<float> index(space, n, M, efc, 100);
    index.addPoint(base.data(), 0);
    std::atomic<size_t> next(1);
    std::vector<std::thread> pool;
    for (unsigned t = 0; t < threads; t++)
        pool.emplace_back([&] {
            for (size_t i; (i = next++) < n;)
                index.addPoint(base.data() + i * d, i);
        });
    for (auto &th : pool)
        th.join();
    double build_s = peer::now() - t0;
    long rss_delta = peer::rss_bytes() - rss0;
    filtered fs = {&index, &q, d, nq, k};
    if (serving)
        return serve(fs, n, build_s, rss_delta);

    std::string out = argv[8];
    std::vector<size_t> efs;
    for (char *p = argv[9]; *p;) {
        efs.push_back(std::strtoul(p, &p, 10));
        if (*p == ',')
            p++;
    }
    std::vector<unsigned char> mask;
    std::vector<long long> ids;
    std::vector<double> lat;
    for (int mi = 10; mi < argc; mi++) {
        if (!read_mask(argv[mi], n, mask))
            return 2;
        for (size_t ef : efs) {
            double qps = (double)nq / filtered_pass(fs, ef, mask, ids, lat);
            if (!write_ids(out + "." + std::to_string(mi - 10) + "." +
                               std::to_string(ef) + ".ids",
                           ids))
                return 2;
            std::printf("{\"mask\":%d,\"ef\":%zu,\"qps_1t\":%.1f,"
                        "\"build_s\":%.3f}\n",
                        mi - 10, ef, qps, build_s);
            std::fflush(stdout);
        }
    }
    return 0;
}

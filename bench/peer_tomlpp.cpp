// peer_tomlpp.cpp - toml++ (Debian libtomlplusplus-dev) throughput driver.
// Usage: peer_tomlpp FILE...
// For each file: parses the in-memory text repeatedly (repetitions sized to
// about 0.3 s, at least 3) and prints "tomlpp FILE BEST_MBPS MEDIAN_MBPS"
// (MB = 10^6 bytes). Only the parse is timed; the tree is destroyed after.
#include <toml++/toml.h>

#include <malloc.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

static double parse_once(const std::string &text, const char *path, bool *ok)
{
    auto t0 = std::chrono::steady_clock::now();
    double secs;
    try {
        toml::table tbl = toml::parse(std::string_view(text), std::string_view(path));
        secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        *ok = !tbl.empty();
    } catch (const toml::parse_error &e) {
        std::fprintf(stderr, "peer_tomlpp: %s: %s\n", path, e.what());
        *ok = false;
        return 0;
    }
    return secs;
}

int main(int argc, char **argv)
{
    // same malloc settings as bench_parse (warm memory across repetitions)
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
    for (int i = 1; i < argc; i++) {
        std::ifstream in(argv[i], std::ios::binary);
        if (!in) {
            std::fprintf(stderr, "peer_tomlpp: cannot open '%s'\n", argv[i]);
            return 1;
        }
        std::stringstream ss;
        ss << in.rdbuf();
        std::string text = ss.str();
        bool ok;
        double first = parse_once(text, argv[i], &ok);
        if (!ok)
            return 1;
        long reps = first > 0 ? (long)(0.3 / first) : 1000;
        reps = std::max(3L, std::min(reps, 100000L));
        std::vector<double> t;
        for (long r = 0; r < reps; r++)
            t.push_back(parse_once(text, argv[i], &ok));
        std::sort(t.begin(), t.end());
        double mb = (double)text.size() / 1e6;
        std::printf("tomlpp %s %.2f %.2f\n", argv[i], mb / t[0], mb / t[t.size() / 2]);
        std::fflush(stdout);
    }
    return 0;
}

// A STREAM-style memory-bandwidth baseline (copy and triad) compiled into every
// benchmark binary, so each operation's bytes/s can be held against what this
// machine's memory delivers in the same run.
#pragma once

#include <benchmark/benchmark.h>

#include <cstdint>
#include <vector>

namespace ilvr_bench {

// args: floats per array (large enough to leave the caches).
inline void stream_copy(benchmark::State& state)
{
    const auto n = static_cast<std::size_t>(state.range(0));
    std::vector<float> a(n, 1.0f), c(n, 0.0f);
    for (auto _ : state) {
        for (std::size_t i = 0; i < n; ++i) c[i] = a[i];
        benchmark::DoNotOptimize(c.data());
        benchmark::ClobberMemory();
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * 2 * n * sizeof(float)));
}

inline void stream_triad(benchmark::State& state)
{
    const auto n = static_cast<std::size_t>(state.range(0));
    std::vector<float> a(n, 0.0f), b(n, 1.0f), c(n, 2.0f);
    const float scalar = 3.0f;
    for (auto _ : state) {
        for (std::size_t i = 0; i < n; ++i) a[i] = b[i] + scalar * c[i];
        benchmark::DoNotOptimize(a.data());
        benchmark::ClobberMemory();
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * 3 * n * sizeof(float)));
}

} // namespace ilvr_bench

// 8 x 3 x 256 x 256 floats = 6 MiB per array: the size of a batch of 8 images.
BENCHMARK(ilvr_bench::stream_copy)->Arg(8 * 3 * 256 * 256)->Unit(benchmark::kMicrosecond);
BENCHMARK(ilvr_bench::stream_triad)->Arg(8 * 3 * 256 * 256)->Unit(benchmark::kMicrosecond);

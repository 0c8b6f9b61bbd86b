// One ILVR step without the denoiser: sampler arithmetic, two noise draws and phi_N,
// on 3 x 256 x 256 images. The denoiser is a precomputed eps (a view), so only
// the library's own work is timed.
#include <ilvr/ilvr.hpp>

#include "common/ilvr_step.hpp"
#include "common/stream.hpp"

#include <benchmark/benchmark.h>

#include <cstdint>
#include <vector>

namespace {

// args: batch, factor, threads
void ilvr_step(benchmark::State& state)
{
    const auto batch = state.range(0);
    const auto factor = static_cast<int>(state.range(1));
    const int threads = static_cast<int>(state.range(2));
    ilvr_bench::ilvr_step_fixture fixture({batch, 3, 256, 256}, ilvr::tensor({1, 3, 256, 256}), factor, threads);
    for (auto _ : state) benchmark::DoNotOptimize(fixture.step());
    state.SetItemsProcessed(state.iterations() * batch);  // images per second
}

// The noise of one 3 x 256 x 256 image, per fill path: arg 0 the portable
// SSE2 path, 1 the AVX2 path (skipped where the CPU lacks it).
void noise_fill(benchmark::State& state)
{
    const std::size_t count = 3 * 256 * 256;
    std::vector<float> out(count);
    const bool avx2 = state.range(0) == 1;
#ifdef ILVR_HAVE_LANE_SHUFFLES
    if (avx2 && !ilvr::detail::cpu_has_avx2()) return state.SkipWithError("no AVX2 on this CPU");
#else
    if (avx2) return state.SkipWithError("no AVX2 path in this build");
#endif
    std::uint32_t step = 0;
    for (auto _ : state) {
        ++step;
#ifdef ILVR_HAVE_LANE_SHUFFLES
        if (avx2) ilvr::detail::fill_normals_avx2(1, 0, step << 2, 7, 0, out.data(), count);
        else
#endif
            ilvr::detail::fill_normals(1, 0, step << 2, 7, 0, out.data(), count);
        benchmark::DoNotOptimize(out.data());
    }
    state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(count));  // normals per second
    state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(count * sizeof(float)));
}

} // namespace

BENCHMARK(noise_fill)->ArgName("avx2")->Arg(0)->Arg(1)->Unit(benchmark::kMicrosecond);

BENCHMARK(ilvr_step)
    ->ArgNames({"batch", "N", "threads"})
    ->Args({1, 4, 1})
    ->Args({1, 16, 1})
    ->Args({8, 4, 1})
    ->Args({8, 4, 2})
    ->Unit(benchmark::kMicrosecond);

BENCHMARK_MAIN();

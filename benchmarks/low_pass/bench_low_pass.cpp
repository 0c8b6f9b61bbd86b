// phi_N on a 3 x 256 x 256 float image (and other sizes): time per image and bytes/s.
#include <ilvr/low_pass.hpp>

#include "common/random_image.hpp"
#include "common/stream.hpp"

#include <benchmark/benchmark.h>


namespace {

using ilvr_bench::random_image;

// args: side, factor, threads
void low_pass(benchmark::State& state)
{
    const auto side = static_cast<int>(state.range(0)), factor = static_cast<int>(state.range(1));
    const auto x = random_image({1, 3, side, side});
    ilvr::tensor out(x.shape());
    ilvr::low_pass phi(side, side, factor);
    phi.set_threads(static_cast<int>(state.range(2)));
    for (auto _ : state) {
        phi(x, out);
        benchmark::DoNotOptimize(out.data());
    }
    state.SetItemsProcessed(state.iterations());
    state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(2 * x.size() * sizeof(float)));
}

} // namespace

BENCHMARK(low_pass)
    ->ArgNames({"side", "N", "threads"})
    ->ArgsProduct({{256}, {2, 4, 8, 16, 32}, {1}})
    ->Args({64, 4, 1})
    ->Args({1024, 4, 1})
    ->Unit(benchmark::kMicrosecond);

BENCHMARK_MAIN();

// One ILVR step without the denoiser: sampler arithmetic, two noise draws and phi_N,
// on 3 x 256 x 256 images. The denoiser is a precomputed eps (a view), so only
// the library's own work is timed.
#include <ilvr/ilvr.hpp>

#include "common/stream.hpp"

#include <benchmark/benchmark.h>

namespace {

// args: batch, factor, threads
void ilvr_step(benchmark::State& state)
{
    const auto batch = state.range(0);
    const auto factor = static_cast<int>(state.range(1));
    const int threads = static_cast<int>(state.range(2));
    const ilvr::shape4 shape{batch, 3, 256, 256};
    const auto base = ilvr::noise_schedule::linear(1000);
    const auto process = ilvr::respace(base, "100");
    const ilvr::ddpm rule{};
    const ilvr::philox_noise noise(1);
    ilvr::tensor x(shape), eps(shape), z(shape), x0(shape), reference({1, 3, 256, 256});
    noise(ilvr::noise_purpose::initial, 0, 0, x.view());
    noise(ilvr::noise_purpose::initial, 0, 1000, eps.view());
    ilvr::ilvr_conditioner cond(reference, {.factor = factor});
    cond.prepare(shape, process, threads);
    int i = 50;
    for (auto _ : state) {
        const auto c = rule.coefficients(process.schedule, i);
        noise(ilvr::noise_purpose::proposal, i, 0, z.view());
        ilvr::apply_step(rule, c, x.view(), eps.view(), ilvr::model_output::eps, z.view(), x0.view(), threads);
        cond.refine({i, process.timesteps[static_cast<std::size_t>(i)], &process, 0, threads}, x.view(), noise);
        benchmark::DoNotOptimize(x.data());
        i = i == 1 ? 50 : i - 1;
    }
    state.SetItemsProcessed(state.iterations() * batch);  // images per second
}

} // namespace

BENCHMARK(ilvr_step)
    ->ArgNames({"batch", "N", "threads"})
    ->Args({1, 4, 1})
    ->Args({1, 16, 1})
    ->Args({8, 4, 1})
    ->Args({8, 4, 2})
    ->Unit(benchmark::kMicrosecond);

BENCHMARK_MAIN();

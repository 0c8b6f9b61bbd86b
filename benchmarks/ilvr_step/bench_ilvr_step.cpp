// One ILVR step without the denoiser: sampler arithmetic, two noise draws and phi_N,
// on 3 x 256 x 256 images. The denoiser is a precomputed eps (a view), so only
// the library's own work is timed.
#include <ilvr/ilvr.hpp>

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

// The noise of one 3 x 256 x 256 image, per fill path: arg 0 the portable
// SSE2 path, 1 the AVX2 path (skipped where the CPU lacks it).
void noise_fill(benchmark::State& state)
{
    const std::size_t count = 3 * 256 * 256;
    std::vector<float> out(count);
    const bool avx2 = state.range(0) == 1;
#ifdef ILVR_HAVE_AVX2_PATH
    if (avx2 && !ilvr::detail::cpu_has_avx2()) return state.SkipWithError("no AVX2 on this CPU");
#else
    if (avx2) return state.SkipWithError("no AVX2 path in this build");
#endif
    std::uint32_t step = 0;
    for (auto _ : state) {
        ++step;
#ifdef ILVR_HAVE_AVX2_PATH
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

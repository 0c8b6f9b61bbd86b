// How the library's cost grows: phi_N and one ILVR step (without the denoiser)
// over image sizes, square or not, and factors N; a whole ILVR run with the
// exact Gaussian denoiser over batch sizes and thread counts. Each case reports
// items_per_second in image elements (C x H x W), so 1e9 / items_per_second is
// the time per element. Driven by scripts/perf/scaling.sh, plotted by
// scripts/perf/plot.py.
#include <ilvr/ilvr.hpp>

#include "common/ilvr_step.hpp"
#include "common/random_image.hpp"
#include "common/stream.hpp"

#include <benchmark/benchmark.h>

#include <vector>

namespace {

constexpr int channels = 3;

using ilvr_bench::random_image;

void set_elements(benchmark::State& state, std::int64_t per_iteration)
{
    state.SetItemsProcessed(state.iterations() * per_iteration);
    state.counters["elements"] = static_cast<double>(per_iteration);
}

// args: height, width, factor. phi_N of one 3 x H x W image, one thread.
void scaling_low_pass(benchmark::State& state)
{
    const auto h = static_cast<int>(state.range(0)), w = static_cast<int>(state.range(1));
    const auto factor = static_cast<int>(state.range(2));
    const auto x = random_image({1, channels, h, w});
    ilvr::tensor out(x.shape());
    ilvr::low_pass phi(h, w, factor);
    for (auto _ : state) {
        phi(x, out);
        benchmark::DoNotOptimize(out.data());
    }
    set_elements(state, static_cast<std::int64_t>(x.size()));
    state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(2 * x.size() * sizeof(float)));
}

// args: height, width, factor, batch, threads. One ILVR step without the
// denoiser (eps precomputed): proposal noise, the DDPM step, the reference's
// noise, the residual, phi_N and the update.
void scaling_ilvr_step(benchmark::State& state)
{
    const auto h = state.range(0), w = state.range(1), batch = state.range(3);
    const auto factor = static_cast<int>(state.range(2));
    const int threads = static_cast<int>(state.range(4));
    const ilvr::shape4 shape{batch, channels, h, w};
    ilvr_bench::ilvr_step_fixture fixture(shape, random_image({1, channels, h, w}), factor, threads);
    for (auto _ : state) benchmark::DoNotOptimize(fixture.step());
    set_elements(state, static_cast<std::int64_t>(shape.size()));
}

// args: side, batch, threads. A whole run: 20 respaced steps, N = 8, every step
// conditioned, the exact Gaussian-prior denoiser (one multiply per element).
void scaling_ilvr_run(benchmark::State& state)
{
    const auto side = state.range(0), batch = state.range(1);
    const int threads = static_cast<int>(state.range(2));
    const auto base = ilvr::noise_schedule::linear(1000);
    const ilvr::sampler sampler(ilvr::respace(base, "20"), ilvr::ddpm{});
    ilvr::gaussian_prior_denoiser model(base, 0.5);
    model.set_threads(threads);
    ilvr::ilvr_conditioner cond(random_image({1, channels, side, side}), {.factor = 8});
    ilvr::tensor x({batch, channels, side, side});
    for (auto _ : state) {
        sampler.run(model, ilvr::philox_noise(1), x, cond, ilvr::no_callback{},
                    {.first_sample = 0, .threads = threads});
        benchmark::DoNotOptimize(x.data());
    }
    set_elements(state, static_cast<std::int64_t>(x.size()) * 20);  // element-steps
    state.counters["images_per_second"] =
        benchmark::Counter(static_cast<double>(batch * state.iterations()), benchmark::Counter::kIsRate);
}

// Sizes: H x W (2048 x 1536 images are stored 1536 rows of 2048).
const std::vector<std::vector<std::int64_t>> sizes = {{64, 64}, {256, 256}, {1024, 1024}, {1536, 2048}};
const std::vector<std::int64_t> factors = {2, 3, 4, 5, 8, 12, 16, 32, 64};

void size_by_factor(benchmark::internal::Benchmark* b, bool step)
{
    for (const auto& s : sizes)
        for (auto n : factors) {
            if (step)
                b->Args({s[0], s[1], n, 1, 1});
            else
                b->Args({s[0], s[1], n});
        }
}

} // namespace

BENCHMARK(scaling_low_pass)
    ->ArgNames({"h", "w", "N"})
    ->Apply([](benchmark::internal::Benchmark* b) { size_by_factor(b, false); })
    ->Unit(benchmark::kMicrosecond);

BENCHMARK(scaling_ilvr_step)
    ->ArgNames({"h", "w", "N", "batch", "threads"})
    ->Apply([](benchmark::internal::Benchmark* b) { size_by_factor(b, true); })
    ->Args({256, 256, 8, 8, 1})
    ->Args({256, 256, 8, 8, 2})
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();

BENCHMARK(scaling_ilvr_run)
    ->ArgNames({"side", "batch", "threads"})
    ->ArgsProduct({{256}, {1, 2, 4, 8, 16, 32}, {1, 2}})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

BENCHMARK_MAIN();

// The bundled Fashion-MNIST DDPM (models/fashion-mnist-ddpm/model.pt) through
// the LibTorch adapter: its forward alone, the library's ILVR step alone at the
// model's resolution (1 x 32 x 32), and a whole ILVR run, so the step's share of
// a real network's time and the run's steps/s can be read off one binary.
//
// args: batch, threads. The run: 20 respaced steps, N = 4, every step conditioned.
#include "common/ilvr_step.hpp"

#include <ilvr/ilvr.hpp>
#include <ilvr/torch/denoiser.hpp>

#include <benchmark/benchmark.h>

#include <cstdint>
#include <string>
#include <vector>

#ifndef ILVR_BENCH_MODEL
#error "ILVR_BENCH_MODEL (the bundled model's path) must be defined by the build"
#endif

namespace {

constexpr int side = 32;

// The model's forward on a batch of noise at t = 500.
void model_forward(benchmark::State& state)
{
    const auto batch = state.range(0);
    const int threads = static_cast<int>(state.range(1));
    ilvr::torch::module_denoiser model(ILVR_BENCH_MODEL, {.threads = threads});
    ilvr::tensor x({batch, 1, side, side});
    ilvr::philox_noise(1)(ilvr::noise_purpose::initial, 0, 0, x.view());
    const std::vector<std::int64_t> t(static_cast<std::size_t>(batch), 500);
    for (auto _ : state) {
        auto eps = model(x.view(), t);
        benchmark::DoNotOptimize(eps.data());
    }
    state.SetItemsProcessed(state.iterations() * batch);  // images per second
}

// One ILVR step without the network (proposal noise, DDPM step, reference noise,
// phi_4, update) on the model's shape: what the library adds to each forward.
void ilvr_step_model_shape(benchmark::State& state)
{
    const auto batch = state.range(0);
    const int threads = static_cast<int>(state.range(1));
    ilvr_bench::ilvr_step_fixture fixture({batch, 1, side, side}, ilvr::tensor({1, 1, side, side}), 4, threads);
    for (auto _ : state) benchmark::DoNotOptimize(fixture.step());
    state.SetItemsProcessed(state.iterations() * batch);
}

// A whole ILVR run on the bundled model.
void ilvr_run_model(benchmark::State& state)
{
    const auto batch = state.range(0);
    const int threads = static_cast<int>(state.range(1));
    ilvr::torch::module_denoiser model(ILVR_BENCH_MODEL, {.threads = threads});
    const ilvr::sampler sampler(ilvr::respace(ilvr::noise_schedule::linear(1000), "20"), ilvr::ddpm{});
    ilvr::tensor reference({1, 1, side, side});
    ilvr::ilvr_conditioner cond(reference, {.factor = 4});
    ilvr::tensor x({batch, 1, side, side});
    for (auto _ : state) {
        sampler.run(model, ilvr::philox_noise(1), x, cond, ilvr::no_callback{}, {.first_sample = 0, .threads = threads});
        benchmark::DoNotOptimize(x.data());
    }
    state.counters["steps_per_second"] =
        benchmark::Counter(20.0 * static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
    state.counters["images_per_second"] =
        benchmark::Counter(static_cast<double>(batch * state.iterations()), benchmark::Counter::kIsRate);
}

} // namespace

BENCHMARK(model_forward)->ArgNames({"batch", "threads"})->Args({1, 1})->Args({8, 1})->Args({8, 2})
    ->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(ilvr_step_model_shape)->ArgNames({"batch", "threads"})->Args({1, 1})->Args({8, 1})
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(ilvr_run_model)->ArgNames({"batch", "threads"})->Args({8, 1})->Args({8, 2})
    ->Unit(benchmark::kMillisecond)->UseRealTime();

BENCHMARK_MAIN();

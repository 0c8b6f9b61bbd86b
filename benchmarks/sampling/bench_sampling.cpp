// Whole sampling runs with the exact Gaussian denoiser (whose cost is one
// multiply per element): the library's own overhead per step and per image,
// with ILVR (ilvr_run) and per solver (solver_run).
#include "common/stream.hpp"

#include <ilvr/ilvr.hpp>

#include <benchmark/benchmark.h>

namespace {

// args: side, batch, threads; 20 respaced steps, N = 8, every step conditioned.
void ilvr_run(benchmark::State& state)
{
    const auto side = state.range(0), batch = state.range(1);
    const int threads = static_cast<int>(state.range(2));
    const auto base = ilvr::noise_schedule::linear(1000);
    const ilvr::sampler sampler(ilvr::respace(base, "20"), ilvr::ddpm{});
    ilvr::gaussian_prior_denoiser model(base, 0.5);
    model.set_threads(threads);
    ilvr::tensor reference({1, 3, side, side});
    ilvr::ilvr_conditioner cond(reference, {.factor = 8});
    ilvr::tensor x({batch, 3, side, side});
    for (auto _ : state) {
        sampler.run(model, ilvr::philox_noise(1), x, cond, ilvr::no_callback{}, {.first_sample = 0, .threads = threads});
        benchmark::DoNotOptimize(x.data());
    }
    state.counters["steps_per_second"] = benchmark::Counter(20.0 * static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
    state.counters["images_per_second"] =
        benchmark::Counter(static_cast<double>(batch * state.iterations()), benchmark::Counter::kIsRate);
}

// One unconditioned 20-step run of 4 x 3 x 256 x 256 with `rule`, one thread.
template <class Rule>
void run_solver(benchmark::State& state, Rule rule)
{
    const auto base = ilvr::noise_schedule::linear(1000);
    const ilvr::sampler sampler(ilvr::respace(base, "20"), rule);
    ilvr::gaussian_prior_denoiser model(base, 0.5);
    model.set_threads(1);
    ilvr::tensor x({4, 3, 256, 256});
    for (auto _ : state) {
        sampler.run(model, ilvr::philox_noise(1), x, ilvr::no_conditioning{}, ilvr::no_callback{},
                    {.first_sample = 0, .threads = 1});
        benchmark::DoNotOptimize(x.data());
    }
}

// arg: 0 ddpm, 1 ddim (eta 0), 2 dpmpp_2m, 3 dpmpp_2m_sde (eta 1), 4 heun (K = 20: 38 calls).
void solver_run(benchmark::State& state)
{
    switch (state.range(0)) {
    case 0: return run_solver(state, ilvr::ddpm{});
    case 1: return run_solver(state, ilvr::ddim{0.0});
    case 2: return run_solver(state, ilvr::dpmpp_2m{});
    case 3: return run_solver(state, ilvr::dpmpp_2m_sde{});
    default: return run_solver(state, ilvr::heun{});
    }
}

} // namespace

BENCHMARK(solver_run)->ArgName("solver")->DenseRange(0, 4)->Unit(benchmark::kMillisecond)->UseRealTime();

BENCHMARK(ilvr_run)
    ->ArgNames({"side", "batch", "threads"})
    ->Args({256, 1, 1})
    ->Args({256, 8, 1})
    ->Args({256, 8, 2})
    ->Args({64, 32, 1})
    ->Args({64, 32, 2})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

BENCHMARK_MAIN();

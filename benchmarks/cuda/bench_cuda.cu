// GPU: phi_N and one fused ILVR step (sampler arithmetic with its noise, reference
// noising, phi_N, the final add) on 8 x 3 x 256 x 256, timed with CUDA events.
// Reports bytes/s counted on the bytes that must move, and the fraction of the
// card's peak memory bandwidth.
#include <ilvr/cuda/sampler.cuh>
#include <ilvr/ilvr.hpp>

#include <benchmark/benchmark.h>

#include <cstdio>

namespace {

double peak_bytes_per_second()
{
    int device = 0, clock_khz = 0, bus_bits = 0;
    cudaGetDevice(&device);
    cudaDeviceGetAttribute(&clock_khz, cudaDevAttrMemoryClockRate, device);
    cudaDeviceGetAttribute(&bus_bits, cudaDevAttrGlobalMemoryBusWidth, device);
    return 2.0 * clock_khz * 1e3 * bus_bits / 8.0;  // double data rate
}

template <class Body>
void timed(benchmark::State& state, double bytes, Body&& body)
{
    cudaEvent_t start, stop;
    cudaEventCreate(&start);
    cudaEventCreate(&stop);
    for (auto _ : state) {
        cudaEventRecord(start);
        body();
        cudaEventRecord(stop);
        cudaEventSynchronize(stop);
        float ms = 0;
        cudaEventElapsedTime(&ms, start, stop);
        state.SetIterationTime(ms / 1e3);
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(bytes * static_cast<double>(state.iterations())));
    state.counters["peak_fraction"] =
        benchmark::Counter(bytes / peak_bytes_per_second(), benchmark::Counter::kIsIterationInvariantRate);
    cudaEventDestroy(start);
    cudaEventDestroy(stop);
}

void cuda_low_pass(benchmark::State& state)
{
    if (!ilvr::cuda::device_available()) return state.SkipWithError("no GPU");
    const int factor = static_cast<int>(state.range(0));
    const ilvr::shape4 shape{8, 3, 256, 256};
    ilvr::cuda::low_pass phi(256, 256, factor, ilvr::kernels::cubic, shape.planes());
    ilvr::cuda::device_tensor in(shape), out(shape);
    timed(state, 2.0 * shape.size() * sizeof(float), [&] { phi.apply(in.view(), out.data(), nullptr, nullptr); });
}

void cuda_ilvr_step(benchmark::State& state)
{
    if (!ilvr::cuda::device_available()) return state.SkipWithError("no GPU");
    const int factor = static_cast<int>(state.range(0));
    const ilvr::shape4 shape{8, 3, 256, 256};
    const auto process = ilvr::respace(ilvr::noise_schedule::linear(1000), "100");
    ilvr::cuda::device_tensor x(shape), eps(shape), x0(shape);
    ilvr::cuda::ilvr_conditioner cond(ilvr::tensor({1, 3, 256, 256}), {.factor = factor}, 8);
    cond.prepare(shape, process);
    const ilvr::ddpm rule{};
    const std::uint64_t per_image = shape.image_size();
    const unsigned grid = ilvr::cuda::kernels::grid_for(8 * ((per_image + 3) / 4));
    // Bytes that must move: step reads x, eps and writes x, x0 (16 B/element);
    // the residual reads y (shared), x and writes r (8 B); phi_N reads r and the
    // final pass reads and writes x (12 B); the low-resolution intermediates are extra.
    const double bytes = 36.0 * static_cast<double>(shape.size());
    int i = 50;
    timed(state, bytes, [&] {
        const auto c = rule.coefficients(process.schedule, i);
        ilvr::cuda::kernels::step<ilvr::ddpm><<<grid, ilvr::cuda::kernels::block_size>>>(
            c, x.data(), eps.data(), false, x0.data(), ilvr::cuda::philox_noise{1}, i, 0, per_image, 8);
        cond.refine({i, process.timesteps[static_cast<std::size_t>(i)], &process, 0, 1}, x.view(), ilvr::cuda::philox_noise{1},
                    nullptr);
        i = i == 1 ? 50 : i - 1;
    });
}

} // namespace

BENCHMARK(cuda_low_pass)->ArgName("N")->Arg(4)->Arg(16)->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(cuda_ilvr_step)->ArgName("N")->Arg(4)->Arg(16)->UseManualTime()->Unit(benchmark::kMicrosecond);

BENCHMARK_MAIN();

// The device backend on 8 x 3 x 256 x 256: a plain copy (the memory bandwidth
// reference, measured in the same run), phi_N alone, and one fused ILVR update
// (the step with its proposal noise, the residual with its reference noise,
// phi_N, the final add). One source, two programs: bench_device on the host
// system (a test vehicle, not a fast path: the CPU backend is the one to use on
// CPUs), bench_device_cuda on a GPU, timed with CUDA events there.
// bytes_per_second counts only the bytes the math must move; scripts/gpu-check.sh
// divides it by the copy's rate (the bandwidth target: >= 70 %).
#include <ilvr/device/sampler.hpp>
#include <ilvr/ilvr.hpp>

#include <benchmark/benchmark.h>

#include <chrono>
#include <string>

namespace {

const ilvr::shape4 shape{8, 3, 256, 256};

/// Times `body` per iteration: CUDA events on the GPU, the wall clock on the host.
template <class Body>
void timed(benchmark::State& state, double bytes, Body&& body)
{
    std::string why;
    if (!ilvr::device::available(&why)) return state.SkipWithError(why.c_str());
    body();  // warm-up
    ilvr::device::synchronize({});
#ifdef ILVR_DEVICE_CUDA
    cudaEvent_t start, stop;
    cudaEventCreate(&start);
    cudaEventCreate(&stop);
#endif
    for (auto _ : state) {
#ifdef ILVR_DEVICE_CUDA
        cudaEventRecord(start);
        body();
        cudaEventRecord(stop);
        cudaEventSynchronize(stop);
        float ms = 0.0f;
        cudaEventElapsedTime(&ms, start, stop);
        state.SetIterationTime(static_cast<double>(ms) / 1e3);
#else
        const auto t0 = std::chrono::steady_clock::now();
        body();
        state.SetIterationTime(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
#endif
    }
#ifdef ILVR_DEVICE_CUDA
    cudaEventDestroy(start);
    cudaEventDestroy(stop);
#endif
    state.SetBytesProcessed(static_cast<std::int64_t>(bytes * static_cast<double>(state.iterations())));
}

/// out = in, as a functor: the bandwidth reference.
struct copy_op {
    const float* in;
    float* out;
    ILVR_HOST_DEVICE void operator()(std::int64_t i) const { out[i] = in[i]; }
};

void copy(benchmark::State& state)
{
    ilvr::device::tensor in(shape), out(shape);
    const double bytes = 2.0 * static_cast<double>(shape.size() * sizeof(float));
    timed(state, bytes, [&] {
        ilvr::device::for_each_index({}, static_cast<std::int64_t>(shape.size()), copy_op{in.data(), out.data()});
    });
}

void low_pass(benchmark::State& state)
{
    const int factor = static_cast<int>(state.range(0));
    ilvr::device::low_pass phi(256, 256, factor, ilvr::kernels::cubic, shape.planes());
    ilvr::device::tensor in(shape), out(shape);
    timed(state, 2.0 * static_cast<double>(shape.size() * sizeof(float)), [&] { phi.apply(in.view(), out.data(), nullptr); });
}

void ilvr_update(benchmark::State& state)
{
    const int factor = static_cast<int>(state.range(0));
    const auto process = ilvr::respace(ilvr::noise_schedule::linear(1000), "100");
    ilvr::device::tensor x(shape), eps(shape), x0(shape);
    ilvr::device::ilvr_conditioner cond(ilvr::tensor({1, 3, 256, 256}), {.factor = factor}, 8);
    cond.prepare(shape, process);
    const ilvr::ddpm rule{};
    const ilvr::device::philox_noise noise{1};
    const std::uint64_t per_image = shape.image_size();
    const auto blocks = static_cast<std::int64_t>(8 * ilvr::device::kernels::blocks_of(per_image));
    // Bytes the math must move: the step reads x, eps and writes x, x0 (16 B an
    // element); the residual reads x (y is one shared image) and writes r (8 B);
    // phi_N reads r, and its last pass reads and writes x (12 B).
    const double bytes = 36.0 * static_cast<double>(shape.size());
    int i = 50;
    timed(state, bytes, [&] {
        const auto c = rule.coefficients(process.schedule, i);
        ilvr::device::for_each_index({}, blocks, ilvr::device::kernels::step<ilvr::ddpm, ilvr::device::philox_noise>{
                                                     rule, c, x.data(), eps.data(), false, x0.data(), noise, i, 0, per_image});
        cond.refine({i, process.timesteps[static_cast<std::size_t>(i)], &process, 0, 1}, x.view(), noise, {});
        i = i == 1 ? 50 : i - 1;
    });
}

} // namespace

BENCHMARK(copy)->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(low_pass)->ArgName("N")->Arg(4)->Arg(16)->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(ilvr_update)->ArgName("N")->Arg(4)->Arg(16)->UseManualTime()->Unit(benchmark::kMicrosecond);

BENCHMARK_MAIN();

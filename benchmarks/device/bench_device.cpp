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
    ilvr::device::tensor x(shape), eps(shape), x0(shape), z(shape);
    const ilvr::device::exec exec{};
    ilvr::ilvr_conditioner cond(ilvr::tensor({1, 3, 256, 256}), {.factor = factor});
    cond.prepare(shape, process, exec);
    const ilvr::ddpm rule{};
    const ilvr::device::philox_noise noise{1};
    // Bytes the math must move: the noise writes z (4 B an element); the step
    // reads x, eps, z and writes x, x0 (20 B); the residual's noise writes r, the
    // residual reads x, r and writes r (16 B; y is one shared image); phi_N reads r
    // and writes it (8 B), and x += r reads both and writes x (12 B). The same
    // functors as the CPU's (ilvr::sampler's loop with device::exec).
    const double bytes = 60.0 * static_cast<double>(shape.size());
    int i = 50;
    timed(state, bytes, [&] {
        const auto c = rule.coefficients(process.schedule, i);
        exec.fill_noise(noise, ilvr::noise_purpose::proposal, i, 0, z.view());
        ilvr::apply_step(exec, rule, c, x.view(), eps.view(), ilvr::model_output::eps, z.view(), x0.view());
        cond.refine({i, process.timesteps[static_cast<std::size_t>(i)], &process, 0, 1}, x.view(), noise, exec);
        i = i == 1 ? 50 : i - 1;
    });
}

} // namespace

BENCHMARK(copy)->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(low_pass)->ArgName("N")->Arg(4)->Arg(16)->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(ilvr_update)->ArgName("N")->Arg(4)->Arg(16)->UseManualTime()->Unit(benchmark::kMicrosecond);

BENCHMARK_MAIN();

// The CUDA kernels of a sampling step. Each calls the host-device per-element
// functions the CPU path uses (step_math.hpp, tap_sum.hpp, random.hpp), so the
// two backends share one implementation of the math.
#pragma once

#include <ilvr/cuda/runtime.cuh>
#include <ilvr/random.hpp>
#include <ilvr/resample/tap_sum.hpp>
#include <ilvr/sampler/step_math.hpp>

#include <cstdint>

namespace ilvr::cuda::kernels {

inline constexpr int block_size = 256;

inline unsigned grid_for(std::uint64_t threads)
{
    return static_cast<unsigned>((threads + block_size - 1) / block_size);
}

/// out[b, e] = noise draw e of image first + b. One thread per block of four.
template <class Noise>
__global__ void fill_noise(Noise noise, noise_purpose purpose, int step, std::uint64_t first, std::uint64_t per_image,
                           std::uint64_t images, float* out)
{
    const std::uint64_t blocks = (per_image + 3) / 4;
    const std::uint64_t id = blockIdx.x * static_cast<std::uint64_t>(blockDim.x) + threadIdx.x;
    if (id >= blocks * images) return;
    const std::uint64_t b = id / blocks;
    const auto j = static_cast<std::uint32_t>(id % blocks);
    float z[4];
    noise.block(purpose, step, first + b, j, z);
    for (int k = 0; k < 4; ++k)
        if (4ull * j + k < per_image) out[b * per_image + 4ull * j + k] = z[k];
}

/// One sampler step, fused with its proposal noise: x <- proposal(x, x0, v, z),
/// x0 saved. Reads x, eps (and v), writes x and x0: the bytes the math needs.
template <class Rule, class Noise>
__global__ void step(step_coefficients c, float* x, const float* model_out, bool learned, float* x0, Noise noise,
                     int index, std::uint64_t first, std::uint64_t per_image, std::uint64_t images)
{
    const std::uint64_t blocks = (per_image + 3) / 4;
    const std::uint64_t id = blockIdx.x * static_cast<std::uint64_t>(blockDim.x) + threadIdx.x;
    if (id >= blocks * images) return;
    const std::uint64_t b = id / blocks;
    const auto j = static_cast<std::uint32_t>(id % blocks);
    float z[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    if (c.noise) noise.block(noise_purpose::proposal, index, first + b, j, z);
    const std::uint64_t stride = learned ? 2 * per_image : per_image;
    for (int k = 0; k < 4; ++k) {
        const std::uint64_t e = 4ull * j + k;
        if (e >= per_image) break;
        const std::uint64_t at = b * per_image + e;
        const float eps = model_out[b * stride + e];
        const float v = learned ? model_out[b * stride + per_image + e] : 0.0f;
        const float p = predict_x0(c, x[at], eps);
        x0[at] = p;
        x[at] = Rule::proposal(c, x[at], p, v, z[k], learned);
    }
}

/// r = sqrt(a) y + sqrt(1-a) e - x', fused with the reference noise e; y is one
/// image shared by the batch when `shared`.
template <class Noise>
__global__ void ilvr_residual(float sqrt_a, float sqrt_1ma, const float* y, bool shared, const float* x, float* r,
                              Noise noise, int index, std::uint64_t first, std::uint64_t per_image, std::uint64_t images)
{
    const std::uint64_t blocks = (per_image + 3) / 4;
    const std::uint64_t id = blockIdx.x * static_cast<std::uint64_t>(blockDim.x) + threadIdx.x;
    if (id >= blocks * images) return;
    const std::uint64_t b = id / blocks;
    const auto j = static_cast<std::uint32_t>(id % blocks);
    float e[4];
    noise.block(noise_purpose::reference, index, first + b, j, e);
    for (int k = 0; k < 4; ++k) {
        const std::uint64_t el = 4ull * j + k;
        if (el >= per_image) break;
        const std::uint64_t at = b * per_image + el;
        r[at] = ilvr::ilvr_residual(sqrt_a, sqrt_1ma, y[(shared ? 0 : b * per_image) + el], e[k], x[at]);
    }
}

/// Height pass: out[p, o, x] = sum_m w[o, m] in[p, idx[o, m], x]; one thread per output.
__global__ inline void resize_rows(const float* in, int in_h, int cols, const float* w, const int* idx, int taps,
                                   int out_h, std::uint64_t planes, float* out)
{
    const std::uint64_t id = blockIdx.x * static_cast<std::uint64_t>(blockDim.x) + threadIdx.x;
    const std::uint64_t per_plane = static_cast<std::uint64_t>(out_h) * cols;
    if (id >= per_plane * planes) return;
    const std::uint64_t p = id / per_plane;
    const int o = static_cast<int>((id % per_plane) / cols), col = static_cast<int>(id % cols);
    const float* line = in + p * static_cast<std::uint64_t>(in_h) * cols + col;
    out[id] = ilvr::detail::tap_sum(w + o * taps, idx + o * taps, taps, line, cols);
}

/// Width pass: out[r, o] = sum_m w[o, m] in[r, idx[o, m]] (+ add[r, o] when given,
/// which fuses the final x = x' + phi_N(r) into the last pass).
__global__ inline void resize_cols(const float* in, int in_w, const float* w, const int* idx, int taps, int out_w,
                                   std::uint64_t rows, const float* add, float* out)
{
    const std::uint64_t id = blockIdx.x * static_cast<std::uint64_t>(blockDim.x) + threadIdx.x;
    if (id >= rows * out_w) return;
    const std::uint64_t r = id / out_w;
    const int o = static_cast<int>(id % out_w);
    const float value = ilvr::detail::tap_sum(w + o * taps, idx + o * taps, taps, in + r * in_w, 1);
    out[id] = add ? add[id] + value : value;
}

} // namespace ilvr::cuda::kernels

// The device backend's own kernels, as functors of one index that
// device::for_each_index runs (a GPU thread per index, or the host's threads):
// noise draws (four elements an index: one Philox block gives four normals) and
// phi_N's separable passes, and the NaN/Inf scan of a network output, each
// applying the functions the CPU applies
// (random.hpp, tap_sum.hpp). The steps and refinements are the solvers' and
// conditioners' own block functors, run by device::exec.
#pragma once

#include <ilvr/config.hpp>
#include <ilvr/device/system.hpp>
#include <ilvr/random.hpp>
#include <ilvr/resample/tap_sum.hpp>

#include <cstdint>

namespace ilvr::device::kernels {

/// Where a functor's index lands: image b, block j of four elements.
struct block_index {
    std::uint64_t image;
    std::uint32_t block;
};

/// Blocks of four elements in an image of `per_image` elements.
ILVR_HOST_DEVICE inline std::uint64_t blocks_of(std::uint64_t per_image) { return (per_image + 3) / 4; }

/// Splits index `id` of a loop over `images` x blocks_of(per_image).
ILVR_HOST_DEVICE inline block_index split(std::int64_t id, std::uint64_t per_image)
{
    const std::uint64_t blocks = blocks_of(per_image), u = static_cast<std::uint64_t>(id);
    return {u / blocks, static_cast<std::uint32_t>(u % blocks)};
}

/// out[b, e] = draw e of image first + b for (purpose, step); index over images x blocks.
template <class Noise>
struct fill_noise {
    Noise noise;
    noise_purpose purpose;
    int step;
    std::uint64_t first, per_image;
    float* out;

    ILVR_HOST_DEVICE void operator()(std::int64_t id) const
    {
        const block_index at = split(id, per_image);
        float z[4];
        noise.block(purpose, step, first + at.image, at.block, z);
        for (std::uint64_t k = 0; k < 4; ++k) {
            const std::uint64_t e = 4ull * at.block + k;
            if (e < per_image) out[at.image * per_image + e] = z[k];
        }
    }
};

/// Height pass of a resize: out[p, o, col] = sum_m w[o, m] in[p, idx[o, m], col].
/// Index over planes x out_h x cols.
struct resize_rows {
    const float* in;
    int in_h, cols;
    const float* w;
    const int* idx;
    int taps, out_h;
    float* out;

    ILVR_HOST_DEVICE void operator()(std::int64_t id) const
    {
        const auto u = static_cast<std::uint64_t>(id);
        const std::uint64_t per_plane = static_cast<std::uint64_t>(out_h) * static_cast<std::uint64_t>(cols);
        const std::uint64_t p = u / per_plane, rest = u % per_plane;
        const auto o = static_cast<int>(rest / static_cast<std::uint64_t>(cols));
        const auto col = static_cast<std::uint64_t>(rest % static_cast<std::uint64_t>(cols));
        const float* line = in + p * static_cast<std::uint64_t>(in_h) * static_cast<std::uint64_t>(cols) + col;
        out[u] = ilvr::detail::tap_sum(w + o * taps, idx + o * taps, taps, line, cols);
    }
};

/// Width pass of a resize: out[r, o] = sum_m w[o, m] in[r, idx[o, m]], plus
/// add[r, o] when `add` is given (phi_N's last pass then also does x' + phi_N(r)).
/// Index over rows x out_w.
struct resize_cols {
    const float* in;
    int in_w;
    const float* w;
    const int* idx;
    int taps, out_w;
    const float* add;
    float* out;

    ILVR_HOST_DEVICE void operator()(std::int64_t id) const
    {
        const auto u = static_cast<std::uint64_t>(id);
        const std::uint64_t r = u / static_cast<std::uint64_t>(out_w);
        const auto o = static_cast<int>(u % static_cast<std::uint64_t>(out_w));
        const float value = ilvr::detail::tap_sum(w + o * taps, idx + o * taps, taps, in + r * static_cast<std::uint64_t>(in_w), 1);
        out[u] = add ? add[u] + value : value;
    }
};

/// out = a + b elementwise (phi_N with N = 1, the identity, fused with ILVR's
/// final addition: x' + r). Index over the elements.
struct add {
    const float* a;
    const float* b;
    float* out;

    ILVR_HOST_DEVICE void operator()(std::int64_t i) const { out[i] = a[i] + b[i]; }
};

/// Clears *finite (to 0) if out holds NaN or Inf. Index over the output's elements.
struct find_nonfinite {
    const float* out;
    int* finite;

    ILVR_HOST_DEVICE void operator()(std::int64_t id) const
    {
        if (!is_finite(out[id])) atomic_min(finite, 0);
    }
};

} // namespace ilvr::device::kernels

// The denoiser concept: any callable from (x_t, timesteps) to eps or eps + v.
// Ref: SPEC.md section 3.
#pragma once

#include <ilvr/error.hpp>
#include <ilvr/tensor.hpp>

#include <cmath>
#include <cstdint>
#include <span>
#include <string>

namespace ilvr {

/// A denoiser is called with the batch x_t [B, C, H, W] and one ORIGINAL timestep
/// per image, and returns anything viewable (ilvr::tensor, a tensor_view into its
/// own buffer, an Eigen or xtensor container) of shape [B, C, H, W] (eps) or
/// [B, 2C, H, W] (eps, then the learned-range v). Wrap your network in a lambda.
template <class D>
concept denoiser = requires(D& d, tensor_view<const float> x, std::span<const std::int64_t> t) {
    { d(x, t) } -> viewable;
};

/// What a denoiser's output holds, read from its shape.
enum class model_output { eps, eps_and_v };

namespace detail {

/// Checks a denoiser's output against the input shape; says which it is.
inline model_output check_model_output(const shape4& in, const shape4& out, int step)
{
    const bool same_image = out.n == in.n && out.h == in.h && out.w == in.w;
    if (same_image && out.c == in.c) return model_output::eps;
    if (same_image && out.c == 2 * in.c) return model_output::eps_and_v;
    throw error("denoiser output " + out.to_string() + " at step " + std::to_string(step) + " fits neither eps "
                + shape4{in.n, in.c, in.h, in.w}.to_string() + " nor eps+v "
                + shape4{in.n, 2 * in.c, in.h, in.w}.to_string());
}

/// Throws, naming the step, if the denoiser returned NaN or Inf.
inline void check_finite(tensor_view<const float> out, int step, int timestep)
{
    const float* p = out.data();
    const std::size_t n = out.size();
    bool finite = true;
    for (std::size_t i = 0; i < n; ++i) finite &= std::isfinite(p[i]);
    if (!finite)
        throw error("denoiser returned NaN or Inf at step " + std::to_string(step) + " (timestep "
                    + std::to_string(timestep) + ")");
}

} // namespace detail
} // namespace ilvr

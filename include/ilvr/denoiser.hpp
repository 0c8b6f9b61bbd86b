// The denoiser concept: any callable from (x_t, timesteps) to eps or eps + v.
// Ref: docs/spec.md section 3.
#pragma once

#include <ilvr/detail/cpu.hpp>
#include <ilvr/detail/parallel.hpp>
#include <ilvr/error.hpp>
#include <ilvr/tensor.hpp>

#include <algorithm>
#include <atomic>
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
/// `call` numbers the network calls within the step (named from the second on).
inline model_output check_model_output(const shape4& in, const shape4& out, int step, int call = 1)
{
    const bool same_image = out.n == in.n && out.h == in.h && out.w == in.w;
    if (same_image && out.c == in.c) return model_output::eps;
    if (same_image && out.c == 2 * in.c) return model_output::eps_and_v;
    throw error("denoiser output " + out.to_string() + " at step " + std::to_string(step)
                + (call > 1 ? ", call " + std::to_string(call) + "," : std::string()) + " fits neither eps "
                + shape4{in.n, in.c, in.h, in.w}.to_string() + " nor eps+v "
                + shape4{in.n, 2 * in.c, in.h, in.w}.to_string());
}

/// The error of a denoiser that threw `what` at loop step `step` (its call
/// `call` when a solver calls the network more than once a step), as
/// checked_denoiser (sampler/solver.hpp) raises it on every backend.
inline error denoiser_failed(int step, int timestep, const char* what, int call = 1)
{
    return error("denoiser failed at step " + std::to_string(step)
                 + (call > 1 ? ", call " + std::to_string(call) : std::string()) + " (timestep "
                 + std::to_string(timestep) + "): " + what);
}

/// The error of a denoiser output holding NaN or Inf at loop step `step` (its
/// call `call` when a solver calls the network more than once a step; both
/// backends report it in these words).
inline error nonfinite_output(int step, int timestep, int call = 1)
{
    return error("denoiser returned NaN or Inf at step " + std::to_string(step)
                 + (call > 1 ? ", call " + std::to_string(call) : std::string()) + " (timestep "
                 + std::to_string(timestep) + ")");
}

/// Throws, naming the step, if the denoiser returned NaN or Inf. Images are
/// scanned on `threads` threads (`call` as above): a serial scan of every output was a tenth of a
/// whole run's time and capped what a second thread could gain.
inline void check_finite(tensor_view<const float> out, int step, int timestep, int threads = 1, int call = 1)
{
    const std::int64_t images = std::max<std::int64_t>(out.shape().n, 1);
    const std::size_t per_image = out.size() / static_cast<std::size_t>(images);
    std::atomic<bool> finite{true};
    parallel_for(images, threads, [&](std::int64_t b, int) {
        const float* p = out.data() + static_cast<std::size_t>(b) * per_image;
        bool ok = true;
        vectorised([&]() ILVR_ALWAYS_INLINE {
            for (std::size_t i = 0; i < per_image; ++i) ok &= std::isfinite(p[i]);
        });
        if (!ok) finite.store(false, std::memory_order_relaxed);
    });
    if (!finite.load()) throw nonfinite_output(step, timestep, call);
}

} // namespace detail
} // namespace ilvr

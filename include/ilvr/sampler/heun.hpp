// Heun's second-order method on the probability-flow ODE of the VP process, in
// the sigma parameterisation (Karras et al. 2022, Algorithm 1 without churn).
// docs/sampling.md gives the formulas and where the conditioner refines.
#pragma once

#include <ilvr/detail/cpu.hpp>
#include <ilvr/detail/parallel.hpp>
#include <ilvr/sampler/solver.hpp>
#include <ilvr/tensor.hpp>

#include <cmath>
#include <cstdint>

namespace ilvr {

/// Heun's method on dx~/dsigma = (x~ - x0(x~, sigma)) / sigma, where
/// x~ = x / sqrt(abar) and sigma = sqrt(1 / abar - 1): an Euler step from
/// sigma to sigma' with the slope d at the current level, then a second call at
/// the landing level (original timestep tau[i-1]) and the trapezoid
/// x~' = x~ + (sigma' - sigma) (d + d') / 2. Two network calls per step, except
/// the last, which lands on sigma' = 0 and is the Euler step alone (x = x0):
/// 2K - 1 calls for K steps. Unclipped, d is the network's eps.
struct heun {
    bool clip_denoised = true;  ///< clamp the predicted x0 to [-1, 1] (d is then (x~ - x0) / sigma)

    /// Clamps the predicted x0 to [-1, 1].
    heun() = default;
    /// `clip_denoised`: whether to clamp the predicted x0 to [-1, 1].
    explicit heun(bool clip) : clip_denoised(clip) {}

    /// Allocates the two work buffers.
    void prepare(const solver_setup& setup)
    {
        slope_ = tensor(setup.shape);
        euler_ = tensor(setup.shape);
    }

    /// One step: Euler to the landing level, then Heun's correction there.
    void step(solver_step& s)
    {
        const int i = s.index();
        const auto& sched = s.process().schedule;
        const auto t = static_cast<std::size_t>(i);
        const double ab = sched.alpha_bar()[t], abp = sched.alpha_bar_prev()[t];
        const double sigma = std::sqrt(1.0 / ab - 1.0), sigma_next = std::sqrt(1.0 / abp - 1.0);
        const bool last = !(abp < 1.0);
        const std::size_t per_image = s.sample().shape().image_size();
        tensor_view<float> x = s.sample(), x0 = s.predicted_x0(), slope = slope_.view(), euler = euler_.view();
        const bool clip = clip_denoised;

        // x = sqrt(abp / ab) x + sqrt(abp) (sigma' - sigma) d: the Euler step in x terms.
        const auto scale = static_cast<float>(1.0 / std::sqrt(ab));  // x -> x~
        const auto fsigma = static_cast<float>(sigma), recip_sigma = static_cast<float>(1.0 / sigma);
        const auto carry = static_cast<float>(std::sqrt(abp / ab));
        const auto euler_gain = static_cast<float>(std::sqrt(abp) * (sigma_next - sigma));
        const network_output first = s.network(s.sample(), s.timestep());
        detail::parallel_for(x.shape().n, s.threads(), [&](std::int64_t b, int) {
            const std::size_t off = static_cast<std::size_t>(b) * per_image;
            const float* eps = first.eps(b);
            float* xb = x.data() + off;
            float* x0b = x0.data() + off;
            float* db = slope.data() + off;
            float* eb = (last ? x : euler).data() + off;
            const float sc = scale, sg = fsigma, rs = recip_sigma, cy = carry, g = euler_gain;
            detail::vectorised([&]() ILVR_ALWAYS_INLINE {
                for (std::size_t e = 0; e < per_image; ++e)
                    slope_and_x0(sc * xb[e], eps[e], sg, rs, clip, db[e], x0b[e]);
                for (std::size_t e = 0; e < per_image; ++e) eb[e] = last ? x0b[e] : cy * xb[e] + g * db[e];
            });
        });
        if (last) return;

        const auto next_scale = static_cast<float>(1.0 / std::sqrt(abp));
        const auto fsigma_next = static_cast<float>(sigma_next), recip_next = static_cast<float>(1.0 / sigma_next);
        const auto half_gain = static_cast<float>(0.5 * std::sqrt(abp) * (sigma_next - sigma));
        const int tau_next = s.process().timesteps[t - 1];
        const network_output second = s.network(euler_.view(), tau_next);
        detail::parallel_for(x.shape().n, s.threads(), [&](std::int64_t b, int) {
            const std::size_t off = static_cast<std::size_t>(b) * per_image;
            const float* eps = second.eps(b);
            float* xb = x.data() + off;
            const float* db = slope.data() + off;
            const float* eb = euler.data() + off;
            const float sc = next_scale, sg = fsigma_next, rs = recip_next, cy = carry, g = half_gain;
            detail::vectorised([&]() ILVR_ALWAYS_INLINE {
                for (std::size_t e = 0; e < per_image; ++e) {
                    float d2 = 0.0f, unused = 0.0f;
                    slope_and_x0(sc * eb[e], eps[e], sg, rs, clip, d2, unused);
                    xb[e] = cy * xb[e] + g * (db[e] + d2);
                }
            });
        });
    }

private:
    // x0 = x~ - sigma eps, clamped if asked; the slope is eps, or (x~ - x0) / sigma
    // where the clamp moved x0.
    ILVR_ALWAYS_INLINE static void slope_and_x0(float xt, float eps, float sigma, float recip_sigma, bool clip,
                                                float& slope, float& x0)
    {
        const float raw = xt - sigma * eps;
        const float kept = clip ? (raw < -1.0f ? -1.0f : (raw > 1.0f ? 1.0f : raw)) : raw;
        x0 = kept;
        slope = kept == raw ? eps : (xt - kept) * recip_sigma;
    }

    tensor slope_, euler_;
};

} // namespace ilvr

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
/// the last, which lands on sigma' = 0 and is the Euler step alone (x = x0),
/// and, with lower_order_final (the default), the step landing on tau[0]: its
/// correction would call the network at tau[0] (timestep 0 of a 1000-step
/// schedule, sigma = 0.01), where the slope d' = eps carries the network's x0
/// error times 1/sigma; on the bundled model that leaves visible speckle.
/// K steps make 2K - 2 calls (2K - 1 without lower_order_final). Unclipped, d is
/// the network's eps.
struct heun {
    bool clip_denoised = true;      ///< clamp the predicted x0 to [-1, 1] (d is then (x~ - x0) / sigma)
    bool lower_order_final = true;  ///< the step landing on tau[0] is an Euler step (no call at tau[0])

    /// Clamps the predicted x0 to [-1, 1].
    heun() = default;
    /// `clip`: whether to clamp the predicted x0 to [-1, 1]; `lower_final`: lower_order_final.
    explicit heun(bool clip, bool lower_final = true) : clip_denoised(clip), lower_order_final(lower_final) {}

    /// Allocates the two work buffers.
    template <class Exec>
    void prepare(const basic_solver_setup<Exec>& setup)
    {
        slope_ = setup.allocate(setup.shape);
        euler_ = setup.allocate(setup.shape);
    }

    /// One step: Euler to the landing level, then Heun's correction there.
    template <class Exec>
    void step(basic_solver_step<Exec>& s)
    {
        const int i = s.index();
        const auto& sched = s.process().schedule;
        const auto t = static_cast<std::size_t>(i);
        const double ab = sched.alpha_bar()[t], abp = sched.alpha_bar_prev()[t];
        const double sigma = std::sqrt(1.0 / ab - 1.0), sigma_next = std::sqrt(1.0 / abp - 1.0);
        const bool clean = !(abp < 1.0);
        const bool last = clean || (lower_order_final && i == 1);  // an Euler step, no correction
        const std::size_t per_image = s.sample().shape().image_size();
        tensor_view<float> x = s.sample(), x0 = s.predicted_x0(), slope = slope_.view(), euler = euler_.view();
        const bool clip = clip_denoised;

        // x = sqrt(abp / ab) x + sqrt(abp) (sigma' - sigma) d: the Euler step in x terms.
        const auto scale = static_cast<float>(1.0 / std::sqrt(ab));  // x -> x~
        const auto fsigma = static_cast<float>(sigma), recip_sigma = static_cast<float>(1.0 / sigma);
        const auto carry = static_cast<float>(std::sqrt(abp / ab));
        const auto euler_gain = static_cast<float>(std::sqrt(abp) * (sigma_next - sigma));
        const network_output first = s.network(s.sample(), s.timestep());
        s.exec().for_each_block(x.shape().n, per_image,
                                euler_block{scale, fsigma, recip_sigma, carry, euler_gain, clip, clean, x.data(), x0.data(),
                                            slope.data(), (last ? x : euler).data(), first.values.data(), per_image,
                                            first.values.shape().image_size()});
        if (last) return;

        const auto next_scale = static_cast<float>(1.0 / std::sqrt(abp));
        const auto fsigma_next = static_cast<float>(sigma_next), recip_next = static_cast<float>(1.0 / sigma_next);
        const auto half_gain = static_cast<float>(0.5 * std::sqrt(abp) * (sigma_next - sigma));
        const int tau_next = s.process().timesteps[t - 1];
        const network_output second = s.network(euler, tau_next);
        s.exec().for_each_block(x.shape().n, per_image,
                                correction_block{next_scale, fsigma_next, recip_next, carry, half_gain, clip, x.data(),
                                                 slope.data(), euler.data(), second.values.data(), per_image,
                                                 second.values.shape().image_size()});
    }

public:
    // The element work as block functors (public: the CUDA kernels that run them name their types).
    // x0 = x~ - sigma eps, clamped if asked; the slope is eps, or (x~ - x0) / sigma
    // where the clamp moved x0.
    ILVR_HOST_DEVICE ILVR_ALWAYS_INLINE static void slope_and_x0(float xt, float eps, float sigma, float recip_sigma, bool clip,
                                                float& slope, float& x0)
    {
        const float raw = xt - sigma * eps;
        const float kept = clip ? (raw < -1.0f ? -1.0f : (raw > 1.0f ? 1.0f : raw)) : raw;
        x0 = kept;
        slope = kept == raw ? eps : (xt - kept) * recip_sigma;
    }

    // The Euler step on elements [e0, e1) of image b: the slope and x0 at the
    // current level, then the Euler sample (into x on the last step, else euler).
    struct euler_block {
        float scale, sigma, recip_sigma, carry, gain;
        bool clip, clean;
        float* x;
        float* x0;
        float* slope;
        float* euler;
        const float* eps;
        std::size_t per_image, eps_stride;

        ILVR_HOST_DEVICE ILVR_ALWAYS_INLINE void operator()(std::int64_t b, std::size_t e0, std::size_t e1) const
        {
            const auto off = static_cast<std::size_t>(b) * per_image;
            const float* eb = eps + static_cast<std::size_t>(b) * eps_stride;
            float* xb = x + off;
            float* x0b = x0 + off;
            float* db = slope + off;
            float* ub = euler + off;
            const float sc = scale, sg = sigma, rs = recip_sigma, cy = carry, g = gain;
            const bool cl = clip, cn = clean;
            for (std::size_t e = e0; e < e1; ++e) slope_and_x0(sc * xb[e], eb[e], sg, rs, cl, db[e], x0b[e]);
            for (std::size_t e = e0; e < e1; ++e) ub[e] = cn ? x0b[e] : cy * xb[e] + g * db[e];
        }
    };

    // Heun's correction on elements [e0, e1) of image b: the slope at the Euler
    // sample, then the trapezoid from x.
    struct correction_block {
        float scale, sigma, recip_sigma, carry, half_gain;
        bool clip;
        float* x;
        const float* slope;
        const float* euler;
        const float* eps;
        std::size_t per_image, eps_stride;

        ILVR_HOST_DEVICE ILVR_ALWAYS_INLINE void operator()(std::int64_t b, std::size_t e0, std::size_t e1) const
        {
            const auto off = static_cast<std::size_t>(b) * per_image;
            const float* eb = eps + static_cast<std::size_t>(b) * eps_stride;
            float* xb = x + off;
            const float* db = slope + off;
            const float* ub = euler + off;
            const float sc = scale, sg = sigma, rs = recip_sigma, cy = carry, g = half_gain;
            const bool cl = clip;
            for (std::size_t e = e0; e < e1; ++e) {
                float d2 = 0.0f, unused = 0.0f;
                slope_and_x0(sc * ub[e], eb[e], sg, rs, cl, d2, unused);
                xb[e] = cy * xb[e] + g * (db[e] + d2);
            }
        }
    };

private:
    buffer slope_, euler_;
};

} // namespace ilvr

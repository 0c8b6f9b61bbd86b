// DPM-Solver++(2M): the second-order multistep solver of the probability-flow
// ODE in data prediction (Lu et al. 2022, "DPM-Solver++", Algorithm 2).
// docs/sampling.md gives the formulas and where the conditioner refines.
#pragma once

#include <ilvr/detail/cpu.hpp>
#include <ilvr/detail/parallel.hpp>
#include <ilvr/sampler/solver.hpp>
#include <ilvr/tensor.hpp>

#include <cmath>
#include <cstdint>

namespace ilvr {

namespace detail {

/// Whether respaced index i of a K-step run is the step landing on tau[0] of a
/// short run (K - 1 < 10 steps before the step to the clean level), which the
/// multistep DPM-Solvers take at first order: the official DPM-Solver code's
/// lower_order_final rule.
inline bool dpm_solver_lowers_final(int i, int steps) { return i == 1 && steps - 1 < 10; }

} // namespace detail

/// DPM-Solver++(2M) on the VP process: one network call per step. With
/// alpha = sqrt(abar), sigma = sqrt(1 - abar), lambda = log(alpha / sigma) and
/// h = lambda_t - lambda_s, a step from level s to t is
///     x_t = (sigma_t / sigma_s) x_s + alpha_t (1 - e^-h) D,
/// D = x0_s on the first step (first order) and otherwise
/// D = (1 + 1/(2r)) x0_s - 1/(2r) x0_prev with r = h_prev / h. The last step
/// lands on the clean level (sigma_t = 0), where x_t = D = x0_s (Lu et al.'s
/// "denoise to zero"). With fewer than 10 steps before it (K <= 10), the step landing on
/// tau[0] is first order too (their "lower order final", with the official
/// code's threshold): there the log-SNR step is several times the previous one,
/// and the linear extrapolation of x0 over it costs more than it gains.
struct dpmpp_2m {
    bool clip_denoised = true;      ///< clamp the predicted x0 to [-1, 1]
    bool lower_order_final = true;  ///< first order on the step landing on tau[0] when K - 1 < 10

    /// Clamps the predicted x0 to [-1, 1].
    dpmpp_2m() = default;
    /// `clip_denoised`: whether to clamp the predicted x0 to [-1, 1].
    explicit dpmpp_2m(bool clip) : clip_denoised(clip) {}

    /// Allocates the history buffer; the history starts empty.
    template <class Exec>
    void prepare(const basic_solver_setup<Exec>& setup)
    {
        previous_ = setup.allocate(setup.shape);
        has_previous_ = false;
    }

    /// One step: a call at the current level, then the multistep update.
    template <class Exec>
    void step(basic_solver_step<Exec>& s)
    {
        const int i = s.index();
        const auto& sched = s.process().schedule;
        const auto t = static_cast<std::size_t>(i);
        const double ab = sched.alpha_bar()[t], abp = sched.alpha_bar_prev()[t];
        const network_output out = s.network(s.sample(), s.timestep());

        const auto sqrt_recip = static_cast<float>(sched.sqrt_recip_alpha_bar()[t]);
        const auto sqrt_recipm1 = static_cast<float>(sched.sqrt_recipm1_alpha_bar()[t]);
        // Coefficients in double, rounded once. At the clean level: c_x = 0, c_d = 1.
        double c_x = 0.0, c_d = 1.0, h = 0.0, w_now = 1.0, w_prev = 0.0;
        if (abp < 1.0) {
            const double lambda_s = 0.5 * std::log(ab / (1.0 - ab)), lambda_t = 0.5 * std::log(abp / (1.0 - abp));
            h = lambda_t - lambda_s;
            c_x = std::sqrt((1.0 - abp) / (1.0 - ab));
            c_d = std::sqrt(abp) * -std::expm1(-h);
            const bool lower = lower_order_final && detail::dpm_solver_lowers_final(i, s.steps());
            if (has_previous_ && !lower) {
                const double r = previous_h_ / h;
                w_now = 1.0 + 1.0 / (2.0 * r);
                w_prev = -1.0 / (2.0 * r);
            }
        }
        const std::size_t per_image = s.sample().shape().image_size();
        const update_block f{sqrt_recip, sqrt_recipm1, static_cast<float>(c_x),
                             static_cast<float>(c_d), static_cast<float>(w_now), static_cast<float>(w_prev),
                             clip_denoised, w_prev != 0.0, s.sample().data(), s.predicted_x0().data(), previous_.data(),
                             out.values.data(), per_image,
                             out.values.shape().image_size()};
        s.exec().for_each_block(s.sample().shape().n, per_image, f);
        previous_h_ = h;
        has_previous_ = true;
    }

public:
    // The element work as block functors (public: the CUDA kernels that run them name their types).
    // The multistep update of elements [e0, e1) of image b: x0 (clipped if asked),
    // D from it and the previous x0, x = c_x x + c_d D; x0 becomes the history.
    struct update_block {
        float sqrt_recip, sqrt_recipm1, c_x, c_d, w_now, w_prev;
        bool clip, second;
        float* x;
        float* x0;
        float* previous;
        const float* eps;  // eps [B, C, H, W] (a v after it is skipped: image stride 2 C H W)
        std::size_t per_image, eps_stride;

        ILVR_HOST_DEVICE ILVR_ALWAYS_INLINE void operator()(std::int64_t b, std::size_t e0, std::size_t e1) const
        {
            const auto off = static_cast<std::size_t>(b) * per_image;
            float* xb = x + off;
            float* x0b = x0 + off;
            float* pb = previous + off;
            const float* eb = eps + static_cast<std::size_t>(b) * eps_stride;
            const float sr = sqrt_recip, srm1 = sqrt_recipm1, cx = c_x, cd = c_d, wn = w_now, wp = w_prev;
            const bool cl = clip, sec = second;
            for (std::size_t e = e0; e < e1; ++e) {
                float d = sr * xb[e] - srm1 * eb[e];
                if (cl) d = d < -1.0f ? -1.0f : (d > 1.0f ? 1.0f : d);
                x0b[e] = d;
                const float data = sec ? wn * d + wp * pb[e] : d;
                xb[e] = cx * xb[e] + cd * data;
                pb[e] = d;
            }
        }
    };

private:
    buffer previous_;  // x0 of the previous step
    double previous_h_ = 0.0;
    bool has_previous_ = false;
};

} // namespace ilvr

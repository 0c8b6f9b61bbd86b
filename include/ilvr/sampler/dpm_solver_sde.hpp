// DPM-Solver++(2M) SDE: the second-order multistep solver of the reverse SDE in
// data prediction (Lu et al. 2022, "DPM-Solver++", section on SDE solvers), with
// an eta that scales the noise between the ODE solver (0: dpmpp_2m,
// sampler/dpm_solver.hpp, is this solver at eta 0) and the SDE (1).
// docs/sampling.md gives the formulas; docs/spec.md sections 4.7 and 4.8.
#pragma once

#include <ilvr/config.hpp>
#include <ilvr/detail/cpu.hpp>
#include <ilvr/detail/parallel.hpp>
#include <ilvr/error.hpp>
#include <ilvr/sampler/solver.hpp>
#include <ilvr/sampler/step_math.hpp>
#include <ilvr/tensor.hpp>

#include <cmath>
#include <cstdint>
#include <string>

namespace ilvr {

namespace detail {

/// Whether respaced index i of a K-step run is the step landing on tau[0] of a
/// short run (K - 1 < 10 steps before the step to the clean level), which the
/// multistep DPM-Solvers take at first order: the official DPM-Solver code's
/// lower_order_final rule.
inline bool dpm_solver_lowers_final(int i, int steps) { return i == 1 && steps - 1 < 10; }

} // namespace detail

/// The float32 scalars of one DPM-Solver++(2M) SDE step.
struct dpmpp_sde_coefficients {
    step_coefficients x0;  ///< the x0 prediction (sqrt_recip_alpha_bar, sqrt_recipm1_alpha_bar, clip)
    float c_x;             ///< (sigma_t / sigma_s) e^(-eta h)
    float c_d;             ///< alpha_t (1 - e^(-(1 + eta) h))
    float w_now, w_prev;   ///< D = w_now x0_s + w_prev x0_prev (second order), else D = x0_s
    float c_z;             ///< sigma_t sqrt(1 - e^(-2 eta h))
    bool second;           ///< whether D uses the previous x0
    bool noise;            ///< whether c_z z is added
};

/// x_t = c_x x_s + c_d D + c_z z, D = x0_s or w_now x0_s + w_prev x0_prev
/// (with eta = 0, c_z = 0 and no noise: the ODE solver's update).
ILVR_HOST_DEVICE inline float dpmpp_sde_proposal(const dpmpp_sde_coefficients& c, float x, float x0, float x0_prev,
                                                 float z)
{
    const float data = c.second ? c.w_now * x0 + c.w_prev * x0_prev : x0;
    const float mean = c.c_x * x + c.c_d * data;
    return c.noise ? mean + c.c_z * z : mean;
}

/// DPM-Solver++(2M) SDE on the VP process: one network call per step. With
/// alpha = sqrt(abar), sigma = sqrt(1 - abar), lambda = log(alpha / sigma) and
/// h = lambda_t - lambda_s, a step from level s to t is
///     x_t = (sigma_t / sigma_s) e^(-eta h) x_s + alpha_t (1 - e^(-(1 + eta) h)) D
///           + sigma_t sqrt(1 - e^(-2 eta h)) z,
/// z the step's proposal noise and D as in dpmpp_2m (the midpoint form:
/// D = x0_s on the first step, else (1 + 1/(2r)) x0_s - 1/(2r) x0_prev,
/// r = h_prev / h). eta = 1 is Lu et al.'s SDE solver (k-diffusion's
/// sample_dpmpp_2m_sde, diffusers' "sde-dpmsolver++"); eta = 0 is the ODE
/// solver, dpmpp_2m. The last step lands on the clean level, where x = x0_s
/// (Lu et al.'s "denoise to zero"). With fewer than 10 steps before it
/// (K <= 10) the step landing on tau[0] is first order too (their "lower order
/// final", with the official code's threshold): there the log-SNR step is
/// several times the previous one, and the linear extrapolation of x0 over it
/// costs more than it gains.
struct dpmpp_2m_sde {
    double eta = 1.0;               ///< noise scale: 1 the SDE, 0 the ODE (>= 0)
    bool clip_denoised = true;      ///< clamp the predicted x0 to [-1, 1]
    bool lower_order_final = true;  ///< first order on the step landing on tau[0] when K - 1 < 10

    /// The published SDE solver (eta = 1), x0 clamped to [-1, 1].
    dpmpp_2m_sde() = default;
    /// `eta`: the noise scale (>= 0); `clip`: whether to clamp the predicted x0.
    explicit dpmpp_2m_sde(double eta_, bool clip = true) : eta(eta_), clip_denoised(clip) {}

    /// The scalars of respaced index i of `schedule`; `previous_h` is the
    /// previous step's h (ignored without `has_previous`), `steps` is K.
    dpmpp_sde_coefficients coefficients(const noise_schedule& schedule, int i, int steps, bool has_previous,
                                        double previous_h) const
    {
        const auto t = static_cast<std::size_t>(i);
        const double ab = schedule.alpha_bar()[t], abp = schedule.alpha_bar_prev()[t];
        // Coefficients in double, rounded once. At the clean level: c_x = 0, c_d = 1, no noise.
        double c_x = 0.0, c_d = 1.0, c_z = 0.0, w_now = 1.0, w_prev = 0.0;
        if (abp < 1.0) {
            const double h = step_size(schedule, i);
            c_x = std::sqrt((1.0 - abp) / (1.0 - ab)) * std::exp(-eta * h);
            c_d = std::sqrt(abp) * -std::expm1(-(1.0 + eta) * h);
            c_z = std::sqrt(1.0 - abp) * std::sqrt(-std::expm1(-2.0 * eta * h));
            if (has_previous && !(lower_order_final && detail::dpm_solver_lowers_final(i, steps))) {
                const double r = previous_h / h;
                w_now = 1.0 + 1.0 / (2.0 * r);
                w_prev = -1.0 / (2.0 * r);
            }
        }
        const step_coefficients x0{static_cast<float>(schedule.sqrt_recip_alpha_bar()[t]),
                                   static_cast<float>(schedule.sqrt_recipm1_alpha_bar()[t]),
                                   0.0f, 0.0f, 0.0f, 0.0f, 0.0f, clip_denoised, false};
        return {x0, static_cast<float>(c_x), static_cast<float>(c_d), static_cast<float>(w_now),
                static_cast<float>(w_prev), static_cast<float>(c_z), w_prev != 0.0, c_z != 0.0};
    }

    /// h = lambda_t - lambda_s of index i (0 on the step to the clean level).
    static double step_size(const noise_schedule& schedule, int i)
    {
        const auto t = static_cast<std::size_t>(i);
        const double ab = schedule.alpha_bar()[t], abp = schedule.alpha_bar_prev()[t];
        if (!(abp < 1.0)) return 0.0;
        return 0.5 * std::log(abp / (1.0 - abp)) - 0.5 * std::log(ab / (1.0 - ab));
    }

    /// Checks eta, allocates the history buffer (and the noise buffer where
    /// eta > 0); the history starts empty.
    template <class Exec>
    void prepare(const basic_solver_setup<Exec>& setup)
    {
        detail::require(std::isfinite(eta) && eta >= 0.0,
                        "dpmpp_2m_sde: eta must be finite and >= 0, got " + std::to_string(eta));
        previous_ = setup.allocate(setup.shape);
        z_ = eta > 0.0 ? setup.allocate(setup.shape) : buffer{};
        has_previous_ = false;
    }

    /// One step: a call at the current level, the step's noise, the multistep update.
    template <class Exec>
    void step(basic_solver_step<Exec>& s)
    {
        const int i = s.index();
        const auto& sched = s.process().schedule;
        const network_output out = s.network(s.sample(), s.timestep());
        const dpmpp_sde_coefficients c = coefficients(sched, i, s.steps(), has_previous_, previous_h_);
        if (c.noise) s.proposal_noise(z_.view());
        const std::size_t per_image = s.sample().shape().image_size();
        const update_block f{c, s.sample().data(), s.predicted_x0().data(), previous_.data(), z_.data(),
                             out.values.data(), per_image, out.values.shape().image_size()};
        s.exec().for_each_block(s.sample().shape().n, per_image, f);
        previous_h_ = step_size(sched, i);
        has_previous_ = true;
    }

    // The element work as a block functor (public: the CUDA kernels that run it name its type).
    // Elements [e0, e1) of image b: x0 (clipped if asked), then dpmpp_sde_proposal; x0 becomes the history.
    struct update_block {
        dpmpp_sde_coefficients c;
        float* x;
        float* x0;
        float* previous;
        const float* z;    // read only where c.noise (null at eta 0)
        const float* eps;  // eps [B, C, H, W] (a v after it is skipped: image stride 2 C H W)
        std::size_t per_image, eps_stride;

        ILVR_HOST_DEVICE ILVR_ALWAYS_INLINE void operator()(std::int64_t b, std::size_t e0, std::size_t e1) const
        {
            const auto off = static_cast<std::size_t>(b) * per_image;
            float* xb = x + off;
            float* x0b = x0 + off;
            float* pb = previous + off;
            const float* zb = c.noise ? z + off : nullptr;
            const float* eb = eps + static_cast<std::size_t>(b) * eps_stride;
            const dpmpp_sde_coefficients cc = c;  // a local copy: through a reference it could alias the stores
            for (std::size_t e = e0; e < e1; ++e) {
                const float d = predict_x0(cc.x0, xb[e], eb[e]);
                x0b[e] = d;
                xb[e] = dpmpp_sde_proposal(cc, xb[e], d, pb[e], cc.noise ? zb[e] : 0.0f);
                pb[e] = d;
            }
        }
    };

private:
    buffer previous_;  // x0 of the previous step
    buffer z_;         // this step's proposal noise
    double previous_h_ = 0.0;
    bool has_previous_ = false;
};

} // namespace ilvr

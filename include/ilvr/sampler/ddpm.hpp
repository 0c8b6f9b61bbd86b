// Ancestral DDPM step. Ref: Ho et al. 2020, Alg. 2; docs/spec.md section 4.
#pragma once

#include <ilvr/config.hpp>
#include <ilvr/sampler/step_math.hpp>
#include <ilvr/schedule.hpp>

#include <cmath>

namespace ilvr {

/// The variance of an ancestral step when the denoiser predicts eps only
/// (a denoiser returning eps + v always uses the learned range).
enum class fixed_variance {
    small,  ///< beta~_t, the posterior variance (guided-diffusion FIXED_SMALL)
    large,  ///< beta_t (FIXED_LARGE)
};

/// One ancestral step x_t -> x_{t-1} ~ N(mean, var) (docs/spec.md section 4).
struct ddpm {
    fixed_variance variance = fixed_variance::small;
    bool clip_denoised = true;  ///< clamp the predicted x0 to [-1, 1]

    /// The float32 scalars of respaced index i of `schedule`.
    step_coefficients coefficients(const noise_schedule& s, int i) const
    {
        const auto t = static_cast<std::size_t>(i);
        const double log_var =
            variance == fixed_variance::small ? s.posterior_log_variance_clipped()[t] : s.fixed_large_log_variance()[t];
        return {static_cast<float>(s.sqrt_recip_alpha_bar()[t]),
                static_cast<float>(s.sqrt_recipm1_alpha_bar()[t]),
                static_cast<float>(s.posterior_mean_coef1()[t]),
                static_cast<float>(s.posterior_mean_coef2()[t]),
                std::exp(0.5f * static_cast<float>(log_var)),  // float32, as the reference's exp on a float tensor
                static_cast<float>(std::log(s.beta()[t])),
                static_cast<float>(s.posterior_log_variance_clipped()[t]),
                clip_denoised,
                i > 0};
    }

    /// x' for one element; `v` is read only when `learned` (eps + v output).
    ILVR_HOST_DEVICE static float proposal(const step_coefficients& c, float x, float x0, float v, float z, bool learned)
    {
        return learned ? ddpm_proposal_learned(c, x, x0, v, z) : ddpm_proposal(c, x, x0, z);
    }
};

} // namespace ilvr

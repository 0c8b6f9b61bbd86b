// DDIM step with stochasticity eta. Ref: Song et al. 2021, eq. (12) and (16); docs/spec.md section 4.
#pragma once

#include <ilvr/config.hpp>
#include <ilvr/error.hpp>
#include <ilvr/sampler/step_math.hpp>
#include <ilvr/schedule.hpp>

#include <cmath>
#include <string>

namespace ilvr {

/// One DDIM step; eta = 0 is deterministic, eta = 1 matches DDPM's variance.
/// A learned-range v from the denoiser is ignored, as in guided-diffusion.
struct ddim {
    double eta = 0.0;
    bool clip_denoised = true;  ///< clamp the predicted x0 to [-1, 1]

    /// The float32 scalars of respaced index i of `schedule`.
    step_coefficients coefficients(const noise_schedule& s, int i) const
    {
        detail::require(eta >= 0.0, [&] { return "ddim: eta = " + std::to_string(eta) + " must be >= 0"; });
        const auto t = static_cast<std::size_t>(i);
        const double ab = s.alpha_bar()[t], abp = s.alpha_bar_prev()[t];
        const double sigma = eta * std::sqrt((1.0 - abp) / (1.0 - ab)) * std::sqrt(1.0 - ab / abp);
        const double rest = 1.0 - abp - sigma * sigma;
        return {static_cast<float>(s.sqrt_recip_alpha_bar()[t]),
                static_cast<float>(s.sqrt_recipm1_alpha_bar()[t]),
                static_cast<float>(std::sqrt(abp)),
                static_cast<float>(std::sqrt(rest > 0.0 ? rest : 0.0)),
                static_cast<float>(sigma),
                0.0f,
                0.0f,
                clip_denoised,
                i > 0 && sigma > 0.0};
    }

    /// x' for one element (v unused).
    ILVR_HOST_DEVICE static float proposal(const step_coefficients& c, float x, float x0, float, float z, bool)
    {
        return ddim_proposal(c, x, x0, z);
    }
};

} // namespace ilvr

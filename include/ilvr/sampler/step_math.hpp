// Per-element arithmetic of the reverse steps and of the ILVR update, written
// once for the CPU loops and the CUDA kernels. Scalars are float32 roundings of
// the schedule's float64 tables, as in the reference.
// Ref: docs/spec.md sections 4 and 6; Ho et al. 2020 eq. (11), (15); Song et al. 2021 eq. (12).
#pragma once

#include <ilvr/config.hpp>

#include <cmath>

namespace ilvr {

/// The float32 scalars of one reverse step at respaced index i.
struct step_coefficients {
    float sqrt_recip_alpha_bar;    ///< sqrt(1 / abar_i)
    float sqrt_recipm1_alpha_bar;  ///< sqrt(1 / abar_i - 1)
    float mean_x0;                 ///< DDPM: posterior mean coef1; DDIM: sqrt(abar_prev)
    float mean_xt;                 ///< DDPM: posterior mean coef2; DDIM: sqrt(1 - abar_prev - sigma^2)
    float sigma;                   ///< noise scale of a fixed variance (0 when no noise is added)
    float log_beta;                ///< learned range: upper end log(beta_i)
    float log_pv_clipped;          ///< learned range: lower end log(beta~_i)
    bool clip;                     ///< clamp the predicted x0 to [-1, 1]
    bool noise;                    ///< whether z is added (i > 0)
};

/// x0 = sqrt(1/abar) x - sqrt(1/abar - 1) eps, optionally clamped to [-1, 1]. Ref: docs/spec.md section 4.1.
ILVR_HOST_DEVICE inline float predict_x0(const step_coefficients& c, float x, float eps)
{
    const float x0 = c.sqrt_recip_alpha_bar * x - c.sqrt_recipm1_alpha_bar * eps;
    return c.clip ? (x0 < -1.0f ? -1.0f : (x0 > 1.0f ? 1.0f : x0)) : x0;
}

/// Ancestral DDPM proposal with a fixed variance: mean + sigma z. Ref: docs/spec.md sections 4.2-4.4.
ILVR_HOST_DEVICE inline float ddpm_proposal(const step_coefficients& c, float x, float x0, float z)
{
    const float mean = c.mean_x0 * x0 + c.mean_xt * x;
    return c.noise ? mean + c.sigma * z : mean;
}

/// Ancestral DDPM proposal with learned-range variance: the log-variance
/// interpolates, per element, between log beta~ and log beta by (v + 1) / 2.
ILVR_HOST_DEVICE inline float ddpm_proposal_learned(const step_coefficients& c, float x, float x0, float v, float z)
{
    const float mean = c.mean_x0 * x0 + c.mean_xt * x;
    if (!c.noise) return mean;
    const float frac = (v + 1.0f) / 2.0f;
    const float log_var = frac * c.log_beta + (1.0f - frac) * c.log_pv_clipped;
    return mean + std::exp(0.5f * log_var) * z;
}

/// DDIM proposal: sqrt(abar_prev) x0 + sqrt(1 - abar_prev - sigma^2) eps' + sigma z,
/// with eps' recomputed from the (clipped) x0. Ref: docs/spec.md section 4.5.
ILVR_HOST_DEVICE inline float ddim_proposal(const step_coefficients& c, float x, float x0, float z)
{
    const float eps = (c.sqrt_recip_alpha_bar * x - x0) / c.sqrt_recipm1_alpha_bar;
    const float mean = c.mean_x0 * x0 + c.mean_xt * eps;
    return c.noise ? mean + c.sigma * z : mean;
}

/// The ILVR correction before filtering: y_a - x', where y_a = sqrt(a) y + sqrt(1-a) e
/// is the reference noised to level a. Then x = x' + phi_N(y_a - x'), which equals
/// phi_N(y_a) + (I - phi_N)(x') because phi_N is linear. Ref: paper eq. (5), Alg. 1.
ILVR_HOST_DEVICE inline float ilvr_residual(float sqrt_a, float sqrt_one_minus_a, float y, float e, float proposal)
{
    return (sqrt_a * y + sqrt_one_minus_a * e) - proposal;
}

} // namespace ilvr

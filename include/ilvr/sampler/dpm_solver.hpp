// DPM-Solver++(2M): the second-order multistep solver of the probability-flow
// ODE in data prediction (Lu et al. 2022, "DPM-Solver++", Algorithm 2). It is
// the SDE solver's eta = 0 case, so the update is written once, in
// sampler/dpm_solver_sde.hpp. docs/sampling.md gives the formulas and where the
// conditioner refines; docs/spec.md section 4.7.
#pragma once

#include <ilvr/sampler/dpm_solver_sde.hpp>
#include <ilvr/sampler/solver.hpp>

namespace ilvr {

/// DPM-Solver++(2M) on the VP process: one network call per step. With
/// alpha = sqrt(abar), sigma = sqrt(1 - abar), lambda = log(alpha / sigma) and
/// h = lambda_t - lambda_s, a step from level s to t is
///     x_t = (sigma_t / sigma_s) x_s + alpha_t (1 - e^-h) D,
/// D = x0_s on the first step (first order) and otherwise
/// D = (1 + 1/(2r)) x0_s - 1/(2r) x0_prev with r = h_prev / h: dpmpp_2m_sde
/// with eta = 0, whose last-step rules it shares (the step to the clean level
/// returns x0_s; with K <= 10 the step landing on tau[0] is first order).
struct dpmpp_2m {
    bool clip_denoised = true;      ///< clamp the predicted x0 to [-1, 1]
    bool lower_order_final = true;  ///< first order on the step landing on tau[0] when K - 1 < 10

    /// Clamps the predicted x0 to [-1, 1].
    dpmpp_2m() = default;
    /// `clip_denoised`: whether to clamp the predicted x0 to [-1, 1].
    explicit dpmpp_2m(bool clip) : clip_denoised(clip) {}

    /// The SDE solver at eta = 0 with these options, prepared: its history starts empty.
    template <class Exec>
    void prepare(const basic_solver_setup<Exec>& setup)
    {
        solver_ = dpmpp_2m_sde(0.0, clip_denoised);
        solver_.lower_order_final = lower_order_final;
        solver_.prepare(setup);
    }

    /// One step: a call at the current level, then the multistep update.
    template <class Exec>
    void step(basic_solver_step<Exec>& s)
    {
        solver_.step(s);
    }

private:
    dpmpp_2m_sde solver_;
};

} // namespace ilvr

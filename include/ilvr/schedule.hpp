// Noise schedules (beta_t) and every quantity the samplers derive from them.
// Ref: docs/spec.md section 1; Ho et al. 2020, eq. (4), (6), (7).
#pragma once

#include <ilvr/error.hpp>

#include <algorithm>
#include <cmath>
#include <numbers>
#include <string>
#include <vector>

namespace ilvr {

/// A diffusion process given by its betas, with the derived tables the samplers
/// read, all in double. Entry t describes the step from t to t+1 (0-based).
class noise_schedule {
public:
    /// Builds the schedule from user-given betas; each must lie in (0, 1) and at
    /// least two are needed (the clipped posterior log-variance borrows entry 1).
    /// beta = 1 (zero terminal SNR: abar = 0 from there on) and betas whose
    /// product underflows are refused: x0 = x / sqrt(abar) - ... is undefined
    /// where abar = 0, so every sampler step there would divide by zero.
    explicit noise_schedule(std::vector<double> betas) : beta_(std::move(betas))
    {
        const std::size_t n = beta_.size();
        detail::require(n >= 2, "noise_schedule: needs at least 2 betas, got " + std::to_string(n)
                                    + " (docs/spec.md section 1: log_pv_clipped borrows entry 1)");
        for (std::size_t t = 0; t < n; ++t)
        {
            detail::require(beta_[t] > 0.0 && beta_[t] <= 1.0,
                            "noise_schedule: beta[" + std::to_string(t) + "] = " + std::to_string(beta_[t])
                                + " is outside (0, 1)");
            detail::require(beta_[t] < 1.0, "noise_schedule: beta[" + std::to_string(t)
                                                + "] = 1 makes abar 0 from step " + std::to_string(t)
                                                + " on (zero terminal SNR), where no sampler step is defined "
                                                  "(x0 = x / sqrt(abar) - ...); use betas < 1, e.g. 0.999");
        }
        alpha_.resize(n), alpha_bar_.resize(n), alpha_bar_prev_.resize(n);
        double running = 1.0;
        for (std::size_t t = 0; t < n; ++t) {
            alpha_[t] = 1.0 - beta_[t];
            alpha_bar_prev_[t] = running;
            running *= alpha_[t];
            alpha_bar_[t] = running;
            detail::require(running > 0.0 && std::isfinite(1.0 / running), [&] {
                return "noise_schedule: abar underflows to " + std::to_string(running) + " at step " + std::to_string(t)
                       + " (zero terminal SNR in double precision), where no sampler step is defined";
            });
        }
        posterior_variance_.resize(n), log_pv_clipped_.resize(n), log_fixed_large_.resize(n);
        coef1_.resize(n), coef2_.resize(n), sqrt_recip_.resize(n), sqrt_recipm1_.resize(n);
        for (std::size_t t = 0; t < n; ++t) {
            const double b = beta_[t], ab = alpha_bar_[t], abp = alpha_bar_prev_[t];
            posterior_variance_[t] = b * (1.0 - abp) / (1.0 - ab);
            coef1_[t] = b * std::sqrt(abp) / (1.0 - ab);
            coef2_[t] = (1.0 - abp) * std::sqrt(alpha_[t]) / (1.0 - ab);
            sqrt_recip_[t] = std::sqrt(1.0 / ab);
            sqrt_recipm1_[t] = std::sqrt(1.0 / ab - 1.0);
        }
        // pv[0] is 0, so entry 0 of both log-variances borrows entry 1.
        for (std::size_t t = 0; t < n; ++t) {
            log_pv_clipped_[t] = std::log(posterior_variance_[t == 0 ? 1 : t]);
            log_fixed_large_[t] = t == 0 ? log_pv_clipped_[0] : std::log(beta_[t]);
        }
    }

    /// Linear schedule of Ho et al., scaled so any T matches T = 1000:
    /// beta = linspace(1e-4 * 1000/T, 0.02 * 1000/T, T), evaluated as numpy does.
    static noise_schedule linear(int steps)
    {
        detail::require(steps >= 2, "noise_schedule::linear: needs T >= 2, got " + std::to_string(steps));
        const double scale = 1000.0 / steps, start = scale * 0.0001, stop = scale * 0.02;
        const double step = (stop - start) / (steps - 1);
        std::vector<double> betas(static_cast<std::size_t>(steps));
        for (int i = 0; i < steps; ++i) betas[static_cast<std::size_t>(i)] = i * step + start;
        betas.back() = stop;
        return noise_schedule(std::move(betas));
    }

    /// Cosine schedule of Nichol & Dhariwal 2021: beta_t = min(1 - abar((t+1)/T) / abar(t/T), 0.999).
    static noise_schedule cosine(int steps)
    {
        detail::require(steps >= 2, "noise_schedule::cosine: needs T >= 2, got " + std::to_string(steps));
        auto abar = [](double s) {
            const double c = std::cos((s + 0.008) / 1.008 * std::numbers::pi / 2);
            return c * c;
        };
        std::vector<double> betas(static_cast<std::size_t>(steps));
        for (int i = 0; i < steps; ++i)
            betas[static_cast<std::size_t>(i)] =
                std::min(1.0 - abar(double(i + 1) / steps) / abar(double(i) / steps), 0.999);
        return noise_schedule(std::move(betas));
    }

    /// Builds "linear" or "cosine" by name.
    static noise_schedule named(const std::string& name, int steps)
    {
        if (name == "linear") return linear(steps);
        if (name == "cosine") return cosine(steps);
        throw error("noise_schedule: unknown schedule '" + name + "' (expected linear or cosine)");
    }

    /// Number of steps T.
    std::size_t size() const { return beta_.size(); }

    const std::vector<double>& beta() const { return beta_; }
    const std::vector<double>& alpha() const { return alpha_; }
    /// abar_t = prod_{s <= t} alpha_s.
    const std::vector<double>& alpha_bar() const { return alpha_bar_; }
    /// abar_{t-1}, with 1 at t = 0: the noise level of a step's proposal.
    const std::vector<double>& alpha_bar_prev() const { return alpha_bar_prev_; }
    /// Posterior variance beta~_t = beta_t (1 - abar_{t-1}) / (1 - abar_t).
    const std::vector<double>& posterior_variance() const { return posterior_variance_; }
    /// log beta~_t with entry 0 replaced by entry 1 ("fixed small" log-variance).
    const std::vector<double>& posterior_log_variance_clipped() const { return log_pv_clipped_; }
    /// log beta_t with entry 0 replaced by log beta~_1 ("fixed large" log-variance).
    const std::vector<double>& fixed_large_log_variance() const { return log_fixed_large_; }
    /// Posterior mean coefficient of x0: beta_t sqrt(abar_{t-1}) / (1 - abar_t).
    const std::vector<double>& posterior_mean_coef1() const { return coef1_; }
    /// Posterior mean coefficient of x_t: (1 - abar_{t-1}) sqrt(alpha_t) / (1 - abar_t).
    const std::vector<double>& posterior_mean_coef2() const { return coef2_; }
    /// sqrt(1 / abar_t).
    const std::vector<double>& sqrt_recip_alpha_bar() const { return sqrt_recip_; }
    /// sqrt(1 / abar_t - 1).
    const std::vector<double>& sqrt_recipm1_alpha_bar() const { return sqrt_recipm1_; }

private:
    std::vector<double> beta_, alpha_, alpha_bar_, alpha_bar_prev_, posterior_variance_, log_pv_clipped_,
        log_fixed_large_, coef1_, coef2_, sqrt_recip_, sqrt_recipm1_;
};

} // namespace ilvr

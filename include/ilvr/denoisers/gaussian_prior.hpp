// The exact denoiser of a Gaussian prior x0 ~ N(mu, s^2 I): a closed form that
// tests (and users testing their pipelines) can trust. Ref: docs/spec.md section 7.
#pragma once

#include <ilvr/detail/parallel.hpp>
#include <ilvr/error.hpp>
#include <ilvr/schedule.hpp>
#include <ilvr/tensor.hpp>

#include <cmath>
#include <cstdint>
#include <span>
#include <string>

namespace ilvr {

/// eps*(x_t, t) = sqrt(1 - abar_t) (x_t - sqrt(abar_t) mu) / (abar_t s^2 + 1 - abar_t),
/// with abar of the ORIGINAL process (it receives original timesteps). The
/// coefficients are computed in double and rounded to float, as the golden
/// traces' analytic model does. Returns a view of its own buffer, valid until the
/// next call.
class gaussian_prior_denoiser {
public:
    /// mean: [1, C, H, W] (or empty for mu = 0); std: s > 0.
    gaussian_prior_denoiser(noise_schedule process, double std, tensor mean = {})
        : process_(std::move(process)), std_(std), mean_(std::move(mean))
    {
        detail::require(std > 0.0, "gaussian_prior_denoiser: std must be > 0");
        detail::require(mean_.size() == 0 || mean_.shape().n == 1,
                        "gaussian_prior_denoiser: the mean must be one image [1, C, H, W]");
    }

    tensor_view<const float> operator()(tensor_view<const float> x, std::span<const std::int64_t> t)
    {
        const shape4 s = x.shape();
        detail::require(t.size() == static_cast<std::size_t>(s.n), "gaussian_prior_denoiser: one timestep per image");
        detail::require(mean_.size() == 0 || (mean_.shape().c == s.c && mean_.shape().h == s.h && mean_.shape().w == s.w),
                        [&] { return "gaussian_prior_denoiser: mean " + mean_.shape().to_string() + " does not fit " + s.to_string(); });
        if (!(out_.shape() == s)) out_ = tensor(s);
        for (const std::int64_t ts : t)  // checked before the parallel loop, which must not throw
            detail::require(ts >= 0 && static_cast<std::size_t>(ts) < process_.size(),
                            [&] { return "gaussian_prior_denoiser: timestep " + std::to_string(ts) + " out of range"; });
        const std::size_t per_image = s.image_size();
        detail::parallel_for(s.n, threads_, [&](std::int64_t b, int) {
            const double ab = process_.alpha_bar()[static_cast<std::size_t>(t[static_cast<std::size_t>(b)])];
            const auto c = static_cast<float>(std::sqrt(1.0 - ab) / (ab * std_ * std_ + 1.0 - ab));
            const auto m = static_cast<float>(std::sqrt(ab));
            const float* xb = x.data() + static_cast<std::size_t>(b) * per_image;
            float* eb = out_.data() + static_cast<std::size_t>(b) * per_image;
            const float* mu = mean_.data();
            if (mean_.size() == 0)
                for (std::size_t e = 0; e < per_image; ++e) eb[e] = c * xb[e];
            else
                for (std::size_t e = 0; e < per_image; ++e) eb[e] = c * (xb[e] - m * mu[e]);
        });
        return out_.view();
    }

    /// Splits later calls over `threads` threads, by image (needs OpenMP; see
    /// detail/parallel.hpp). Results do not depend on it.
    void set_threads(int threads)
    {
        detail::require(threads >= 1, "gaussian_prior_denoiser: threads must be >= 1");
        threads_ = threads;
    }
    int threads() const { return threads_; }

private:
    noise_schedule process_;
    double std_;
    tensor mean_;
    tensor out_;
    int threads_ = 1;
};

} // namespace ilvr

// Statistical and structural properties of ILVR sampling (docs/spec.md section 7).
#include "support/random.hpp"
#include "support/statistics.hpp"

#include <ilvr/ilvr.hpp>

#include <catch2/catch.hpp>

#include <cmath>

namespace {

const ilvr::noise_schedule& linear1000()
{
    static const auto s = ilvr::noise_schedule::linear(1000);
    return s;
}

} // namespace

TEST_CASE("Gaussian prior: ILVR with a box projection gives N(P y + (I-P) mu, s^2 (I-P))", "[sampling][statistics]")
{
    // x0 ~ N(mu, s^2 I) on 1 x 16 x 16; P = phi_4 with the box kernel (block means).
    // Conditioning every step in paper mode makes the last refinement use y itself,
    // so P x0 = P y exactly; the free part keeps the prior's law up to the
    // sampler's discretisation error. That error is measured here too, by sampling
    // the prior without conditioning: fixed-small DDPM with 250 steps shrinks the
    // variance by ~6% (0.9 % at 1000 steps), and ILVR must shrink it by the same factor.
    const double s = 0.5;
    const int n = 2048;
    const ilvr::shape4 shape{n, 1, 16, 16};
    const auto mu = [] {
        auto m = ilvr_test::normal_tensor({1, 1, 16, 16}, 21);
        for (auto& v : m.values()) v *= 0.3f;
        return m;
    }();
    const auto y = ilvr_test::normal_tensor({1, 1, 16, 16}, 22);
    ilvr::low_pass P(16, 16, 4, ilvr::kernels::box);
    ilvr::tensor py({1, 1, 16, 16}), pmu({1, 1, 16, 16});
    P(y, py);
    P(mu, pmu);

    ilvr::gaussian_prior_denoiser model(linear1000(), s, mu);
    ilvr::ilvr_conditioner cond(y, {4, ilvr::kernels::box, ilvr::conditioning_range::all(), ilvr::reference_noise_level::paper});
    const ilvr::sampler sampler(ilvr::respace(linear1000(), "250"), ilvr::ddpm{ilvr::fixed_variance::small, false});
    ilvr::tensor x(shape);
    REQUIRE(sampler.run(model, ilvr::philox_noise(7), x, cond));

    ilvr::tensor px(shape);
    P(x, px);
    const std::size_t d = 256;
    double worst_projection = 0, worst_mean = 0, var_sum = 0;
    for (std::size_t j = 0; j < d; ++j) {
        double m1 = 0, m2 = 0;
        for (int b = 0; b < n; ++b) {
            const std::size_t at = static_cast<std::size_t>(b) * d + j;
            worst_projection = std::max(worst_projection, std::abs(double(px[at]) - py[j]));
            const double free = double(x[at]) - px[at];
            m1 += free, m2 += free * free;
        }
        m1 /= n;
        const double target = double(mu[j]) - pmu[j];
        worst_mean = std::max(worst_mean, std::abs(m1 - target));
        var_sum += m2 / n - m1 * m1;
    }
    const double var = var_sum / d, want_var = s * s * 15.0 / 16.0;

    ilvr::tensor free_x(shape);
    REQUIRE(sampler.run(model, ilvr::philox_noise(8), free_x));
    const double prior_var = ilvr_test::summed_variance(free_x.data(), n, d);
    const double shrink = prior_var / d / (s * s);

    // P x0 = P y: float rounding of one box filter, values O(1).
    REQUIRE(worst_projection <= 1e-5);
    // Free-part means: sd per pixel s sqrt(15/16) / sqrt(n) = 0.0107; 0.06 is 5.6 sd.
    REQUIRE(worst_mean <= 0.06);
    // Variance ratios: each estimated from ~n * 240 independent values, sd(ratio)
    // ~ sqrt(2 / (n * 240)) = 0.002, so the difference has sd 0.003; 0.012 is 4 sd,
    // while a wrong noise level or filter changes the ratio by more than 0.05.
    INFO("free-part variance " << var << " = " << var / want_var << " of s^2 (I-P); unconditional " << shrink);
    REQUIRE(std::abs(var / want_var - shrink) <= 0.012);
}

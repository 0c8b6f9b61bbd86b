// Noise schedules against the reference's float64 tables (docs/spec.md section 1).
#include "support/golden.hpp"

#include <ilvr/schedule.hpp>

#include <catch2/catch.hpp>

#include <cmath>

namespace {

// Relative agreement to 1e-12: both sides are float64 with the same operation
// order, so they differ at most by a few ulps (the reference matched bit for bit).
void require_close(const std::vector<double>& got, const std::vector<double>& want, double rel = 1e-12)
{
    REQUIRE(got.size() == want.size());
    for (std::size_t i = 0; i < got.size(); ++i) {
        INFO("entry " << i);
        REQUIRE(std::abs(got[i] - want[i]) <= rel * std::abs(want[i]));
    }
}

} // namespace

TEST_CASE("linear and cosine schedules reproduce the reference", "[schedule][golden]")
{
    using ilvr::noise_schedule;
    const auto linear = noise_schedule::linear(1000);
    require_close(linear.beta(), ilvr_test::golden("schedules/linear_T1000/betas").values);
    require_close(linear.alpha_bar(), ilvr_test::golden("schedules/linear_T1000/alphas_cumprod").values);
    const auto cosine = noise_schedule::cosine(1000);
    require_close(cosine.beta(), ilvr_test::golden("schedules/cosine_T1000/betas").values);
    require_close(cosine.alpha_bar(), ilvr_test::golden("schedules/cosine_T1000/alphas_cumprod").values);
}

TEST_CASE("derived quantities follow their definitions", "[schedule]")
{
    const auto s = ilvr::noise_schedule::linear(1000);
    REQUIRE(s.size() == 1000);
    REQUIRE(s.beta().front() == 1e-4);
    REQUIRE(s.beta().back() == 0.02);
    REQUIRE(s.alpha_bar_prev()[0] == 1.0);
    REQUIRE(s.posterior_variance()[0] == 0.0);
    REQUIRE(s.posterior_log_variance_clipped()[0] == std::log(s.posterior_variance()[1]));
    REQUIRE(s.fixed_large_log_variance()[0] == s.posterior_log_variance_clipped()[0]);
    for (std::size_t t = 1; t < s.size(); ++t) {
        REQUIRE(s.alpha_bar_prev()[t] == s.alpha_bar()[t - 1]);
        REQUIRE(s.fixed_large_log_variance()[t] == std::log(s.beta()[t]));
        // The posterior mean reproduces x_{t-1} when x_t and x0 agree: c1 sqrt(abar_t)... c1 + c2 sqrt(alpha)...
        const double abar = s.alpha_bar()[t];
        REQUIRE(s.sqrt_recip_alpha_bar()[t] * s.sqrt_recip_alpha_bar()[t] * abar == Approx(1.0).epsilon(1e-12));
    }
    // Scaled linear schedule: T = 500 doubles the betas.
    const auto half = ilvr::noise_schedule::linear(500);
    REQUIRE(half.beta().front() == Approx(2e-4).epsilon(1e-14));
    REQUIRE(half.beta().back() == Approx(0.04).epsilon(1e-14));
    // Cosine betas are capped at 0.999.
    const auto cosine = ilvr::noise_schedule::cosine(1000);
    for (double b : cosine.beta()) REQUIRE(b <= 0.999);
}

TEST_CASE("schedules reject impossible input", "[schedule][errors]")
{
    using ilvr::noise_schedule;
    REQUIRE_THROWS_AS(noise_schedule(std::vector<double>{0.1}), ilvr::error);
    REQUIRE_THROWS_AS(noise_schedule(std::vector<double>{0.1, 0.0}), ilvr::error);
    REQUIRE_THROWS_AS(noise_schedule(std::vector<double>{0.1, 1.5}), ilvr::error);
    REQUIRE_THROWS_AS(noise_schedule(std::vector<double>{0.1, std::nan("")}), ilvr::error);
    REQUIRE_THROWS_AS(noise_schedule::linear(1), ilvr::error);
    REQUIRE_THROWS_AS(noise_schedule::cosine(0), ilvr::error);
    REQUIRE_THROWS_WITH(noise_schedule::named("quadratic", 10), Catch::Contains("unknown schedule 'quadratic'"));
    REQUIRE(noise_schedule::named("cosine", 10).size() == 10);
    // Degenerate processes: abar reaches 0 (zero terminal SNR), where x0 cannot be predicted.
    REQUIRE_THROWS_WITH(noise_schedule(std::vector<double>{0.1, 0.5, 1.0}),
                        Catch::Contains("beta[2] = 1 makes abar 0 from step 2 on (zero terminal SNR)"));
    REQUIRE_THROWS_WITH(noise_schedule(std::vector<double>(1000, 0.9999)), Catch::Contains("abar underflows"));
    REQUIRE(noise_schedule(std::vector<double>{0.5, 0.999}).alpha_bar().back() > 0.0);
}

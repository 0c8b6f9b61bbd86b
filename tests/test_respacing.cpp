// Respacing against the reference (docs/spec.md section 2): kept timesteps exact, betas to 1e-12.
#include "support/golden.hpp"

#include <ilvr/respacing.hpp>

#include <catch2/catch.hpp>

#include <cmath>

TEST_CASE("every golden respacing is reproduced", "[respacing][golden]")
{
    const auto base = ilvr::noise_schedule::linear(1000);
    for (const char* spec : {"10", "25", "50", "100", "250", "ddim25", "ddim50", "10,20,30"}) {
        std::string folder = std::string("respacing/spec_") + spec;
        for (auto& ch : folder)
            if (ch == ',') ch = '_';
        INFO("spec " << spec);
        const auto want_t = ilvr_test::golden(folder + "/timesteps").ints;
        const auto want_b = ilvr_test::golden(folder + "/betas").values;
        const auto want_ab = ilvr_test::golden(folder + "/alphas_cumprod").values;
        const auto r = ilvr::respace(base, spec);
        REQUIRE(r.timesteps.size() == want_t.size());
        for (std::size_t k = 0; k < want_t.size(); ++k) REQUIRE(r.timesteps[k] == want_t[k]);
        for (std::size_t k = 0; k < want_b.size(); ++k) {
            INFO("k " << k);
            REQUIRE(std::abs(r.schedule.beta()[k] - want_b[k]) <= 1e-12 * want_b[k]);
            REQUIRE(std::abs(r.schedule.alpha_bar()[k] - want_ab[k]) <= 1e-12 * want_ab[k]);
        }
    }
}

TEST_CASE("respacing rounds the accumulated stride half to even", "[respacing]")
{
    // docs/spec.md section 2: "25" keeps 166, not 167 (round(k * stride) would give 167).
    const auto t25 = ilvr::respace_timesteps(1000, "25");
    REQUIRE(std::find(t25.begin(), t25.end(), 166) != t25.end());
    REQUIRE(std::find(t25.begin(), t25.end(), 167) == t25.end());
    REQUIRE(ilvr::respace_timesteps(1000, "ddim50")[1] == 20);
    REQUIRE(ilvr::respace_timesteps(1000, "1000").size() == 1000);
    REQUIRE(ilvr::respace_timesteps(10, " 3 , 2 ") == std::vector<int>{0, 2, 4, 5, 9});
    REQUIRE(ilvr::respace_timesteps(1000, "1") == std::vector<int>{0});
    // Every count from 2 to T keeps that many distinct, ascending steps ending at T-1.
    for (int n = 2; n <= 1000; ++n) {
        const auto t = ilvr::respace_timesteps(1000, std::to_string(n));
        REQUIRE(t.size() == static_cast<std::size_t>(n));
        REQUIRE(t.front() == 0);
        REQUIRE(t.back() == 999);
        REQUIRE(std::adjacent_find(t.begin(), t.end(), std::greater_equal<>()) == t.end());
    }
}

TEST_CASE("the respaced network timesteps index the original process", "[respacing]")
{
    const auto base = ilvr::noise_schedule::linear(1000);
    const auto r = ilvr::respace(base, "ddim25");
    for (std::size_t k = 0; k < r.timesteps.size(); ++k)
        REQUIRE(r.schedule.alpha_bar()[k] == Approx(base.alpha_bar()[static_cast<std::size_t>(r.timesteps[k])]).epsilon(1e-12));
}

TEST_CASE("impossible respacing specs are clear errors", "[respacing][errors]")
{
    using Catch::Contains;
    REQUIRE_THROWS_WITH(ilvr::respace_timesteps(1000, ""), Contains("empty") && Contains("docs/spec.md section 2"));
    REQUIRE_THROWS_WITH(ilvr::respace_timesteps(1000, "abc"), Contains("not an integer"));
    REQUIRE_THROWS_WITH(ilvr::respace_timesteps(1000, "10,x"), Contains("'x' is not an integer"));
    REQUIRE_THROWS_WITH(ilvr::respace_timesteps(1000, "10,"), Contains("not an integer"));
    REQUIRE_THROWS_WITH(ilvr::respace_timesteps(1000, "1001"), Contains("cannot keep 1001"));
    REQUIRE_THROWS_WITH(ilvr::respace_timesteps(1000, "400,400,400"), Contains("cannot keep 400"));
    REQUIRE_THROWS_WITH(ilvr::respace_timesteps(1000, "0"), Contains("must be positive"));
    REQUIRE_THROWS_WITH(ilvr::respace_timesteps(1000, "10,-5"), Contains("must be positive"));
    REQUIRE_THROWS_WITH(ilvr::respace_timesteps(1000, "ddim400"), Contains("no integer stride"));
    REQUIRE_THROWS_WITH(ilvr::respace_timesteps(1000, "ddim"), Contains("not an integer"));
    REQUIRE_THROWS_WITH(ilvr::respace_timesteps(1000, "2.5"), Contains("not an integer"));
    // A single kept step cannot form a schedule (docs/spec.md section 1 needs two).
    REQUIRE_THROWS_AS(ilvr::respace(ilvr::noise_schedule::linear(1000), "1"), ilvr::error);
    REQUIRE_THROWS_AS(ilvr::respace(ilvr::noise_schedule::linear(10), std::vector<int>{3, 2}), ilvr::error);
    REQUIRE_THROWS_AS(ilvr::respace(ilvr::noise_schedule::linear(10), std::vector<int>{3, 10}), ilvr::error);
}

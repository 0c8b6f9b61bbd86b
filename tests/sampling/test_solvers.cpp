// The solver concept and the ODE solvers (dpmpp_2m, heun): convergence order on
// the Gaussian prior, batch and thread invariance, checks on every network call,
// composition with ILVR, and the step event's counts.
#include "support/alloc_counter.hpp"
#include "support/random.hpp"

#include <ilvr/ilvr.hpp>

#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

using Catch::Contains;

namespace {

const ilvr::noise_schedule& linear1000()
{
    static const auto s = ilvr::noise_schedule::linear(1000);
    return s;
}

struct solver_errors {
    double at_last_level;  // at tau[0], the last level of the ODE grid
    double final;          // after the last step, on the clean level
};

// The Gaussian prior x0 ~ N(mu, s^2) (per element) has marginals
// x_t ~ N(sqrt(abar_t) mu, v_t), v_t = abar_t s^2 + 1 - abar_t, and the exact
// probability-flow ODE keeps (x_t - sqrt(abar_t) mu) / sqrt(v_t): from
// x_T ~ N(0, 1) it maps to N(B*, A*^2) at any level, A* = sqrt(v / v_T). A solver
// on this linear denoiser is an affine map A x_T + B per element too, read off by
// sampling x_T = 0 and x_T = 1. The error is the largest, over elements, of the
// 2-Wasserstein distance sqrt((A - A*)^2 + (B - B*)^2) of the two Gaussians.
template <class Solver>
solver_errors ode_error(Solver solver, int steps)
{
    const auto process = ilvr::respace(linear1000(), std::to_string(steps));
    const double s = 0.5;
    ilvr::tensor mu({1, 1, 2, 4});
    for (std::size_t e = 0; e < 8; ++e) mu[e] = -0.6f + 0.15f * static_cast<float>(e);
    ilvr::gaussian_prior_denoiser model(linear1000(), s, mu);
    ilvr::tensor start({2, 1, 2, 4});
    for (std::size_t e = 0; e < 8; ++e) start[e] = 0.0f, start[8 + e] = 1.0f;
    ilvr::tensor x({2, 1, 2, 4}), before_last({2, 1, 2, 4});
    ilvr::sampler(process, solver).run(model, ilvr::replay_noise(start, {}, {}), x, ilvr::no_conditioning{},
                                       [&](const ilvr::step_event& ev) {
                                           if (ev.index == 1) std::copy_n(ev.sample.data(), 16, before_last.data());
                                       });
    const double ab_start = linear1000().alpha_bar()[static_cast<std::size_t>(process.timesteps.back())];
    const double v_start = ab_start * s * s + 1 - ab_start;
    auto error = [&](const ilvr::tensor& y, double ab) {
        const double v = ab * s * s + 1 - ab;
        double worst = 0;
        for (std::size_t e = 0; e < 8; ++e) {
            const double a_exact = std::sqrt(v / v_start);
            const double b_exact = std::sqrt(ab) * mu[e] - a_exact * std::sqrt(ab_start) * mu[e];
            worst = std::max(worst, std::hypot(double(y[8 + e]) - y[e] - a_exact, double(y[e]) - b_exact));
        }
        return worst;
    };
    return {error(before_last, linear1000().alpha_bar()[static_cast<std::size_t>(process.timesteps.front())]),
            error(x, 1.0)};
}

// Least-squares slope of log(error) against log(steps).
double fitted_order(const std::vector<int>& steps, const std::vector<double>& errors)
{
    double mx = 0, my = 0;
    for (std::size_t k = 0; k < steps.size(); ++k) mx += std::log(steps[k]), my += std::log(errors[k]);
    mx /= static_cast<double>(steps.size()), my /= static_cast<double>(steps.size());
    double sxy = 0, sxx = 0;
    for (std::size_t k = 0; k < steps.size(); ++k) {
        const double dx = std::log(steps[k]) - mx;
        sxy += dx * (std::log(errors[k]) - my), sxx += dx * dx;
    }
    return -sxy / sxx;
}

template <class Solver>
void check_order(Solver solver, double order, double largest_final_error)
{
    const std::vector<int> steps{40, 80, 160};
    std::vector<double> last_level;
    for (int k : steps) {
        const solver_errors e = ode_error(solver, k);
        INFO("steps " << k << ": error at tau[0] " << e.at_last_level << ", final " << e.final);
        last_level.push_back(e.at_last_level);
        // The last step denoises from tau[0] = 0 (sigma = 0.01) with a first-order
        // x0 step, whose own error here is at most s (1 - s / sqrt(s^2 + sigma^2)) < 1e-4.
        CHECK(e.final <= e.at_last_level + 2e-4);
        if (k == steps.back()) CHECK(e.final < largest_final_error);
    }
    const double fitted = fitted_order(steps, last_level);
    INFO("errors at tau[0] " << last_level[0] << " " << last_level[1] << " " << last_level[2] << ", order "
                             << fitted);
    CHECK(std::abs(fitted - order) < 0.2);
}

ilvr::ilvr_options ilvr_factor(int factor)
{
    return {factor, ilvr::kernels::cubic, ilvr::conditioning_range::all(), ilvr::reference_noise_level::paper};
}

// ILVR with the Gaussian prior on a batch of three, as one batch and one image
// at a time (first_sample says which image of the job it is), on 1 and 2 threads.
template <class Solver>
void check_batch_invariance(Solver solver)
{
    const auto process = ilvr::respace(linear1000(), "12");
    const auto mean = ilvr_test::normal_tensor({1, 3, 16, 16}, 21);
    const auto refs = ilvr_test::normal_tensor({3, 3, 16, 16}, 22);
    const ilvr::sampler sampler(process, solver);
    const ilvr::philox_noise noise(9);
    auto draw = [&](std::int64_t first, std::int64_t count, int threads) {
        ilvr::gaussian_prior_denoiser model(linear1000(), 0.4, mean);
        model.set_threads(threads);
        ilvr::tensor ref({count, 3, 16, 16});
        std::copy_n(refs.view().batch(first, 1).data(), ref.size(), ref.data());
        ilvr::ilvr_conditioner cond(std::move(ref), ilvr_factor(4));
        ilvr::tensor x({count, 3, 16, 16});
        sampler.run(model, noise, x, cond, ilvr::no_callback{},
                    {.first_sample = static_cast<std::uint64_t>(first), .threads = threads});
        return x;
    };
    const auto whole = draw(0, 3, 1), whole2 = draw(0, 3, 2);
    REQUIRE(ilvr_test::max_abs_diff(whole.values(), whole2.values()) == 0.0);
    for (std::int64_t b = 0; b < 3; ++b) {
        const auto alone = draw(b, 1, 1);
        const auto part = whole.view().batch(b, 1);
        REQUIRE(ilvr_test::max_abs_diff(alone.values(), part.span()) == 0.0);
    }
}

} // namespace

TEST_CASE("ODE solvers converge to the exact flow of the Gaussian prior with their order", "[sampling][solvers]")
{
    SECTION("ddim, eta = 0: first order") { check_order(ilvr::ddim{0.0, false}, 1.0, 1.2e-2); }
    SECTION("heun: second order") { check_order(ilvr::heun{false, false}, 2.0, 3e-4); }
    // The default's Euler step landing on tau[0] costs a little: fitted 1.87.
    SECTION("heun, lower-order final step: second order") { check_order(ilvr::heun{false}, 2.0, 8e-4); }
    SECTION("dpmpp_2m: second order") { check_order(ilvr::dpmpp_2m{false}, 2.0, 4e-3); }
}

TEST_CASE("ODE solvers with ILVR: batch and thread invariant, bitwise", "[sampling][solvers][determinism]")
{
    check_batch_invariance(ilvr::heun{});
    check_batch_invariance(ilvr::dpmpp_2m{});
    check_batch_invariance(ilvr::dpmpp_2m_sde{});  // its noise is keyed by image and step
}

TEST_CASE("ODE solvers with ILVR end on the reference's low frequencies", "[sampling][solvers]")
{
    // The last refinement (index 0) noises the reference to abar_prev[0] = 1, so
    // phi_N(x) = phi_N(y) up to float rounding, whatever the solver did before,
    // when phi_N is a projection (the box kernel: down_N(up_N(v)) = v).
    const auto ref = ilvr_test::normal_tensor({1, 3, 16, 16}, 5);
    ilvr::low_pass phi(16, 16, 4, ilvr::kernels::box);
    ilvr::tensor low_ref(ref.shape());
    phi(ref.view(), low_ref.view());
    auto check = [&](auto solver) {
        ilvr::gaussian_prior_denoiser model(linear1000(), 0.5);
        ilvr::ilvr_conditioner cond(ref, {.factor = 4, .kernel = ilvr::kernels::box});
        ilvr::tensor x({2, 3, 16, 16}), low({2, 3, 16, 16});
        ilvr::sampler(ilvr::respace(linear1000(), "10"), solver).run(model, ilvr::philox_noise(3), x, cond);
        phi(x.view(), low.view());
        for (std::int64_t b = 0; b < 2; ++b)
            REQUIRE(ilvr_test::max_abs_diff(low.view().batch(b, 1).span(), low_ref.values()) < 1e-5);
    };
    check(ilvr::heun{});
    check(ilvr::dpmpp_2m{});
    check(ilvr::dpmpp_2m_sde{});
}

TEST_CASE("the ODE solvers allocate nothing after their first step", "[sampling][solvers]")
{
    if (!ilvr_test::counting()) {
        WARN("allocations are not counted in this build (ThreadSanitizer)");
        return;
    }
    auto check = [](auto solver) {
        ilvr::gaussian_prior_denoiser model(linear1000(), 0.5);
        ilvr::ilvr_conditioner cond(ilvr_test::normal_tensor({1, 3, 32, 24}, 4), {.factor = 4});
        ilvr::tensor x({2, 3, 32, 24});
        std::size_t at_first = 0, at_last = 0;
        ilvr::sampler(ilvr::respace(linear1000(), "12"), solver)
            .run(model, ilvr::philox_noise(1), x, cond, [&](const ilvr::step_event& ev) {
                if (ev.step == 0) at_first = ilvr_test::allocations();
                if (ev.index == 0) at_last = ilvr_test::allocations();
            });
        REQUIRE(at_first > 0);
        REQUIRE(at_last == at_first);
    };
    check(ilvr::heun{});
    check(ilvr::dpmpp_2m{});
    check(ilvr::dpmpp_2m_sde{});
}

TEST_CASE("a solver's state does not leak between runs", "[sampling][solvers]")
{
    const ilvr::sampler sampler(ilvr::respace(linear1000(), "8"), ilvr::dpmpp_2m{});
    ilvr::gaussian_prior_denoiser model(linear1000(), 0.5);
    ilvr::tensor a({2, 1, 8, 8}), b({2, 1, 8, 8});
    sampler.run(model, ilvr::philox_noise(4), a);
    sampler.run(model, ilvr::philox_noise(4), b);
    REQUIRE(ilvr_test::max_abs_diff(a.values(), b.values()) == 0.0);
}

TEST_CASE("step events count steps and network calls", "[sampling][solvers]")
{
    ilvr::gaussian_prior_denoiser model(linear1000(), 0.5);
    ilvr::tensor x({1, 1, 4, 4});
    std::vector<std::int64_t> calls;
    auto record = [&](const ilvr::step_event& ev) {
        REQUIRE(ev.steps == 5);
        calls.push_back(ev.network_calls);
    };
    ilvr::sampler(ilvr::respace(linear1000(), "5"), ilvr::heun{}).run(model, ilvr::philox_noise(1), x,
                                                                     ilvr::no_conditioning{}, record);
    REQUIRE(calls == std::vector<std::int64_t>{2, 4, 6, 7, 8});  // the last two steps are Euler steps
    calls.clear();
    ilvr::sampler(ilvr::respace(linear1000(), "5"), ilvr::heun{true, false})
        .run(model, ilvr::philox_noise(1), x, ilvr::no_conditioning{}, record);
    REQUIRE(calls == std::vector<std::int64_t>{2, 4, 6, 8, 9});  // only the last
    calls.clear();
    ilvr::sampler(ilvr::respace(linear1000(), "5"), ilvr::dpmpp_2m{}).run(model, ilvr::philox_noise(1), x,
                                                                         ilvr::no_conditioning{}, record);
    REQUIRE(calls == std::vector<std::int64_t>{1, 2, 3, 4, 5});
    calls.clear();
    ilvr::sampler(ilvr::respace(linear1000(), "5"), ilvr::ddpm{}).run(model, ilvr::philox_noise(1), x,
                                                                     ilvr::no_conditioning{}, record);
    REQUIRE(calls == std::vector<std::int64_t>{1, 2, 3, 4, 5});
}

TEST_CASE("every network call of a solver is checked, the call named", "[sampling][solvers][errors]")
{
    // respace "10" keeps timesteps 0, 111, ..., 888, 999: Heun's step 0 calls at
    // 999, then at 888; step 1 at 888, then 777.
    const ilvr::sampler heun(ilvr::respace(linear1000(), "10"), ilvr::heun{});
    const ilvr::philox_noise noise(1);
    ilvr::tensor x({2, 1, 8, 8});
    int calls = 0;
    auto nan_on_fourth = [&](ilvr::tensor_view<const float> in, std::span<const std::int64_t>) {
        ilvr::tensor out(in.shape());
        if (++calls == 4) out[out.size() - 1] = std::numeric_limits<float>::quiet_NaN();
        return out;
    };
    REQUIRE_THROWS_WITH(heun.run(nan_on_fourth, noise, x), Contains("NaN or Inf at step 1, call 2 (timestep 777)"));
    calls = 0;
    auto wrong_shape_second = [&](ilvr::tensor_view<const float> in, std::span<const std::int64_t>) {
        return ilvr::tensor({in.shape().n, ++calls == 2 ? 3 : 1, 8, 8});
    };
    REQUIRE_THROWS_WITH(heun.run(wrong_shape_second, noise, x),
                        Contains("[2, 3, 8, 8] at step 0, call 2, fits neither eps [2, 1, 8, 8]"));
    calls = 0;
    auto throws_second = [&](ilvr::tensor_view<const float> in, std::span<const std::int64_t>) {
        if (++calls == 2) throw std::runtime_error("out of memory");
        return ilvr::tensor(in.shape());
    };
    REQUIRE_THROWS_WITH(heun.run(throws_second, noise, x),
                        Contains("denoiser failed at step 0, call 2 (timestep 888): out of memory"));
    calls = 0;
    const ilvr::sampler dpm(ilvr::respace(linear1000(), "10"), ilvr::dpmpp_2m{});
    auto inf_on_third = [&](ilvr::tensor_view<const float> in, std::span<const std::int64_t>) {
        ilvr::tensor out(in.shape());
        if (++calls == 3) out[0] = std::numeric_limits<float>::infinity();
        return out;
    };
    REQUIRE_THROWS_WITH(dpm.run(inf_on_third, noise, x), Contains("NaN or Inf at step 2 (timestep 777)"));
}

TEST_CASE("eps + v outputs: the ODE solvers use eps and ignore v", "[sampling][solvers]")
{
    ilvr::gaussian_prior_denoiser prior(linear1000(), 0.5);
    auto with_v = [&](ilvr::tensor_view<const float> in, std::span<const std::int64_t> t) {
        const auto eps = prior(in, t);
        const ilvr::shape4 s = in.shape();
        ilvr::tensor out({s.n, 2 * s.c, s.h, s.w});
        for (std::int64_t b = 0; b < s.n; ++b) {
            std::copy_n(eps.batch(b, 1).data(), s.image_size(), out.view().batch(b, 1).data());
            std::fill_n(out.view().batch(b, 1).data() + s.image_size(), s.image_size(), 0.7f);
        }
        return out;
    };
    auto compare = [&](auto solver) {
        ilvr::tensor a({2, 1, 8, 8}), b({2, 1, 8, 8});
        const ilvr::sampler sampler(ilvr::respace(linear1000(), "6"), solver);
        sampler.run(prior, ilvr::philox_noise(2), a);
        sampler.run(with_v, ilvr::philox_noise(2), b);
        REQUIRE(ilvr_test::max_abs_diff(a.values(), b.values()) == 0.0);
    };
    compare(ilvr::heun{});
    compare(ilvr::dpmpp_2m{});
    compare(ilvr::dpmpp_2m_sde{});
}

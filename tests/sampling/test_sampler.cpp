// The sampler's structure: step formulas, batch/thread/backend invariance,
// callbacks, and ILVR's trends with the exact data-set denoiser.
#include "support/alloc_counter.hpp"
#include "support/random.hpp"

#include <ilvr/ilvr.hpp>
#ifdef ILVR_TEST_EIGEN
#include <ilvr/eigen/tensor.hpp>
#endif
#ifdef ILVR_TEST_XTENSOR
#include <ilvr/xtensor/tensor.hpp>
#endif

#include <catch2/catch.hpp>

#include <cmath>
#include <thread>

namespace {

const ilvr::noise_schedule& linear1000()
{
    static const auto s = ilvr::noise_schedule::linear(1000);
    return s;
}

// A data set with structure at three scales: 4 coarse (8x8 blocks) x 4 medium
// (4x4 blocks) x 4 fine (single pixels) patterns on 1 x 16 x 16, summed and
// kept in [-1, 1] so clipping the predicted x0 changes nothing. phi_N
// keeps the coarse part for any N <= 8, the medium part only for small N.
ilvr::tensor three_scale_data()
{
    auto pattern = [](int block, unsigned seed) {
        auto noise = ilvr_test::normal_tensor({1, 1, 16, 16}, seed);
        ilvr::tensor p({1, 1, 16, 16});
        for (int h = 0; h < 16; ++h)
            for (int w = 0; w < 16; ++w) p.view()(0, 0, h, w) = 0.2f * noise.view()(0, 0, h / block * block, w / block * block);
        return p;
    };
    ilvr::tensor data({64, 1, 16, 16});
    for (int a = 0; a < 4; ++a)
        for (int b = 0; b < 4; ++b)
            for (int c = 0; c < 4; ++c) {
                const auto la = pattern(8, 100u + a), mb = pattern(4, 200u + b), hc = pattern(1, 300u + c);
                auto img = data.view().batch(a * 16 + b * 4 + c, 1);
                for (std::size_t e = 0; e < 256; ++e) img[e] = std::clamp(la[e] + mb[e] + hc[e], -1.0f, 1.0f);
            }
    return data;
}

double rms(const float* a, const float* b, std::size_t n)
{
    double s = 0;
    for (std::size_t i = 0; i < n; ++i) s += (double(a[i]) - b[i]) * (double(a[i]) - b[i]);
    return std::sqrt(s / static_cast<double>(n));
}

} // namespace

TEST_CASE("one DDPM step follows docs/spec.md section 4, fixed and learned variance", "[sampling]")
{
    const auto process = ilvr::respace(linear1000(), "10");
    const auto& s = process.schedule;
    const int i = 6;
    const auto t = static_cast<std::size_t>(i);
    const auto x = ilvr_test::normal_tensor({2, 3, 4, 5}, 1);
    const auto out = ilvr_test::normal_tensor({2, 6, 4, 5}, 2);  // eps then v
    const auto z = ilvr_test::normal_tensor({2, 3, 4, 5}, 3);
    const std::size_t per = 60;
    for (bool learned : {false, true}) {
        const ilvr::ddpm rule{ilvr::fixed_variance::large, true};
        ilvr::tensor xs = x, x0(x.shape());
        ilvr::tensor eps_only({2, 3, 4, 5});
        for (std::size_t b = 0; b < 2; ++b)
            std::copy_n(out.data() + b * 2 * per, per, eps_only.data() + b * per);
        ilvr::apply_step(rule, rule.coefficients(s, i), xs.view(), learned ? out.view() : eps_only.view(),
                         learned ? ilvr::model_output::eps_and_v : ilvr::model_output::eps, z.view(), x0.view(), 1);
        for (std::size_t b = 0; b < 2; ++b)
            for (std::size_t e = 0; e < per; ++e) {
                const double xv = x[b * per + e], eps = out[b * 2 * per + e], v = out[b * 2 * per + per + e];
                double p0 = std::sqrt(1 / s.alpha_bar()[t]) * xv - std::sqrt(1 / s.alpha_bar()[t] - 1) * eps;
                p0 = std::clamp(p0, -1.0, 1.0);
                const double mean = s.posterior_mean_coef1()[t] * p0 + s.posterior_mean_coef2()[t] * xv;
                const double frac = (v + 1) / 2;
                const double logvar = learned ? frac * std::log(s.beta()[t]) + (1 - frac) * s.posterior_log_variance_clipped()[t]
                                              : std::log(s.beta()[t]);
                // float32 arithmetic on O(1) values against float64: a few ulps.
                REQUIRE(x0[b * per + e] == Approx(p0).margin(2e-6));
                REQUIRE(xs[b * per + e] == Approx(mean + std::exp(0.5 * logvar) * z[b * per + e]).margin(1e-5));
            }
    }
}

TEST_CASE("DDIM: eta = 0 is deterministic, eta = 1 has the posterior variance", "[sampling]")
{
    const auto process = ilvr::respace(linear1000(), "ddim25");
    const auto& s = process.schedule;
    for (int i = 1; i < 25; ++i) {
        const auto c0 = ilvr::ddim{0.0}.coefficients(s, i);
        REQUIRE(!c0.noise);
        const auto c1 = ilvr::ddim{1.0}.coefficients(s, i);
        REQUIRE(double(c1.sigma) * c1.sigma == Approx(s.posterior_variance()[static_cast<std::size_t>(i)]).epsilon(1e-6));
    }
    // Different proposal noise, same x_T: identical samples when eta = 0.
    ilvr::gaussian_prior_denoiser model(linear1000(), 0.5);
    const ilvr::sampler sampler(process, ilvr::ddim{0.0});
    ilvr::tensor a({2, 1, 8, 8}), b({2, 1, 8, 8});
    auto initial = ilvr_test::normal_tensor({2, 1, 8, 8}, 5);
    std::vector<ilvr::tensor> z1(25, ilvr_test::normal_tensor({2, 1, 8, 8}, 6)), z2(25, ilvr_test::normal_tensor({2, 1, 8, 8}, 7));
    sampler.run(model, ilvr::replay_noise(initial, z1, {}), a);
    sampler.run(model, ilvr::replay_noise(initial, z2, {}), b);
    REQUIRE(a.values() == b.values());

    // DDIM with eta = 0 integrates the probability-flow ODE, which maps
    // N(0, abar_T s^2 + 1 - abar_T) onto N(0, s^2) by scaling. Its error is first
    // order in the step (measured: 0.10 at 25 steps, 0.026 at 100, 0.0054 at 500).
    const auto fine = ilvr::respace(linear1000(), "ddim500");
    const double ab = linear1000().alpha_bar()[static_cast<std::size_t>(fine.timesteps.back())];
    const double scale = 0.5 / std::sqrt(ab * 0.25 + 1 - ab);
    ilvr::tensor c({2, 1, 8, 8});
    ilvr::sampler(fine, ilvr::ddim{0.0, false}).run(model, ilvr::replay_noise(initial, {}, {}), c);
    for (std::size_t e = 0; e < c.size(); ++e) REQUIRE(c[e] == Approx(scale * initial[e]).margin(0.012));
}

TEST_CASE("a sample does not depend on batch size, thread count or backend", "[sampling][determinism]")
{
    const auto process = ilvr::respace(linear1000(), "25");
    const auto data = three_scale_data();
    const auto reference = ilvr::tensor({1, 1, 16, 16}, std::vector<float>(data.data() + 5 * 256, data.data() + 6 * 256));
    const ilvr::sampler sampler(process, ilvr::ddpm{});
    const ilvr::philox_noise noise(2024);
    const ilvr::ilvr_options options{4, ilvr::kernels::cubic, ilvr::conditioning_range::timesteps(1000, 200),
                                     ilvr::reference_noise_level::paper};
    auto draw = [&](std::int64_t batch, std::uint64_t first, int threads) {
        ilvr::dataset_denoiser model(linear1000(), data);
        ilvr::ilvr_conditioner cond(reference, options);
        ilvr::tensor x({batch, 1, 16, 16});
        sampler.run(model, noise, x, cond, ilvr::no_callback{}, {first, threads});
        return x;
    };
    const auto batch4 = draw(4, 0, 1);
    const auto alone = draw(1, 2, 1);
    REQUIRE(std::equal(alone.values().begin(), alone.values().end(), batch4.data() + 2 * 256));
    const auto threaded = draw(4, 0, 2);
    REQUIRE(threaded.values() == batch4.values());
    if (!ilvr::detail::has_threads()) WARN("built without OpenMP: the two-thread run used one thread");

    ilvr::gaussian_prior_denoiser prior(linear1000(), 0.5);
    ilvr::ilvr_conditioner cond(reference, options);
    ilvr::tensor raw({2, 1, 16, 16});
    sampler.run(prior, noise, raw, cond);
    ilvr::tensor split(raw.shape());  // the denoiser's own threads change nothing either
    prior.set_threads(2);
    sampler.run(prior, noise, split, cond, ilvr::no_callback{}, {0, 2});
    REQUIRE(split.values() == raw.values());
    prior.set_threads(1);
#ifdef ILVR_TEST_EIGEN
    ilvr::eigen::tensor4 e(2, 1, 16, 16);
    sampler.run(prior, noise, e, cond);
    REQUIRE(std::equal(raw.values().begin(), raw.values().end(), e.data()));
#endif
#ifdef ILVR_TEST_XTENSOR
    ilvr::xtensor::tensor4 xt = ilvr::xtensor::tensor4::from_shape({2, 1, 16, 16});
    sampler.run(prior, noise, xt, cond);
    REQUIRE(std::equal(raw.values().begin(), raw.values().end(), xt.data()));
#endif
}

TEST_CASE("the step callback sees every step and can cancel", "[sampling]")
{
    const ilvr::sampler sampler(ilvr::respace(linear1000(), "10"), ilvr::ddpm{});
    ilvr::gaussian_prior_denoiser model(linear1000(), 0.5);
    ilvr::tensor x({1, 1, 4, 4});
    std::vector<int> seen;
    REQUIRE(sampler.run(model, ilvr::philox_noise(1), x, ilvr::no_conditioning{}, [&](const ilvr::step_event& ev) {
        seen.push_back(ev.index);
        REQUIRE(ev.timestep == sampler.process().timesteps[static_cast<std::size_t>(ev.index)]);
        for (float v : ev.predicted_x0.span()) REQUIRE(std::abs(v) <= 1.0f);
    }));
    REQUIRE(seen == std::vector<int>{9, 8, 7, 6, 5, 4, 3, 2, 1, 0});
    int calls = 0;
    REQUIRE_FALSE(sampler.run(model, ilvr::philox_noise(1), x, ilvr::no_conditioning{},
                              [&](const ilvr::step_event&) { return ++calls < 4; }));
    REQUIRE(calls == 4);
}

TEST_CASE("data-set denoiser: samples land on data points; ILVR diversity grows with N", "[sampling][statistics]")
{
    const auto data = three_scale_data();
    const ilvr::sampler sampler(ilvr::respace(linear1000(), "50"), ilvr::ddpm{});
    const ilvr::philox_noise noise(77);
    ilvr::dataset_denoiser model(linear1000(), data);

    // Unconditional: every sample is (nearly) one of the 64 data points.
    ilvr::tensor free_x({8, 1, 16, 16});
    sampler.run(model, noise, free_x);
    for (int b = 0; b < 8; ++b) {
        double nearest = 1e9;
        for (int k = 0; k < 64; ++k) nearest = std::min(nearest, rms(free_x.data() + b * 256, data.data() + k * 256, 256));
        REQUIRE(nearest < 0.02);
    }

    const ilvr::tensor reference({1, 1, 16, 16}, std::vector<float>(data.data() + 21 * 256, data.data() + 22 * 256));
    std::vector<double> diversity, distance;
    for (int factor : {1, 2, 4, 8, 16}) {
        ilvr::ilvr_conditioner cond(reference, {factor, ilvr::kernels::cubic, ilvr::conditioning_range::all(),
                                                ilvr::reference_noise_level::paper});
        ilvr::tensor x({12, 1, 16, 16});
        sampler.run(model, noise, x, cond);
        double pairs = 0, to_ref = 0;
        for (int a = 0; a < 12; ++a) {
            to_ref += rms(x.data() + a * 256, reference.data(), 256) / 12;
            for (int b = a + 1; b < 12; ++b) pairs += rms(x.data() + a * 256, x.data() + b * 256, 256) / 66;
        }
        diversity.push_back(pairs);
        distance.push_back(to_ref);
    }
    INFO("diversity by N = 1, 2, 4, 8, 16: " << diversity[0] << " " << diversity[1] << " " << diversity[2] << " "
                                              << diversity[3] << " " << diversity[4]);
    INFO("distance to the reference: " << distance[0] << " " << distance[1] << " " << distance[2] << " "
                                        << distance[3] << " " << distance[4]);
    REQUIRE(diversity[0] < 1e-6);  // N = 1 keeps all of y: every sample is the reference
    for (std::size_t k = 1; k < diversity.size(); ++k) {
        REQUIRE(diversity[k] >= diversity[k - 1]);
        REQUIRE(distance[k] >= distance[k - 1]);
    }
    REQUIRE(diversity.back() > diversity[1] + 0.1);
}

TEST_CASE("the sampling loop allocates nothing after its first step", "[sampling]")
{
    if (!ilvr_test::counting()) {
        WARN("allocations are not counted in this build (ThreadSanitizer)");
        return;
    }
    const ilvr::sampler sampler(ilvr::respace(linear1000(), "20"), ilvr::ddpm{});
    ilvr::gaussian_prior_denoiser model(linear1000(), 0.5);  // allocates its output on the first call
    ilvr::ilvr_conditioner cond(ilvr_test::normal_tensor({1, 3, 32, 24}, 4), {.factor = 4});
    ilvr::tensor x({2, 3, 32, 24});
    std::size_t at_first = 0, at_last = 0;
    sampler.run(model, ilvr::philox_noise(1), x, cond, [&](const ilvr::step_event& ev) {
        if (ev.step == 0) at_first = ilvr_test::allocations();
        if (ev.index == 0) at_last = ilvr_test::allocations();
    });
    REQUIRE(at_first > 0);
    REQUIRE(at_last == at_first);
}

TEST_CASE("two samplers in two threads give bitwise what they give one after the other", "[sampling][determinism]")
{
    const auto process = ilvr::respace(linear1000(), "20");
    auto job = [&](std::uint64_t seed, int factor) {
        ilvr::gaussian_prior_denoiser model(linear1000(), 0.5);
        ilvr::ilvr_conditioner cond(ilvr_test::normal_tensor({1, 3, 16, 16}, 8), {.factor = factor});
        ilvr::tensor x({3, 3, 16, 16});
        ilvr::sampler(process, ilvr::ddpm{}).run(model, ilvr::philox_noise(seed), x, cond);
        return x;
    };
    const auto a = job(1, 2), b = job(2, 4);
    ilvr::tensor ta, tb;
    std::thread first([&] { ta = job(1, 2); }), second([&] { tb = job(2, 4); });
    first.join();
    second.join();
    REQUIRE(ta.values() == a.values());
    REQUIRE(tb.values() == b.values());
}

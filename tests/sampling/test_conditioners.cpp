// Conditioners: composition with independent noise streams, references in any
// viewable container, and the new conditioners' exactness on a Gaussian prior
// (docs/spec.md sections 8 and 9).
#include "support/random.hpp"
#include "support/statistics.hpp"

#include <ilvr/ilvr.hpp>
#ifdef ILVR_TEST_EIGEN
#include <ilvr/eigen/tensor.hpp>
#endif
#ifdef ILVR_TEST_XTENSOR
#include <ilvr/xtensor/tensor.hpp>
#endif

#include <catch2/catch.hpp>

#include <cmath>
#include <functional>
#include <vector>

using Catch::Contains;

namespace {

const ilvr::noise_schedule& linear1000()
{
    static const auto s = ilvr::noise_schedule::linear(1000);
    return s;
}

/// Records the reference draw of the first image at every step (to compare streams).
struct probe {
    std::vector<std::vector<float>> draws;
    ilvr::tensor e;
    void prepare(const ilvr::shape4& s, const ilvr::respaced_schedule&, int) { e = ilvr::tensor({1, s.c, s.h, s.w}); }
    template <class Noise>
    void refine(const ilvr::step_info& info, ilvr::tensor_view<float>, const Noise& noise)
    {
        noise(ilvr::noise_purpose::reference, info.index, info.first_sample, e.view());
        draws.push_back(e.values());
    }
};

ilvr::tensor block_mask(ilvr::shape4 s, int cols)  // 1 on the left `cols` columns
{
    ilvr::tensor m(s);
    for (std::int64_t h = 0; h < s.h; ++h)
        for (std::int64_t w = 0; w < cols; ++w) m[static_cast<std::size_t>(h * s.w + w)] = 1.0f;
    return m;
}

/// The statistics of an exactness test: P the known part's projection (applied
/// to a batch in place of `out`), `free_dims` = trace(I - P) per image.
struct exactness {
    double worst_known = 0, worst_mean = 0, var_ratio = 0, shrink = 0;
};

/// `baseline` samples the same procedure unconditioned (the sampler's own discretisation error).
template <class Conditioner, class Baseline = ilvr::no_conditioning>
exactness measure(Conditioner& cond, const std::function<void(const ilvr::tensor&, ilvr::tensor&)>& P,
                  const ilvr::tensor& y, const ilvr::tensor& mu, ilvr::shape4 one, int n, double s, double free_dims,
                  Baseline baseline = {})
{
    const char* respacing = "100";
    const ilvr::shape4 shape{n, one.c, one.h, one.w};
    ilvr::gaussian_prior_denoiser model(linear1000(), s, mu);
    const ilvr::sampler sampler(ilvr::respace(linear1000(), respacing), ilvr::ddpm{ilvr::fixed_variance::small, false});
    ilvr::tensor x(shape), px(shape), py(one), pmu(one);
    REQUIRE(sampler.run(model, ilvr::philox_noise(7), x, cond));
    P(x, px);
    P(y, py);
    P(mu, pmu);
    exactness r;
    const std::size_t d = one.image_size();
    double var_sum = 0;
    for (std::size_t j = 0; j < d; ++j) {
        double m1 = 0, m2 = 0;
        for (int b = 0; b < n; ++b) {
            const std::size_t at = static_cast<std::size_t>(b) * d + j;
            r.worst_known = std::max(r.worst_known, std::abs(double(px[at]) - py[j]));
            const double f = double(x[at]) - px[at];
            m1 += f, m2 += f * f;
        }
        m1 /= n;
        r.worst_mean = std::max(r.worst_mean, std::abs(m1 - (double(mu[j]) - pmu[j])));
        var_sum += m2 / n - m1 * m1;
    }
    r.var_ratio = var_sum / (s * s * free_dims);
    ilvr::tensor u(shape);
    REQUIRE(sampler.run(model, ilvr::philox_noise(8), u, baseline));
    const double prior_var = ilvr_test::summed_variance(u.data(), n, d);
    r.shrink = prior_var / static_cast<double>(d) / (s * s);
    return r;
}

ilvr::tensor scaled_normal(ilvr::shape4 s, unsigned seed, float scale)
{
    auto t = ilvr_test::normal_tensor(s, seed);
    for (auto& v : t.values()) v *= scale;
    return t;
}

// Tolerances shared by the exactness tests (n = 4096 images, s = 0.5):
// known part: float rounding of one projection of O(1) values;
// free-part means: sd per element <= s / sqrt(n) = 0.0078, and 0.05 is 6.4 sd;
// variance ratios: estimated from n * free_dims >= 4096 * 32 values, sd <=
// sqrt(2 / 131072) = 0.004, the difference of two sd <= 0.0055; 0.025 is 4.5 sd,
// while noising the reference to a wrong level moves the ratio by more than 0.05.
constexpr int images = 4096;
constexpr double prior_sd = 0.5;

void require_exact(const exactness& r, double known_tolerance = 1e-5)
{
    INFO("known " << r.worst_known << ", mean " << r.worst_mean << ", free variance " << r.var_ratio
                  << " of s^2 (I-P), unconditional " << r.shrink);
    REQUIRE(r.worst_known <= known_tolerance);
    REQUIRE(r.worst_mean <= 0.05);
    REQUIRE(std::abs(r.var_ratio - r.shrink) <= 0.025);
}

} // namespace

TEST_CASE("a composed conditioner's first part draws what it draws alone; the others, other noise", "[sampling][conditioner]")
{
    const ilvr::sampler sampler(ilvr::respace(linear1000(), "10"), ilvr::ddpm{});
    ilvr::gaussian_prior_denoiser model(linear1000(), 0.5);
    const ilvr::philox_noise noise(3);
    ilvr::tensor x({2, 1, 8, 8});

    probe alone;
    sampler.run(model, noise, x, alone);
    auto pair = ilvr::compose(probe{}, ilvr::compose(probe{}, probe{}));
    sampler.run(model, noise, x, pair);
    const auto& first = pair.get<0>().draws;
    const auto& second = pair.get<1>().get<0>().draws;
    const auto& third = pair.get<1>().get<1>().draws;
    REQUIRE(first == alone.draws);
    REQUIRE(first.size() == 10);
    for (std::size_t k = 0; k < first.size(); ++k) {
        REQUIRE(first[k] != second[k]);
        REQUIRE(first[k] != third[k]);
        REQUIRE(second[k] != third[k]);
    }
    // The stream is part of the counter: stream 1 of `reference` is not any of stream 0's kinds.
    ilvr::tensor a({1, 1, 4, 4}), b({1, 1, 4, 4});
    noise(ilvr::with_stream(ilvr::noise_purpose::reference, 1), 0, 0, a.view());
    for (auto p : {ilvr::noise_purpose::initial, ilvr::noise_purpose::proposal, ilvr::noise_purpose::reference,
                   ilvr::noise_purpose::renoise}) {
        noise(p, 0, 0, b.view());
        REQUIRE(a.values() != b.values());
    }
    REQUIRE(ilvr::stream_of(ilvr::with_stream(ilvr::noise_purpose::renoise, 5)) == 5);
    REQUIRE(ilvr::kind_of(ilvr::with_stream(ilvr::noise_purpose::renoise, 5)) == ilvr::noise_purpose::renoise);
}

TEST_CASE("ILVR composed first, or as a one-stage factor schedule, is ILVR bit for bit", "[sampling][conditioner]")
{
    const ilvr::sampler sampler(ilvr::respace(linear1000(), "20"), ilvr::ddpm{});
    ilvr::gaussian_prior_denoiser model(linear1000(), 0.5);
    const ilvr::philox_noise noise(5);
    const auto y = ilvr_test::normal_tensor({1, 3, 16, 16}, 9);
    const ilvr::ilvr_options o{.factor = 4, .range = ilvr::conditioning_range::timesteps(1000, 300)};
    ilvr::tensor plain({2, 3, 16, 16}), composed(plain.shape()), scheduled(plain.shape());
    ilvr::ilvr_conditioner lone(y, o);
    sampler.run(model, noise, plain, lone);
    auto both = ilvr::compose(ilvr::ilvr_conditioner(y, o), ilvr::no_conditioning{});
    sampler.run(model, noise, composed, both);
    REQUIRE(composed.values() == plain.values());
    ilvr::factor_schedule_conditioner one_stage(y, ilvr::parse_factor_schedule("1000:300=4"));
    sampler.run(model, noise, scheduled, one_stage);
    REQUIRE(scheduled.values() == plain.values());

    // Two ILVR conditioners in sequence: the second draws other noise, so the result differs.
    auto twice = ilvr::compose(ilvr::ilvr_conditioner(y, o), ilvr::ilvr_conditioner(y, o));
    ilvr::tensor twice_x(plain.shape());
    sampler.run(model, noise, twice_x, twice);
    REQUIRE(twice_x.values() != plain.values());
}

TEST_CASE("every conditioner takes its reference from any viewable container", "[sampling][conditioner]")
{
    const ilvr::sampler sampler(ilvr::respace(linear1000(), "10"), ilvr::ddpm{});
    ilvr::gaussian_prior_denoiser model(linear1000(), 0.5);
    const ilvr::philox_noise noise(2);
    const auto y = ilvr_test::normal_tensor({1, 3, 8, 8}, 4);
    const auto mask = block_mask({1, 1, 8, 8}, 4);
    auto run = [&](auto&& cond) {
        ilvr::tensor x({2, 3, 8, 8});
        sampler.run(model, noise, x, cond);
        return x.values();
    };
    const auto by_tensor = run(ilvr::ilvr_conditioner(y, {.factor = 2}));
    const auto inpainted = run(ilvr::inpaint_conditioner(y, mask));
    const auto region = run(ilvr::region_ilvr_conditioner(y, mask, {.factor = 2}));
    const auto colour = run(ilvr::colourise_conditioner(y));
    REQUIRE(run(ilvr::ilvr_conditioner(y.view(), {.factor = 2})) == by_tensor);
#ifdef ILVR_TEST_EIGEN
    ilvr::eigen::tensor4 ey(1, 3, 8, 8), em(1, 1, 8, 8);
    std::copy(y.values().begin(), y.values().end(), ey.data());
    std::copy(mask.values().begin(), mask.values().end(), em.data());
    REQUIRE(run(ilvr::ilvr_conditioner(ey, {.factor = 2})) == by_tensor);
    REQUIRE(run(ilvr::inpaint_conditioner(ey, em)) == inpainted);
    REQUIRE(run(ilvr::region_ilvr_conditioner(ey, em, {.factor = 2})) == region);
    REQUIRE(run(ilvr::colourise_conditioner(ey)) == colour);
    REQUIRE(run(ilvr::factor_schedule_conditioner(ey, {{ilvr::conditioning_range::all(), 2}})) == by_tensor);
    // An HWC image (channels last) gets the shape message, not the factor's.
    ilvr::eigen::tensor4 hwc(1, 8, 8, 3);
    hwc.setZero();
    ilvr::ilvr_conditioner wrong(hwc, {.factor = 4});
    ilvr::tensor x({2, 3, 8, 8});
    REQUIRE_THROWS_WITH(sampler.run(model, noise, x, wrong), Contains("does not fit samples [2, 3, 8, 8]")
                                                                 && Contains("HWC"));
#endif
#ifdef ILVR_TEST_XTENSOR
    ilvr::xtensor::tensor4 xy = ilvr::xtensor::tensor4::from_shape({1, 3, 8, 8});
    std::copy(y.values().begin(), y.values().end(), xy.data());
    REQUIRE(run(ilvr::ilvr_conditioner(xy, {.factor = 2})) == by_tensor);
    REQUIRE(run(ilvr::colourise_conditioner(xy)) == colour);
#endif
    // The same HWC case from a plain tensor [1, H, W, C] of a 64 x 64 x 3 image.
    ilvr::ilvr_conditioner hwc64(ilvr::tensor({1, 64, 64, 3}), {.factor = 4});
    ilvr::tensor x64({1, 3, 64, 64});
    REQUIRE_THROWS_WITH(sampler.run(model, noise, x64, hwc64), Contains("reference [1, 64, 64, 3] does not fit"));
}

TEST_CASE("Gaussian prior: inpainting keeps the known region exact, the rest unconditional", "[sampling][statistics]")
{
    const ilvr::shape4 one{1, 1, 8, 8};
    const auto mu = scaled_normal(one, 31, 0.3f), y = ilvr_test::normal_tensor(one, 32);
    const auto m = block_mask(one, 3);  // 24 known, 40 free pixels
    auto P = [&](const ilvr::tensor& in, ilvr::tensor& out) {
        out = ilvr::tensor(in.shape());
        for (std::size_t e = 0; e < in.size(); ++e) out[e] = in[e] * m[e % 64];
    };
    ilvr::inpaint_conditioner cond(y, m);
    require_exact(measure(cond, P, y, mu, one, images, prior_sd, 40), 0.0);
}

TEST_CASE("Gaussian prior: RePaint resampling keeps the known region exact, the rest unconditional", "[sampling][statistics]")
{
    const ilvr::shape4 one{1, 1, 8, 8};
    const auto mu = scaled_normal(one, 41, 0.3f), y = ilvr_test::normal_tensor(one, 42);
    const auto m = block_mask(one, 3);
    auto P = [&](const ilvr::tensor& in, ilvr::tensor& out) {
        out = ilvr::tensor(in.shape());
        for (std::size_t e = 0; e < in.size(); ++e) out[e] = in[e] * m[e % 64];
    };
    ilvr::gaussian_prior_denoiser model(linear1000(), prior_sd, mu);
    // The repeated steps use the sampler's rule (no clipping: the prior's values exceed [-1, 1]).
    // Each pass adds the DDPM steps' discretisation error again (variance 0.835 of
    // s^2 against 0.878 for plain sampling), so the free part is compared with
    // RePaint's own unconditional law: the same resampling with nothing known.
    const ilvr::ddpm rule{ilvr::fixed_variance::small, false};
    ilvr::repaint_conditioner cond(model, ilvr::inpaint_conditioner(y, m), {.jump = 10, .count = 3}, rule);
    ilvr::repaint_conditioner nothing_known(model, ilvr::inpaint_conditioner(y, ilvr::tensor(one)),
                                            {.jump = 10, .count = 3}, rule);
    require_exact(measure(cond, P, y, mu, one, images, prior_sd, 40, nothing_known), 0.0);
}

TEST_CASE("RePaint: count 1 is inpainting; count r runs (r - 1) * jump more steps per block", "[sampling][conditioner]")
{
    const ilvr::sampler sampler(ilvr::respace(linear1000(), "20"), ilvr::ddpm{});
    ilvr::gaussian_prior_denoiser prior(linear1000(), 0.5);
    int calls = 0;
    auto model = [&](ilvr::tensor_view<const float> x, std::span<const std::int64_t> t) {
        ++calls;
        return prior(x, t);
    };
    const auto y = ilvr_test::normal_tensor({1, 1, 8, 8}, 3);
    const auto m = block_mask({1, 1, 8, 8}, 4);
    const ilvr::philox_noise noise(4);
    ilvr::tensor a({2, 1, 8, 8}), b(a.shape()), c(a.shape());
    ilvr::inpaint_conditioner plain(y, m);
    sampler.run(model, noise, a, plain);
    REQUIRE(calls == 20);
    calls = 0;
    ilvr::repaint_conditioner once(model, ilvr::inpaint_conditioner(y, m), {.jump = 5, .count = 1});
    sampler.run(model, noise, b, once);
    REQUIRE(b.values() == a.values());
    REQUIRE(calls == 20);
    calls = 0;
    ilvr::repaint_conditioner thrice(model, ilvr::inpaint_conditioner(y, m), {.jump = 5, .count = 3});
    sampler.run(model, noise, c, thrice);
    // Blocks end at i = 0, 5, 10 (i + 5 < 20): 3 blocks x 2 more passes x 5 steps.
    REQUIRE(calls == 20 + 3 * 2 * 5);
    REQUIRE(c.values() != a.values());
}

TEST_CASE("Gaussian prior: ILVR in a region projects onto the region's block means", "[sampling][statistics]")
{
    // Box kernel, N = 4 on 8 x 8: blocks of 4 x 4; the region is the left column of
    // blocks, so M P is the orthogonal projection onto 2 block means; free dims 62.
    const ilvr::shape4 one{1, 1, 8, 8};
    const auto mu = scaled_normal(one, 51, 0.3f), y = ilvr_test::normal_tensor(one, 52);
    const auto m = block_mask(one, 4);
    ilvr::low_pass box(8, 8, 4, ilvr::kernels::box);
    auto P = [&](const ilvr::tensor& in, ilvr::tensor& out) {
        out = ilvr::tensor(in.shape());
        box(in, out);
        for (std::size_t e = 0; e < in.size(); ++e) out[e] *= m[e % 64];
    };
    ilvr::region_ilvr_conditioner cond(y, m, {.factor = 4, .kernel = ilvr::kernels::box});
    require_exact(measure(cond, P, y, mu, one, images, prior_sd, 62));
}

TEST_CASE("Gaussian prior: colourisation keeps the luma exact, the chroma unconditional", "[sampling][statistics]")
{
    const ilvr::shape4 one{1, 3, 4, 4};
    const auto mu = scaled_normal(one, 61, 0.3f), y = ilvr_test::normal_tensor(one, 62);
    const double w[3] = {0.299, 0.587, 0.114}, norm2 = w[0] * w[0] + w[1] * w[1] + w[2] * w[2];
    auto P = [&](const ilvr::tensor& in, ilvr::tensor& out) {  // w (w . x) / |w|^2 per pixel
        out = ilvr::tensor(in.shape());
        for (std::int64_t b = 0; b < in.shape().n; ++b)
            for (std::size_t p = 0; p < 16; ++p) {
                const std::size_t o = static_cast<std::size_t>(b) * 48 + p;
                const double l = w[0] * in[o] + w[1] * in[o + 16] + w[2] * in[o + 32];
                for (int k = 0; k < 3; ++k) out[o + 16 * static_cast<std::size_t>(k)] = static_cast<float>(w[k] * l / norm2);
            }
    };
    ilvr::colourise_conditioner cond(y);
    require_exact(measure(cond, P, y, mu, one, 2 * images, prior_sd, 32));

    // A grey reference g is the luma itself: the samples' luma is g.
    ilvr::tensor grey({1, 1, 4, 4});
    for (std::size_t p = 0; p < 16; ++p) grey[p] = static_cast<float>(w[0] * y[p] + w[1] * y[p + 16] + w[2] * y[p + 32]);
    ilvr::colourise_conditioner from_grey(grey);
    ilvr::tensor x({3, 3, 4, 4});
    ilvr::gaussian_prior_denoiser model(linear1000(), prior_sd, mu);
    ilvr::sampler(ilvr::respace(linear1000(), "20"), ilvr::ddpm{}).run(model, ilvr::philox_noise(1), x, from_grey);
    for (std::size_t b = 0; b < 3; ++b)
        for (std::size_t p = 0; p < 16; ++p) {
            const std::size_t o = b * 48 + p;
            REQUIRE(std::abs(w[0] * x[o] + w[1] * x[o + 16] + w[2] * x[o + 32] - grey[p]) <= 1e-5);
        }
}

TEST_CASE("Gaussian prior: a coarse-to-fine factor schedule ends exact at its last factor", "[sampling][statistics]")
{
    // Box kernel: N = 8 for the noisiest half, N = 2 after. The N = 8 block means
    // lie in the N = 2 ones' span, so no stage touches (I - P_2): free dims 48.
    const ilvr::shape4 one{1, 1, 8, 8};
    const auto mu = scaled_normal(one, 71, 0.3f), y = ilvr_test::normal_tensor(one, 72);
    ilvr::low_pass p2(8, 8, 2, ilvr::kernels::box);
    auto P = [&](const ilvr::tensor& in, ilvr::tensor& out) {
        out = ilvr::tensor(in.shape());
        p2(in, out);
    };
    ilvr::factor_schedule_conditioner cond(y, ilvr::parse_factor_schedule("1000:500=8,500:0=2"),
                                           {.kernel = ilvr::kernels::box});
    REQUIRE(cond.factor_at(99, 990) == 8);
    require_exact(measure(cond, P, y, mu, one, images, prior_sd, 48));
}

TEST_CASE("the new conditioners reject bad input with clear messages", "[sampling][errors]")
{
    const ilvr::sampler sampler(ilvr::respace(linear1000(), "10"), ilvr::ddpm{});
    ilvr::gaussian_prior_denoiser model(linear1000(), 0.5);
    const ilvr::philox_noise noise(1);
    ilvr::tensor x({2, 1, 8, 8});
    const ilvr::tensor y({1, 1, 8, 8});
    ilvr::tensor bad_mask({1, 1, 8, 8});
    bad_mask[3] = 2.0f;
    REQUIRE_THROWS_WITH(ilvr::inpaint_conditioner(y, bad_mask), Contains("values in [0, 1]"));
    ilvr::inpaint_conditioner small_mask(y, ilvr::tensor({1, 1, 4, 4}));
    REQUIRE_THROWS_WITH(sampler.run(model, noise, x, small_mask), Contains("inpaint: mask [1, 1, 4, 4] does not fit"));
    ilvr::colourise_conditioner grey_samples(y);
    REQUIRE_THROWS_WITH(sampler.run(model, noise, x, grey_samples), Contains("must have 3 channels"));
    REQUIRE_THROWS_WITH(ilvr::colourise_conditioner(y, {.luma = {0, 0, 0}}), Contains("luma weights"));
    ilvr::factor_schedule_conditioner overlap(y, ilvr::parse_factor_schedule("1000:400=4,500:0=2"));
    REQUIRE_THROWS_WITH(sampler.run(model, noise, x, overlap), Contains("stages overlap"));
    REQUIRE_THROWS_WITH(ilvr::parse_factor_schedule("1000:500"), Contains("is not 'FROM:TO=N'"));
    REQUIRE_THROWS_WITH(ilvr::parse_factor_schedule("1000:500=x"), Contains("is not 'FROM:TO=N'"));
    REQUIRE_THROWS_WITH(ilvr::repaint_conditioner(model, ilvr::inpaint_conditioner(y, y), {.jump = 0}),
                        Contains("jump = 0 must be >= 1"));
    REQUIRE_THROWS_WITH(ilvr::region_ilvr_conditioner(y, bad_mask, {.factor = 2}), Contains("values in [0, 1]"));
    // Streams run out: 256 conditioners' worth of nesting.
    const ilvr::stream_noise<ilvr::philox_noise> deep(noise, 1, 255);
    ilvr::tensor e({1, 1, 2, 2});
    REQUIRE_THROWS_WITH(deep(ilvr::with_stream(ilvr::noise_purpose::reference, 1), 0, 0, e.view()),
                        Contains("noise stream 256 exceeds"));
}

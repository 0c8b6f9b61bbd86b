// Every error of the sampling API: clear messages, thrown before or at the step concerned.
#include "support/random.hpp"

#include <ilvr/ilvr.hpp>

#include <catch2/catch.hpp>

#include <limits>

using Catch::Contains;

namespace {

const ilvr::noise_schedule& linear1000()
{
    static const auto s = ilvr::noise_schedule::linear(1000);
    return s;
}

ilvr::ilvr_options options(int factor, ilvr::conditioning_range range = ilvr::conditioning_range::all())
{
    return {factor, ilvr::kernels::cubic, range, ilvr::reference_noise_level::paper};
}

} // namespace

TEST_CASE("ILVR rejects bad references, factors and ranges", "[sampling][errors]")
{
    const ilvr::sampler sampler(ilvr::respace(linear1000(), "10"), ilvr::ddpm{});
    ilvr::gaussian_prior_denoiser model(linear1000(), 0.5);
    const ilvr::philox_noise noise(1);
    ilvr::tensor x({2, 3, 16, 16});
    const ilvr::tensor ref3({1, 3, 16, 16});

    ilvr::ilvr_conditioner wrong_channels(ilvr::tensor({1, 1, 16, 16}), options(2));
    REQUIRE_THROWS_WITH(sampler.run(model, noise, x, wrong_channels), Contains("does not fit samples [2, 3, 16, 16]"));
    ilvr::ilvr_conditioner wrong_size(ilvr::tensor({1, 3, 16, 8}), options(2));
    REQUIRE_THROWS_WITH(sampler.run(model, noise, x, wrong_size), Contains("reference [1, 3, 16, 8]"));
    ilvr::ilvr_conditioner wrong_batch(ilvr::tensor({3, 3, 16, 16}), options(2));
    REQUIRE_THROWS_WITH(sampler.run(model, noise, x, wrong_batch), Contains("[1 or B, C, H, W]"));
    REQUIRE_THROWS_WITH(ilvr::ilvr_conditioner(ref3, options(0)), Contains("must be >= 1"));
    REQUIRE_THROWS_WITH(ilvr::ilvr_conditioner(ref3, options(17)), Contains("larger than a side"));
    ilvr::tensor nan_ref({1, 3, 16, 16});
    nan_ref[5] = std::numeric_limits<float>::quiet_NaN();
    REQUIRE_THROWS_WITH(ilvr::ilvr_conditioner(nan_ref, options(2)), Contains("NaN"));

    REQUIRE_THROWS_WITH(ilvr::conditioning_range::timesteps(200, 1000), Contains("empty or inverted"));
    REQUIRE_THROWS_WITH(ilvr::conditioning_range::timesteps(200, 200), Contains("empty or inverted"));
    REQUIRE_THROWS_WITH(ilvr::conditioning_range::parse("1000-200"), Contains("not 'from:to'"));
    REQUIRE_THROWS_WITH(ilvr::conditioning_range::respaced(-3), Contains("must be >= -1"));
    ilvr::ilvr_conditioner nothing_left(ref3, options(2, ilvr::conditioning_range::respaced(9)));
    REQUIRE_THROWS_WITH(sampler.run(model, noise, x, nothing_left), Contains("leaves no step"));
    // Timesteps 1..99 hold none of the 10 kept steps (0, 111, 222, ...).
    ilvr::ilvr_conditioner between(ref3, options(2, ilvr::conditioning_range::timesteps(100, 1)));
    REQUIRE_THROWS_WITH(sampler.run(model, noise, x, between), Contains("contains none"));
}

TEST_CASE("conditioning ranges: both forms, and how they map onto each other", "[sampling]")
{
    const auto full = ilvr::respace(linear1000(), "1000");
    const auto paper = ilvr::conditioning_range::parse("1000:200");
    const auto code = ilvr::conditioning_range::respaced(199);
    for (int i = 0; i < 1000; ++i) REQUIRE(paper.contains(i, full.timesteps[static_cast<std::size_t>(i)]) == code.contains(i, i));
    const auto spaced = ilvr::respace(linear1000(), "100");  // tau = 0, 10, ..., 999-ish
    int free_steps = 0;
    for (int i = 0; i < 100; ++i) free_steps += !paper.contains(i, spaced.timesteps[static_cast<std::size_t>(i)]);
    const auto mapped = ilvr::conditioning_range::respaced(free_steps - 1);
    for (int i = 0; i < 100; ++i)
        REQUIRE(paper.contains(i, spaced.timesteps[static_cast<std::size_t>(i)]) == mapped.contains(i, 0));
    REQUIRE(ilvr::conditioning_range::all().contains(0, 0));
    REQUIRE_FALSE(ilvr::conditioning_range::respaced(0).contains(0, 0));
}

TEST_CASE("bad denoiser outputs stop sampling with the step named", "[sampling][errors]")
{
    const ilvr::sampler sampler(ilvr::respace(linear1000(), "10"), ilvr::ddpm{});
    const ilvr::philox_noise noise(1);
    ilvr::tensor x({2, 3, 8, 8});
    auto wrong_shape = [](ilvr::tensor_view<const float> in, std::span<const std::int64_t>) {
        return ilvr::tensor({in.shape().n, 4, 8, 8});
    };
    REQUIRE_THROWS_WITH(sampler.run(wrong_shape, noise, x),
                        Contains("[2, 4, 8, 8] at step 0 fits neither eps [2, 3, 8, 8] nor eps+v [2, 6, 8, 8]"));
    auto wrong_batch = [](ilvr::tensor_view<const float>, std::span<const std::int64_t>) {
        return ilvr::tensor({1, 3, 8, 8});
    };
    REQUIRE_THROWS_WITH(sampler.run(wrong_batch, noise, x), Contains("fits neither"));
    int calls = 0;
    auto nan_at_third = [&](ilvr::tensor_view<const float> in, std::span<const std::int64_t>) {
        ilvr::tensor out(in.shape());
        if (++calls == 3) out[7] = std::numeric_limits<float>::infinity();
        return out;
    };
    REQUIRE_THROWS_WITH(sampler.run(nan_at_third, noise, x), Contains("NaN or Inf at step 2"));
    calls = 0;  // the scan is split by image on two threads; a NaN in the second image is still found
    auto nan_in_second = [&](ilvr::tensor_view<const float> in, std::span<const std::int64_t>) {
        ilvr::tensor out(in.shape());
        if (++calls == 2) out[out.size() - 1] = std::numeric_limits<float>::quiet_NaN();
        return out;
    };
    REQUIRE_THROWS_WITH(sampler.run(nan_in_second, noise, x, ilvr::no_conditioning{}, ilvr::no_callback{}, {0, 2}),
                        Contains("NaN or Inf at step 1"));
    auto throws = [](ilvr::tensor_view<const float>, std::span<const std::int64_t>) -> ilvr::tensor {
        throw std::runtime_error("network failed");
    };
    REQUIRE_THROWS_WITH(sampler.run(throws, noise, x), Contains("denoiser failed at step 0 (timestep 999): network failed"));
    ilvr::tensor empty({0, 3, 8, 8});
    ilvr::gaussian_prior_denoiser model(linear1000(), 0.5);
    REQUIRE_THROWS_WITH(sampler.run(model, noise, empty), Contains("is empty"));
}

TEST_CASE("tensors too large to allocate are clear errors, not bad_alloc", "[errors]")
{
    REQUIRE_THROWS_WITH(ilvr::tensor({1 << 20, 1 << 20, 1 << 20, 1 << 20}), Contains("more elements than memory can address"));
    REQUIRE_THROWS_WITH(ilvr::tensor({1 << 16, 1 << 14, 1 << 14, 1}), Contains("cannot be allocated"));
    REQUIRE_THROWS_WITH(ilvr::tensor({-1, 1, 1, 1}), Contains("negative dimension"));
}

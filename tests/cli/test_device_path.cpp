// The tool's GPU path (examples/ilvr_cli/run_cuda.cu) built against the device
// backend's host system, as a stand-in for CUDA: every sampler and conditioner
// option reaches it, and it samples exactly what the CPU path samples from the
// same options (with_rule and with_conditioner of sampling.hpp, the CPU run).
#include "run_cuda.cu"

#include <ilvr/denoisers/gaussian_prior.hpp>
#include <ilvr/sample.hpp>

#include <catch2/catch.hpp>

#include <cstring>
#include <set>
#include <string>
#include <vector>

namespace {

using ilvr_cli::sampling_spec;

ilvr::tensor image(ilvr::shape4 shape, float phase)
{
    ilvr::tensor t(shape);
    for (std::size_t e = 0; e < t.size(); ++e) t[e] = 0.8f * std::sin(phase + 0.37f * static_cast<float>(e));
    return t;
}

std::string bits(const ilvr::tensor& t)
{
    return std::string(reinterpret_cast<const char*>(t.data()), t.size() * sizeof(float));
}

} // namespace

TEST_CASE("the tool's device path gets every sampler and conditioner option and samples the CPU path's bits",
          "[cli][device]")
{
    const auto base = ilvr::noise_schedule::linear(1000);
    const auto process = ilvr::respace(base, "6");
    ilvr::gaussian_prior_denoiser prior(base, 0.5);
    const std::vector<std::uint64_t> indices{3, 7};
    const ilvr::tensor refs = image({2, 3, 16, 16}, 0.0f);
    ilvr::tensor mask({1, 1, 16, 16});
    for (std::size_t e = 0; e < mask.size(); ++e) mask[e] = e % 16 < 8 ? 1.0f : 0.0f;

    // One variation of each option from the default (ddpm, ILVR N = 4, cubic, all steps, paper level).
    std::vector<std::pair<std::string, sampling_spec>> cases;
    auto add = [&](const std::string& name, auto change) {
        sampling_spec s;
        change(s);
        cases.emplace_back(name, s);
    };
    add("ddpm", [](sampling_spec&) {});
    add("ddim eta 0.5", [](sampling_spec& s) { s.sampler = "ddim", s.eta = 0.5; });
    add("dpm++2m", [](sampling_spec& s) { s.sampler = "dpm++2m"; });
    add("heun", [](sampling_spec& s) { s.sampler = "heun"; });
    add("dpm++2m-sde", [](sampling_spec& s) { s.sampler = "dpm++2m-sde", s.eta = 1.0; });
    add("dpm++2m-sde eta 0.5", [](sampling_spec& s) { s.sampler = "dpm++2m-sde", s.eta = 0.5; });
    add("final projection", [](sampling_spec& s) { s.final_projection = 3; });
    add("variance large", [](sampling_spec& s) { s.variance = ilvr::fixed_variance::large; });
    add("range", [](sampling_spec& s) { s.range = ilvr::conditioning_range::respaced(2); });
    add("kernel", [](sampling_spec& s) { s.kernel = ilvr::kernels::lanczos3; });
    add("noise level", [](sampling_spec& s) { s.level = ilvr::reference_noise_level::reference_code; });
    add("mask", [](sampling_spec& s) { s.conditioning = sampling_spec::mode::inpaint; });
    add("mask + repaint", [](sampling_spec& s) { s.conditioning = sampling_spec::mode::inpaint, s.repaint_jump = 2, s.repaint_count = 2; });
    add("colourise", [](sampling_spec& s) { s.conditioning = sampling_spec::mode::colourise; });
    add("factor schedule", [](sampling_spec& s) {
        s.conditioning = sampling_spec::mode::schedule, s.schedule = ilvr::parse_factor_schedule("1000:500=8,500:0=2");
    });
    add("heun + mask + repaint", [](sampling_spec& s) {
        s.sampler = "heun", s.conditioning = sampling_spec::mode::inpaint, s.repaint_jump = 2, s.repaint_count = 2;
    });
    add("dpm++2m + colourise", [](sampling_spec& s) { s.sampler = "dpm++2m", s.conditioning = sampling_spec::mode::colourise; });

    std::set<std::string> results;
    for (const int factor : {4, 2})
        for (const auto& named : cases) {
            // No structured binding: clang 14 (the tsan preset) refuses one captured by a lambda.
            const std::string& name = named.first;
            const sampling_spec& spec = named.second;
            INFO(name << ", factor " << factor);
            // The CPU path: the library's CPU run of the same options.
            ilvr::tensor cpu({2, 3, 16, 16});
            const ilvr::philox_noise philox(11);
            const ilvr_cli::indexed_noise noise{philox, indices};
            const bool cpu_done = ilvr_cli::with_rule(spec, [&](const auto& rule) {
                const ilvr::sampler sampler(process, rule);
                return ilvr_cli::with_conditioner(spec, prior, refs, mask, factor, [&](auto& cond) {
                    return sampler.run(prior, noise, cpu, cond);
                });
            });
            // The device path, with the network as the tool hands it over (x, t, stream).
            ilvr::tensor dev({2, 3, 16, 16});
            int steps = 0;
            const ilvr_cli::cuda_model network = [&](ilvr::tensor_view<const float> x, std::span<const std::int64_t> t, void*) {
                return prior(x, t);
            };
            const bool dev_done = ilvr_cli::sample_batch_cuda(
                network, {&process, spec, 11, &indices, &refs, &mask, factor}, dev, [&] { return ++steps, true; });
            REQUIRE(cpu_done);
            REQUIRE(dev_done);
            CHECK(steps == 6);
            REQUIRE(std::memcmp(cpu.data(), dev.data(), cpu.size() * sizeof(float)) == 0);
            // Each option changes the samples (a factor schedule and colourisation ignore --factor).
            if (factor == 4 || (spec.conditioning != sampling_spec::mode::schedule
                                && spec.conditioning != sampling_spec::mode::colourise
                                && spec.conditioning != sampling_spec::mode::inpaint))
                CHECK(results.insert(bits(dev)).second);
        }

    SECTION("unconditional, and a cancelled run")
    {
        ilvr::tensor dev({2, 3, 16, 16});
        const ilvr_cli::cuda_model network = [&](ilvr::tensor_view<const float> x, std::span<const std::int64_t> t, void*) {
            return prior(x, t);
        };
        int steps = 0;
        REQUIRE(ilvr_cli::sample_batch_cuda(network, {&process, {}, 11, &indices, nullptr, &mask, 1}, dev,
                                            [&] { return ++steps, true; }));
        CHECK(results.insert(bits(dev)).second);
        steps = 0;
        REQUIRE_FALSE(ilvr_cli::sample_batch_cuda(network, {&process, {}, 11, &indices, nullptr, &mask, 1}, dev,
                                                  [&] { return ++steps < 2; }));
        CHECK(steps == 2);
    }
}

// Every golden ILVR trace reproduced step by step, in paper and reference-code mode,
// with the reference's recorded noise replayed draw for draw.
#include "support/golden.hpp"
#include "support/random.hpp"

#include <ilvr/ilvr.hpp>

#include <catch2/catch.hpp>

namespace {

ilvr::tensor slice(const ilvr_test::npy_array& a, std::size_t k)
{
    const ilvr::shape4 s{a.shape[1], a.shape[2], a.shape[3], a.shape[4]};
    const auto from = a.values.begin() + static_cast<std::ptrdiff_t>(k * s.size());
    return {s, std::vector<float>(from, from + static_cast<std::ptrdiff_t>(s.size()))};
}

ilvr::tensor whole(const ilvr_test::npy_array& a)
{
    return {{a.shape[0], a.shape[1], a.shape[2], a.shape[3]}, a.floats()};
}

void run_case(const std::string& id, ilvr::fixed_variance variance)
{
    const std::string dir = "ilvr/" + id + "/";
    const auto ref = whole(ilvr_test::golden(dir + "ref"));
    const auto x_T = ilvr_test::golden(dir + "x_T");
    const auto Z = ilvr_test::golden(dir + "Z"), E = ilvr_test::golden(dir + "E");
    const auto step_index = ilvr_test::golden(dir + "step_index").ints;
    const auto timestep_map = ilvr_test::golden(dir + "timestep_map").ints;
    const auto refined = ilvr_test::golden(dir + "refined").ints;
    const std::size_t steps = step_index.size();

    const auto base = ilvr::noise_schedule::linear(1000);
    auto process = ilvr::respace(base, "20");
    REQUIRE(process.timesteps.size() == steps);
    for (std::size_t i = 0; i < steps; ++i) REQUIRE(process.timesteps[i] == timestep_map[i]);

    // Recorded draws are in loop order k; the noise source is indexed by i = K-1-k.
    std::vector<ilvr::tensor> z(steps), e(steps);
    for (std::size_t k = 0; k < steps; ++k) {
        const auto i = static_cast<std::size_t>(step_index[k]);
        z[i] = slice(Z, k);
        e[i] = slice(E, k);
    }
    const ilvr::replay_noise noise(whole(x_T), z, e);
    const int range_t = 5;
    for (std::size_t k = 0; k < steps; ++k) REQUIRE((refined[k] == 1) == (step_index[k] > range_t));

    for (const auto& [mode, level] : {std::pair{"paper", ilvr::reference_noise_level::paper},
                                      std::pair{"ilvr_adm", ilvr::reference_noise_level::reference_code}}) {
        INFO("mode " << mode);
        const auto X = ilvr_test::golden(dir + mode + "/X");
        const auto final_ = ilvr_test::golden(dir + mode + "/final");
        ilvr::ilvr_conditioner ilvr_cond(ref, {4, ilvr::kernels::cubic, ilvr::conditioning_range::respaced(range_t), level});
        ilvr::gaussian_prior_denoiser model(base, 0.5);
        const ilvr::sampler sampler(process, ilvr::ddpm{variance, true});
        ilvr::tensor x(ref.shape());
        // 1e-5 absolute at every step (the golden README's tolerance; the issue
        // asks 1e-4): the reference filters x' and y separately, this library
        // filters y - x' once (linearity), so float32 rounding differs by a few
        // ulps per step; clipping and the contracting posterior mean keep it from
        // growing (measured: 7.2e-7 at worst over all steps of all four traces).
        sampler.run(model, noise, x, ilvr_cond, [&](const ilvr::step_event& ev) {
            const auto want = slice(X, static_cast<std::size_t>(ev.step));
            INFO("step " << ev.step << " (i = " << ev.index << ")");
            REQUIRE(ilvr_test::max_abs_diff(ev.sample.span(), want.values()) <= 1e-5);
        });
        REQUIRE(ilvr_test::max_abs_diff(x.values(), final_.floats()) <= 1e-5);
    }
}

} // namespace

TEST_CASE("golden ILVR trace, fixed small variance", "[sampling][golden]")
{
    run_case("t16_s20_N4_r5_fixedsmall", ilvr::fixed_variance::small);
}

TEST_CASE("golden ILVR trace, fixed large variance", "[sampling][golden]")
{
    run_case("t16_s20_N4_r5_fixedlarge", ilvr::fixed_variance::large);
}

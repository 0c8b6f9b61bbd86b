// The converted ADM networks through ilvr::torch::module_denoiser (ctest adm.torch):
// each golden configuration, converted by scripts/convert.py (ctest adm.python
// leaves the files in ILVR_ADM_CONVERTED), must reproduce the official network's
// outputs within 1e-4 absolute; the same float32 operations agree to ~1e-6.
// Skipped where the golden folder or the converted files (Python's torch) are absent.
#include "support/golden.hpp"

#include <ilvr/torch/denoiser.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <string>

#ifndef ILVR_ADM_CONVERTED
#define ILVR_ADM_CONVERTED ""
#endif

namespace {

void check_configuration(const std::string& name)
{
    const auto golden = ilvr_test::golden_dir() / "adm" / name;
    if (!std::filesystem::exists(golden / "out.npy")) ilvr_test::skip("ADM golden data not found at '" + golden.string() + "'");
    const std::filesystem::path model = std::filesystem::path(ILVR_ADM_CONVERTED) / (name + ".pt");
    if (!std::filesystem::exists(model))
        ilvr_test::skip("converted model '" + model.string() +
                        "' not found: ctest adm.python writes it (skipped where Python's torch is absent)");
    const auto x = ilvr_test::read_npy((golden / "x.npy").string());
    const auto t = ilvr_test::read_npy((golden / "t.npy").string());
    const auto expected = ilvr_test::read_npy((golden / "out.npy").string());
    REQUIRE(x.shape.size() == 4);
    const std::vector<float> input = x.floats();
    const ilvr::tensor_view<const float> view(input.data(), {x.shape[0], x.shape[1], x.shape[2], x.shape[3]});

    ilvr::torch::module_denoiser denoiser(model, {.threads = 1});
    const auto out = denoiser(view, t.ints);
    REQUIRE(out.shape() == ilvr::shape4{expected.shape[0], expected.shape[1], expected.shape[2], expected.shape[3]});
    double worst = 0;
    for (std::size_t e = 0; e < expected.values.size(); ++e)
        worst = std::max(worst, std::abs(static_cast<double>(out[e]) - expected.values[e]));
    INFO(name << ": max |diff| " << worst);
    CHECK(worst <= 1e-4);
}

} // namespace

TEST_CASE("adm: the ILVR README's FFHQ flags at 32 x 32 (eps and v) through module_denoiser", "[torch][adm]")
{
    check_configuration("ffhq_flags_32");
}

TEST_CASE("adm: improved-diffusion style at 64 x 64 (eps) through module_denoiser", "[torch][adm]")
{
    check_configuration("improved_64");
}

// LibTorch hand-over on the device path (host system): module_denoiser through
// device::torch_denoiser, without copies, and the bundled model sampled on the
// device path against the CPU path.
#include "support/random.hpp"

#include <ilvr/device/sampler.hpp>
#include <ilvr/device/torch.hpp>
#include <ilvr/ilvr.hpp>

#include <catch2/catch.hpp>

#include <string>

using Catch::Contains;

TEST_CASE("the device path hands its memory to the module and takes the module's output, no copies", "[device][torch]")
{
    torch::jit::Module m("Identity");
    m.define("def forward(self, x, t):\n    return x\n");
    ilvr::torch::module_denoiser module(m);
    ilvr::device::torch_denoiser model(module);
    ilvr::device::tensor x(ilvr_test::normal_tensor({2, 3, 4, 5}, 1));
    const std::vector<std::int64_t> t{3, 3};
    // The identity returns its input tensor: the same memory came back, so the
    // input was not copied on the way in nor the output on the way out.
    const auto out = model(x.view(), t, ilvr::device::stream{});
    REQUIRE(out.data() == x.data());
    REQUIRE(out.shape() == x.shape());

    ilvr::torch::module_denoiser elsewhere(m, {.device = torch::Device(torch::kCUDA, 0)});
    REQUIRE_THROWS_WITH(elsewhere.forward_in_place(x.view(), t, torch::kCPU), Contains("the samples are in cpu memory"));
}

TEST_CASE("the bundled model sampled on the device path matches the CPU path", "[device][torch]")
{
    const std::string file = std::string(ILVR_SOURCE_DIR) + "/models/fashion-mnist-ddpm/model.pt";
    ilvr::torch::module_denoiser module(std::filesystem::path(file), {.threads = 1});
    const auto schedule = ilvr::noise_schedule::linear(1000);
    const auto process = ilvr::respace(schedule, "10");
    auto reference = ilvr_test::normal_tensor({1, 1, 32, 32}, 7);
    for (auto& v : reference.values()) v = std::clamp(v * 0.5f, -1.0f, 1.0f);
    const ilvr::ilvr_options options{.factor = 4};

    ilvr::tensor cpu({2, 1, 32, 32});
    ilvr::ilvr_conditioner cpu_cond(reference, options);
    REQUIRE(ilvr::sampler(process, ilvr::ddpm{}).run(module, ilvr::philox_noise(3), cpu, cpu_cond));

    ilvr::device::tensor dev(cpu.shape());
    ilvr::device::torch_denoiser model(module);
    ilvr::ilvr_conditioner dev_cond(reference, options);
    REQUIRE(ilvr::sampler(process, ilvr::ddpm{}).run(model, ilvr::device::philox_noise{3}, dev, dev_cond,
                                                     ilvr::no_callback{}, ilvr::device::run_options{}));
    // 1e-5: the same module on the same inputs; measured here, the two agree bitwise.
    REQUIRE(ilvr_test::max_abs_diff(ilvr::device::download(dev).values(), cpu.values()) <= 1e-5);
}

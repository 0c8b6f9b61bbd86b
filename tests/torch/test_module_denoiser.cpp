// The LibTorch adapter against tiny TorchScript modules defined here.
#include "support/random.hpp"

#include <ilvr/ilvr.hpp>
#include <ilvr/torch/denoiser.hpp>

#include <catch2/catch.hpp>

#include <filesystem>

using Catch::Contains;

namespace {

torch::jit::Module scripted(const std::string& forward)
{
    torch::jit::Module m("Tiny");
    m.define(forward);
    return m;
}

// eps = 0.1 x + t / 1000 (per image): checks the data and the timesteps arrive.
const char* eps_module = R"(
def forward(self, x, t):
    return x * 0.1 + (t.float() / 1000.0).view(-1, 1, 1, 1)
)";

} // namespace

TEST_CASE("a TorchScript eps module is a denoiser", "[torch]")
{
    ilvr::torch::module_denoiser model(scripted(eps_module));
    const auto x = ilvr_test::normal_tensor({2, 3, 4, 5}, 1);
    const std::vector<std::int64_t> t{10, 500};
    const auto out = model(x.view(), t);
    REQUIRE(out.shape() == x.shape());
    for (std::size_t e = 0; e < x.size(); ++e)
        REQUIRE(out[e] == Approx(0.1 * x[e] + (e < 60 ? 0.01 : 0.5)).margin(1e-6));

    // Saved and loaded from a file, it gives the same result.
    const auto file = std::filesystem::temp_directory_path() / "ilvr_test_eps_module.pt";
    scripted(eps_module).save(file.string());
    ilvr::torch::module_denoiser loaded(file, {.threads = 1});
    const auto again = loaded(x.view(), t);
    for (std::size_t e = 0; e < x.size(); ++e) REQUIRE(again[e] == out[e]);
    std::filesystem::remove(file);
}

TEST_CASE("an eps+v module (learn_sigma) drives the learned-range sampler", "[torch]")
{
    ilvr::torch::module_denoiser model(scripted(R"(
def forward(self, x, t):
    return torch.cat([x * 0.1, torch.tanh(x) * 0.5], 1)
)"));
    const ilvr::sampler sampler(ilvr::respace(ilvr::noise_schedule::linear(1000), "10"), ilvr::ddpm{});
    ilvr::tensor x({2, 3, 8, 8});
    ilvr::ilvr_conditioner cond(ilvr::tensor({1, 3, 8, 8}), {.factor = 2});
    REQUIRE(sampler.run(model, ilvr::philox_noise(3), x, cond));
    for (float v : x.values()) REQUIRE(std::isfinite(v));
}

TEST_CASE("timestep dtype, scale and channels-last layout are honoured", "[torch]")
{
    // Returns t broadcast, so the test sees what the module received.
    ilvr::torch::module_denoiser model(scripted(R"(
def forward(self, x, t):
    return x * 0.0 + t.float().view(-1, 1, 1, 1)
)"), {.timestep_dtype = torch::kFloat, .timestep_scale = 0.5});
    ilvr::tensor x({2, 1, 2, 2});
    const std::vector<std::int64_t> t{4, 9};
    const auto out = model(x.view(), t);
    REQUIRE(out[0] == 2.0f);
    REQUIRE(out[4] == 4.5f);

    // NHWC module: asserts its input has channels last, returns NHWC.
    ilvr::torch::module_denoiser nhwc(scripted(R"(
def forward(self, x, t):
    assert x.size(3) == 3
    return x * 2.0
)"), {.channels_last = true});
    const auto y = ilvr_test::normal_tensor({1, 3, 4, 5}, 2);
    const auto o = nhwc(y.view(), std::vector<std::int64_t>{1});
    REQUIRE(o.shape() == y.shape());
    for (std::size_t e = 0; e < y.size(); ++e) REQUIRE(o[e] == 2.0f * y[e]);
}

TEST_CASE("error_summary keeps the network's message and the user's frame", "[torch][errors]")
{
    const std::string traceback = "The following operation failed in the TorchScript interpreter.\n"
                                  "Traceback of TorchScript, serialized code (most recent call last):\n"
                                  "  File \"code/__torch__.py\", line 15, in forward\n"
                                  "    return (conv).forward(x, )\n"
                                  "            ~~~~~~~~~~~~~ <--- HERE\n"
                                  "\n"
                                  "Traceback of TorchScript, original code (most recent call last):\n"
                                  "  File \"/home/me/unet.py\", line 9, in forward\n"
                                  "        return self.conv(x)\n"
                                  "  File \"/usr/lib/python3/dist-packages/torch/nn/modules/conv.py\", line 459, in _conv_forward\n"
                                  "        return F.conv2d(input, weight, bias, self.stride,\n"
                                  "RuntimeError: Given groups=1, expected input[1, 3, 8, 8] to have 1 channels\n";
    CHECK(ilvr::torch::error_summary(traceback) ==
          "RuntimeError: Given groups=1, expected input[1, 3, 8, 8] to have 1 channels (/home/me/unet.py, line 9, in forward)");
    CHECK(ilvr::torch::error_summary("shape mismatch\nException raised from foo at bar.cpp:1\nframe #0: ...") ==
          "shape mismatch");
    CHECK(ilvr::torch::error_summary("plain") == "plain");
}

TEST_CASE("bad modules and outputs are clear errors", "[torch][errors]")
{
    const auto x = ilvr_test::normal_tensor({2, 3, 4, 4}, 1);
    const std::vector<std::int64_t> t{1, 2};
    ilvr::torch::module_denoiser wrong_channels(scripted("def forward(self, x, t):\n    return x[:, :1]\n"));
    REQUIRE_THROWS_WITH(wrong_channels(x.view(), t), Contains("output [2, 1, 4, 4] fits neither eps [2, 3, 4, 4]"));
    ilvr::torch::module_denoiser flat(scripted("def forward(self, x, t):\n    return x.flatten()\n"));
    REQUIRE_THROWS_WITH(flat(x.view(), t), Contains("has 1 dimensions"));
    ilvr::torch::module_denoiser failing(scripted("def forward(self, x, t):\n    return x.view(7, -1)\n"));
    // The network's own words, not the interpreter's first line.
    REQUIRE_THROWS_WITH(failing(x.view(), t), Contains("forward failed") && Contains("shape '[7, -1]' is invalid")
                                                  && !Contains("The following operation failed"));
    ilvr::torch::module_denoiser raising(scripted("def forward(self, x, t):\n"
                                                  "    assert bool((t >= 500).all()), 'boom at t < 500'\n"
                                                  "    return x\n"));
    REQUIRE_THROWS_WITH(raising(x.view(), t), Contains("forward failed: ") && Contains("boom at t < 500 (")
                                                  && Contains("line ") && !Contains("builtins."));
    REQUIRE_THROWS_WITH(ilvr::torch::module_denoiser(std::filesystem::path("/nonexistent/model.pt")),
                        Contains("not found"));
    const auto junk = std::filesystem::temp_directory_path() / "ilvr_test_junk.pt";
    { std::ofstream(junk) << "not a model"; }
    REQUIRE_THROWS_WITH(ilvr::torch::module_denoiser(junk), Contains("cannot load"));
    std::filesystem::remove(junk);
}

TEST_CASE("bf16: the module's convolutions run under bfloat16 autocast, the output in float32", "[torch][bf16]")
{
    // A 1x1 convolution: autocast runs it in bf16, so the module returns bfloat16,
    // which the adapter converts; 0.1 x summed over 3 channels carries bf16's
    // rounding (8 bits of mantissa: 2^-8 relative) of the inputs, the weights and the result.
    const char* conv = R"(
def forward(self, x, t):
    return torch.conv2d(x, torch.full([3, 3, 1, 1], 0.1))
)";
    const auto x = ilvr_test::normal_tensor({1, 3, 4, 4}, 2);
    const std::vector<std::int64_t> t{10};
    if (!ilvr::torch::cpu_has_bf16()) {
        REQUIRE_THROWS_WITH(ilvr::torch::module_denoiser(scripted(conv), {.precision = ilvr::torch::arithmetic::bf16}),
                            Contains("AVX512-BF16 or AMX"));
        return;
    }
    ilvr::torch::module_denoiser fp32(scripted(conv));
    ilvr::torch::module_denoiser bf16(scripted(conv), {.precision = ilvr::torch::arithmetic::bf16});
    const auto first = fp32(x.view(), t);
    const std::vector<float> want(first.data(), first.data() + first.size());
    REQUIRE(fp32.last_output_dtype() == torch::kFloat);
    const auto got = bf16(x.view(), t);
    REQUIRE(bf16.last_output_dtype() == torch::kBFloat16);
    REQUIRE_FALSE(at::autocast::is_cpu_enabled());  // the guard restores the thread's state
    for (std::size_t e = 0; e < x.size(); ++e) {
        double bound = 0;
        for (int c = 0; c < 3; ++c) bound += 0.1 * std::abs(x[static_cast<std::size_t>(c) * 16 + e % 16]);
        REQUIRE(std::abs(got[e] - want[e]) <= 3 * bound / 256 + 1e-6);
    }
    REQUIRE(ilvr_test::max_abs_diff(got.span(), want) > 0.0);  // it did run in bf16
}

TEST_CASE("bf16 is refused where it cannot run: no bf16 arithmetic, channels-last on torch 1.13, CUDA",
          "[torch][bf16]")
{
    REQUIRE_THAT(ilvr::torch::bf16_refusal(false, false), Contains("needs a CPU with AVX512-BF16 or AMX"));
    REQUIRE_THAT(ilvr::torch::bf16_refusal(true, true, 1, 13),
                 Contains("bf16 with channels-last input gives wrong results in torch 1.13"));
    REQUIRE(ilvr::torch::bf16_refusal(true, true, 2, 1).empty());
    REQUIRE(ilvr::torch::bf16_refusal(true, false).empty());
    const char* identity = R"(
def forward(self, x, t):
    return x
)";
    if (ilvr::torch::cpu_has_bf16() && TORCH_VERSION_MAJOR == 1 && TORCH_VERSION_MINOR <= 13)
        REQUIRE_THROWS_WITH(ilvr::torch::module_denoiser(scripted(identity), {.channels_last = true,
                                                                              .precision = ilvr::torch::arithmetic::bf16}),
                            Contains("channels-last"));
    REQUIRE_THROWS_WITH(ilvr::torch::module_denoiser(scripted(identity), {.device = torch::Device(torch::kCUDA),
                                                                          .precision = ilvr::torch::arithmetic::bf16}),
                        Contains("bf16 runs on the CPU only"));
}

// The LibTorch adapter (docs/denoiser.md, "TorchScript models"): a TorchScript
// file as the denoiser of an ILVR run. Built where LibTorch is found; the test
// suite runs it (example.torch_denoiser) with a model file it makes itself.
#include <ilvr/ilvr.hpp>
#include <ilvr/torch/denoiser.hpp>

#include <cstdio>
#include <string>

int main(int argc, char** argv)
{
    // A TorchScript file: forward(x float32[B,C,H,W], t int64[B]) -> eps [B,C,H,W] (or eps and v [B,2C,H,W]),
    // e.g. torch.jit.script(net).save("model.pt") in Python. Here a stand-in is made and saved first.
    const std::string file = argc > 1 ? argv[1] : "model.pt";
    torch::jit::Module stand_in("StandIn");
    stand_in.define("def forward(self, x, t):\n    return x * 0.1 + (t.float() / 10000.0).view(-1, 1, 1, 1)\n");
    stand_in.save(file);

    // The adapter: runs under inference mode, on the CPU unless told otherwise,
    // passing the ORIGINAL timesteps as int64 (guided-diffusion's convention).
    ilvr::torch::module_denoiser model(file, {.device = torch::kCPU,   // or torch::kCUDA (copies per step)
                                              .timestep_dtype = torch::kLong,
                                              .timestep_scale = 1.0,   // 1000.0 / T for rescale_timesteps=True
                                              .threads = 1});          // LibTorch's intra-op threads

    const auto process = ilvr::respace(ilvr::noise_schedule::linear(1000), "25");
    const ilvr::sampler sampler(process, ilvr::ddpm{});
    ilvr::tensor reference({1, 3, 32, 32});  // your reference image in [-1, 1]
    ilvr::ilvr_conditioner ilvr(reference, {.factor = 4});
    ilvr::tensor samples({2, 3, 32, 32});
    sampler.run(model, ilvr::philox_noise(/*seed=*/1), samples, ilvr, ilvr::no_callback{}, {.threads = 1});
    std::printf("sampled %lld images with %s\n", static_cast<long long>(samples.shape().n), file.c_str());
}

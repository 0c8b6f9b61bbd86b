// A minimal sampling program, for compile-time measurements (scripts/perf/compile_time.sh):
// the umbrella header, the Gaussian-prior denoiser, DDPM. Not built by CMake.
#include <ilvr/ilvr.hpp>

int main()
{
    const auto base = ilvr::noise_schedule::linear(1000);
    const auto process = ilvr::respace(base, "10");
    ilvr::gaussian_prior_denoiser model(base, 0.5);
    ilvr::tensor x({1, 1, 8, 8});
    ilvr::sampler(process, ilvr::ddpm{}).run(model, ilvr::philox_noise(1), x, ilvr::no_conditioning{});
    return x[0] == 0.0f;
}

// How to plug your own network into ilvr: wrap it in a lambda. Built and run by the tests.
#include <ilvr/ilvr.hpp>

#include <cstdio>

int main()
{
    // Your network: here a stand-in that predicts eps = 0.1 * x_t.
    auto my_network = [](const float* x, std::size_t n, float* eps) {
        for (std::size_t i = 0; i < n; ++i) eps[i] = 0.1f * x[i];
    };
    // The denoiser: (x_t [B,C,H,W], one original timestep per image) -> eps [B,C,H,W].
    ilvr::tensor eps;
    auto denoiser = [&](ilvr::tensor_view<const float> x, std::span<const std::int64_t> /*t*/) {
        if (!(eps.shape() == x.shape())) eps = ilvr::tensor(x.shape());  // allocates on the first call only
        my_network(x.data(), x.size(), eps.data());
        return eps.view();
    };

    const auto process = ilvr::respace(ilvr::noise_schedule::linear(1000), "50");  // 50 of 1000 steps
    const ilvr::sampler sampler(process, ilvr::ddpm{});
    ilvr::tensor reference({1, 3, 32, 32});  // your reference image in [-1, 1]
    ilvr::ilvr_conditioner ilvr(reference, {.factor = 4, .range = ilvr::conditioning_range::parse("1000:200")});
    ilvr::tensor samples({4, 3, 32, 32});
    sampler.run(denoiser, ilvr::philox_noise(/*seed=*/1), samples, ilvr);
    std::printf("sampled %lld images of %s\n", static_cast<long long>(samples.shape().n), samples.shape().to_string().c_str());
}

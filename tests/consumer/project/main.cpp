// Builds against ilvr as a user would and checks one filter application.
#include <ilvr/ilvr.hpp>
#ifdef CONSUMER_EIGEN
#include <ilvr/eigen/tensor.hpp>
#endif
#ifdef CONSUMER_XTENSOR
#include <ilvr/xtensor/tensor.hpp>
#endif
#ifdef CONSUMER_DEVICE
#include <ilvr/device/sampler.hpp>
#endif

#include <cmath>
#include <cstdio>

int main()
{
    ilvr::tensor x({1, 1, 8, 8});
    for (std::size_t i = 0; i < x.size(); ++i) x[i] = 0.5f;
    ilvr::low_pass phi(8, 8, 2);
    phi(x, x);
    for (std::size_t i = 0; i < x.size(); ++i)
        if (std::abs(x[i] - 0.5f) > 1e-6f) return 1;
#ifdef CONSUMER_EIGEN
    ilvr::eigen::tensor4 e(1, 1, 8, 8);
    e.setConstant(0.5f);
    phi(e, e);
#endif
#ifdef CONSUMER_XTENSOR
    ilvr::xtensor::tensor4 t = ilvr::xtensor::tensor4::from_shape({1, 1, 8, 8});
    phi(t, t);
#endif
#ifdef CONSUMER_DEVICE
    // A short ILVR run on the device backend (the host system) equals the CPU run.
    const auto base = ilvr::noise_schedule::linear(1000);
    const ilvr::sampler sampler(ilvr::respace(base, "5"), ilvr::ddpm{});
    ilvr::gaussian_prior_denoiser model(base, 0.5);
    ilvr::tensor cpu({2, 1, 8, 8});
    ilvr::ilvr_conditioner c1(x, {.factor = 2}), c2(x, {.factor = 2});
    sampler.run(model, ilvr::philox_noise(3), cpu, c1);
    ilvr::device::tensor dev(cpu.shape());
    sampler.run(model, ilvr::device::philox_noise{3}, dev, c2, ilvr::no_callback{}, ilvr::device::run_options{});
    if (ilvr::device::download(dev).values() != cpu.values()) return 1;
#endif
    std::puts("consumer ok");
    return 0;
}

// One solver and one conditioner of your own, written once against the exec,
// sampled on the CPU and on the device backend (the host system here, a GPU
// under nvcc) with ILVR composed in. Built and run by the tests.
#include <ilvr/device/sampler.hpp>
#include <ilvr/ilvr.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <utility>

// A solver: Euler ancestral steps in the sigma parameterisation (k-diffusion's
// sample_euler_ancestral on the VP process, x~ = x / sqrt(abar), sigma = sqrt(1/abar - 1)):
// x~' = x~ + (sigma_down - sigma) eps + sigma_up z. Its element work is a functor
// of a block of image b, run by the step's exec; z is drawn in the run's memory.
struct euler_ancestral {
    float eta = 1.0f;
    ilvr::buffer z;  // the step's noise, in the run's memory

    struct update {
        float scale, sigma, down, up, out_scale;
        float *x, *x0;
        const float *eps, *z;
        std::size_t n, eps_stride;
        ILVR_HOST_DEVICE ILVR_ALWAYS_INLINE void operator()(std::int64_t img, std::size_t e0, std::size_t e1) const {
            const auto off = static_cast<std::size_t>(img) * n;
            const float* ep = eps + static_cast<std::size_t>(img) * eps_stride;
            for (std::size_t e = e0; e < e1; ++e) {
                const float xt = scale * x[off + e];
                x0[off + e] = xt - sigma * ep[e];
                x[off + e] = out_scale * (xt + (down - sigma) * ep[e] + up * z[off + e]);
            }
        }
    };
    template <class Setup> void prepare(const Setup& setup) { z = setup.allocate(setup.shape); }
    template <class Step> void step(Step& s) {
        const auto out = s.network(s.sample(), s.timestep());
        const auto i = static_cast<std::size_t>(s.index());
        const double ab = s.process().schedule.alpha_bar()[i], abp = s.process().schedule.alpha_bar_prev()[i];
        const double from = std::sqrt(1 / ab - 1), to = std::sqrt(1 / abp - 1);
        const double up = std::min(to, eta * std::sqrt(to * to * (from * from - to * to) / (from * from)));
        if (up > 0) s.proposal_noise(z.view());
        const update f{static_cast<float>(1 / std::sqrt(ab)), static_cast<float>(from),
                       static_cast<float>(std::sqrt(to * to - up * up)), static_cast<float>(up),
                       static_cast<float>(std::sqrt(abp)), s.sample().data(), s.predicted_x0().data(),
                       out.values.data(), z.data(), out.image_size(), out.values.shape().image_size()};
        s.exec().for_each_block(s.sample().shape().n, out.image_size(), f);
    }
};

// A conditioner: pulls every pixel a fraction of the way to the reference
// noised to the proposal's level, x = x + lambda (y_a - x).
struct pull_to_reference {
    ilvr::tensor reference;  // [1, C, H, W] on the host
    float lambda;
    ilvr::buffer y, e;  // the reference and the noise, in the run's memory
    explicit pull_to_reference(ilvr::tensor r, float l = 0.1f) : reference(std::move(r)), lambda(l) {}

    struct pull {
        float sa, s1a, lambda;
        const float *y, *e;
        float* x;
        std::size_t n;
        ILVR_HOST_DEVICE ILVR_ALWAYS_INLINE void operator()(std::int64_t img, std::size_t e0, std::size_t e1) const {
            const auto off = static_cast<std::size_t>(img) * n;
            for (std::size_t k = e0; k < e1; ++k) x[off + k] += lambda * (sa * y[k] + s1a * e[off + k] - x[off + k]);
        }
    };
    template <class Exec> void prepare(const ilvr::shape4& shape, const ilvr::respaced_schedule&, const Exec& exec) {
        ilvr::detail::require(reference.shape().image_size() == shape.image_size(), "pull: reference does not fit");
        y = exec.upload(reference), e = exec.allocate(shape);
    }
    template <class Noise, class Exec>
    void refine(const ilvr::step_info& s, ilvr::tensor_view<float> x, const Noise& noise, const Exec& exec) {
        const double a = s.process->schedule.alpha_bar_prev()[static_cast<std::size_t>(s.index)];
        const std::size_t n = x.shape().image_size();
        exec.for_each_block_after_noise(noise, ilvr::noise_purpose::reference, s.index, s.first_sample, e.view(), n,
                                        pull{static_cast<float>(std::sqrt(a)), static_cast<float>(std::sqrt(1 - a)),
                                             lambda, y.data(), e.data(), x.data(), n});
    }
};

int main() {
    const auto base = ilvr::noise_schedule::linear(1000);
    const ilvr::sampler sampler(ilvr::respace(base, "25"), euler_ancestral{});
    ilvr::gaussian_prior_denoiser model(base, 0.5);  // a CPU denoiser: device memory is host memory here
    ilvr::tensor reference({1, 3, 16, 16});
    for (std::size_t e = 0; e < reference.size(); ++e) reference[e] = 0.5f * std::sin(0.1f * static_cast<float>(e));
    auto cond = [&] { return ilvr::compose(ilvr::ilvr_conditioner(reference, {.factor = 4}), pull_to_reference(reference)); };

    ilvr::tensor on_cpu({4, 3, 16, 16});
    auto cpu_cond = cond();
    sampler.run(model, ilvr::philox_noise(1), on_cpu, cpu_cond);

    ilvr::device::tensor samples({4, 3, 16, 16});  // device memory
    auto dev_cond = cond();
    sampler.run(model, ilvr::device::philox_noise{1}, samples, dev_cond, ilvr::no_callback{}, ilvr::device::run_options{});
    const ilvr::tensor on_device = ilvr::device::download(samples);

    const bool same = std::memcmp(on_cpu.data(), on_device.data(), on_cpu.size() * sizeof(float)) == 0;
    std::printf("%s: the device run is %s the CPU run\n", ilvr::device::system_name(), same ? "bitwise" : "NOT");
    return same ? 0 : 1;
}

// Your own step rule and your own solver, each with its own parameter (and the
// solver with its own state), sampled with ILVR. Built and run by the tests.
#include <ilvr/ilvr.hpp>

#include <cmath>
#include <cstdio>

// A step rule: DDPM with its noise scaled by a temperature (its own parameter).
struct tempered_ddpm {
    float temperature = 0.8f;
    ilvr::step_coefficients coefficients(const ilvr::noise_schedule& s, int i) const { return ilvr::ddpm{}.coefficients(s, i); }
    float proposal(const ilvr::step_coefficients& c, float x, float x0, float /*v*/, float z, bool /*learned*/) const {
        const float mean = c.mean_x0 * x0 + c.mean_xt * x;
        return c.noise ? mean + temperature * c.sigma * z : mean;
    }
};

// A solver: deterministic DDIM steps on an extrapolated eps' = (1 + w) eps - w eps_prev
// (a two-step Adams-Bashforth, as PLMS does). Parameter: w. State: the previous eps.
// Written once for every backend: prepare and step are templates, the memory is an
// ilvr::buffer the setup allocates, and the element work is a functor of a block of
// image b that the step's exec runs (on the CPU: OpenMP over images, AVX2 blocks).
class extrapolated_ddim {
    ilvr::buffer previous;
    bool has_previous = false;

public:
    float w = 0.5f;
    explicit extrapolated_ddim(float weight) : w(weight) {}

    struct update {
        float a, b, c, d, w;
        bool extrapolate;
        float *x, *x0, *prev;
        const float* eps;
        std::size_t n, eps_stride;  // elements of an image of x, and of the network's output
        ILVR_HOST_DEVICE ILVR_ALWAYS_INLINE void operator()(std::int64_t img, std::size_t e0, std::size_t e1) const {
            const auto off = static_cast<std::size_t>(img) * n;
            const float* ep = eps + static_cast<std::size_t>(img) * eps_stride;
            for (std::size_t e = e0; e < e1; ++e) {
                const float e2 = extrapolate ? (1 + w) * ep[e] - w * prev[off + e] : ep[e];
                x0[off + e] = a * x[off + e] - b * e2;
                x[off + e] = c * x0[off + e] + d * e2;
                prev[off + e] = ep[e];
            }
        }
    };
    template <class Setup> void prepare(const Setup& setup) { previous = setup.allocate(setup.shape), has_previous = false; }
    template <class Step> void step(Step& s) {
        const auto out = s.network(s.sample(), s.timestep());  // checked: shape, NaN/Inf, the step named
        const auto i = static_cast<std::size_t>(s.index());
        const auto& sched = s.process().schedule;
        const double ab = sched.alpha_bar()[i], abp = sched.alpha_bar_prev()[i];
        const update f{static_cast<float>(std::sqrt(1 / ab)), static_cast<float>(std::sqrt(1 / ab - 1)),
                       static_cast<float>(std::sqrt(abp)), static_cast<float>(std::sqrt(1 - abp)), w, has_previous,
                       s.sample().data(), s.predicted_x0().data(), previous.data(), out.values.data(),
                       out.image_size(), out.values.shape().image_size()};
        s.exec().for_each_block(s.sample().shape().n, out.image_size(), f);
        has_previous = true;
    }
};
static_assert(ilvr::step_rule<tempered_ddpm> && ilvr::solver<extrapolated_ddim>);

int main() {
    const auto base = ilvr::noise_schedule::linear(1000);
    const auto process = ilvr::respace(base, "25");
    ilvr::gaussian_prior_denoiser model(base, 0.5);  // exact eps of x0 ~ N(0, 0.5^2)
    ilvr::tensor reference({1, 3, 16, 16});          // your reference image in [-1, 1]
    for (std::size_t e = 0; e < reference.size(); ++e) reference[e] = 0.5f * std::sin(0.1f * static_cast<float>(e));
    auto run = [&](const char* name, auto rule) {
        ilvr::ilvr_conditioner ilvr(reference, {.factor = 4});
        ilvr::tensor samples({4, 3, 16, 16});
        std::int64_t calls = 0;
        ilvr::sampler(process, rule).run(model, ilvr::philox_noise(1), samples, ilvr,
                                         [&](const ilvr::step_event& ev) { calls = ev.network_calls; });
        double distance = 0;  // RMS distance of phi_4(sample) to phi_4(reference)
        ilvr::low_pass phi(16, 16, 4, ilvr::kernels::cubic);
        ilvr::tensor low(samples.shape()), low_ref(reference.shape());
        phi(samples, low), phi(reference, low_ref);
        for (std::size_t e = 0; e < low.size(); ++e) distance += std::pow(low[e] - low_ref[e % low_ref.size()], 2);
        std::printf("%s: %lld network calls, low frequencies within %.3f of the reference\n", name,
                    static_cast<long long>(calls), std::sqrt(distance / static_cast<double>(low.size())));
    };
    run("tempered ddpm", tempered_ddpm{.temperature = 0.8f});
    run("extrapolated ddim", extrapolated_ddim(0.5f));
}

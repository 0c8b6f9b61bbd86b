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
class extrapolated_ddim {
    ilvr::tensor previous;
    bool has_previous = false;

public:
    float w = 0.5f;
    explicit extrapolated_ddim(float weight) : w(weight) {}

    void prepare(const ilvr::solver_setup& setup) { previous = ilvr::tensor(setup.shape), has_previous = false; }
    void step(ilvr::solver_step& s) {
        const auto out = s.network(s.sample(), s.timestep());  // checked: shape, NaN/Inf, the step named
        const auto i = static_cast<std::size_t>(s.index());
        const auto& sched = s.process().schedule;
        const double ab = sched.alpha_bar()[i], abp = sched.alpha_bar_prev()[i];
        const auto a = static_cast<float>(std::sqrt(1 / ab)), b = static_cast<float>(std::sqrt(1 / ab - 1));
        const auto c = static_cast<float>(std::sqrt(abp)), d = static_cast<float>(std::sqrt(1 - abp));
        const std::size_t n = out.image_size();
        for (std::int64_t img = 0; img < s.sample().shape().n; ++img) {
            float* x = s.sample().batch(img, 1).data();
            float* x0 = s.predicted_x0().batch(img, 1).data();
            float* prev = previous.view().batch(img, 1).data();
            const float* eps = out.eps(img);
            for (std::size_t e = 0; e < n; ++e) {
                const float e2 = has_previous ? (1 + w) * eps[e] - w * prev[e] : eps[e];
                x0[e] = a * x[e] - b * e2;
                x[e] = c * x0[e] + d * e2;
                prev[e] = eps[e];
            }
        }
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

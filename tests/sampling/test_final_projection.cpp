// final_projection: the last step's refinement repeated with a clamp to [-1, 1].
#include "support/random.hpp"

#include <ilvr/ilvr.hpp>

#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

namespace {

const ilvr::noise_schedule& linear1000()
{
    static const auto s = ilvr::noise_schedule::linear(1000);
    return s;
}

// Root mean square of phi_N(clamp(x)) - phi_N(y) over the batch.
double low_frequency_error(const ilvr::tensor& x, const ilvr::tensor& y, ilvr::low_pass& phi)
{
    ilvr::tensor clamped = x, low_x(x.shape()), low_y(y.shape());
    for (auto& v : clamped.values()) v = std::min(1.0f, std::max(-1.0f, v));
    phi(clamped.view(), low_x.view());
    phi(y.view(), low_y.view());
    double sum = 0;
    for (std::size_t e = 0; e < x.size(); ++e) sum += std::pow(double(low_x[e]) - low_y[e], 2);
    return std::sqrt(sum / static_cast<double>(x.size()));
}

} // namespace

TEST_CASE("final_projection: the sample ends in [-1, 1] with phi_N of it closer to phi_N(y)", "[sampling][conditioners]")
{
    // A prior whose samples leave [-1, 1] (mean 0.6, std 0.5), a reference in it,
    // cubic phi_4 (not a projection), 10 SDE steps.
    const ilvr::shape4 shape{2, 1, 16, 16};
    auto y = ilvr_test::normal_tensor(shape, 51);
    for (auto& v : y.values()) v = std::min(1.0f, std::max(-1.0f, 0.6f + 0.5f * v));
    ilvr::tensor mu({1, 1, 16, 16});
    for (auto& v : mu.values()) v = 0.6f;
    ilvr::low_pass phi(16, 16, 4);
    const ilvr::sampler sampler(ilvr::respace(linear1000(), "10"), ilvr::dpmpp_2m_sde{});
    const ilvr::ilvr_options options{.factor = 4};
    auto draw = [&](int rounds, std::vector<ilvr::tensor>* states = nullptr) {
        ilvr::gaussian_prior_denoiser model(linear1000(), 0.5, mu);
        ilvr::tensor x(shape);
        auto record = [&](const ilvr::step_event& ev) {
            if (states && ev.index > 0) states->emplace_back(ev.sample.shape()), std::copy_n(ev.sample.data(), ev.sample.size(), states->back().data());
        };
        if (rounds == 0) {
            ilvr::ilvr_conditioner cond(y, options);
            sampler.run(model, ilvr::philox_noise(6), x, cond, record);
        } else {
            ilvr::final_projection cond(ilvr::ilvr_conditioner(y, options), rounds);
            sampler.run(model, ilvr::philox_noise(6), x, cond, record);
        }
        return x;
    };
    std::vector<ilvr::tensor> plain_states, projected_states;
    const auto plain = draw(0, &plain_states), once = draw(1), projected = draw(20, &projected_states);
    // Every step before the last is the wrapped conditioner's, bit for bit.
    REQUIRE(plain_states.size() == projected_states.size());
    for (std::size_t k = 0; k < plain_states.size(); ++k)
        REQUIRE(ilvr_test::max_abs_diff(plain_states[k].values(), projected_states[k].values()) == 0.0);
    // One round: the plain sample, clamped.
    bool outside = false;
    for (std::size_t e = 0; e < plain.size(); ++e) {
        outside = outside || std::abs(plain[e]) > 1.0f;
        REQUIRE(once[e] == std::min(1.0f, std::max(-1.0f, plain[e])));
    }
    REQUIRE(outside);  // the clamp matters here
    for (float v : projected.values()) REQUIRE(std::abs(v) <= 1.0f);
    const double before = low_frequency_error(plain, y, phi), after = low_frequency_error(projected, y, phi);
    INFO("RMS of phi(clamp(x)) - phi(y): one refinement " << before << ", 20 rounds " << after);
    // Measured: 7.1e-3 with one refinement, 1.5e-6 after 20 rounds.
    REQUIRE(after < 1e-3 * before);
}

TEST_CASE("final_projection refuses fewer than one round", "[sampling][conditioners][errors]")
{
    REQUIRE_THROWS_WITH(ilvr::final_projection(ilvr::ilvr_conditioner(ilvr::tensor({1, 1, 8, 8}), {.factor = 2}), 0),
                        Catch::Contains("final projection: rounds must be >= 1"));
}

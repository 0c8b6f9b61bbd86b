// Misuses of the sampling API, one per ILVR_BAD_CASE: each must fail to compile
// with exactly one error, naming the concept and the unmet requirement, reported
// from the user's call (tests/compile_fail/check.cmake compiles every case).
#include <ilvr/conditioner/conditioner.hpp>
#include <ilvr/random.hpp>
#include <ilvr/respacing.hpp>
#include <ilvr/sample.hpp>
#include <ilvr/sampler/ddpm.hpp>

#include <cstdint>
#include <span>

namespace {

struct not_a_rule {};
struct solver_without_prepare {
    void step(ilvr::solver_step&) {}
};
struct rule_without_proposal {
    ilvr::step_coefficients coefficients(const ilvr::noise_schedule&, int) const { return {}; }
};
struct conditioner_without_refine {
    void prepare(const ilvr::shape4&, const ilvr::respaced_schedule&, int) {}
};

ilvr::tensor model(ilvr::tensor_view<const float> x, std::span<const std::int64_t>) { return ilvr::tensor(x.shape()); }

} // namespace

int main()
{
    const auto process = ilvr::respace(ilvr::noise_schedule::linear(100), "10");
    const ilvr::philox_noise noise(1);
    ilvr::tensor x({1, 1, 4, 4});
    [[maybe_unused]] const ilvr::sampler ddpm(process, ilvr::ddpm{});
#if ILVR_BAD_CASE == 1
    const ilvr::sampler bad(process, not_a_rule{});
#elif ILVR_BAD_CASE == 2
    const ilvr::sampler bad(process, solver_without_prepare{});
#elif ILVR_BAD_CASE == 3
    const ilvr::sampler bad(process, rule_without_proposal{});
#elif ILVR_BAD_CASE == 4
    ddpm.run([](int) { return 0; }, noise, x);
#elif ILVR_BAD_CASE == 5
    ddpm.run([](ilvr::tensor_view<const float>, std::span<const std::int64_t>) { return 1.0f; }, noise, x);
#elif ILVR_BAD_CASE == 6
    ddpm.run(model, 42, x);
#elif ILVR_BAD_CASE == 7
    const ilvr::tensor constant({1, 1, 4, 4});
    ddpm.run(model, noise, constant);
#elif ILVR_BAD_CASE == 8
    const ilvr::no_conditioning frozen;
    ddpm.run(model, noise, x, frozen);
#elif ILVR_BAD_CASE == 9
    conditioner_without_refine half;
    ddpm.run(model, noise, x, half);
#elif ILVR_BAD_CASE == 10
    ddpm.run(model, noise, x, ilvr::no_conditioning{}, [](int step) { return step > 0; });
#endif
    return 0;
}

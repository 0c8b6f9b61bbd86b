// The sampling loop: x_T from noise, then for i = K-1 .. 0 one solver step (one
// or more checked network calls) and a conditioner refinement at the level the
// step lands on. docs/sampling.md describes it; docs/spec.md sections 4 and 6 the formulas.
#pragma once

#include <ilvr/conditioner/conditioner.hpp>
#include <ilvr/denoiser.hpp>
#include <ilvr/error.hpp>
#include <ilvr/exec.hpp>
#include <ilvr/random.hpp>
#include <ilvr/respacing.hpp>
#include <ilvr/sampler/solver.hpp>
#include <ilvr/sampler/step_math.hpp>
#include <ilvr/tensor.hpp>

#include <concepts>
#include <cstdint>
#include <span>
#include <string>
#include <type_traits>
#include <utility>

namespace ilvr {

/// What a step callback sees after step `index` (and its refinement).
struct step_event {
    int step;                               ///< 0 for the first step executed, steps - 1 for the last
    int index;                              ///< respaced index i (K-1 .. 0)
    int timestep;                           ///< original timestep tau[i] given to the denoiser
    tensor_view<const float> sample;        ///< x after the step: x_{i-1} in respaced terms
    tensor_view<const float> predicted_x0;  ///< the step's (clipped) x0 prediction
    int steps = 0;                          ///< K, the number of steps of the run
    std::int64_t network_calls = 0;         ///< network calls so far in the run, this step's included
};

/// Called after every step; returning false cancels sampling. A callback that
/// returns void never cancels.
template <class F>
concept step_callback = std::invocable<F&, const step_event&>;

/// Never cancels, sees nothing.
struct no_callback {
    void operator()(const step_event&) const {}
};

/// Options of one sampling run on the CPU (device::run_options runs the same
/// loop on the device).
struct run_options {
    std::uint64_t first_sample = 0;  ///< index of the batch's first image in the whole job (noise keys)
    int threads = 1;                 ///< threads for the library's own work (needs OpenMP)

    /// The backend the run's element work goes through.
    cpu_exec exec() const { return {threads}; }
};

namespace detail {

template <class>
inline constexpr bool dependent_false = false;

template <class R>
concept has_solver_step = requires(R& r, solver_step& s) { r.step(s); };
template <class R>
concept has_solver_prepare = requires(R& r, const solver_setup& s) { r.prepare(s); };
template <class R>
concept has_rule_coefficients = requires(const R& r, const noise_schedule& s) {
    { r.coefficients(s, 0) } -> std::same_as<step_coefficients>;
};
template <class R>
concept has_rule_proposal = requires(const R& r, const step_coefficients& c) {
    { r.proposal(c, 0.0f, 0.0f, 0.0f, 0.0f, true) } -> std::same_as<float>;
};

/// Reports the first requirement of ilvr::solver / ilvr::step_rule that `R`
/// misses, as one static_assert naming it. Always true: the report is the assert.
template <class R>
consteval bool diagnose_rule()
{
    if constexpr (solver<R> || step_rule<R>) {
    } else if constexpr (has_solver_step<R> && !has_solver_prepare<R>) {
        static_assert(dependent_false<R>, "ilvr::sampler: the rule is not an ilvr::solver: it has step(ilvr::solver_step&) "
                                          "but no prepare(const ilvr::solver_setup&)");
    } else if constexpr (has_solver_prepare<R> && !has_solver_step<R>) {
        static_assert(dependent_false<R>, "ilvr::sampler: the rule is not an ilvr::solver: it has prepare(const "
                                          "ilvr::solver_setup&) but no step(ilvr::solver_step&)");
    } else if constexpr (has_solver_step<R>) {
        static_assert(dependent_false<R>, "ilvr::sampler: the rule is not an ilvr::solver: it must be copy-constructible "
                                          "(every run works on its own copy)");
    } else if constexpr (has_rule_coefficients<R>) {
        static_assert(dependent_false<R>, "ilvr::sampler: the rule is not an ilvr::step_rule: it has no proposal(const "
                                          "ilvr::step_coefficients&, float x, float x0, float v, float z, bool learned) "
                                          "returning float, callable on a const rule");
    } else if constexpr (has_rule_proposal<R>) {
        static_assert(dependent_false<R>, "ilvr::sampler: the rule is not an ilvr::step_rule: it has no const "
                                          "coefficients(const ilvr::noise_schedule&, int) returning "
                                          "ilvr::step_coefficients");
    } else {
        static_assert(dependent_false<R>, "ilvr::sampler: the rule is neither an ilvr::step_rule (coefficients(schedule, "
                                          "i) and proposal(c, x, x0, v, z, learned)) nor an ilvr::solver "
                                          "(prepare(const solver_setup&) and step(solver_step&))");
    }
    return true;
}

/// The samples argument of run(): a mutable view, or a non-const lvalue of a
/// viewable container whose view is mutable.
template <class S>
concept mutable_samples = std::same_as<std::remove_cvref_t<S>, tensor_view<float>>
    || (std::is_lvalue_reference_v<S> && viewable<S> && requires(S s) {
           { as_view(s) } -> std::same_as<tensor_view<float>>;
       });

template <class C, class Noise, class Exec>
concept has_conditioner_prepare = requires(C& c, const shape4& shape, const respaced_schedule& process, const Exec& e) {
    c.prepare(shape, process, e);
} || (std::same_as<Exec, cpu_exec> && requires(C& c, const shape4& shape, const respaced_schedule& process) {
    c.prepare(shape, process, 1);
});
template <class C, class Noise, class Exec>
concept has_conditioner_refine = requires(C& c, const step_info& info, tensor_view<float> x, const Noise& noise, const Exec& e) {
    c.refine(info, x, noise, e);
} || (std::same_as<Exec, cpu_exec> && requires(C& c, const step_info& info, tensor_view<float> x, const Noise& noise) {
    c.refine(info, x, noise);
});

/// Whether run()'s arguments satisfy every concept (the deduced types).
template <class Model, class Noise, class Samples, class Cond, class Callback, class Exec = cpu_exec>
inline constexpr bool run_arguments_ok = Exec::template calls<std::remove_reference_t<Model>> && Exec::template draws_from<Noise>
    && mutable_samples<Samples> && !std::is_const_v<std::remove_reference_t<Cond>>
    && conditioner<std::remove_cvref_t<Cond>, Noise, Exec> && step_callback<Callback>;

/// Reports the first argument of run() that misses its concept, as one
/// static_assert naming the concept and the requirement. Always true.
template <class Model, class Noise, class Samples, class Cond, class Callback, class Exec = cpu_exec>
consteval bool diagnose_run()
{
    using M = std::remove_reference_t<Model>;
    using C = std::remove_reference_t<Cond>;
    if constexpr (!std::same_as<Exec, cpu_exec> && !Exec::template calls<M>) {
        static_assert(dependent_false<M>, "ilvr::sampler::run: the model is not a denoiser of this backend (on the "
                                          "device: ilvr::device::denoiser, called with device memory)");
    } else if constexpr (!std::same_as<Exec, cpu_exec> && !Exec::template draws_from<Noise>) {
        static_assert(dependent_false<M>, "ilvr::sampler::run: the noise is not a noise source of this backend (on "
                                          "the device: ilvr::device::philox_noise or a replay_noise's view())");
    } else if constexpr (std::same_as<Exec, cpu_exec>
                         && !std::invocable<M&, tensor_view<const float>, std::span<const std::int64_t>>) {
        static_assert(dependent_false<M>, "ilvr::sampler::run: the model is not an ilvr::denoiser: it cannot be called as "
                                          "model(ilvr::tensor_view<const float> x, std::span<const std::int64_t> t)");
    } else if constexpr (std::same_as<Exec, cpu_exec> && !denoiser<M>) {
        static_assert(dependent_false<M>, "ilvr::sampler::run: the model is not an ilvr::denoiser: what it returns is not "
                                          "viewable (return an ilvr::tensor, a tensor_view, or an Eigen or xtensor "
                                          "container with that backend's header included)");
    } else if constexpr (!Exec::template draws_from<Noise>) {
        static_assert(dependent_false<M>, "ilvr::sampler::run: the noise is not an ilvr::noise_source: it cannot be "
                                          "called as noise(ilvr::noise_purpose, int step, std::uint64_t first_sample, "
                                          "ilvr::tensor_view<float> out) on a const object");
    } else if constexpr (!mutable_samples<Samples>) {
        static_assert(dependent_false<M>, "ilvr::sampler::run: the samples are not writable: pass an "
                                          "ilvr::tensor_view<float> or a non-const lvalue of a viewable container "
                                          "(ilvr::tensor, Eigen, xtensor)");
    } else if constexpr (std::is_const_v<C>) {
        static_assert(dependent_false<M>, "ilvr::sampler::run: the conditioner is const: its prepare() and refine() "
                                          "update its buffers, so pass it as a non-const object");
    } else if constexpr (!std::same_as<Exec, cpu_exec> && !exec_conditioner<C, Noise, Exec>) {
        static_assert(dependent_false<M>, "ilvr::sampler::run: the conditioner runs on the CPU only: write its prepare "
                                          "and refine as templates taking the exec (docs/sampling.md) to run it on "
                                          "this backend");
    } else if constexpr (!has_conditioner_prepare<C, Noise, Exec>) {
        static_assert(dependent_false<M>, "ilvr::sampler::run: the conditioner is not an ilvr::conditioner: it has no "
                                          "prepare(const ilvr::shape4&, const ilvr::respaced_schedule&, int threads)");
    } else if constexpr (!has_conditioner_refine<C, Noise, Exec>) {
        static_assert(dependent_false<M>, "ilvr::sampler::run: the conditioner is not an ilvr::conditioner: it has no "
                                          "refine(const ilvr::step_info&, ilvr::tensor_view<float>, const Noise&) for "
                                          "this noise source");
    } else if constexpr (!step_callback<Callback>) {
        static_assert(dependent_false<M>, "ilvr::sampler::run: the callback is not an ilvr::step_callback: it cannot be "
                                          "called as callback(const ilvr::step_event&)");
    }
    return true;
}

template <class Rule, bool = solver<Rule>, bool = step_rule<Rule>>
struct solver_for {
    struct type {};  // neither: diagnose_rule has reported it
};
template <class Rule, bool Rule_too>
struct solver_for<Rule, true, Rule_too> {
    using type = Rule;
};
template <class Rule>
struct solver_for<Rule, false, true> {
    using type = rule_solver<Rule>;
};

} // namespace detail

/// Draws samples from a respaced process with a solver (ilvr::solver: dpmpp_2m,
/// heun, the user's own) or a step rule (ilvr::step_rule: ddpm, ddim, run through
/// rule_solver), optionally conditioned. Holds no per-run state: each run()
/// works on its own copy of the solver and allocates its buffers once.
template <class Rule>
class sampler {
    static_assert(detail::diagnose_rule<Rule>());
    static constexpr bool valid_rule = solver<Rule> || step_rule<Rule>;
    using solver_type = typename detail::solver_for<Rule>::type;

public:
    /// A sampler of `process` with `rule` (a step rule or a solver).
    sampler(respaced_schedule process, Rule rule = {}) : process_(std::move(process)), rule_(std::move(rule)) {}

    /// The sampled process.
    const respaced_schedule& process() const { return process_; }
    /// The step rule or solver as given.
    const Rule& rule() const { return rule_; }

    /// Samples into `samples` ([B, C, H, W]: an ilvr::tensor_view<float> or a
    /// non-const viewable container: ilvr::tensor, Eigen, xtensor; its contents
    /// are overwritten, starting from x_T). Returns false if the callback
    /// cancelled. Throws ilvr::error on a bad denoiser output (shape, NaN/Inf),
    /// naming the step and, after the first, the call within it. Arguments that
    /// miss their concept fail to compile with one message naming it.
    /// `options`: run_options on the CPU; device::run_options runs the same loop,
    /// solver and conditioner on the device (samples, noise and the model's
    /// memory then on the device: docs/cuda.md).
    template <class Model, class Noise, class Samples, class Conditioner = no_conditioning,
              class Callback = no_callback, class Options = run_options>
    bool run(Model&& model, const Noise& noise, Samples&& samples, Conditioner&& cond = {}, Callback&& callback = {},
             Options options = {}) const
    {
        using Exec = decltype(options.exec());
        static_assert(detail::diagnose_run<Model, Noise, Samples, Conditioner, Callback, Exec>());
        static_assert(!valid_rule || solver<solver_type, Exec>,
                      "ilvr::sampler::run: the solver runs on the CPU only: write its prepare and step as templates on "
                      "the setup and the step (docs/sampling.md) to run it on this backend");
        if constexpr (valid_rule && solver<solver_type, Exec>
                      && detail::run_arguments_ok<Model, Noise, Samples, Conditioner, Callback, Exec>)
            return run_view(model, noise, tensor_view<float>(as_view(samples)), cond, callback, options.first_sample,
                            options.exec());
        else
            return false;
    }

private:
    solver_type make_solver() const
    {
        if constexpr (solver<Rule>) return rule_;
        else return solver_type(rule_);
    }

    template <class Model, class Noise, class Conditioner, class Callback, class Exec>
    bool run_view(Model& model, const Noise& noise, tensor_view<float> samples, Conditioner& cond, Callback& callback,
                  std::uint64_t first_sample, const Exec& exec) const
    {
        const int threads = exec.threads;
        const shape4 shape = samples.shape();
        detail::require(shape.n >= 1 && shape.c >= 1 && shape.h >= 1 && shape.w >= 1,
                        "sampler: sample shape " + shape.to_string() + " is empty");
        detail::require(threads >= 1, "sampler: threads must be >= 1");
        const int steps = static_cast<int>(process_.timesteps.size());
        exec.check_noise(noise, first_sample, shape, steps);
        detail::prepare_on(cond, shape, process_, exec);
        solver_type solver = make_solver();  // this run's own copy: its history starts empty
        solver.prepare(basic_solver_setup<Exec>{shape, &process_, threads, exec});
        const buffer x0 = exec.allocate(shape);

        using checked = checked_denoiser<std::remove_reference_t<Model>, Exec>;
        checked network(model, exec);
        // The solver sees the network and the noise through two plain function
        // pointers: one indirect call per network call or noise draw.
        auto call = [](void* n, tensor_view<const float> x, int timestep, int step, int number) {
            return (*static_cast<checked*>(n))(x, timestep, step, number);
        };
        auto draw = [](const void* n, const Exec& e, int index, std::uint64_t first, tensor_view<float> z) {
            e.fill_noise(*static_cast<const Noise*>(n), noise_purpose::proposal, index, first, z);
        };

        exec.fill_noise(noise, noise_purpose::initial, 0, first_sample, samples);
        for (int k = 0; k < steps; ++k) {
            basic_solver_step<Exec> step(k, &process_, threads, exec, first_sample, samples, x0.view(), &network, +call,
                                         &noise, +draw);
            solver.step(step);
            const int i = step.index(), tau = step.timestep();
            // The step landed on alpha_bar_prev[i]: the conditioner refines there.
            detail::refine_on(cond, step_info{i, tau, &process_, first_sample, threads}, samples, noise, exec);

            const step_event event{k, i, tau, samples, x0.view(), steps, network.calls()};
            if constexpr (std::is_same_v<std::invoke_result_t<Callback&, const step_event&>, bool>) {
                if (!callback(event)) return exec.synchronize(), false;
            } else {
                callback(event);
            }
        }
        exec.synchronize();
        return true;
    }

    respaced_schedule process_;
    Rule rule_;
};

} // namespace ilvr

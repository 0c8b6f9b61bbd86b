// Solvers: what advances the sampling loop by one step. A solver is a small
// object that the sampler copies once per run, prepares, and hands each step:
// it calls the network as often as it needs (always through the checked call),
// keeps whatever history it likes, and leaves the sample at the step's landing
// level. The per-element step rules (ddpm, ddim) run as solvers through
// rule_solver. docs/sampling.md describes the contract.
#pragma once

#include <ilvr/denoiser.hpp>
#include <ilvr/detail/cpu.hpp>
#include <ilvr/detail/parallel.hpp>
#include <ilvr/error.hpp>
#include <ilvr/exec.hpp>
#include <ilvr/random.hpp>
#include <ilvr/respacing.hpp>
#include <ilvr/sampler/step_math.hpp>
#include <ilvr/tensor.hpp>

#include <algorithm>
#include <concepts>
#include <cstdint>
#include <exception>
#include <optional>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace ilvr {

/// A step rule: float32 scalars per respaced index (`coefficients`) and a
/// per-element proposal, a static or const member function (the CUDA kernels
/// need it static). Single-call, stateless steps such as DDPM and DDIM.
template <class S>
concept step_rule = requires(const S& s, const noise_schedule& sched, const step_coefficients& c) {
    { s.coefficients(sched, 0) } -> std::same_as<step_coefficients>;
    { s.proposal(c, 0.0f, 0.0f, 0.0f, 0.0f, true) } -> std::same_as<float>;
};

/// One step rule's step on a block of elements: x0 = predict_x0(x, eps), then
/// x <- rule.proposal(x, x0, v, z), x0 kept; elementwise, so x is updated in place.
/// `Learned` (eps + v output) is a template parameter: the branch out of the loop.
template <class Rule, bool Learned>
struct rule_step_block {
    Rule rule;
    step_coefficients c;
    float* x;
    float* x0;
    const float* model_out;  ///< eps [B, C, H, W], or eps and v [B, 2C, H, W]
    const float* z;
    std::size_t per_image;

    ILVR_HOST_DEVICE ILVR_ALWAYS_INLINE void operator()(std::int64_t b, std::size_t e0, std::size_t e1) const
    {
        const auto off = static_cast<std::size_t>(b) * per_image;
        float* xb = x + off;
        float* x0b = x0 + off;
        const float* eps = model_out + (Learned ? 2 * off : off);
        const float* v = Learned ? eps + per_image : eps;
        const float* zb = z + off;
        // Two passes per block (the exec's blocks are 2048 elements on the CPU, so
        // the second reads x0 from L1): predict x0, then the proposal. Fused, GCC
        // does not vectorise the clamp of x0 next to four streams ("control flow in
        // loop", 1.8 ms instead of 0.3 ms at 3 x 256 x 256); split, both vectorise.
        // The coefficients and the rule are local copies, so no store aliases them.
        const step_coefficients cc = c;
        const Rule r = rule;
        for (std::size_t e = e0; e < e1; ++e) x0b[e] = predict_x0(cc, xb[e], eps[e]);
        for (std::size_t e = e0; e < e1; ++e) xb[e] = r.proposal(cc, xb[e], x0b[e], v[e], zb[e], Learned);
    }
};

/// Applies one step to a batch on `exec`: x <- rule.proposal(x, x0(x, eps), v, z),
/// x0 saved. Elementwise, so x is updated in place.
template <class Exec, step_rule Rule>
void apply_step(const Exec& exec, const Rule& rule, const step_coefficients& c, tensor_view<float> x,
                tensor_view<const float> model_out, model_output kind, tensor_view<const float> z, tensor_view<float> x0)
{
    const shape4 s = x.shape();
    const std::size_t per_image = s.image_size();
    if (kind == model_output::eps_and_v)
        exec.for_each_block(s.n, per_image, rule_step_block<Rule, true>{rule, c, x.data(), x0.data(), model_out.data(), z.data(), per_image});
    else
        exec.for_each_block(s.n, per_image, rule_step_block<Rule, false>{rule, c, x.data(), x0.data(), model_out.data(), z.data(), per_image});
}

/// apply_step on the CPU with `threads` threads.
template <step_rule Rule>
void apply_step(const Rule& rule, const step_coefficients& c, tensor_view<float> x, tensor_view<const float> model_out,
                model_output kind, tensor_view<const float> z, tensor_view<float> x0, int threads)
{
    apply_step(cpu_exec{threads}, rule, c, x, model_out, kind, z, x0);
}

/// One checked network evaluation, viewed: eps, or eps then the learned-range v.
struct network_output {
    tensor_view<const float> values;        ///< [B, C, H, W] (eps) or [B, 2C, H, W] (eps, then v)
    model_output kind = model_output::eps;  ///< which of the two

    /// Elements of one image of the sample (C * H * W).
    std::size_t image_size() const
    {
        return values.shape().image_size() / (kind == model_output::eps_and_v ? 2 : 1);
    }
    /// eps of image b (image_size() floats).
    const float* eps(std::int64_t b) const
    {
        return values.data() + static_cast<std::size_t>(b) * values.shape().image_size();
    }
    /// The learned-range v of image b (eps_and_v only).
    const float* v(std::int64_t b) const { return eps(b) + image_size(); }
};

/// A denoiser wrapped so that every call is checked: its exceptions are rethrown
/// as ilvr::error naming the step (and the call within it), the output's shape
/// must be eps or eps + v of the input, and it must hold no NaN or Inf. The
/// sampler calls the network only through it; a user's own loop can use it too.
/// Holds the last output: a view it returns is valid until the next call.
/// `Exec` calls the model and scans its output (cpu_exec, or device::exec with
/// the model's memory on the device).
template <class Model, class Exec = cpu_exec>
class checked_denoiser {
    static_assert(Exec::template calls<Model>, "ilvr::checked_denoiser: Model is not a denoiser of this backend");
    using result = decltype(std::declval<const Exec&>().invoke(std::declval<Model&>(),
                                                               std::declval<tensor_view<const float>>(),
                                                               std::declval<std::span<const std::int64_t>>()));
    static constexpr bool by_reference = std::is_lvalue_reference_v<result>;
    using held = std::conditional_t<by_reference, std::remove_reference_t<result>*,
                                    std::optional<std::remove_cvref_t<result>>>;

public:
    /// Wraps `model` (not owned); the NaN scan runs on `threads` threads.
    explicit checked_denoiser(Model& model, int threads = 1)
        requires std::same_as<Exec, cpu_exec>
        : model_(&model), exec_{threads}
    {
    }
    /// Wraps `model` (not owned), called and checked on `exec`.
    checked_denoiser(Model& model, Exec exec) : model_(&model), exec_(exec) {}

    /// Calls the model on `x` with every image at ORIGINAL timestep `timestep`;
    /// `step` (the loop step) and `call` (1 for the step's first call) name the
    /// call in errors.
    network_output operator()(tensor_view<const float> x, int timestep, int step, int call = 1)
    {
        const shape4 in = x.shape();
        t_.assign(static_cast<std::size_t>(in.n), std::int64_t{timestep});
        held_ = {};  // the previous output goes first: one at a time, as before
        try {
            if constexpr (by_reference) held_ = &exec_.invoke(*model_, x, std::span<const std::int64_t>(t_));
            else held_.emplace(exec_.invoke(*model_, x, std::span<const std::int64_t>(t_)));
        } catch (const std::exception& e) {
            throw detail::denoiser_failed(step, timestep, e.what(), call);
        }
        ++calls_;
        const tensor_view<const float> out = as_view(std::as_const(*held_));
        const model_output kind = detail::check_model_output(in, out.shape(), step, call);
        exec_.check_finite(out, step, timestep, call);
        return {out, kind};
    }

    /// Network calls made through this wrapper.
    std::int64_t calls() const { return calls_; }

private:
    Model* model_;
    Exec exec_;
    std::vector<std::int64_t> t_;
    held held_{};
    std::int64_t calls_ = 0;
};

/// What a solver is told once per run, before the first step, on backend `Exec`.
template <class Exec>
struct basic_solver_setup {
    shape4 shape;                      ///< the batch [B, C, H, W]
    const respaced_schedule* process;  ///< the sampled process
    int threads;                       ///< threads for the solver's own loops (CPU)
    Exec exec;                         ///< the run's backend

    /// A zero-filled work buffer of `s` in the run's memory.
    buffer allocate(const shape4& s) const { return exec.allocate(s); }
};
/// The CPU's solver setup.
using solver_setup = basic_solver_setup<cpu_exec>;

template <class Rule>
class sampler;

/// One step as a solver sees it: the sample to advance in place from noise level
/// alpha_bar[index] to alpha_bar_prev[index] (the next index's level; 1, clean,
/// after index 0), the checked network, the step's proposal noise, and a buffer
/// for the step's x0 prediction (shown to the callback), and the backend `Exec`
/// that runs the step's element work. Made by the sampler.
template <class Exec>
class basic_solver_step {
public:
    /// Loop step k: 0 for the first step executed, steps() - 1 for the last.
    int step() const { return step_; }
    /// Number of steps K of the run.
    int steps() const { return static_cast<int>(process_->timesteps.size()); }
    /// Respaced index i = K - 1 - k.
    int index() const { return steps() - 1 - step_; }
    /// The original timestep tau[i] of the sample's current level.
    int timestep() const { return process_->timesteps[static_cast<std::size_t>(index())]; }
    /// The sampled process (levels: process().schedule.alpha_bar(), its timesteps tau).
    const respaced_schedule& process() const { return *process_; }
    /// Threads for the solver's own loops (CPU).
    int threads() const { return threads_; }
    /// The run's backend: for_each_block, allocate (docs/sampling.md).
    const Exec& exec() const { return exec_; }
    /// Job index of the batch's first image (noise keys).
    std::uint64_t first_sample() const { return first_sample_; }
    /// The batch x, to be advanced in place.
    tensor_view<float> sample() const { return sample_; }
    /// Where the solver writes its x0 prediction of this step.
    tensor_view<float> predicted_x0() const { return x0_; }

    /// Calls the network on x (every image at ORIGINAL timestep `timestep`),
    /// checked for shape and NaN/Inf; the view is valid until the next call.
    network_output network(tensor_view<const float> x, int timestep)
    {
        ++calls_;
        return network_(model_, x, timestep, step_, calls_);
    }
    /// Network calls made in this step so far.
    int calls() const { return calls_; }

    /// Fills z [B, C, H, W] with this step's proposal noise (per image, keyed by
    /// the image and the index, so it does not depend on the batch).
    void proposal_noise(tensor_view<float> z) const { noise_(noise_source_, exec_, index(), first_sample_, z); }

private:
    template <class Rule>
    friend class sampler;

    using network_fn = network_output (*)(void*, tensor_view<const float>, int, int, int);
    using noise_fn = void (*)(const void*, const Exec&, int, std::uint64_t, tensor_view<float>);

    basic_solver_step(int step, const respaced_schedule* process, int threads, const Exec& exec,
                      std::uint64_t first_sample, tensor_view<float> sample, tensor_view<float> x0, void* model,
                      network_fn network, const void* noise_source, noise_fn noise)
        : step_(step), process_(process), threads_(threads), exec_(exec), first_sample_(first_sample), sample_(sample),
          x0_(x0), model_(model), network_(network), noise_source_(noise_source), noise_(noise)
    {
    }

    int step_;
    const respaced_schedule* process_;
    int threads_;
    Exec exec_;
    std::uint64_t first_sample_;
    tensor_view<float> sample_, x0_;
    void* model_;
    network_fn network_;
    const void* noise_source_;
    noise_fn noise_;
    int calls_ = 0;
};

/// The CPU's solver step.
using solver_step = basic_solver_step<cpu_exec>;

/// A solver: copyable (each run works on its own copy, so history never leaks
/// between runs), told the run's shape once (`prepare`: allocate, reset state,
/// validate), then handed every step (`step`). On backend `Exec`: a solver whose
/// prepare and step are templates on the setup and step (docs/sampling.md) runs
/// on every backend; one written for solver_setup and solver_step on the CPU.
template <class S, class Exec = cpu_exec>
concept solver = std::copy_constructible<S>
    && requires(S& s, const basic_solver_setup<Exec>& setup, basic_solver_step<Exec>& step) {
           s.prepare(setup);
           s.step(step);
       };

/// A step rule run as a solver: one network call, the rule's proposal noise
/// when it adds noise, then apply_step. Gives exactly the bits of the rule.
template <step_rule Rule>
class rule_solver {
public:
    /// Wraps `rule`.
    explicit rule_solver(Rule rule = {}) : rule_(rule) {}

    /// The wrapped rule.
    const Rule& rule() const { return rule_; }

    /// Allocates the proposal-noise buffer.
    template <class Exec>
    void prepare(const basic_solver_setup<Exec>& setup)
    {
        z_ = setup.allocate(setup.shape);
    }

    /// One call, the rule's coefficients of this index, the noise, the proposal.
    template <class Exec>
    void step(basic_solver_step<Exec>& s)
    {
        const network_output out = s.network(s.sample(), s.timestep());
        const step_coefficients c = rule_.coefficients(s.process().schedule, s.index());
        if (c.noise) s.proposal_noise(z_.view());
        apply_step(s.exec(), rule_, c, s.sample(), out.values, out.kind, z_.view(), s.predicted_x0());
    }

private:
    Rule rule_;
    buffer z_;
};

} // namespace ilvr

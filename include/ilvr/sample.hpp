// The sampling loop: x_T from noise, then for i = K-1 .. 0 a denoiser call, a
// sampler step and a conditioner refinement. Ref: docs/spec.md sections 4 and 6.
#pragma once

#include <ilvr/conditioner/conditioner.hpp>
#include <ilvr/denoiser.hpp>
#include <ilvr/detail/cpu.hpp>
#include <ilvr/detail/parallel.hpp>
#include <ilvr/error.hpp>
#include <ilvr/random.hpp>
#include <ilvr/respacing.hpp>
#include <ilvr/sampler/step_math.hpp>
#include <ilvr/tensor.hpp>

#include <concepts>
#include <cstdint>
#include <exception>
#include <string>
#include <algorithm>
#include <type_traits>
#include <vector>

namespace ilvr {

/// A step rule (ddpm, ddim, or the user's): float32 scalars per index, and the
/// per-element proposal.
template <class S>
concept step_rule = requires(const S& s, const noise_schedule& sched, const step_coefficients& c) {
    { s.coefficients(sched, 0) } -> std::same_as<step_coefficients>;
    { S::proposal(c, 0.0f, 0.0f, 0.0f, 0.0f, true) } -> std::same_as<float>;
};

/// What a step callback sees after step `index` (and its refinement).
struct step_event {
    int step;                            ///< 0 for the first step executed, K-1 for the last
    int index;                           ///< respaced index i (K-1 .. 0)
    int timestep;                        ///< original timestep tau[i] given to the denoiser
    tensor_view<const float> sample;     ///< x after the step: x_{i-1} in respaced terms
    tensor_view<const float> predicted_x0;  ///< the step's (clipped) x0 prediction
};

/// Called after every step; returning false cancels sampling. A callback that
/// returns void never cancels.
template <class F>
concept step_callback = std::invocable<F&, const step_event&>;

/// Never cancels, sees nothing.
struct no_callback {
    void operator()(const step_event&) const {}
};

/// Options of one sampling run.
struct run_options {
    std::uint64_t first_sample = 0;  ///< index of the batch's first image in the whole job (noise keys)
    int threads = 1;                 ///< threads for the library's own work (needs OpenMP)
};

/// Applies one step to a batch: x <- rule.proposal(x, x0(x, eps), v, z), x0 saved.
/// Elementwise, so x is updated in place.
template <step_rule Rule>
void apply_step(const Rule&, const step_coefficients& c, tensor_view<float> x, tensor_view<const float> model_out,
                model_output kind, tensor_view<const float> z, tensor_view<float> x0, int threads)
{
    const shape4 s = x.shape();
    const std::size_t per_image = s.image_size();
    const bool learned = kind == model_output::eps_and_v;
    const std::size_t out_stride = learned ? 2 * per_image : per_image;
    detail::parallel_for(s.n, threads, [&](std::int64_t b, int) {
        const auto ub = static_cast<std::size_t>(b);
        float* xb = x.data() + ub * per_image;
        float* x0b = x0.data() + ub * per_image;
        const float* eps = model_out.data() + ub * out_stride;
        const float* v = learned ? eps + per_image : eps;
        const float* zb = z.data() + ub * per_image;
        // Two passes per block of 2048 elements (8 KiB a stream, so the second pass
        // reads x0 from L1): predict x0, then the proposal. Fused, GCC does not
        // vectorise the clamp of x0 next to four streams ("control flow in loop",
        // 1.8 ms instead of 0.3 ms at 3 x 256 x 256); split, both loops vectorise.
        // The coefficients are a local copy: read through a reference they could
        // alias the stores. Same arithmetic per element, so the same bits.
        const step_coefficients cc = c;
        auto run = [&](auto learned_output) {
            detail::vectorised([&]() ILVR_ALWAYS_INLINE {
                for (std::size_t e0 = 0; e0 < per_image; e0 += 2048) {
                    const std::size_t e1 = std::min(per_image, e0 + 2048);
                    for (std::size_t e = e0; e < e1; ++e) x0b[e] = predict_x0(cc, xb[e], eps[e]);
                    for (std::size_t e = e0; e < e1; ++e)
                        xb[e] = Rule::proposal(cc, xb[e], x0b[e], v[e], zb[e], learned_output);
                }
            });
        };
        if (learned) run(std::true_type{});  // the branch out of the loop
        else run(std::false_type{});
    });
}

/// Draws samples from a respaced process with a step rule, optionally
/// conditioned. Holds no per-run state; run() allocates its buffers once.
template <step_rule Rule>
class sampler {
public:
    sampler(respaced_schedule process, Rule rule = {}) : process_(std::move(process)), rule_(rule) {}

    const respaced_schedule& process() const { return process_; }
    const Rule& rule() const { return rule_; }

    /// Samples into `samples` ([B, C, H, W]; its contents are overwritten, starting
    /// from x_T). Returns false if the callback cancelled. Throws ilvr::error on a
    /// bad denoiser output (shape, NaN/Inf), naming the step.
    template <denoiser Model, noise_source Noise, class Conditioner = no_conditioning, class Callback = no_callback>
        requires conditioner<std::remove_cvref_t<Conditioner>, Noise> && step_callback<Callback>
    bool run(Model&& model, const Noise& noise, tensor_view<float> samples, Conditioner&& cond = {},
             Callback&& callback = {}, run_options options = {}) const
    {
        const shape4 shape = samples.shape();
        detail::require(shape.n >= 1 && shape.c >= 1 && shape.h >= 1 && shape.w >= 1,
                        "sampler: sample shape " + shape.to_string() + " is empty");
        detail::require(options.threads >= 1, "sampler: threads must be >= 1");
        cond.prepare(shape, process_, options.threads);
        tensor z(shape), x0(shape);
        std::vector<std::int64_t> t(static_cast<std::size_t>(shape.n));
        const int steps = static_cast<int>(process_.timesteps.size());

        noise(noise_purpose::initial, 0, options.first_sample, samples);
        for (int i = steps - 1, k = 0; i >= 0; --i, ++k) {
            const int tau = process_.timesteps[static_cast<std::size_t>(i)];
            std::fill(t.begin(), t.end(), std::int64_t{tau});
            const auto& out = call_denoiser(model, samples, t, k, tau);
            const tensor_view<const float> eps = as_view(out);
            const model_output kind = detail::check_model_output(shape, eps.shape(), k);
            detail::check_finite(eps, k, tau, options.threads);

            const step_coefficients c = rule_.coefficients(process_.schedule, i);
            if (c.noise)  // per image, in parallel: draws are keyed by image, so the split does not matter
                detail::parallel_for(shape.n, options.threads, [&](std::int64_t b, int) {
                    noise(noise_purpose::proposal, i, options.first_sample + static_cast<std::uint64_t>(b),
                          z.view().batch(b, 1));
                });
            apply_step(rule_, c, samples, eps, kind, z.view(), x0.view(), options.threads);
            cond.refine(step_info{i, tau, &process_, options.first_sample, options.threads}, samples, noise);

            const step_event event{k, i, tau, samples, x0.view()};
            if constexpr (std::is_same_v<std::invoke_result_t<Callback&, const step_event&>, bool>) {
                if (!callback(event)) return false;
            } else {
                callback(event);
            }
        }
        return true;
    }

    /// As above for any viewable container (ilvr::tensor, Eigen, xtensor).
    template <denoiser Model, noise_source Noise, viewable Samples, class Conditioner = no_conditioning,
              class Callback = no_callback>
        requires(!std::same_as<std::remove_cvref_t<Samples>, tensor_view<float>>)
    bool run(Model&& model, const Noise& noise, Samples& samples, Conditioner&& cond = {}, Callback&& callback = {},
             run_options options = {}) const
    {
        return run(std::forward<Model>(model), noise, tensor_view<float>(as_view(samples)),
                   std::forward<Conditioner>(cond), std::forward<Callback>(callback), options);
    }

private:
    // The denoiser's own exceptions are rethrown as ilvr::error naming the step,
    // so a failure deep in a long job says where it happened.
    template <class Model>
    static decltype(auto) call_denoiser(Model& model, tensor_view<float> x, const std::vector<std::int64_t>& t, int step,
                                        int tau)
    {
        try {
            return model(tensor_view<const float>(x), std::span<const std::int64_t>(t));
        } catch (const std::exception& e) {
            throw error("denoiser failed at step " + std::to_string(step) + " (timestep " + std::to_string(tau)
                        + "): " + e.what());
        }
    }

    respaced_schedule process_;
    Rule rule_;
};

} // namespace ilvr

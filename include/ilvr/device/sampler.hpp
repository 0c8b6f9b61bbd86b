// The sampling loop on the device: the samples stay in device memory, each step
// is a denoiser call plus a few functors queued on one stream, and the host
// waits only when the run ends. Same semantics, noise keys and errors as
// ilvr::sampler (sample.hpp); the step rules are ilvr::ddpm and ilvr::ddim.
#pragma once

#include <ilvr/conditioner/ilvr.hpp>
#include <ilvr/denoiser.hpp>
#include <ilvr/device/kernels.hpp>
#include <ilvr/device/low_pass.hpp>
#include <ilvr/device/noise.hpp>
#include <ilvr/device/system.hpp>
#include <ilvr/device/tensor.hpp>
#include <ilvr/error.hpp>
#include <ilvr/respacing.hpp>
#include <ilvr/sample.hpp>

#include <algorithm>
#include <climits>
#include <cmath>
#include <concepts>
#include <cstdint>
#include <exception>
#include <optional>
#include <span>
#include <type_traits>
#include <vector>

namespace ilvr::device {

/// ILVR on the device: x = x' + phi_N(y_a - x'), as ilvr::ilvr_conditioner, with
/// the reference noise drawn inside the residual functor and the final addition
/// done by phi_N's last pass.
class ilvr_conditioner {
public:
    /// reference: host image(s) [1 or B, C, H, W], validated as on the CPU;
    /// max_images: the largest batch it will refine.
    ilvr_conditioner(const ilvr::tensor& reference, ilvr_options options, std::size_t max_images)
        : host_(reference, options), reference_(reference), max_images_(max_images)
    {
    }

    /// The options.
    const ilvr_options& options() const { return host_.options(); }

    /// Checks the batch and range (the CPU conditioner's checks and messages);
    /// allocates the residual once.
    void prepare(const shape4& batch, const respaced_schedule& process)
    {
        host_.check(batch, process);
        detail::require(static_cast<std::size_t>(batch.n) <= max_images_, [&] {
            return "device::ilvr_conditioner: built for " + std::to_string(max_images_) + " images, given "
                + batch.to_string();
        });
        const ilvr_options& o = host_.options();
        if (!filter_)
            filter_.emplace(static_cast<int>(batch.h), static_cast<int>(batch.w), o.factor, o.kernel,
                            max_images_ * static_cast<std::size_t>(batch.c));
        if (!(residual_.shape() == batch)) residual_ = tensor(batch);
    }

    /// Refines the proposal x (device memory) in place if step info.index is in the range.
    template <class Noise>
    void refine(const step_info& info, tensor_view<float> x, const Noise& noise, stream s)
    {
        const ilvr_options& o = host_.options();
        if (!o.range.contains(info.index, info.timestep)) return;
        const auto& schedule = info.process->schedule;
        const double a = ilvr::detail::reference_level(schedule, info.index, o.level);
        const shape4 shape = x.shape();
        const std::uint64_t per_image = shape.image_size();
        for_each_index(s, shape.n * static_cast<std::int64_t>(kernels::blocks_of(per_image)),
                       kernels::ilvr_residual<Noise>{static_cast<float>(std::sqrt(a)), static_cast<float>(std::sqrt(1.0 - a)),
                                                     reference_.data(), reference_.shape().n == 1, x.data(),
                                                     residual_.data(), noise, info.index, info.first_sample, per_image});
        filter_->apply(residual_.view(), x.data(), x.data(), s);
    }

private:
    ilvr::ilvr_conditioner host_;  // validation and options
    tensor reference_;
    std::size_t max_images_;
    std::optional<low_pass> filter_;  // built at the first prepare, once the reference is known to fit
    tensor residual_;
};

/// Unconditional sampling on the device.
struct no_conditioning {
    /// Nothing to check.
    void prepare(const shape4&, const respaced_schedule&) {}
    /// Leaves the proposal as it is.
    template <class Noise>
    void refine(const step_info&, tensor_view<float>, const Noise&, stream)
    {
    }
};

/// Options of a device run.
struct run_options {
    std::uint64_t first_sample = 0;  ///< job index of the batch's first image (noise keys)
    device::stream stream{};         ///< CUDA: the stream of every functor and of the denoiser's work
};

/// A device denoiser is called as model(x, t, stream) or model(x, t), with x a
/// view of device memory and t on the host, and returns a viewable of device
/// memory (eps [B, C, H, W] or eps and v [B, 2C, H, W]). On the host system
/// device memory is host memory, so every CPU denoiser is one.
template <class D>
concept denoiser = requires(D& d, tensor_view<const float> x, std::span<const std::int64_t> t, stream s) {
    { d(x, t, s) } -> viewable;
} || ilvr::denoiser<D>;

/// A device noise source: philox_noise or replay_view.
template <class N>
concept noise_source = requires(const N& n, float out[4]) {
    n.block(noise_purpose::initial, 0, std::uint64_t{0}, std::uint32_t{0}, out);
    n.check(std::uint64_t{0}, std::uint64_t{1}, std::uint64_t{1}, 1);
};

/// Draws samples on the device from a respaced process with a step rule
/// (ilvr::ddpm, ilvr::ddim), optionally conditioned (device::ilvr_conditioner).
template <step_rule Rule>
class sampler {
public:
    sampler(respaced_schedule process, Rule rule = {}) : process_(std::move(process)), rule_(rule) {}

    /// The sampled process.
    const respaced_schedule& process() const { return process_; }
    /// The step rule.
    const Rule& rule() const { return rule_; }

    /// Samples into `samples` (device memory; overwritten, starting from x_T).
    /// Noise: philox_noise{seed} (ilvr::philox_noise(seed)'s draws) or a
    /// replay_view. The callback's step_event views point to device memory;
    /// returning false cancels (run returns false). Errors are the CPU sampler's,
    /// in its words: a bad shape or a throwing denoiser at once, NaN or Inf in
    /// the denoiser's output when the run ends (checked on the device, so the
    /// loop never waits), naming the first step that had it.
    template <denoiser Model, noise_source Noise, class Conditioner = no_conditioning, class Callback = no_callback>
        requires step_callback<Callback>
    bool run(Model&& model, const Noise& noise, tensor_view<float> samples, Conditioner&& cond = {},
             Callback&& callback = {}, run_options options = {}) const
    {
        const shape4 shape = samples.shape();
        detail::require(shape.n >= 1 && shape.c >= 1 && shape.h >= 1 && shape.w >= 1,
                        "sampler: sample shape " + shape.to_string() + " is empty");
        const int steps = static_cast<int>(process_.timesteps.size());
        const std::uint64_t per_image = shape.image_size(), images = static_cast<std::uint64_t>(shape.n);
        noise.check(options.first_sample, images, per_image, steps);
        cond.prepare(shape, process_);
        tensor x0(shape);
        vector<int> first_bad(1, INT_MAX);
        std::vector<std::int64_t> t(static_cast<std::size_t>(shape.n));
        const auto blocks = static_cast<std::int64_t>(images * kernels::blocks_of(per_image));
        const stream s = options.stream;

        for_each_index(s, blocks, kernels::fill_noise<Noise>{noise, noise_purpose::initial, 0, options.first_sample,
                                                              per_image, samples.data()});
        bool finished = true;
        for (int i = steps - 1, k = 0; i >= 0; --i, ++k) {
            const int tau = process_.timesteps[static_cast<std::size_t>(i)];
            std::fill(t.begin(), t.end(), std::int64_t{tau});
            const auto& out = call_denoiser(model, samples, t, s, k, tau);
            const tensor_view<const float> eps = as_view(out);
            const model_output kind = detail::check_model_output(shape, eps.shape(), k);
            for_each_index(s, static_cast<std::int64_t>(eps.size()), kernels::find_nonfinite{eps.data(), k, raw(first_bad)});
            const step_coefficients c = rule_.coefficients(process_.schedule, i);
            for_each_index(s, blocks, kernels::step<Rule, Noise>{rule_, c, samples.data(), eps.data(),
                                                                  kind == model_output::eps_and_v, x0.data(), noise, i,
                                                                  options.first_sample, per_image});
            cond.refine(step_info{i, tau, &process_, options.first_sample, 1}, samples, noise, s);
            const step_event event{k, i, tau, samples, x0.view(), steps, k + 1};  // one network call a step
            if constexpr (std::is_same_v<std::invoke_result_t<Callback&, const step_event&>, bool>) {
                if (!callback(event)) {
                    finished = false;
                    break;
                }
            } else {
                callback(event);
            }
        }
        synchronize(s);
        int bad = INT_MAX;
        copy_to_host(raw(first_bad), 1, &bad);
        if (bad != INT_MAX) throw detail::nonfinite_output(bad, process_.timesteps[static_cast<std::size_t>(steps - 1 - bad)]);
        return finished;
    }

    /// As above for a device::tensor.
    template <denoiser Model, noise_source Noise, class Conditioner = no_conditioning, class Callback = no_callback>
        requires step_callback<Callback>
    bool run(Model&& model, const Noise& noise, tensor& samples, Conditioner&& cond = {}, Callback&& callback = {},
             run_options options = {}) const
    {
        return run(std::forward<Model>(model), noise, samples.view(), std::forward<Conditioner>(cond),
                   std::forward<Callback>(callback), options);
    }

private:
    // The denoiser's own exceptions become ilvr::error naming the step, as on the CPU.
    template <class Model>
    static decltype(auto) call_denoiser(Model& model, tensor_view<float> x, const std::vector<std::int64_t>& t, stream s,
                                        int step, int tau)
    {
        try {
            if constexpr (requires { model(tensor_view<const float>(x), std::span<const std::int64_t>(t), s); })
                return model(tensor_view<const float>(x), std::span<const std::int64_t>(t), s);
            else
                return model(tensor_view<const float>(x), std::span<const std::int64_t>(t));
        } catch (const std::exception& e) {
            throw detail::denoiser_failed(step, tau, e.what());
        }
    }

    respaced_schedule process_;
    Rule rule_;
};

} // namespace ilvr::device

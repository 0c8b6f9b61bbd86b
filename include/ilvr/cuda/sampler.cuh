// The sampling loop on the GPU: samples stay in device memory, each step is a
// denoiser call plus fused kernels on one stream, and nothing synchronises the
// host until the run ends. Same semantics and noise keys as ilvr::sampler.
#pragma once

#include <ilvr/conditioner/conditioner.hpp>
#include <ilvr/conditioner/ilvr.hpp>
#include <ilvr/cuda/kernels.cuh>
#include <ilvr/cuda/low_pass.cuh>
#include <ilvr/cuda/noise.cuh>
#include <ilvr/cuda/runtime.cuh>
#include <ilvr/denoiser.hpp>
#include <ilvr/sample.hpp>

#include <climits>
#include <cmath>
#include <optional>
#include <span>
#include <vector>

namespace ilvr::cuda {

namespace kernels {
/// Records the first loop step whose denoiser output holds NaN or Inf.
__global__ inline void find_nonfinite(const float* out, std::uint64_t n, int step, int* first_bad)
{
    const std::uint64_t id = blockIdx.x * static_cast<std::uint64_t>(blockDim.x) + threadIdx.x;
    if (id < n && !isfinite(out[id])) atomicMin(first_bad, step);
}
} // namespace kernels

/// ILVR on the GPU: x = x' + phi_N(y_a - x'), with the reference noise drawn inside
/// the residual kernel and the final addition fused into the last filter pass.
class ilvr_conditioner {
public:
    /// reference: host image(s) [1 or B, C, H, W]; max_images: largest batch.
    ilvr_conditioner(const tensor& reference, ilvr_options options, std::size_t max_images)
        : options_(options), reference_(reference),
          filter_(static_cast<int>(reference.shape().h), static_cast<int>(reference.shape().w), options.factor, options.kernel,
                  max_images * static_cast<std::size_t>(reference.shape().c))
    {
        // The host conditioner validates the reference and options the same way.
        ilvr::ilvr_conditioner check(reference, options);
        (void)check;
    }

    void prepare(const shape4& batch, const respaced_schedule& process)
    {
        const shape4 r = reference_.shape();
        detail::require(r.c == batch.c && r.h == batch.h && r.w == batch.w && (r.n == 1 || r.n == batch.n),
                        "ilvr: reference " + r.to_string() + " does not fit samples " + batch.to_string());
        options_.range.check(process);
        residual_ = device_tensor(batch);
    }

    template <class Noise>
    void refine(const step_info& info, tensor_view<float> x, Noise noise, cudaStream_t stream)
    {
        if (!options_.range.contains(info.index, info.timestep)) return;
        const auto& s = info.process->schedule;
        const auto i = static_cast<std::size_t>(info.index);
        const double a = options_.level == reference_noise_level::paper ? s.alpha_bar_prev()[i] : s.alpha_bar()[i];
        const shape4 shape = x.shape();
        const std::uint64_t per_image = shape.image_size(), images = static_cast<std::uint64_t>(shape.n);
        using namespace kernels;
        ilvr_residual<<<grid_for(images * ((per_image + 3) / 4)), block_size, 0, stream>>>(
            static_cast<float>(std::sqrt(a)), static_cast<float>(std::sqrt(1.0 - a)), reference_.data(),
            reference_.shape().n == 1, x.data(), residual_.data(), noise, info.index, info.first_sample, per_image, images);
        filter_.apply(residual_.view(), x.data(), x.data(), stream);
    }

private:
    ilvr_options options_;
    device_tensor reference_;
    low_pass filter_;
    device_tensor residual_;
};

/// No conditioning on the GPU.
struct no_conditioning {
    void prepare(const shape4&, const respaced_schedule&) {}
    template <class Noise>
    void refine(const step_info&, tensor_view<float>, Noise, cudaStream_t)
    {
    }
};

/// Options of a GPU run.
struct device_run_options {
    std::uint64_t first_sample = 0;  ///< job index of the batch's first image (noise keys)
    cudaStream_t stream = nullptr;   ///< every kernel and the denoiser's work go here
};

/// Draws samples on the GPU. A denoiser here is called as
/// model(tensor_view<const float> x /*device*/, std::span<const std::int64_t> t /*host*/, cudaStream_t)
/// and returns a viewable of DEVICE memory (a device_tensor, or a view of a
/// LibTorch CUDA tensor's data_ptr) with eps or eps + v.
template <step_rule Rule>
class sampler {
public:
    sampler(respaced_schedule process, Rule rule = {}) : process_(std::move(process)), rule_(rule) {}

    const respaced_schedule& process() const { return process_; }

    /// Samples into `samples` (device). Noise: cuda::philox_noise{seed} (the same
    /// draws as ilvr::philox_noise) or a replay_view. Returns false if the callback
    /// cancelled; the callback's step_event views point to device memory.
    /// Throws ilvr::error for a wrong output shape (at once) or NaN/Inf (checked on
    /// the device, reported at the end of the run with the first bad step).
    template <class Model, class Noise, class Conditioner = no_conditioning, class Callback = no_callback>
    bool run(Model&& model, Noise noise, device_tensor& samples, Conditioner&& cond = {}, Callback&& callback = {},
             device_run_options options = {}) const
    {
        const shape4 shape = samples.shape();
        detail::require(shape.size() > 0, "cuda::sampler: sample shape " + shape.to_string() + " is empty");
        cond.prepare(shape, process_);
        device_tensor x0(shape);
        device_array<int> first_bad_init(std::vector<int>{INT_MAX});
        int* first_bad = const_cast<int*>(first_bad_init.data());
        std::vector<std::int64_t> t(static_cast<std::size_t>(shape.n));
        const std::uint64_t per_image = shape.image_size(), images = static_cast<std::uint64_t>(shape.n);
        const unsigned grid = kernels::grid_for(images * ((per_image + 3) / 4));
        cudaStream_t stream = options.stream;

        kernels::fill_noise<<<grid, kernels::block_size, 0, stream>>>(noise, noise_purpose::initial, 0, options.first_sample,
                                                                       per_image, images, samples.data());
        const int steps = static_cast<int>(process_.timesteps.size());
        bool finished = true;
        for (int i = steps - 1, k = 0; i >= 0; --i, ++k) {
            const int tau = process_.timesteps[static_cast<std::size_t>(i)];
            std::fill(t.begin(), t.end(), std::int64_t{tau});
            const auto& out = model(tensor_view<const float>(samples.view()), std::span<const std::int64_t>(t), stream);
            const tensor_view<const float> eps = as_view(out);
            const model_output kind = detail::check_model_output(shape, eps.shape(), k);
            kernels::find_nonfinite<<<kernels::grid_for(eps.size()), kernels::block_size, 0, stream>>>(eps.data(), eps.size(),
                                                                                                      k, first_bad);
            const step_coefficients c = rule_.coefficients(process_.schedule, i);
            kernels::step<Rule><<<grid, kernels::block_size, 0, stream>>>(c, samples.data(), eps.data(),
                                                                           kind == model_output::eps_and_v, x0.data(), noise,
                                                                           i, options.first_sample, per_image, images);
            cond.refine(step_info{i, tau, &process_, options.first_sample, 1}, samples.view(), noise, stream);
            check(cudaGetLastError(), "sampling kernels");
            const step_event event{k, i, tau, samples.view(), x0.view()};
            if constexpr (std::is_same_v<std::invoke_result_t<Callback&, const step_event&>, bool>) {
                if (!callback(event)) {
                    finished = false;
                    break;
                }
            } else {
                callback(event);
            }
        }
        int bad = INT_MAX;
        check(cudaMemcpyAsync(&bad, first_bad, sizeof(int), cudaMemcpyDeviceToHost, stream), "download");
        check(cudaStreamSynchronize(stream), "sampling");
        detail::require(bad == INT_MAX, [&] { return "denoiser returned NaN or Inf at step " + std::to_string(bad); });
        return finished;
    }

private:
    respaced_schedule process_;
    Rule rule_;
};

} // namespace ilvr::cuda

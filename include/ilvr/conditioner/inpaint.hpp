// Inpainting by a mask: the known region is replaced by the reference noised to
// the proposal's level, x = m y_a + (1 - m) x'; optionally with RePaint's
// resampling (Lugmayr et al. 2022, Alg. 1 and Sec. 4.2): every `jump` steps the
// sample is noised forward `jump` steps and those steps are run again, `count` - 1
// more times. docs/spec.md section 9.2.
#pragma once

#include <ilvr/conditioner/conditioner.hpp>
#include <ilvr/conditioner/conditioning_range.hpp>
#include <ilvr/conditioner/reference.hpp>
#include <ilvr/denoiser.hpp>
#include <ilvr/detail/parallel.hpp>
#include <ilvr/error.hpp>
#include <ilvr/sampler/ddpm.hpp>
#include <ilvr/sampler/solver.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace ilvr {

/// Parameters of inpainting besides the reference and the mask.
struct inpaint_options {
    conditioning_range range = conditioning_range::all();  ///< which steps are refined
    reference_noise_level level = reference_noise_level::paper;
};

/// Replaces the known region (mask 1) of each proposal by the noised reference;
/// the rest (mask 0) runs free. Mask values in between blend. The reference is
/// [1 or B, C, H, W], the mask [1 or B, 1 or C, H, W], each in any viewable container.
class inpaint_conditioner {
public:
    /// The reference and the mask (1 = known), each copied in and checked.
    template <viewable Reference, viewable Mask>
    inpaint_conditioner(Reference&& reference, Mask&& mask, inpaint_options options = {})
        : reference_(detail::copy_reference(std::forward<Reference>(reference), "inpaint")),
          mask_(detail::copy_reference(std::forward<Mask>(mask), "inpaint", "mask")), options_(options)
    {
        for (float m : mask_.values())
            detail::require(m >= 0.0f && m <= 1.0f, "inpaint: the mask must hold values in [0, 1] (1 = known)");
    }

    const inpaint_options& options() const { return options_; }

    /// Checks the reference and the mask against the samples and the range against the process.
    template <class Exec>
    void prepare(const shape4& batch, const respaced_schedule& process, const Exec& exec)
    {
        detail::require_fits("inpaint", "reference", reference_.shape(), batch);
        detail::require_fits("inpaint", "mask", mask_.shape(), batch, 1);
        options_.range.check(process);
        noise_ = exec.allocate(batch);
        reference_run_ = exec.upload(reference_);
        mask_run_ = exec.upload(mask_);
    }

    /// Refines in place if step `info.index` is in the range.
    template <class Noise, class Exec>
    void refine(const step_info& info, tensor_view<float> proposal, const Noise& noise, const Exec& exec)
    {
        if (options_.range.contains(info.index, info.timestep))
            replace_known(info, info.index, noise_purpose::reference, proposal, noise, exec);
    }

protected:
    /// x = m y_a + (1 - m) x at the level of respaced index `index`, e drawn as `purpose`.
    template <class Noise, class Exec>
    void replace_known(const step_info& info, int index, noise_purpose purpose, tensor_view<float> x,
                       const Noise& noise, const Exec& exec)
    {
        const double a = detail::reference_level(info.process->schedule, index, options_.level);
        const shape4 shape = x.shape(), r = reference_.shape(), m = mask_.shape();
        const std::size_t per_image = shape.image_size();
        exec.for_each_block_after_noise(
            noise, purpose, index, info.first_sample, noise_.view(), per_image,
            replace_block{static_cast<float>(std::sqrt(a)), static_cast<float>(std::sqrt(1.0 - a)), reference_run_.data(),
                          mask_run_.data(), noise_.data(), x.data(), per_image, shape.plane_size(),
                          r.n == 1 ? 0 : r.image_size(), m.n == 1 ? 0 : m.image_size(), m.c == 1});
    }

public:
    // The element work as block functors (public: the CUDA kernels that run them name their types).
    // x = m (sqrt(a) y + sqrt(1-a) e) + (1 - m) x on elements [e0, e1) of image b;
    // the reference broadcast over images (ref_image 0), the mask over images
    // (mask_image 0) and channels (one_channel).
    struct replace_block {
        float sqrt_a, sqrt_1ma;
        const float* y;
        const float* mask;
        const float* e;
        float* x;
        std::size_t per_image, plane, ref_image, mask_image;
        bool one_channel;

        ILVR_HOST_DEVICE ILVR_ALWAYS_INLINE void operator()(std::int64_t b, std::size_t e0, std::size_t e1) const
        {
            const auto ub = static_cast<std::size_t>(b);
            const float* yb = y + ub * ref_image;
            const float* mb = mask + ub * mask_image;
            const float* eb = e + ub * per_image;
            float* xb = x + ub * per_image;
            for (std::size_t k = e0; k < e1; ++k) {
                const float mk = mb[one_channel ? k % plane : k];
                const float known = sqrt_a * yb[k] + sqrt_1ma * eb[k];
                xb[k] = mk * known + (1.0f - mk) * xb[k];
            }
        }
    };

private:
    tensor reference_, mask_;
    inpaint_options options_;
    buffer noise_, reference_run_, mask_run_;  // in the run's memory
};

/// RePaint's resampling: after the step that lands on respaced level i, with
/// i a multiple of `jump` and i + jump < K, the sample is noised forward to the
/// level of index i + jump, q(x_{i+jump} | x_i) = N(sqrt(abar'/abar) x_i,
/// (1 - abar'/abar) I), and steps i + jump - 1 .. i are run again (ancestral DDPM
/// steps, each followed by the known-region replacement), count - 1 times.
struct repaint_options {
    int jump = 10;  ///< steps run again per resampling (RePaint's j)
    int count = 1;  ///< passes over each block, the first one included (RePaint's r; 1 = none)
};

/// Inpainting with RePaint's resampling. The conditioner calls the model itself
/// for the repeated steps (the sampler calls it once per step), so it holds a
/// reference to the same denoiser; the repeated steps are ancestral DDPM steps
/// whichever sampler runs the first pass. Pass k >= 1 draws its noise from stream
/// k of this conditioner, so it never repeats a draw of the first pass. Model is
/// a denoiser of the run's backend (on the device: device::denoiser).
template <class Model>
class repaint_conditioner : public inpaint_conditioner {
public:
    /// `model` must outlive the conditioner; `rule` is the DDPM step of the repeated steps.
    repaint_conditioner(Model& model, inpaint_conditioner inpaint, repaint_options options, ddpm rule = {})
        : inpaint_conditioner(std::move(inpaint)), model_(&model), options_(options), rule_(rule)
    {
        detail::require(options_.jump >= 1, "repaint: jump = " + std::to_string(options_.jump) + " must be >= 1");
        detail::require(options_.count >= 1 && options_.count < static_cast<int>(noise_streams),
                        "repaint: count = " + std::to_string(options_.count) + " must be in 1 .. "
                            + std::to_string(noise_streams - 1));
    }

    const repaint_options& resampling() const { return options_; }

    /// Checks as inpainting does; allocates the step buffers.
    template <class Exec>
    void prepare(const shape4& batch, const respaced_schedule& process, const Exec& exec)
    {
        inpaint_conditioner::prepare(batch, process, exec);
        z_ = exec.allocate(batch);
        x0_ = exec.allocate(batch);
        t_.assign(static_cast<std::size_t>(batch.n), 0);
    }

    /// Replaces the known region, then resamples the block that ends at this step.
    template <class Noise, class Exec>
    void refine(const step_info& info, tensor_view<float> proposal, const Noise& noise, const Exec& exec)
    {
        inpaint_conditioner::refine(info, proposal, noise, exec);
        const int i = info.index, j = options_.jump;
        const int steps = static_cast<int>(info.process->timesteps.size());
        if (options_.count == 1 || i % j != 0 || i + j >= steps) return;
        const auto& s = info.process->schedule;
        const double from = s.alpha_bar_prev()[static_cast<std::size_t>(i)];
        const double to = s.alpha_bar_prev()[static_cast<std::size_t>(i + j)];
        const auto keep = static_cast<float>(std::sqrt(to / from)), add = static_cast<float>(std::sqrt(1.0 - to / from));
        for (int pass = 1; pass < options_.count; ++pass) {
            const auto stream = static_cast<std::uint32_t>(pass);
            exec.fill_noise(noise, with_stream(noise_purpose::renoise, stream), i, info.first_sample, z_.view());
            const std::size_t per_image = proposal.shape().image_size();
            exec.for_each_block(proposal.shape().n, per_image,  // the renoising, q(x_{i+jump} | x_i)
                                detail::scaled_sum_block{keep, add, proposal.data(), z_.data(), per_image});
            for (int k = i + j - 1; k >= i; --k) {
                step(info, k, with_stream(noise_purpose::proposal, stream), proposal, noise, exec);
                step_info at = info;
                at.index = k;
                at.timestep = info.process->timesteps[static_cast<std::size_t>(k)];
                if (inpaint_conditioner::options().range.contains(k, at.timestep))
                    replace_known(at, k, with_stream(noise_purpose::reference, stream), proposal, noise, exec);
            }
        }
    }

private:
    // One ancestral DDPM step at respaced index k (apply_step, the sampler's
    // step), with the sampler's checks on the model's output.
    template <class Noise, class Exec>
    void step(const step_info& info, int k, noise_purpose purpose, tensor_view<float> x, const Noise& noise,
              const Exec& exec)
    {
        const int tau = info.process->timesteps[static_cast<std::size_t>(k)];
        std::fill(t_.begin(), t_.end(), std::int64_t{tau});
        const std::string where = "repaint step " + std::to_string(k);
        decltype(auto) out = [&]() -> decltype(auto) {
            try {
                return exec.invoke(*model_, tensor_view<const float>(x), std::span<const std::int64_t>(t_));
            } catch (const std::exception& e) {
                throw error("denoiser failed at " + where + " (timestep " + std::to_string(tau) + "): " + e.what());
            }
        }();
        const tensor_view<const float> eps = as_view(out);
        const model_output kind = detail::check_model_output(x.shape(), eps.shape(), k);
        exec.check_finite(eps, k, tau, 1);
        const step_coefficients c = rule_.coefficients(info.process->schedule, k);
        if (c.noise) exec.fill_noise(noise, purpose, k, info.first_sample, z_.view());
        apply_step(exec, rule_, c, x, eps, kind, z_.view(), x0_.view());
    }

    Model* model_;
    repaint_options options_;
    ddpm rule_;
    buffer z_, x0_;  // in the run's memory
    std::vector<std::int64_t> t_;
};

} // namespace ilvr

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
    void prepare(const shape4& batch, const respaced_schedule& process, int)
    {
        detail::require_fits("inpaint", "reference", reference_.shape(), batch);
        detail::require_fits("inpaint", "mask", mask_.shape(), batch, 1);
        options_.range.check(process);
        noise_ = tensor(batch);
    }

    /// Refines in place if step `info.index` is in the range.
    template <class Noise>
    void refine(const step_info& info, tensor_view<float> proposal, const Noise& noise)
    {
        if (options_.range.contains(info.index, info.timestep))
            replace_known(info, info.index, noise_purpose::reference, proposal, noise);
    }

protected:
    /// x = m y_a + (1 - m) x at the level of respaced index `index`, e drawn as `purpose`.
    template <class Noise>
    void replace_known(const step_info& info, int index, noise_purpose purpose, tensor_view<float> x_all,
                       const Noise& noise)
    {
        const double a = detail::reference_level(info.process->schedule, index, options_.level);
        const auto sa = static_cast<float>(std::sqrt(a)), s1ma = static_cast<float>(std::sqrt(1.0 - a));
        const shape4 shape = x_all.shape(), r = reference_.shape(), m = mask_.shape();
        const std::size_t plane = shape.plane_size(), per_image = shape.image_size();
        tensor_view<float> e_all = noise_.view();
        detail::parallel_for(shape.n, info.threads, [&](std::int64_t b, int) {
            noise(purpose, index, info.first_sample + static_cast<std::uint64_t>(b), e_all.batch(b, 1));
            const auto ub = static_cast<std::size_t>(b);
            const float* y = reference_.data() + (r.n == 1 ? 0 : ub * r.image_size());
            const float* mb = mask_.data() + (m.n == 1 ? 0 : ub * m.image_size());
            const float* e = e_all.data() + ub * per_image;
            float* x = x_all.data() + ub * per_image;
            for (std::int64_t c = 0; c < shape.c; ++c) {
                const std::size_t pc = static_cast<std::size_t>(c) * plane;
                const float* mc = mb + (m.c == 1 ? 0 : pc);
                for (std::size_t p = 0; p < plane; ++p) {
                    const float known = sa * y[pc + p] + s1ma * e[pc + p];
                    x[pc + p] = mc[p] * known + (1.0f - mc[p]) * x[pc + p];
                }
            }
        });
    }

private:
    tensor reference_, mask_;
    inpaint_options options_;
    tensor noise_;
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
/// k of this conditioner, so it never repeats a draw of the first pass.
template <denoiser Model>
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
    void prepare(const shape4& batch, const respaced_schedule& process, int threads)
    {
        inpaint_conditioner::prepare(batch, process, threads);
        z_ = tensor(batch);
        t_.assign(static_cast<std::size_t>(batch.n), 0);
    }

    /// Replaces the known region, then resamples the block that ends at this step.
    template <class Noise>
    void refine(const step_info& info, tensor_view<float> proposal, const Noise& noise)
    {
        inpaint_conditioner::refine(info, proposal, noise);
        const int i = info.index, j = options_.jump;
        const int steps = static_cast<int>(info.process->timesteps.size());
        if (options_.count == 1 || i % j != 0 || i + j >= steps) return;
        const auto& s = info.process->schedule;
        const double from = s.alpha_bar_prev()[static_cast<std::size_t>(i)];
        const double to = s.alpha_bar_prev()[static_cast<std::size_t>(i + j)];
        const auto keep = static_cast<float>(std::sqrt(to / from)), add = static_cast<float>(std::sqrt(1.0 - to / from));
        for (int pass = 1; pass < options_.count; ++pass) {
            const auto stream = static_cast<std::uint32_t>(pass);
            draw(info, with_stream(noise_purpose::renoise, stream), i, noise);
            for (std::size_t e = 0; e < proposal.size(); ++e) proposal.data()[e] = keep * proposal.data()[e] + add * z_[e];
            for (int k = i + j - 1; k >= i; --k) {
                step(info, k, with_stream(noise_purpose::proposal, stream), proposal, noise);
                step_info at = info;
                at.index = k;
                at.timestep = info.process->timesteps[static_cast<std::size_t>(k)];
                if (inpaint_conditioner::options().range.contains(k, at.timestep))
                    replace_known(at, k, with_stream(noise_purpose::reference, stream), proposal, noise);
            }
        }
    }

private:
    template <class Noise>
    void draw(const step_info& info, noise_purpose purpose, int index, const Noise& noise)
    {
        tensor_view<float> z = z_.view();
        detail::parallel_for(z.shape().n, info.threads, [&](std::int64_t b, int) {
            noise(purpose, index, info.first_sample + static_cast<std::uint64_t>(b), z.batch(b, 1));
        });
    }

    // One ancestral DDPM step at respaced index k, with the sampler's checks on the model's output.
    template <class Noise>
    void step(const step_info& info, int k, noise_purpose purpose, tensor_view<float> x, const Noise& noise)
    {
        const int tau = info.process->timesteps[static_cast<std::size_t>(k)];
        std::fill(t_.begin(), t_.end(), std::int64_t{tau});
        const std::string where = "repaint step " + std::to_string(k);
        decltype(auto) out = [&]() -> decltype(auto) {
            try {
                return (*model_)(tensor_view<const float>(x), std::span<const std::int64_t>(t_));
            } catch (const std::exception& e) {
                throw error("denoiser failed at " + where + " (timestep " + std::to_string(tau) + "): " + e.what());
            }
        }();
        const tensor_view<const float> eps = as_view(out);
        const model_output kind = detail::check_model_output(x.shape(), eps.shape(), k);
        detail::check_finite(eps, k, tau, info.threads);
        const step_coefficients c = rule_.coefficients(info.process->schedule, k);
        if (c.noise) draw(info, purpose, k, noise);
        const shape4 shape = x.shape();
        const std::size_t per_image = shape.image_size();
        const bool learned = kind == model_output::eps_and_v;
        detail::parallel_for(shape.n, info.threads, [&](std::int64_t b, int) {
            const auto off = static_cast<std::size_t>(b) * per_image;
            const float* eb = eps.data() + off * (learned ? 2 : 1);
            const float* vb = learned ? eb + per_image : eb;
            float* xb = x.data() + off;
            for (std::size_t e = 0; e < per_image; ++e) {
                const float x0 = predict_x0(c, xb[e], eb[e]);
                xb[e] = ddpm::proposal(c, xb[e], x0, vb[e], c.noise ? z_[off + e] : 0.0f, learned);
            }
        });
    }

    Model* model_;
    repaint_options options_;
    ddpm rule_;
    tensor z_;
    std::vector<std::int64_t> t_;
};

} // namespace ilvr

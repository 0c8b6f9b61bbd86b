// ILVR: after each step, replace the proposal's low frequencies by those of the
// reference noised to the same level. Ref: paper Sec. 3.2, eq. (5), Algorithm 1;
// docs/spec.md section 6.
#pragma once

#include <ilvr/conditioner/conditioner.hpp>
#include <ilvr/conditioner/conditioning_range.hpp>
#include <ilvr/conditioner/reference.hpp>
#include <ilvr/detail/cpu.hpp>
#include <ilvr/detail/parallel.hpp>
#include <ilvr/error.hpp>
#include <ilvr/low_pass.hpp>
#include <ilvr/sampler/step_math.hpp>

#include <cmath>
#include <concepts>
#include <type_traits>
#include <utility>
#include <optional>
#include <string>
#include <vector>

namespace ilvr {

/// Parameters of ILVR besides the reference image.
struct ilvr_options {
    int factor = 4;                                          ///< N of phi_N
    resampling_kernel kernel = kernels::cubic;               ///< kernel of down_N and up_N
    conditioning_range range = conditioning_range::all();   ///< which steps are refined
    reference_noise_level level = reference_noise_level::paper;
};

/// The ILVR conditioner: x = x' + phi_N(y_a - x') = phi_N(y_a) + (I - phi_N) x',
/// one filter application per step (phi_N is linear). The reference is one image
/// [1, C, H, W] shared by the batch, or one per image [B, C, H, W], in any viewable
/// container (ilvr::tensor, Eigen, xtensor: it is copied in).
class ilvr_conditioner {
public:
    /// Takes the reference (moved in) and checks it is non-empty and finite, and
    /// the factor against its sides when it is an image the factor can fit.
    ilvr_conditioner(tensor reference, ilvr_options options)
        : reference_(checked(std::move(reference))), options_(options)
    {
        const shape4 r = reference_.shape();
        // The factor is checked against the image now when the reference could be
        // an NCHW image; a reference that could not (e.g. HWC) is refused at prepare
        // with the shape message instead, which says what is actually wrong.
        if (r.c <= 4 || options_.factor < 1)
            filter_.emplace(static_cast<int>(r.h), static_cast<int>(r.w), options_.factor, options_.kernel);
    }

    /// As above, from any viewable container (copied).
    template <viewable Reference>
        requires(!std::same_as<std::remove_cvref_t<Reference>, tensor>)
    ilvr_conditioner(const Reference& reference, ilvr_options options)
        : ilvr_conditioner(detail::copy_reference(reference, "ilvr"), options)
    {
    }

    const ilvr_options& options() const { return options_; }
    const tensor& reference() const { return reference_; }

    /// Checks the batch against the reference and the range against the process;
    /// allocates the work buffer and builds phi_N on the run's backend, once.
    template <class Exec>
    void prepare(const shape4& batch, const respaced_schedule& process, const Exec& exec)
    {
        check(batch, process);
        residual_ = exec.allocate(batch);
        reference_run_ = exec.upload(reference_);
        if (!region_.values().empty()) region_run_ = exec.upload(region_);
        phi_ = exec.make_filter(*filter_, batch.planes());
    }

    /// prepare on the CPU with `threads` threads.
    void prepare(const shape4& batch, const respaced_schedule& process, int threads)
    {
        prepare(batch, process, cpu_exec{threads});
    }
    /// refine on the CPU with info.threads threads.
    template <class Noise>
    void refine(const step_info& info, tensor_view<float> proposal, const Noise& noise)
    {
        refine(info, proposal, noise, cpu_exec{info.threads});
    }

    /// Throws ilvr::error unless the reference fits the batch, the factor the
    /// image and the range the process (prepare's checks, in its order; shared
    /// with the device backend's ILVR). Builds the filter where not yet built.
    void check(const shape4& batch, const respaced_schedule& process)
    {
        const shape4 r = reference_.shape();
        detail::require_fits("ilvr", "reference", r, batch);
        if (!filter_) filter_.emplace(static_cast<int>(r.h), static_cast<int>(r.w), options_.factor, options_.kernel);
        if (!region_.values().empty()) detail::require_fits("region ilvr", "region mask", region_.shape(), batch, 1);
        options_.range.check(process);
    }

    /// Refines the proposal in place if step `info.index` is in the range.
    template <class Noise, class Exec>
    void refine(const step_info& info, tensor_view<float> proposal, const Noise& noise, const Exec& exec)
    {
        if (!options_.range.contains(info.index, info.timestep)) return;
        const auto& s = info.process->schedule;
        const double a = detail::reference_level(s, info.index, options_.level);
        const shape4 shape = proposal.shape();
        const std::size_t per_image = shape.image_size();
        tensor_view<float> r = residual_.view();
        // Per image: draw e into r (keyed by the image, so the split does not
        // matter), then overwrite it with the residual.
        exec.for_each_block_after_noise(noise, noise_purpose::reference, info.index, info.first_sample, r, per_image,
                                        residual_block{static_cast<float>(std::sqrt(a)), static_cast<float>(std::sqrt(1.0 - a)),
                                                       reference_run_.data(), reference_.shape().n == 1, proposal.data(),
                                                       r.data(), per_image});
        phi_(r, r);
        if (region_.values().empty()) {
            exec.for_each_block(shape.n, per_image,
                                detail::scaled_sum_block{1.0f, 1.0f, proposal.data(), r.data(), per_image});  // x' += r
        } else {
            const shape4 m = region_.shape();
            exec.for_each_block(shape.n, per_image,
                                add_in_region_block{proposal.data(), r.data(), region_run_.data(), per_image,
                                                    shape.plane_size(), m.n == 1 ? 0 : m.image_size(), m.c == 1});
        }
    }

    // The element work as block functors (public: the CUDA kernels that run them name their types).
    // r = (sqrt(a) y + sqrt(1-a) e) - x' on elements [e0, e1) of image b, e read from r.
    struct residual_block {
        float sqrt_a, sqrt_1ma;
        const float* y;
        bool shared;  // one reference for the batch
        const float* x;
        float* r;
        std::size_t per_image;

        ILVR_HOST_DEVICE ILVR_ALWAYS_INLINE void operator()(std::int64_t b, std::size_t e0, std::size_t e1) const
        {
            const auto off = static_cast<std::size_t>(b) * per_image;
            const float* yb = y + (shared ? 0 : off);
            float* rb = r + off;
            const float* xb = x + off;
            // Scalars copied: read through the functor they might alias r, blocking vectorisation.
            const float sa = sqrt_a, s1ma = sqrt_1ma;
            for (std::size_t e = e0; e < e1; ++e) rb[e] = ilvr_residual(sa, s1ma, yb[e], rb[e], xb[e]);
        }
    };
    // x += m * r, the mask broadcast over images (mask_image 0) and channels (one_channel).
    struct add_in_region_block {
        float* x;
        const float* r;
        const float* mask;
        std::size_t per_image, plane, mask_image;
        bool one_channel;

        ILVR_HOST_DEVICE ILVR_ALWAYS_INLINE void operator()(std::int64_t b, std::size_t e0, std::size_t e1) const
        {
            const auto off = static_cast<std::size_t>(b) * per_image;
            const float* mb = mask + static_cast<std::size_t>(b) * mask_image;
            for (std::size_t e = e0; e < e1; ++e) x[off + e] += mb[one_channel ? e % plane : e] * r[off + e];
        }
    };

protected:
    /// For region_ilvr_conditioner: the refinement is weighted by `region`
    /// ([1 or B, 1 or C, H, W], values in [0, 1]; 1 = conditioned).
    ilvr_conditioner(tensor reference, ilvr_options options, tensor region)
        : ilvr_conditioner(std::move(reference), options)
    {
        region_ = std::move(region);
        for (float m : region_.values())
            detail::require(m >= 0.0f && m <= 1.0f, "region ilvr: the region mask must hold values in [0, 1]");
    }

private:
    static tensor checked(tensor reference) { return detail::copy_reference(std::move(reference), "ilvr"); }

    tensor reference_;
    ilvr_options options_;
    std::optional<low_pass> filter_;  // the host filter: validates the factor against the image
    tensor region_;                   // empty: the whole image
    buffer reference_run_, region_run_, residual_;  // in the run's memory
    filter phi_;                                    // phi_N on the run's backend
};

} // namespace ilvr

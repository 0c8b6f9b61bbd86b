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
    /// allocates the work buffer once.
    void prepare(const shape4& batch, const respaced_schedule& process, int threads)
    {
        const shape4 r = reference_.shape();
        detail::require_fits("ilvr", "reference", r, batch);
        if (!filter_) filter_.emplace(static_cast<int>(r.h), static_cast<int>(r.w), options_.factor, options_.kernel);
        if (!region_.values().empty()) detail::require_fits("region ilvr", "region mask", region_.shape(), batch, 1);
        options_.range.check(process);
        residual_ = tensor(batch);
        filter_->set_threads(threads);
    }

    /// Refines the proposal in place if step `info.index` is in the range.
    template <class Noise>
    void refine(const step_info& info, tensor_view<float> proposal, const Noise& noise)
    {
        if (!options_.range.contains(info.index, info.timestep)) return;
        const auto& s = info.process->schedule;
        const double a = detail::reference_level(s, info.index, options_.level);
        const auto sqrt_a = static_cast<float>(std::sqrt(a)), sqrt_1ma = static_cast<float>(std::sqrt(1.0 - a));

        tensor_view<float> residual = residual_.view();
        const shape4 shape = proposal.shape();
        const std::size_t per_image = shape.image_size();
        const bool shared = reference_.shape().n == 1;
        const float* y = reference_.data();
        // Per image: draw e (keyed by the image, so the split does not matter), then
        // overwrite it with the residual.
        detail::parallel_for(shape.n, info.threads, [&](std::int64_t b, int) {
            noise(noise_purpose::reference, info.index, info.first_sample + static_cast<std::uint64_t>(b),
                  residual.batch(b, 1));
            const auto off = static_cast<std::size_t>(b) * per_image;
            const float* yb = y + (shared ? 0 : off);
            float* r = residual.data() + off;
            const float* x = proposal.data() + off;
            // Scalars copied: captured by reference they might alias r, blocking vectorisation.
            const float sa = sqrt_a, s1ma = sqrt_1ma;
            detail::vectorised([&]() ILVR_ALWAYS_INLINE {
                for (std::size_t e = 0; e < per_image; ++e) r[e] = ilvr_residual(sa, s1ma, yb[e], r[e], x[e]);
            });
        });
        (*filter_)(residual, residual);
        if (!region_.values().empty()) return add_in_region(proposal, residual, info.threads);
        detail::parallel_for(shape.n, info.threads, [&](std::int64_t b, int) {
            const auto off = static_cast<std::size_t>(b) * per_image;
            float* x = proposal.data() + off;
            const float* r = residual.data() + off;
            detail::vectorised([&]() ILVR_ALWAYS_INLINE {
                for (std::size_t e = 0; e < per_image; ++e) x[e] += r[e];
            });
        });
    }

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

    // x += m * r, the mask broadcast over images (n = 1) and channels (c = 1).
    void add_in_region(tensor_view<float> proposal, tensor_view<const float> residual, int threads) const
    {
        const shape4 shape = proposal.shape(), m = region_.shape();
        const std::size_t plane = static_cast<std::size_t>(shape.h * shape.w), per_image = shape.image_size();
        detail::parallel_for(shape.n, threads, [&](std::int64_t b, int) {
            const auto off = static_cast<std::size_t>(b) * per_image;
            const float* mask = region_.data() + (m.n == 1 ? 0 : static_cast<std::size_t>(b) * m.image_size());
            for (std::int64_t c = 0; c < shape.c; ++c) {
                const std::size_t pc = static_cast<std::size_t>(c) * plane;
                const float* mc = mask + (m.c == 1 ? 0 : pc);
                float* x = proposal.data() + off + pc;
                const float* r = residual.data() + off + pc;
                for (std::size_t e = 0; e < plane; ++e) x[e] += mc[e] * r[e];
            }
        });
    }

    tensor reference_;
    ilvr_options options_;
    std::optional<low_pass> filter_;
    tensor residual_;
    tensor region_;  // empty: the whole image
};

} // namespace ilvr

// ILVR: after each step, replace the proposal's low frequencies by those of the
// reference noised to the same level. Ref: paper Sec. 3.2, eq. (5), Algorithm 1;
// SPEC.md section 6.
#pragma once

#include <ilvr/conditioner/conditioner.hpp>
#include <ilvr/conditioner/conditioning_range.hpp>
#include <ilvr/detail/cpu.hpp>
#include <ilvr/detail/parallel.hpp>
#include <ilvr/error.hpp>
#include <ilvr/low_pass.hpp>
#include <ilvr/sampler/step_math.hpp>

#include <cmath>
#include <optional>
#include <string>
#include <vector>

namespace ilvr {

/// Which noise level the reference is brought to at step i.
enum class reference_noise_level {
    paper,           ///< abar_prev[i], the proposal's own level (Algorithm 1's y_{t-1}); default
    reference_code,  ///< abar[i], one step noisier, as the published ilvr_adm code does
};

/// Parameters of ILVR besides the reference image.
struct ilvr_options {
    int factor = 4;                                          ///< N of phi_N
    resampling_kernel kernel = kernels::cubic;               ///< kernel of down_N and up_N
    conditioning_range range = conditioning_range::all();   ///< which steps are refined
    reference_noise_level level = reference_noise_level::paper;
};

/// The ILVR conditioner: x = x' + phi_N(y_a - x') = phi_N(y_a) + (I - phi_N) x',
/// one filter application per step (phi_N is linear). The reference is one image
/// [1, C, H, W] shared by the batch, or one per image [B, C, H, W].
class ilvr_conditioner {
public:
    ilvr_conditioner(tensor reference, ilvr_options options) : reference_(std::move(reference)), options_(options)
    {
        const shape4 r = reference_.shape();
        detail::require(r.n >= 1 && r.c >= 1 && r.h >= 1 && r.w >= 1,
                        "ilvr: reference shape " + r.to_string() + " is empty");
        for (float v : reference_.values())
            detail::require(std::isfinite(v), "ilvr: the reference contains NaN or Inf");
        // Validates the factor against the image now, not at the first step.
        filter_.emplace(static_cast<int>(r.h), static_cast<int>(r.w), options_.factor, options_.kernel);
    }

    const ilvr_options& options() const { return options_; }
    const tensor& reference() const { return reference_; }

    /// Checks the batch against the reference and the range against the process;
    /// allocates the work buffer once.
    void prepare(const shape4& batch, const respaced_schedule& process, int threads)
    {
        check(batch, process);
        residual_ = tensor(batch);
        filter_->set_threads(threads);
    }

    /// Throws ilvr::error unless the reference fits the batch and the range the
    /// process (prepare's checks, shared with the device backend's ILVR).
    void check(const shape4& batch, const respaced_schedule& process) const
    {
        const shape4 r = reference_.shape();
        detail::require(r.c == batch.c && r.h == batch.h && r.w == batch.w && (r.n == 1 || r.n == batch.n),
                        "ilvr: reference " + r.to_string() + " does not fit samples " + batch.to_string()
                            + " (need [1 or B, C, H, W] with the samples' C, H and W)");
        options_.range.check(process);
    }

    /// Refines the proposal in place if step `info.index` is in the range.
    template <class Noise>
    void refine(const step_info& info, tensor_view<float> proposal, const Noise& noise)
    {
        if (!options_.range.contains(info.index, info.timestep)) return;
        const auto& s = info.process->schedule;
        const auto i = static_cast<std::size_t>(info.index);
        const double a = options_.level == reference_noise_level::paper ? s.alpha_bar_prev()[i] : s.alpha_bar()[i];
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
        detail::parallel_for(shape.n, info.threads, [&](std::int64_t b, int) {
            const auto off = static_cast<std::size_t>(b) * per_image;
            float* x = proposal.data() + off;
            const float* r = residual.data() + off;
            detail::vectorised([&]() ILVR_ALWAYS_INLINE {
                for (std::size_t e = 0; e < per_image; ++e) x[e] += r[e];
            });
        });
    }

private:
    tensor reference_;
    ilvr_options options_;
    std::optional<low_pass> filter_;
    tensor residual_;
};

} // namespace ilvr

// Colourisation: the reference's luma is kept through the projection, the chroma
// runs free. Per pixel x = x' + w (w . (y_a - x')) / |w|^2, the orthogonal
// projection onto the luma direction w of RGB space. docs/spec.md section 9.4.
#pragma once

#include <ilvr/conditioner/conditioner.hpp>
#include <ilvr/conditioner/conditioning_range.hpp>
#include <ilvr/conditioner/reference.hpp>
#include <ilvr/detail/parallel.hpp>
#include <ilvr/error.hpp>

#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>

namespace ilvr {

/// Parameters of colourisation besides the reference.
struct colourise_options {
    conditioning_range range = conditioning_range::all();  ///< which steps are refined
    reference_noise_level level = reference_noise_level::paper;
    std::array<double, 3> luma = {0.299, 0.587, 0.114};   ///< w: luma = w . (R, G, B) (BT.601)
};

/// Keeps the reference's luma w . y in 3-channel samples. The reference is grey
/// ([1 or B, 1, H, W]: its value is the luma, i.e. y = (g, g, g) when the weights
/// sum to 1) or colour ([1 or B, 3, H, W]: its luma is taken). The luma weights
/// need not sum to 1; the projection uses w / |w|^2.
class colourise_conditioner {
public:
    /// The reference from any viewable container (copied).
    template <viewable Reference>
    colourise_conditioner(Reference&& reference, colourise_options options = {})
        : reference_(detail::copy_reference(std::forward<Reference>(reference), "colourise")), options_(options)
    {
        const auto& w = options_.luma;
        norm2_ = w[0] * w[0] + w[1] * w[1] + w[2] * w[2];
        detail::require(std::isfinite(norm2_) && norm2_ > 0.0, "colourise: the luma weights must be finite and not all 0");
    }

    const colourise_options& options() const { return options_; }

    /// Checks that the samples have 3 channels and the reference fits them.
    template <class Exec>
    void prepare(const shape4& batch, const respaced_schedule& process, const Exec& exec)
    {
        detail::require(batch.c == 3, "colourise: samples " + batch.to_string() + " must have 3 channels (RGB)");
        detail::require_fits("colourise", "reference", reference_.shape(), batch, 1);
        options_.range.check(process);
        noise_ = exec.allocate(batch);
        reference_run_ = exec.upload(reference_);
    }

    /// Refines in place: the luma of x becomes that of the noised reference.
    template <class Noise, class Exec>
    void refine(const step_info& info, tensor_view<float> proposal, const Noise& noise, const Exec& exec)
    {
        if (!options_.range.contains(info.index, info.timestep)) return;
        const double a = detail::reference_level(info.process->schedule, info.index, options_.level);
        const shape4 shape = proposal.shape(), r = reference_.shape();
        project_block f{};
        f.sqrt_a = static_cast<float>(std::sqrt(a));
        f.sqrt_1ma = static_cast<float>(std::sqrt(1.0 - a));
        for (int k = 0; k < 3; ++k) {  // w and w / |w|^2
            f.w[k] = static_cast<float>(options_.luma[static_cast<std::size_t>(k)]);
            f.u[k] = static_cast<float>(options_.luma[static_cast<std::size_t>(k)] / norm2_);
        }
        f.y = reference_run_.data();
        f.e = noise_.data();
        f.x = proposal.data();
        f.plane = shape.plane_size();
        f.ref_image = r.n == 1 ? 0 : r.image_size();
        f.grey = r.c == 1;
        // Blocks over the pixels of each image; each pixel reads its three channels.
        exec.for_each_block_after_noise(noise, noise_purpose::reference, info.index, info.first_sample, noise_.view(),
                                        f.plane, f);
    }

public:
    // The element work as block functors (public: the CUDA kernels that run them name their types).
    // The projection of pixels [p0, p1) of image b onto the noised reference's luma.
    struct project_block {
        float sqrt_a, sqrt_1ma;
        float w[3], u[3];
        const float* y;
        const float* e;
        float* x;
        std::size_t plane, ref_image;
        bool grey;  // a one-channel reference: its value is the luma

        ILVR_HOST_DEVICE ILVR_ALWAYS_INLINE void operator()(std::int64_t b, std::size_t p0, std::size_t p1) const
        {
            const auto ub = static_cast<std::size_t>(b);
            const float* yb = y + ub * ref_image;
            const float* eb = e + ub * 3 * plane;
            float* xb = x + ub * 3 * plane;
            for (std::size_t p = p0; p < p1; ++p) {
                // luma of y_a = sqrt(a) w.y + sqrt(1-a) w.e, minus the proposal's luma
                const float ly = grey ? yb[p] * (w[0] + w[1] + w[2])
                                      : w[0] * yb[p] + w[1] * yb[plane + p] + w[2] * yb[2 * plane + p];
                const float le = w[0] * eb[p] + w[1] * eb[plane + p] + w[2] * eb[2 * plane + p];
                const float lx = w[0] * xb[p] + w[1] * xb[plane + p] + w[2] * xb[2 * plane + p];
                const float d = sqrt_a * ly + sqrt_1ma * le - lx;
                for (std::size_t k = 0; k < 3; ++k) xb[k * plane + p] += u[k] * d;
            }
        }
    };

private:
    tensor reference_;
    colourise_options options_;
    double norm2_ = 1.0;
    buffer noise_, reference_run_;  // in the run's memory
};

} // namespace ilvr

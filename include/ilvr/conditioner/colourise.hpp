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
    void prepare(const shape4& batch, const respaced_schedule& process, int)
    {
        detail::require(batch.c == 3, "colourise: samples " + batch.to_string() + " must have 3 channels (RGB)");
        detail::require_fits("colourise", "reference", reference_.shape(), batch, 1);
        options_.range.check(process);
        noise_ = tensor(batch);
    }

    /// Refines in place: the luma of x becomes that of the noised reference.
    template <class Noise>
    void refine(const step_info& info, tensor_view<float> proposal, const Noise& noise)
    {
        if (!options_.range.contains(info.index, info.timestep)) return;
        const double a = detail::reference_level(info.process->schedule, info.index, options_.level);
        const auto sa = static_cast<float>(std::sqrt(a)), s1ma = static_cast<float>(std::sqrt(1.0 - a));
        const shape4 shape = proposal.shape(), r = reference_.shape();
        const std::size_t plane = shape.plane_size(), per_image = shape.image_size();
        float w[3], u[3];  // w and w / |w|^2
        for (int k = 0; k < 3; ++k) {
            w[k] = static_cast<float>(options_.luma[static_cast<std::size_t>(k)]);
            u[k] = static_cast<float>(options_.luma[static_cast<std::size_t>(k)] / norm2_);
        }
        tensor_view<float> e_all = noise_.view();
        detail::parallel_for(shape.n, info.threads, [&](std::int64_t b, int) {
            noise(noise_purpose::reference, info.index, info.first_sample + static_cast<std::uint64_t>(b),
                  e_all.batch(b, 1));
            const std::size_t off = static_cast<std::size_t>(b) * per_image;
            const float* y = reference_.data() + (r.n == 1 ? 0 : static_cast<std::size_t>(b) * r.image_size());
            const float* e = e_all.data() + off;
            float* x = proposal.data() + off;
            for (std::size_t p = 0; p < plane; ++p) {
                // luma of y_a = sqrt(a) w.y + sqrt(1-a) w.e, minus the proposal's luma
                const float ly = r.c == 1 ? y[p] * (w[0] + w[1] + w[2])
                                          : w[0] * y[p] + w[1] * y[plane + p] + w[2] * y[2 * plane + p];
                const float le = w[0] * e[p] + w[1] * e[plane + p] + w[2] * e[2 * plane + p];
                const float lx = w[0] * x[p] + w[1] * x[plane + p] + w[2] * x[2 * plane + p];
                const float d = sa * ly + s1ma * le - lx;
                for (int k = 0; k < 3; ++k) x[static_cast<std::size_t>(k) * plane + p] += u[k] * d;
            }
        });
    }

private:
    tensor reference_;
    colourise_options options_;
    double norm2_ = 1.0;
    tensor noise_;
};

} // namespace ilvr

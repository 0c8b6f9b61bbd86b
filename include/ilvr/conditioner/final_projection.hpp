// The final projection: after the last step, alternate a conditioner's refinement
// at the clean level with the clamp to the image range [-1, 1], several rounds.
// docs/sampling.md ("The final projection"); measured in docs/evaluation.md.
#pragma once

#include <ilvr/conditioner/conditioner.hpp>
#include <ilvr/config.hpp>
#include <ilvr/detail/cpu.hpp>
#include <ilvr/error.hpp>
#include <ilvr/respacing.hpp>
#include <ilvr/tensor.hpp>

#include <cstdint>
#include <string>
#include <utility>

namespace ilvr {

/// Wraps a conditioner (e.g. ilvr_conditioner): every step is refined by it as
/// before, and the last one (index 0, landing on the clean level) by `rounds`
/// rounds of "refine, then clamp to [-1, 1]". For ILVR in paper mode the
/// refinement there uses y itself, x <- x + phi_N(y - x), so the rounds are
/// alternating projections onto {x : phi_N(x) = phi_N(y)} (nearly: cubic phi_N
/// is not exactly a projection, and repeating the refinement makes up for it)
/// and onto the box [-1, 1] that an image is saved in; y lies in both, and the
/// sample ends in the box with phi_N(x) close to phi_N(y). One refinement
/// leaves phi_N of the clamped image measurably off: on the bundled model the
/// clamp of the saved sample, not the sampler, is most of the faithfulness
/// error at 20 network calls. No network call. rounds = 1 is the wrapped
/// conditioner followed by one clamp. Ref: docs/spec.md section 6.
template <class Conditioner>
class final_projection {
public:
    /// Wraps `conditioner` (moved in; Conditioner may be a reference type, then it is referred to)
    /// with `rounds` >= 1 rounds at the last step.
    final_projection(Conditioner conditioner, int rounds) : inner_(std::forward<Conditioner>(conditioner)), rounds_(rounds)
    {
        detail::require(rounds >= 1, "final projection: rounds must be >= 1, got " + std::to_string(rounds));
    }

    /// The wrapped conditioner.
    const Conditioner& conditioner() const { return inner_; }
    /// Rounds of refinement and clamp at the last step.
    int rounds() const { return rounds_; }

    /// Prepares the wrapped conditioner for a run on `exec`.
    template <class Exec>
    void prepare(const shape4& batch, const respaced_schedule& process, const Exec& exec)
    {
        detail::prepare_on(inner_, batch, process, exec);
    }

    /// The wrapped refinement; at index 0, `rounds` of it, each followed by the clamp.
    template <class Noise, class Exec>
    void refine(const step_info& info, tensor_view<float> x, const Noise& noise, const Exec& exec)
    {
        if (info.index != 0) return detail::refine_on(inner_, info, x, noise, exec);
        const std::size_t per_image = x.shape().image_size();
        for (int r = 0; r < rounds_; ++r) {
            detail::refine_on(inner_, info, x, noise, exec);
            exec.for_each_block(x.shape().n, per_image, clamp_block{x.data(), per_image});
        }
    }

    // The clamp of elements [e0, e1) of image b to [-1, 1] (public: the CUDA kernels name it).
    struct clamp_block {
        float* x;
        std::size_t per_image;

        ILVR_HOST_DEVICE ILVR_ALWAYS_INLINE void operator()(std::int64_t b, std::size_t e0, std::size_t e1) const
        {
            float* xb = x + static_cast<std::size_t>(b) * per_image;
            for (std::size_t e = e0; e < e1; ++e) xb[e] = xb[e] < -1.0f ? -1.0f : (xb[e] > 1.0f ? 1.0f : xb[e]);
        }
    };

private:
    Conditioner inner_;
    int rounds_;
};

} // namespace ilvr

// Noise on the device: the CPU's counter-based draws (the same Philox4x32-10
// and Box-Muller functions of random.hpp, the same keys), or recorded draws
// replayed from device memory. A device noise is a small value type that the
// functors of kernels.hpp carry: block() gives normals 4j .. 4j+3 of one image.
#pragma once

#include <ilvr/device/system.hpp>
#include <ilvr/error.hpp>
#include <ilvr/random.hpp>
#include <ilvr/tensor.hpp>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

namespace ilvr::device {

/// Philox4x32-10 draws keyed as ilvr::philox_noise keys them: for the same seed
/// the device draws the CPU's numbers.
struct philox_noise {
    std::uint64_t seed;

    /// Normals 4j .. 4j+3 of image `sample` for (purpose, step).
    ILVR_HOST_DEVICE void block(noise_purpose purpose, int step, std::uint64_t sample, std::uint32_t j, float out[4]) const
    {
        philox_normals4(noise_key{seed, sample, static_cast<std::uint32_t>(step), purpose}, j, out);
    }

    /// Throws ilvr::error where a run's draws exceed the counter layout (host side,
    /// before the run), with ilvr::philox_noise's message.
    void check(std::uint64_t, std::uint64_t, std::uint64_t per_image, int steps) const
    {
        detail::require(per_image <= max_noise_elements && steps <= (1 << 30),
                        "philox_noise: image or step index too large for the counter layout");
    }
};

/// Recorded draws in device memory, as replay_noise::view() hands them to the
/// functors: initial [S, C, H, W]; proposal and reference [K, S, C, H, W] by
/// respaced step i (rows of absent draws hold zeros).
struct replay_view {
    const float* initial;
    const float* proposal;
    const float* reference;
    std::uint64_t samples;
    std::uint64_t per_image;
    std::uint64_t steps;  ///< rows of proposal and reference

    /// Normals 4j .. 4j+3 of image `sample` for (purpose, step); past the image's end, 0.
    ILVR_HOST_DEVICE void block(noise_purpose purpose, int step, std::uint64_t sample, std::uint32_t j, float out[4]) const
    {
        const std::uint64_t plane = static_cast<std::uint64_t>(step) * samples * per_image;
        const float* base = purpose == noise_purpose::initial ? initial
                            : purpose == noise_purpose::proposal ? proposal + plane
                                                                 : reference + plane;
        const std::uint64_t first = sample * per_image + 4ull * j;
        for (std::uint64_t k = 0; k < 4; ++k) out[k] = 4ull * j + k < per_image ? base[first + k] : 0.0f;
    }

    /// Throws ilvr::error, as ilvr::replay_noise does, for draws the recordings do
    /// not hold (a conditioner stream other than 0, RePaint's renoising); host side.
    void check_purpose(noise_purpose purpose) const
    {
        detail::require(stream_of(purpose) == 0 && kind_of(purpose) != noise_purpose::renoise, [&] {
            return "replay_noise: no recorded draws for conditioner noise stream " + std::to_string(stream_of(purpose))
                   + " (recordings hold the sampler's and one conditioner's draws)";
        });
    }

    /// Throws ilvr::error unless the draws cover images first .. first + images - 1
    /// of `per_image` elements for respaced steps 0 .. steps - 1 (host side, before the run).
    void check(std::uint64_t first, std::uint64_t images, std::uint64_t image_size, int process_steps) const
    {
        detail::require(image_size == per_image && first + images <= samples,
                        "replay_noise: the recorded draws cannot fill this batch");
        detail::require(static_cast<std::uint64_t>(process_steps) <= steps,
                        [&] { return "replay_noise: no recorded draw for step " + std::to_string(steps); });
    }
};

/// Recorded draws (the golden traces' torch draws) copied to device memory; the
/// layout of ilvr::replay_noise. Keep it alive while its view() is used.
class replay_noise {
public:
    /// `proposal[i]` and `reference[i]` are the draws of respaced step i, each of
    /// `initial`'s shape, or empty where step i has none.
    replay_noise(const ilvr::tensor& initial, const std::vector<ilvr::tensor>& proposal,
                 const std::vector<ilvr::tensor>& reference)
        : samples_(static_cast<std::uint64_t>(initial.shape().n)), per_image_(initial.shape().image_size()),
          steps_(std::max(proposal.size(), reference.size())), initial_(initial.values().begin(), initial.values().end()),
          proposal_(stack(proposal, initial)), reference_(stack(reference, initial))
    {
    }

    /// The functors' handle on the draws.
    replay_view view() const
    {
        return {raw(initial_), raw(proposal_), raw(reference_), samples_, per_image_, steps_};
    }
    /// Images recorded.
    std::uint64_t samples() const { return samples_; }
    /// Steps with a row (draws or zeros).
    std::size_t steps() const { return steps_; }

private:
    std::vector<float> stack(const std::vector<ilvr::tensor>& draws, const ilvr::tensor& initial) const
    {
        const std::size_t each = initial.size();
        std::vector<float> all(steps_ * each, 0.0f);
        for (std::size_t i = 0; i < draws.size(); ++i) {
            if (draws[i].size() == 0) continue;
            detail::require(draws[i].shape() == initial.shape(), "replay_noise: recorded arrays must all have shape "
                                                                      + initial.shape().to_string());
            std::copy(draws[i].values().begin(), draws[i].values().end(), all.begin() + static_cast<std::ptrdiff_t>(i * each));
        }
        return all;
    }

    std::uint64_t samples_, per_image_;
    std::size_t steps_;
    vector<float> initial_, proposal_, reference_;
};

} // namespace ilvr::device

// Noise on the GPU: the same counter-based draws as ilvr::philox_noise on the
// CPU (same keys, same host-device code), or replayed recorded arrays.
#pragma once

#include <ilvr/cuda/runtime.cuh>
#include <ilvr/random.hpp>

#include <cstdint>
#include <vector>

namespace ilvr::cuda {

/// Philox4x32-10 draws: normals 4j..4j+3 of image `sample` for (purpose, step).
/// Trivially copyable, passed to kernels by value.
struct philox_noise {
    std::uint64_t seed;
    __device__ void block(noise_purpose purpose, int step, std::uint64_t sample, std::uint32_t j, float out[4]) const
    {
        philox_normals4(noise_key{seed, sample, static_cast<std::uint32_t>(step), purpose}, j, out);
    }
};

/// Recorded draws in device memory: initial [S, C, H, W]; proposal and reference
/// [K, S, C, H, W] indexed by respaced step i (rows of absent draws unused).
struct replay_view {
    const float* initial;
    const float* proposal;
    const float* reference;
    std::uint64_t samples;
    std::uint64_t per_image;
    __device__ void block(noise_purpose purpose, int step, std::uint64_t sample, std::uint32_t j, float out[4]) const
    {
        const float* base = purpose == noise_purpose::initial ? initial
                            : purpose == noise_purpose::proposal ? proposal + static_cast<std::uint64_t>(step) * samples * per_image
                                                                 : reference + static_cast<std::uint64_t>(step) * samples * per_image;
        const std::uint64_t first = sample * per_image + 4ull * j;
        for (int k = 0; k < 4; ++k) out[k] = 4ull * j + k < per_image ? base[first + k] : 0.0f;
    }
};

/// Owns recorded draws on the device (the golden traces' torch draws).
class replay_noise {
public:
    /// Same layout as ilvr::replay_noise: `proposal[i]`, `reference[i]` for step i;
    /// empty tensors where a step has no draw.
    replay_noise(const tensor& initial, const std::vector<tensor>& proposal, const std::vector<tensor>& reference)
        : samples_(static_cast<std::uint64_t>(initial.shape().n)), per_image_(initial.shape().image_size()),
          initial_(initial.values()), proposal_(stack(proposal, initial.size())), reference_(stack(reference, initial.size()))
    {
    }
    replay_view view() const { return {initial_.data(), proposal_.data(), reference_.data(), samples_, per_image_}; }

private:
    static std::vector<float> stack(const std::vector<tensor>& steps, std::size_t each)
    {
        std::vector<float> all(steps.size() * each, 0.0f);
        for (std::size_t i = 0; i < steps.size(); ++i)
            if (steps[i].size() == each) std::copy(steps[i].values().begin(), steps[i].values().end(), all.begin() + i * each);
        return all;
    }
    std::uint64_t samples_, per_image_;
    device_array<float> initial_, proposal_, reference_;
};

} // namespace ilvr::cuda

// Counter-based Gaussian noise: every draw is a pure function of
// (seed, sample index in the job, step, purpose, element), so results do not
// depend on batch size, thread count or device.
// Ref: Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC 2011 (Philox4x32-10).
#pragma once

#include <ilvr/config.hpp>
#include <ilvr/tensor.hpp>

#include <cmath>
#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

namespace ilvr {

/// What a draw is for; part of the key, so the three streams never overlap.
enum class noise_purpose : std::uint32_t {
    initial = 0,    ///< x_T
    proposal = 1,   ///< z of the sampler step at index i
    reference = 2,  ///< e that noises the reference at index i (ILVR)
};

namespace detail {

struct philox_block {
    std::uint32_t v[4];
};

ILVR_HOST_DEVICE inline void mulhilo(std::uint32_t a, std::uint32_t b, std::uint32_t& hi, std::uint32_t& lo)
{
    const std::uint64_t p = static_cast<std::uint64_t>(a) * b;
    hi = static_cast<std::uint32_t>(p >> 32);
    lo = static_cast<std::uint32_t>(p);
}

/// Philox4x32 with 10 rounds: four 32-bit counter words and a 64-bit key.
ILVR_HOST_DEVICE inline philox_block philox4x32_10(philox_block c, std::uint32_t k0, std::uint32_t k1)
{
    constexpr std::uint32_t m0 = 0xD2511F53u, m1 = 0xCD9E8D57u, w0 = 0x9E3779B9u, w1 = 0xBB67AE85u;
    for (int round = 0; round < 10; ++round) {
        std::uint32_t hi0, lo0, hi1, lo1;
        mulhilo(m0, c.v[0], hi0, lo0);
        mulhilo(m1, c.v[2], hi1, lo1);
        c = {{hi1 ^ c.v[1] ^ k0, lo1, hi0 ^ c.v[3] ^ k1, lo0}};
        k0 += w0;
        k1 += w1;
    }
    return c;
}

/// Uniform in (0, 1): never 0, so log() is finite.
ILVR_HOST_DEVICE inline float open_unit(std::uint32_t u)
{
    return (static_cast<float>(u >> 8) + 0.5f) * (1.0f / 16777216.0f);
}

/// Four standard normals from one Philox block (two Box-Muller pairs), in float.
ILVR_HOST_DEVICE inline void box_muller4(const philox_block& b, float out[4])
{
    constexpr float two_pi = 6.28318530717958647692f;
    for (int pair = 0; pair < 2; ++pair) {
        const float radius = std::sqrt(-2.0f * std::log(open_unit(b.v[2 * pair])));
        const float angle = two_pi * open_unit(b.v[2 * pair + 1]);
        out[2 * pair] = radius * std::cos(angle);
        out[2 * pair + 1] = radius * std::sin(angle);
    }
}

} // namespace detail

/// The key of one image's draw: the job's seed, the image's index in the whole
/// job (not in the batch), the respaced step index and the purpose.
struct noise_key {
    std::uint64_t seed;
    std::uint64_t sample;
    std::uint32_t step;  ///< < 2^30
    noise_purpose purpose;
};

/// Normals 4 * block .. 4 * block + 3 of the image keyed by `key`: one Philox call.
/// Counter words: block, sample (low, high), step and purpose; key words: the seed.
ILVR_HOST_DEVICE inline void philox_normals4(const noise_key& key, std::uint32_t block, float out[4])
{
    const detail::philox_block counter{{block, static_cast<std::uint32_t>(key.sample),
                                        static_cast<std::uint32_t>(key.sample >> 32),
                                        (key.step << 2) | static_cast<std::uint32_t>(key.purpose)}};
    detail::box_muller4(
        detail::philox4x32_10(counter, static_cast<std::uint32_t>(key.seed), static_cast<std::uint32_t>(key.seed >> 32)),
        out);
}

/// Standard normal for element `e` of the image keyed by `key`; host and device
/// give the same value up to libm's rounding of log, sin and cos.
ILVR_HOST_DEVICE inline float philox_normal(const noise_key& key, std::uint64_t element)
{
    float normals[4];
    philox_normals4(key, static_cast<std::uint32_t>(element >> 2), normals);
    return normals[element & 3u];
}

/// The largest image (in elements) the counter layout addresses: 2^34.
inline constexpr std::uint64_t max_noise_elements = std::uint64_t{1} << 34;

/// The default noise source: Philox4x32-10 with Box-Muller, keyed per image.
class philox_noise {
public:
    explicit philox_noise(std::uint64_t seed) : seed_(seed) {}

    /// Fills `out` ([B, C, H, W]) with the draws of images first_sample .. first_sample + B - 1.
    void operator()(noise_purpose purpose, int step, std::uint64_t first_sample, tensor_view<float> out) const
    {
        const std::size_t per_image = out.shape().image_size();
        detail::require(per_image <= max_noise_elements && step >= 0 && step < (1 << 30),
                        "philox_noise: image or step index too large for the counter layout");
        for (std::int64_t b = 0; b < out.shape().n; ++b) {
            const noise_key key{seed_, first_sample + static_cast<std::uint64_t>(b), static_cast<std::uint32_t>(step),
                                purpose};
            float* dst = out.data() + static_cast<std::size_t>(b) * per_image;
            float normals[4];
            for (std::size_t e = 0; e < per_image; e += 4) {
                philox_normals4(key, static_cast<std::uint32_t>(e >> 2), normals);
                for (std::size_t j = 0; j < 4 && e + j < per_image; ++j) dst[e + j] = normals[j];
            }
        }
    }

    std::uint64_t seed() const { return seed_; }

private:
    std::uint64_t seed_;
};

/// A noise source that replays recorded arrays draw for draw, e.g. the
/// reference implementation's torch draws stored in the golden traces. Rows of
/// each array are the job's images; `first_sample` selects them.
class replay_noise {
public:
    /// `initial`: x_T [S, C, H, W]; `proposal[i]` and `reference[i]`: the draws of
    /// respaced step i (same shape), indexed by i, not by loop order.
    replay_noise(tensor initial, std::vector<tensor> proposal, std::vector<tensor> reference)
        : initial_(std::move(initial)), proposal_(std::move(proposal)), reference_(std::move(reference))
    {
        for (const auto* list : {&proposal_, &reference_})
            for (const auto& t : *list)
                detail::require(t.shape() == initial_.shape(), "replay_noise: recorded arrays must all have shape "
                                                                   + initial_.shape().to_string());
    }

    void operator()(noise_purpose purpose, int step, std::uint64_t first_sample, tensor_view<float> out) const
    {
        const tensor* source = &initial_;
        if (purpose != noise_purpose::initial) {
            const auto& list = purpose == noise_purpose::proposal ? proposal_ : reference_;
            detail::require(step >= 0 && static_cast<std::size_t>(step) < list.size(),
                            [&] { return "replay_noise: no recorded draw for step " + std::to_string(step); });
            source = &list[static_cast<std::size_t>(step)];
        }
        const shape4 s = source->shape(), o = out.shape();
        detail::require(o.c == s.c && o.h == s.h && o.w == s.w && first_sample + static_cast<std::uint64_t>(o.n)
                                                                         <= static_cast<std::uint64_t>(s.n),
                        [&] { return "replay_noise: recorded " + s.to_string() + " cannot fill " + o.to_string(); });
        const float* from = source->data() + first_sample * s.image_size();
        std::copy(from, from + out.size(), out.data());
    }

private:
    tensor initial_;
    std::vector<tensor> proposal_, reference_;
};

} // namespace ilvr

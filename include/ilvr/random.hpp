// Counter-based Gaussian noise: every draw is a pure function of
// (seed, sample index in the job, step, purpose, element), so results do not
// depend on batch size, thread count or device.
// Ref: Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC 2011 (Philox4x32-10);
// docs/spec.md section 8 (the counter layout and the noise streams).
#pragma once

#include <ilvr/config.hpp>
#include <ilvr/detail/cpu.hpp>
#include <ilvr/detail/normal_math.hpp>
#include <ilvr/detail/philox_avx2.hpp>
#include <ilvr/tensor.hpp>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

namespace ilvr {

/// What a draw is for; part of the key, so the streams never overlap. The low
/// two bits are the kind below; the bits above them number a conditioner's noise
/// stream (with_stream), so two conditioners of a composition never share noise.
enum class noise_purpose : std::uint32_t {
    initial = 0,    ///< x_T
    proposal = 1,   ///< z of the sampler step at index i
    reference = 2,  ///< e that noises the reference at index i (ILVR, the conditioners)
    renoise = 3,    ///< z that noises a sample forward again (RePaint resampling)
};

/// The number of noise streams the counter layout holds (stream 0 .. 255).
inline constexpr std::uint32_t noise_streams = 256;

/// `purpose`'s kind in noise stream `stream` (stream 0 is the kind itself, so a
/// conditioner used alone draws what it always drew). docs/spec.md section 8.
constexpr noise_purpose with_stream(noise_purpose purpose, std::uint32_t stream)
{
    return static_cast<noise_purpose>((static_cast<std::uint32_t>(purpose) & 3u) | (stream << 2));
}

/// The kind of a purpose (its low two bits): initial, proposal, reference or renoise.
constexpr noise_purpose kind_of(noise_purpose purpose)
{
    return static_cast<noise_purpose>(static_cast<std::uint32_t>(purpose) & 3u);
}

/// The noise stream of a purpose (0 for the sampler's own draws and a lone conditioner).
constexpr std::uint32_t stream_of(noise_purpose purpose) { return static_cast<std::uint32_t>(purpose) >> 2; }

namespace detail {

struct philox_block {
    std::uint32_t v[4];
};

/// The fourth counter word: stream (8 bits), step (22 bits), kind (2 bits).
/// Stream 0 leaves the word as it was before streams existed: (step << 2) | kind.
ILVR_HOST_DEVICE inline std::uint32_t counter_word3(std::uint32_t step, noise_purpose purpose)
{
    const auto p = static_cast<std::uint32_t>(purpose);
    return ((p >> 2) << 24) | (step << 2) | (p & 3u);
}

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

/// Four standard normals from one Philox block: Box-Muller on words (0, 1) and (2, 3).
ILVR_HOST_DEVICE inline void box_muller4(const philox_block& b, float out[4])
{
    box_muller(b.v[0], b.v[1], out[0], out[1]);
    box_muller(b.v[2], b.v[3], out[2], out[3]);
}

#ifdef ILVR_HAVE_LANE_SHUFFLES
/// Philox4x32-10 on four blocks at once (SSE2): word w of block l is v[w][l].
/// pmuludq multiplies the even lanes to 64 bits, the odd ones after a shift
/// down; shuffles put the low and high words back in lane order. Bitwise the
/// same as philox4x32_10 (tested).
inline void philox4x32_10_x4(std::uint32_t v[4][4], std::uint32_t k0, std::uint32_t k1)
{
    using detail::u32x4, detail::u64x2, detail::u32x4_in_memory;
    u32x4 c[4];
    for (int w = 0; w < 4; ++w) c[w] = *reinterpret_cast<const u32x4_in_memory*>(v[w]);
    const u32x4 m0 = u32x4{} + 0xD2511F53u, m1 = u32x4{} + 0xCD9E8D57u;
    const auto mul = [](u32x4 a, u32x4 m, u32x4& hi, u32x4& lo) ILVR_ALWAYS_INLINE {
        // Lanes [lo(0), hi(0), lo(2), hi(2)] and [lo(1), hi(1), lo(3), hi(3)].
        const auto even = reinterpret_cast<u32x4>(detail::mul_even(a, m));
        const auto a_odd = reinterpret_cast<u32x4>(reinterpret_cast<u64x2>(a) >> 32);
        const auto odd = reinterpret_cast<u32x4>(detail::mul_even(a_odd, m));
        lo = __builtin_shufflevector(even, odd, 0, 4, 2, 6);
        hi = __builtin_shufflevector(even, odd, 1, 5, 3, 7);
    };
    for (int round = 0; round < 10; ++round) {
        u32x4 hi0, lo0, hi1, lo1;
        mul(c[0], m0, hi0, lo0);
        mul(c[2], m1, hi1, lo1);
        c[0] = hi1 ^ c[1] ^ k0;
        c[1] = lo1;
        c[2] = hi0 ^ c[3] ^ k1;
        c[3] = lo0;
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
    for (int w = 0; w < 4; ++w) *reinterpret_cast<u32x4_in_memory*>(v[w]) = c[w];
}
#endif

/// Philox4x32-10 on four blocks: SSE2 where available, else one at a time.
inline void philox4x32_10_group(std::uint32_t v[4][4], std::uint32_t k0, std::uint32_t k1)
{
#ifdef ILVR_HAVE_LANE_SHUFFLES
    philox4x32_10_x4(v, k0, k1);
#else
    for (int l = 0; l < 4; ++l) {
        const philox_block b = philox4x32_10({{v[0][l], v[1][l], v[2][l], v[3][l]}}, k0, k1);
        for (int w = 0; w < 4; ++w) v[w][l] = b.v[w];
    }
#endif
}

/// Normals 0 .. count-1 of one image, counter words (block, c1, c2, c3) and key
/// (k0, k1), sixteen (four Philox blocks) at a time: the blocks through SSE2
/// Philox, the Box-Muller loop over lanes vectorises. Element 4j + w is normal w
/// of block j, exactly as philox_normal computes it. philox_noise uses the AVX2
/// twin (detail/philox_avx2.hpp) where the CPU has it; both give the same bits.
inline void fill_normals(std::uint32_t c1, std::uint32_t c2, std::uint32_t c3, std::uint32_t k0, std::uint32_t k1,
                         float* dst, std::size_t count)
{
    std::uint32_t v[4][4];
    float z[4][4];
    for (std::size_t first = 0; first < count; first += 16) {
        const auto block = static_cast<std::uint32_t>(first >> 2);
        for (std::uint32_t l = 0; l < 4; ++l) v[0][l] = block + l, v[1][l] = c1, v[2][l] = c2, v[3][l] = c3;
        philox4x32_10_group(v, k0, k1);
        for (int l = 0; l < 4; ++l) {
            box_muller(v[0][l], v[1][l], z[0][l], z[1][l]);
            box_muller(v[2][l], v[3][l], z[2][l], z[3][l]);
        }
        const std::size_t n = std::min<std::size_t>(16, count - first);
        for (std::size_t e = 0; e < n; ++e) dst[first + e] = z[e & 3][e >> 2];
    }
}

} // namespace detail

/// The key of one image's draw: the job's seed, the image's index in the whole
/// job (not in the batch), the respaced step index and the purpose.
struct noise_key {
    std::uint64_t seed;
    std::uint64_t sample;
    std::uint32_t step;  ///< < 2^22
    noise_purpose purpose;  ///< kind and stream (stream < noise_streams)
};

/// Normals 4 * block .. 4 * block + 3 of the image keyed by `key`: one Philox call.
/// Counter words: block, sample (low, high), (stream, step, kind); key words: the seed.
ILVR_HOST_DEVICE inline void philox_normals4(const noise_key& key, std::uint32_t block, float out[4])
{
    const detail::philox_block counter{{block, static_cast<std::uint32_t>(key.sample),
                                        static_cast<std::uint32_t>(key.sample >> 32),
                                        detail::counter_word3(key.step, key.purpose)}};
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

/// Steps 0 .. 2^22 - 1 fit the counter layout.
inline constexpr int max_noise_steps = 1 << 22;

/// The default noise source: Philox4x32-10 with Box-Muller, keyed per image.
class philox_noise {
public:
    explicit philox_noise(std::uint64_t seed) : seed_(seed) {}

    /// Fills `out` ([B, C, H, W]) with the draws of images first_sample .. first_sample + B - 1.
    void operator()(noise_purpose purpose, int step, std::uint64_t first_sample, tensor_view<float> out) const
    {
        const std::size_t per_image = out.shape().image_size();
        detail::require(per_image <= max_noise_elements && step >= 0 && step < max_noise_steps
                            && stream_of(purpose) < noise_streams,
                        "philox_noise: image, step or stream index too large for the counter layout");
        for (std::int64_t b = 0; b < out.shape().n; ++b) {
            const noise_key key{seed_, first_sample + static_cast<std::uint64_t>(b), static_cast<std::uint32_t>(step),
                                purpose};
            fill_image(key, out.data() + static_cast<std::size_t>(b) * per_image, per_image);
        }
    }

    std::uint64_t seed() const { return seed_; }

private:
    static void fill_image(const noise_key& key, float* dst, std::size_t count)
    {
        const std::uint32_t c1 = static_cast<std::uint32_t>(key.sample), c2 = static_cast<std::uint32_t>(key.sample >> 32);
        const std::uint32_t c3 = detail::counter_word3(key.step, key.purpose);
        const auto k0 = static_cast<std::uint32_t>(key.seed), k1 = static_cast<std::uint32_t>(key.seed >> 32);
#ifdef ILVR_HAVE_LANE_SHUFFLES
        if (detail::cpu_has_avx2()) return detail::fill_normals_avx2(c1, c2, c3, k0, k1, dst, count);
#endif
        detail::fill_normals(c1, c2, c3, k0, k1, dst, count);
    }

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
        detail::require(stream_of(purpose) == 0 && kind_of(purpose) != noise_purpose::renoise, [&] {
            return "replay_noise: no recorded draws for conditioner noise stream " + std::to_string(stream_of(purpose))
                   + " (recordings hold the sampler's and one conditioner's draws)";
        });
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

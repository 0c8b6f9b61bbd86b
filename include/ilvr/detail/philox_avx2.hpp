// AVX2 path of philox_noise's fill: eight Philox4x32-10 blocks per iteration
// and Box-Muller over eight lanes, chosen at run time where the CPU has AVX2.
// Bitwise equal to the scalar and SSE2 paths (tested): the same integer
// arithmetic, and float code compiled without FMA, so no contraction changes
// a rounding (detail/cpu.hpp).
#pragma once

#include <ilvr/detail/cpu.hpp>

#ifdef ILVR_HAVE_LANE_SHUFFLES  // implies ILVR_HAVE_AVX2_PATH
#include <ilvr/detail/normal_math.hpp>

#include <cstddef>
#include <cstdint>

namespace ilvr::detail {

/// Philox4x32-10 on eight blocks: c[w] holds word w of blocks 0..7. The even
/// lanes are multiplied to 64 bits in place, the odd ones after a shift down;
/// blends put the low and high halves back in lane order.
ILVR_TARGET_AVX2 inline void philox4x32_10_x8(u32x8 c[4], std::uint32_t k0, std::uint32_t k1)
{
    const u32x8 m0 = u32x8{} + 0xD2511F53u, m1 = u32x8{} + 0xCD9E8D57u;
    const auto mul = [](u32x8 a, u32x8 m, u32x8& hi, u32x8& lo) ILVR_TARGET_AVX2 {
        const u64x4 even = mul_even(a, m), odd = mul_even(reinterpret_cast<u32x8>(reinterpret_cast<u64x4>(a) >> 32), m);
        // Even lanes from the first, odd lanes from the second (vpblendd).
        lo = __builtin_shufflevector(reinterpret_cast<u32x8>(even), reinterpret_cast<u32x8>(odd << 32), 0, 9, 2, 11, 4,
                                     13, 6, 15);
        hi = __builtin_shufflevector(reinterpret_cast<u32x8>(even >> 32), reinterpret_cast<u32x8>(odd), 0, 9, 2, 11, 4,
                                     13, 6, 15);
    };
    for (int round = 0; round < 10; ++round) {
        u32x8 hi0, lo0, hi1, lo1;
        mul(c[0], m0, hi0, lo0);
        mul(c[2], m1, hi1, lo1);
        c[0] = hi1 ^ c[1] ^ k0;
        c[1] = lo1;
        c[2] = hi0 ^ c[3] ^ k1;
        c[3] = lo0;
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
}

/// Normals 0 .. count-1 of one image: counter words (block, c1, c2, c3), key
/// (k0, k1); element 4j + w is normal w of block j, as philox_normal defines it.
ILVR_TARGET_AVX2 inline void fill_normals_avx2(std::uint32_t c1, std::uint32_t c2, std::uint32_t c3,
                                               std::uint32_t k0, std::uint32_t k1, float* dst, std::size_t count)
{
    alignas(32) std::uint32_t words[4][8];
    alignas(32) float z[4][8];
    const u32x8 lane = {0, 1, 2, 3, 4, 5, 6, 7};
    for (std::size_t first = 0; first < count; first += 32) {
        u32x8 c[4] = {lane + static_cast<std::uint32_t>(first >> 2), u32x8{} + c1, u32x8{} + c2, u32x8{} + c3};
        philox4x32_10_x8(c, k0, k1);
        // Plain aligned vector stores (vmovdqa): a __builtin_memcpy here measured
        // 10 % slower (GCC 12 reloads the words for the Box-Muller loop).
        for (int w = 0; w < 4; ++w) *reinterpret_cast<u32x8*>(words[w]) = c[w];
        for (int l = 0; l < 8; ++l) {  // vectorised over the lanes by the compiler
            box_muller(words[0][l], words[1][l], z[0][l], z[1][l]);
            box_muller(words[2][l], words[3][l], z[2][l], z[3][l]);
        }
        // Transpose 4 x 8 -> 8 blocks of 4 consecutive normals (element 4j + w is
        // normal w of block j): the unpack, shuffle and 128-bit permute steps of AVX2.
        f32x8 r[4];
        for (int w = 0; w < 4; ++w) r[w] = *reinterpret_cast<const f32x8_in_memory*>(z[w]);
        const f32x8 t0 = __builtin_shufflevector(r[0], r[1], 0, 8, 1, 9, 4, 12, 5, 13);
        const f32x8 t1 = __builtin_shufflevector(r[0], r[1], 2, 10, 3, 11, 6, 14, 7, 15);
        const f32x8 t2 = __builtin_shufflevector(r[2], r[3], 0, 8, 1, 9, 4, 12, 5, 13);
        const f32x8 t3 = __builtin_shufflevector(r[2], r[3], 2, 10, 3, 11, 6, 14, 7, 15);
        const f32x8 b04 = __builtin_shufflevector(t0, t2, 0, 1, 8, 9, 4, 5, 12, 13);
        const f32x8 b15 = __builtin_shufflevector(t0, t2, 2, 3, 10, 11, 6, 7, 14, 15);
        const f32x8 b26 = __builtin_shufflevector(t1, t3, 0, 1, 8, 9, 4, 5, 12, 13);
        const f32x8 b37 = __builtin_shufflevector(t1, t3, 2, 3, 10, 11, 6, 7, 14, 15);
        const f32x8 o0 = __builtin_shufflevector(b04, b15, 0, 1, 2, 3, 8, 9, 10, 11);
        const f32x8 o1 = __builtin_shufflevector(b26, b37, 0, 1, 2, 3, 8, 9, 10, 11);
        const f32x8 o2 = __builtin_shufflevector(b04, b15, 4, 5, 6, 7, 12, 13, 14, 15);
        const f32x8 o3 = __builtin_shufflevector(b26, b37, 4, 5, 6, 7, 12, 13, 14, 15);
        const std::size_t n = count - first < 32 ? count - first : 32;
        if (n == 32) {
            *reinterpret_cast<f32x8_in_memory*>(dst + first) = o0;
            *reinterpret_cast<f32x8_in_memory*>(dst + first + 8) = o1;
            *reinterpret_cast<f32x8_in_memory*>(dst + first + 16) = o2;
            *reinterpret_cast<f32x8_in_memory*>(dst + first + 24) = o3;
        } else {  // the last, partial group: through a buffer
            alignas(32) const f32x8 part[4] = {o0, o1, o2, o3};
            const float* p = reinterpret_cast<const float*>(part);
            for (std::size_t e = 0; e < n; ++e) dst[first + e] = p[e];
        }
    }
}

} // namespace ilvr::detail
#endif

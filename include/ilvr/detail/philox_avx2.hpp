// AVX2 path of philox_noise's fill: eight Philox4x32-10 blocks per iteration
// and Box-Muller over eight lanes, chosen at run time where the CPU has AVX2.
// Bitwise equal to the scalar and SSE2 paths (tested): the same integer
// arithmetic, and float code compiled without FMA, so no contraction changes
// a rounding (detail/cpu.hpp).
#pragma once

#include <ilvr/detail/cpu.hpp>

#ifdef ILVR_HAVE_AVX2_PATH
#include <ilvr/detail/normal_math.hpp>

#include <immintrin.h>

#include <cstddef>
#include <cstdint>

namespace ilvr::detail {

/// Philox4x32-10 on eight blocks: c[w] holds word w of blocks 0..7.
/// _mm256_mul_epu32 multiplies the even lanes to 64 bits; the odd lanes are
/// shifted down first, and blends put the low and high halves back in lane order.
ILVR_TARGET_AVX2 inline void philox4x32_10_x8(__m256i c[4], std::uint32_t k0, std::uint32_t k1)
{
    const __m256i m0 = _mm256_set1_epi32(static_cast<int>(0xD2511F53u));
    const __m256i m1 = _mm256_set1_epi32(static_cast<int>(0xCD9E8D57u));
    auto mul = [](__m256i a, __m256i m, __m256i& hi, __m256i& lo) ILVR_TARGET_AVX2 {
        const __m256i even = _mm256_mul_epu32(a, m), odd = _mm256_mul_epu32(_mm256_srli_epi64(a, 32), m);
        lo = _mm256_blend_epi32(even, _mm256_slli_epi64(odd, 32), 0xAA);
        hi = _mm256_blend_epi32(_mm256_srli_epi64(even, 32), odd, 0xAA);
    };
    for (int round = 0; round < 10; ++round) {
        __m256i hi0, lo0, hi1, lo1;
        mul(c[0], m0, hi0, lo0);
        mul(c[2], m1, hi1, lo1);
        c[0] = _mm256_xor_si256(_mm256_xor_si256(hi1, c[1]), _mm256_set1_epi32(static_cast<int>(k0)));
        c[1] = lo1;
        c[2] = _mm256_xor_si256(_mm256_xor_si256(hi0, c[3]), _mm256_set1_epi32(static_cast<int>(k1)));
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
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    for (std::size_t first = 0; first < count; first += 32) {
        __m256i c[4] = {_mm256_add_epi32(_mm256_set1_epi32(static_cast<int>(first >> 2)), lane),
                        _mm256_set1_epi32(static_cast<int>(c1)), _mm256_set1_epi32(static_cast<int>(c2)),
                        _mm256_set1_epi32(static_cast<int>(c3))};
        philox4x32_10_x8(c, k0, k1);
        for (int w = 0; w < 4; ++w) _mm256_store_si256(reinterpret_cast<__m256i*>(words[w]), c[w]);
        for (int l = 0; l < 8; ++l) {  // vectorised over the lanes by the compiler
            box_muller(words[0][l], words[1][l], z[0][l], z[1][l]);
            box_muller(words[2][l], words[3][l], z[2][l], z[3][l]);
        }
        // Transpose 4 x 8 -> 8 blocks of 4 consecutive normals.
        const __m256 z0 = _mm256_load_ps(z[0]), z1 = _mm256_load_ps(z[1]);
        const __m256 z2 = _mm256_load_ps(z[2]), z3 = _mm256_load_ps(z[3]);
        const __m256 t0 = _mm256_unpacklo_ps(z0, z1), t1 = _mm256_unpackhi_ps(z0, z1);
        const __m256 t2 = _mm256_unpacklo_ps(z2, z3), t3 = _mm256_unpackhi_ps(z2, z3);
        const __m256 b04 = _mm256_shuffle_ps(t0, t2, 0x44), b15 = _mm256_shuffle_ps(t0, t2, 0xEE);
        const __m256 b26 = _mm256_shuffle_ps(t1, t3, 0x44), b37 = _mm256_shuffle_ps(t1, t3, 0xEE);
        alignas(32) float out[32];
        _mm256_store_ps(out + 0, _mm256_permute2f128_ps(b04, b15, 0x20));
        _mm256_store_ps(out + 8, _mm256_permute2f128_ps(b26, b37, 0x20));
        _mm256_store_ps(out + 16, _mm256_permute2f128_ps(b04, b15, 0x31));
        _mm256_store_ps(out + 24, _mm256_permute2f128_ps(b26, b37, 0x31));
        const std::size_t n = count - first < 32 ? count - first : 32;
        if (n == 32) {
            for (int k = 0; k < 4; ++k) _mm256_storeu_ps(dst + first + 8 * k, _mm256_load_ps(out + 8 * k));
        } else {
            for (std::size_t e = 0; e < n; ++e) dst[first + e] = out[e];
        }
    }
}

} // namespace ilvr::detail
#endif

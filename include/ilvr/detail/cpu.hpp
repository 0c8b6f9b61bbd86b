// Run-time choice of the AVX2 build of a hot loop. The library compiles for the
// baseline x86-64 (SSE2) unless the user asks for more; loops that gain from
// wider vectors are compiled a second time with target("avx2") and chosen here
// once the CPU is known. Never with FMA: a fused multiply-add rounds once where
// the baseline rounds twice, and results must not depend on the CPU.
// Only GCC and Clang on x86-64 host code; elsewhere the portable code runs.
#pragma once

// A loop body shared by the baseline and the AVX2 build must be inlined into
// each, so that each is vectorised for its own target.
#if (defined(__GNUC__) || defined(__clang__)) && !defined(__CUDACC__)
#define ILVR_ALWAYS_INLINE __attribute__((always_inline))
#else
#define ILVR_ALWAYS_INLINE
#endif

// The vector paths are written with GCC/Clang vector extensions (arithmetic,
// shifts, __builtin_shufflevector, casts that reinterpret the bits) and one
// builtin, pmuludq, not with <immintrin.h>: its tens of thousands of lines cost
// every file that includes the library half a second of compile time. Compiled
// the same way they give the intrinsics' instructions and speed (measured,
// docs/performance.md).
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && !defined(__CUDACC__)
/// AVX2 paths, chosen at run time (cpu_has_avx2), beside the SSE2 baseline.
#define ILVR_HAVE_AVX2_PATH 1
/// Marks a function compiled for AVX2 (and nothing beyond it).
#define ILVR_TARGET_AVX2 __attribute__((target("avx2")))
#if defined(__has_builtin)
#if __has_builtin(__builtin_shufflevector)
/// The kernels that rearrange lanes (Philox on four and eight lanes, the 4 x 4
/// transposes) need __builtin_shufflevector: Clang, GCC 12 and later. Older GCC
/// runs their scalar code, with the same bits.
#define ILVR_HAVE_LANE_SHUFFLES 1
#endif
#endif
#endif

#ifdef ILVR_HAVE_AVX2_PATH
#include <cstdint>

namespace ilvr::detail {
using f32x4 = float __attribute__((vector_size(16)));
using u32x4 = std::uint32_t __attribute__((vector_size(16)));
using i32x4 = int __attribute__((vector_size(16)));
using u64x2 = std::uint64_t __attribute__((vector_size(16)));
using f32x8 = float __attribute__((vector_size(32)));
using u32x8 = std::uint32_t __attribute__((vector_size(32)));
using i32x8 = int __attribute__((vector_size(32)));
using u64x4 = std::uint64_t __attribute__((vector_size(32)));
/// Vectors anywhere in memory: unaligned loads and stores (movups) that may
/// alias arrays of their elements. Typedefs, not aliases: Clang lowers the
/// alignment of a typedef only (with `using` it kept 32 and emitted vmovaps).
typedef float f32x4_in_memory __attribute__((vector_size(16), aligned(4), may_alias));
typedef std::uint32_t u32x4_in_memory __attribute__((vector_size(16), aligned(4), may_alias));
typedef float f32x8_in_memory __attribute__((vector_size(32), aligned(4), may_alias));

/// The 64-bit products of lanes 0 and 2 of `a` and `m` (pmuludq).
ILVR_ALWAYS_INLINE inline u64x2 mul_even(u32x4 a, u32x4 m)
{
    return reinterpret_cast<u64x2>(__builtin_ia32_pmuludq128(reinterpret_cast<i32x4>(a), reinterpret_cast<i32x4>(m)));
}

/// The 64-bit products of lanes 0, 2, 4, 6 of `a` and `m` (vpmuludq).
ILVR_TARGET_AVX2 ILVR_ALWAYS_INLINE inline u64x4 mul_even(u32x8 a, u32x8 m)
{
    return reinterpret_cast<u64x4>(__builtin_ia32_pmuludq256(reinterpret_cast<i32x8>(a), reinterpret_cast<i32x8>(m)));
}
} // namespace ilvr::detail
#endif

namespace ilvr::detail {

#ifdef ILVR_HAVE_AVX2_PATH
/// Whether this CPU runs the AVX2 paths (asked once; a constant afterwards).
inline bool cpu_has_avx2()
{
    static const bool has = __builtin_cpu_supports("avx2");
    return has;
}

template <class Body>
ILVR_TARGET_AVX2 inline void call_avx2(Body& body)
{
    body();
}
#endif

/// Runs an elementwise loop compiled for AVX2 where the CPU has it, else for the
/// baseline. `body` must be a lambda marked ILVR_ALWAYS_INLINE, so that its loops
/// are inlined into, and vectorised for, each build.
template <class Body>
inline void vectorised(Body&& body)
{
#ifdef ILVR_HAVE_AVX2_PATH
    if (cpu_has_avx2()) return call_avx2(body);
#endif
    body();
}

} // namespace ilvr::detail

// Run-time choice of the AVX2 build of a hot loop. The library compiles for the
// baseline x86-64 (SSE2) unless the user asks for more; loops that gain from
// wider vectors are compiled a second time with target("avx2") and chosen here
// once the CPU is known. Never with FMA: a fused multiply-add rounds once where
// the baseline rounds twice, and results must not depend on the CPU.
// Only GCC and Clang on x86-64 host code; elsewhere the baseline runs.
#pragma once

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && !defined(__CUDACC__)
#define ILVR_HAVE_AVX2_PATH 1
/// Marks a function compiled for AVX2 (and nothing beyond it).
#define ILVR_TARGET_AVX2 __attribute__((target("avx2")))
#endif

#ifdef ILVR_HAVE_AVX2_PATH
#include <cstdint>

namespace ilvr::detail {
// 256-bit vectors as GCC/Clang vector extensions: the AVX2 paths are written
// with these (arithmetic, shifts, casts that reinterpret the bits) and one
// builtin, not with <immintrin.h>, whose tens of thousands of lines (over a
// second of compile time) every file including the library would pay for.
using f32x8 = float __attribute__((vector_size(32)));
using u32x8 = std::uint32_t __attribute__((vector_size(32)));
using i32x8 = int __attribute__((vector_size(32)));
using u64x4 = std::uint64_t __attribute__((vector_size(32)));
/// Eight floats anywhere in memory: unaligned loads and stores (vmovups) that
/// may alias float arrays. A typedef: Clang lowers an alignment only there, not
/// in an alias-declaration.
typedef float f32x8_in_memory __attribute__((vector_size(32), aligned(4), may_alias));
static_assert(alignof(f32x8_in_memory) == 4, "unaligned vector type");
} // namespace ilvr::detail
#endif

// A loop body shared by the baseline and the AVX2 build must be inlined into
// each, so that each is vectorised for its own target.
#if (defined(__GNUC__) || defined(__clang__)) && !defined(__CUDACC__)
#define ILVR_ALWAYS_INLINE __attribute__((always_inline))
#else
#define ILVR_ALWAYS_INLINE
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

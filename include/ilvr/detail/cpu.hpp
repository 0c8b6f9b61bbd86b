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

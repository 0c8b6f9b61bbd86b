// Work split over independent planes or images. With OpenMP (compile with
// -fopenmp, or link ilvr::openmp) the loop runs on `threads` threads; without it,
// serially. Every index is computed the same way either way, so results are
// bitwise independent of the thread count.
#pragma once

#include <cstdint>

#if defined(_OPENMP)
#include <omp.h>
#endif

namespace ilvr::detail {

/// Calls f(i, thread) for i in [0, n); `thread` < threads names the caller's
/// scratch slot. f must not throw.
template <class F>
void parallel_for(std::int64_t n, int threads, F&& f)
{
#if defined(_OPENMP)
    if (threads > 1 && n > 1) {
#pragma omp parallel for num_threads(threads) schedule(static)
        for (std::int64_t i = 0; i < n; ++i) f(i, omp_get_thread_num());
        return;
    }
#endif
    (void)threads;
    for (std::int64_t i = 0; i < n; ++i) f(i, 0);
}

/// Whether this build can use more than one thread.
constexpr bool has_threads()
{
#if defined(_OPENMP)
    return true;
#else
    return false;
#endif
}

} // namespace ilvr::detail

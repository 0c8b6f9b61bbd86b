// Work split over independent planes or images. With OpenMP (compile with
// -fopenmp, or link ilvr::openmp) the loop runs on `threads` threads; without it,
// serially, and the first request for more than one thread prints one warning to
// std::cerr (docs/errors.md). Every index is computed the same way either way, so
// results are bitwise independent of the thread count.
#pragma once

#include <atomic>
#include <cstdint>
#include <iostream>

#if defined(_OPENMP)
#include <omp.h>
#endif

namespace ilvr::detail {

/// Set once the "threads without OpenMP" warning has been printed.
inline std::atomic<bool> threads_warning_printed{false};

/// Prints, once per process, that `threads` threads were requested in a build without OpenMP.
inline void warn_no_openmp(int threads)
{
    if (threads_warning_printed.exchange(true)) return;
    std::cerr << "ilvr: warning: " << threads << " threads requested, but this build has no OpenMP "
              << "(link ilvr::openmp or compile with -fopenmp); running on one thread\n";
}

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
#else
    if (threads > 1 && !threads_warning_printed.load(std::memory_order_relaxed)) warn_no_openmp(threads);
#endif
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

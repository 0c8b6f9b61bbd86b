// Work split over independent planes or images. With OpenMP (compile with
// -fopenmp, or link ilvr::openmp) the loop runs on `threads` threads; without it,
// serially, and the first request for more than one thread prints one warning to
// stderr (docs/errors.md). With OpenMP, the first request that would oversubscribe
// the machine prints one warning too (check_threads). Every index is computed the
// same way either way, so results are bitwise independent of the thread count.
#pragma once

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#if defined(_OPENMP)
#include <omp.h>
#endif
#if defined(__linux__)
#include <sched.h>
#endif

namespace ilvr::detail {

/// Set once the "threads without OpenMP" warning has been printed.
inline std::atomic<bool> threads_warning_printed{false};
/// Set once the oversubscription warning has been printed.
inline std::atomic<bool> oversubscription_warning_printed{false};
/// Intra-op threads of another runtime in this process that alternates with the
/// library's (LibTorch's, recorded by ilvr::torch::module_denoiser); 0 if none.
inline std::atomic<int> other_runtime_threads{0};

/// Prints one warning line on stderr (no iostreams: they cost every includer).
inline void print_warning(const std::string& text) { std::fprintf(stderr, "ilvr: warning: %s\n", text.c_str()); }

/// Prints, once per process, that `threads` threads were requested in a build without OpenMP.
inline void warn_no_openmp(int threads)
{
    if (threads_warning_printed.exchange(true)) return;
    print_warning(std::to_string(threads) + " threads requested, but this build has no OpenMP "
                  "(link ilvr::openmp or compile with -fopenmp); running on one thread");
}

/// The cores this process may run on: its CPU affinity mask where there is one
/// (a cluster job gets the cores it was allotted), else all of the machine's.
inline int available_cores()
{
#if defined(__linux__)
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0) return CPU_COUNT(&set);
#endif
    const unsigned n = std::thread::hardware_concurrency();
    return n > 0 ? static_cast<int>(n) : 1;
}

/// Why `threads` library threads, beside `other` threads of another runtime
/// (LibTorch), would oversubscribe this process's `cores` given the environment's
/// OMP_NUM_THREADS (`omp_env`, nullptr if unset); "" when they fit. OpenMP
/// threads spin while they wait, so threads beyond the cores, or two pools of
/// different sizes (a library team beside a pool OMP_NUM_THREADS sized smaller),
/// make the busy threads wait for cores: measured 40-60x slower.
inline std::string oversubscription(int threads, int other, int cores, const char* omp_env)
{
    const std::string fix = "; see docs/denoiser.md, \"Threads\"";
    if (threads > cores)
        return std::to_string(threads) + " threads requested, but this process may run on " + std::to_string(cores) +
               " cores: request at most " + std::to_string(cores) + fix;
    if (other > cores)
        return "LibTorch runs " + std::to_string(other) + " threads, but this process may run on " +
               std::to_string(cores) + " cores: give it at most " + std::to_string(cores) +
               " (module_options.threads)" + fix;
    if (omp_env) {
        char* end = nullptr;
        const long omp = std::strtol(omp_env, &end, 10);
        if (end != omp_env && omp >= 1 && (omp < threads || omp < other))
            return std::string("OMP_NUM_THREADS=") + omp_env + ", but the library runs " + std::to_string(threads) +
                   " threads" + (other > 0 ? " and LibTorch " + std::to_string(other) : std::string()) +
                   ": two OpenMP pools of different sizes compete for the cores; set OMP_NUM_THREADS to the "
                   "threads you give (or leave it unset)" + fix;
    }
    return "";
}

/// Prints, once per process, why the library's `threads` would oversubscribe the
/// machine (oversubscription()); nothing when they fit.
inline void check_threads(int threads)
{
    if (oversubscription_warning_printed.load(std::memory_order_relaxed)) return;
    static const int cores = available_cores();
    const std::string why = oversubscription(threads, other_runtime_threads.load(std::memory_order_relaxed), cores,
                                             std::getenv("OMP_NUM_THREADS"));
    if (!why.empty() && !oversubscription_warning_printed.exchange(true)) print_warning(why);
}

/// Calls f(i, thread) for i in [0, n); `thread` < threads names the caller's
/// scratch slot. f must not throw.
template <class F>
void parallel_for(std::int64_t n, int threads, F&& f)
{
#if defined(_OPENMP)
    if (threads > 1 && n > 1) {
        check_threads(threads);
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

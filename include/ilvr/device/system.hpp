// The device system: where the device backend's memory lives and its loops run.
// Thrust picks it at compile time. Under nvcc it is CUDA (a GPU); compiled by a
// host compiler with THRUST_DEVICE_SYSTEM=THRUST_DEVICE_SYSTEM_OMP (or _CPP) it
// is the host (OpenMP threads, or one thread), so the same source is built,
// run and tested on machines without a GPU. This header is the backend's one
// thin layer over Thrust: memory, copies, loops over an index, and the few
// CUDA-only pieces (streams, error checks), each marked as such.
#pragma once

#include <ilvr/config.hpp>
#include <ilvr/detail/normal_math.hpp>
#include <ilvr/error.hpp>

#include <thrust/copy.h>
#include <thrust/device_ptr.h>
#include <thrust/device_vector.h>
#include <thrust/execution_policy.h>
#include <thrust/for_each.h>
#include <thrust/iterator/counting_iterator.h>

#include <atomic>
#include <cstdint>
#include <string>

#if THRUST_DEVICE_SYSTEM == THRUST_DEVICE_SYSTEM_CUDA
/// Defined when the device system is CUDA (the GPU); absent on the host system.
#define ILVR_DEVICE_CUDA 1
#include <cuda_runtime.h>
#endif

namespace ilvr::device {

#ifdef ILVR_DEVICE_CUDA
/// CUDA only: the stream device work is queued on (nullptr: the default stream).
using stream = cudaStream_t;

/// CUDA only: throws ilvr::error naming `what` if a CUDA call failed.
inline void check(cudaError_t status, const char* what)
{
    if (status != cudaSuccess)
        throw error(std::string("cuda: ") + what + ": " + cudaGetErrorName(status) + ": " + cudaGetErrorString(status));
}
#else
/// The host system has no streams: its work is done when the call returns.
/// An empty stand-in keeps the signatures of both systems the same.
struct stream {};
#endif

/// The name of the device system this translation unit was compiled for.
inline const char* system_name()
{
#if defined(ILVR_DEVICE_CUDA)
    return "cuda";
#elif THRUST_DEVICE_SYSTEM == THRUST_DEVICE_SYSTEM_OMP
    return "host (OpenMP)";
#elif THRUST_DEVICE_SYSTEM == THRUST_DEVICE_SYSTEM_TBB
    return "host (TBB)";
#else
    return "host (serial)";
#endif
}

/// Whether the device system can run work here: always on the host system; on
/// CUDA, when a GPU and its driver are present. Without a driver
/// cudaGetDeviceCount returns an error, not a zero count; `why` says which.
inline bool available(std::string* why = nullptr)
{
#ifdef ILVR_DEVICE_CUDA
    int count = 0;
    const cudaError_t status = cudaGetDeviceCount(&count);
    if (status != cudaSuccess) {
        (void)cudaGetLastError();  // clear the error
        if (why) *why = std::string("cudaGetDeviceCount: ") + cudaGetErrorName(status);
        return false;
    }
    if (count == 0 && why) *why = "no CUDA device";
    return count > 0;
#else
    (void)why;
    return true;
#endif
}

/// The Thrust execution policy of `s`: on CUDA, queued on the stream without
/// synchronising the host after each algorithm (par_nosync); on the host system
/// Thrust's device system (OpenMP threads).
inline auto policy([[maybe_unused]] stream s)
{
#ifdef ILVR_DEVICE_CUDA
    return thrust::cuda::par_nosync.on(s);
#else
    return thrust::device;
#endif
}

/// Calls f(i) for i in [0, n) on the device system: one GPU thread per index,
/// or the indices split over the host's threads. f is a functor whose call
/// operator is ILVR_HOST_DEVICE; it must not throw.
template <class F>
void for_each_index(stream s, std::int64_t n, F f)
{
    if (n <= 0) return;
    thrust::for_each_n(policy(s), thrust::counting_iterator<std::int64_t>(0), n, f);
}

/// Waits for the work queued on `s` (CUDA); nothing to wait for on the host system.
inline void synchronize([[maybe_unused]] stream s)
{
#ifdef ILVR_DEVICE_CUDA
    check(cudaStreamSynchronize(s), "cudaStreamSynchronize");
#endif
}

/// A typed array in device memory (thrust::device_vector: cudaMalloc on CUDA,
/// the heap on the host system).
template <class T>
using vector = thrust::device_vector<T>;

/// The raw device address of a device vector's first element.
template <class T>
T* raw(vector<T>& v)
{
    return thrust::raw_pointer_cast(v.data());
}
template <class T>
const T* raw(const vector<T>& v)
{
    return thrust::raw_pointer_cast(v.data());
}

/// Copies `count` elements from device memory to host memory (waits for them).
template <class T>
void copy_to_host(const T* device_from, std::size_t count, T* host_to)
{
    if (count > 0) thrust::copy_n(thrust::device_pointer_cast(device_from), count, host_to);
}

/// Copies `count` elements from host memory to device memory.
template <class T>
void copy_to_device(const T* host_from, std::size_t count, T* device_to)
{
    if (count > 0) thrust::copy_n(host_from, count, thrust::device_pointer_cast(device_to));
}

/// Copies `count` elements within device memory, queued on `s`.
template <class T>
void copy_on_device(stream s, const T* from, std::size_t count, T* to)
{
    if (count > 0) thrust::copy_n(policy(s), thrust::device_pointer_cast(from), count, thrust::device_pointer_cast(to));
}

/// Whether x is neither NaN nor infinite, from its bits: the same test on both systems.
ILVR_HOST_DEVICE inline bool is_finite(float x)
{
    return (ilvr::detail::float_bits(x) & 0x7f800000u) != 0x7f800000u;
}

/// *target = min(*target, value), atomically: atomicMin on the GPU,
/// std::atomic_ref on the host system's threads.
ILVR_HOST_DEVICE inline void atomic_min(int* target, int value)
{
#if defined(__CUDA_ARCH__)
    atomicMin(target, value);
#else
    std::atomic_ref<int> ref(*target);
    int seen = ref.load(std::memory_order_relaxed);
    while (value < seen && !ref.compare_exchange_weak(seen, value, std::memory_order_relaxed)) {
    }
#endif
}

} // namespace ilvr::device

// Version and the one macro that lets per-element math run on host and device.
#pragma once

#define ILVR_VERSION_MAJOR 0
#define ILVR_VERSION_MINOR 1
#define ILVR_VERSION_PATCH 0

// Functions marked ILVR_HOST_DEVICE are compiled for the CPU and, under nvcc,
// for the GPU too, so both backends share one implementation of the math.
#if defined(__CUDACC__)
#define ILVR_HOST_DEVICE __host__ __device__
#else
#define ILVR_HOST_DEVICE
#endif

// The library checks every denoiser output for NaN and Inf and refuses bad input
// with std::isfinite; -ffast-math (or -ffinite-math-only) lets the compiler assume
// no NaN or Inf exists and silently deletes those checks. Define
// ILVR_ALLOW_FAST_MATH to build anyway, knowing that a NaN then goes unreported.
#if (defined(__FAST_MATH__) || (defined(__FINITE_MATH_ONLY__) && __FINITE_MATH_ONLY__)) && !defined(ILVR_ALLOW_FAST_MATH)
#error "ilvr refuses -ffast-math / -ffinite-math-only: they remove its NaN and Inf checks (std::isfinite is assumed true). Build without them, or define ILVR_ALLOW_FAST_MATH to accept unreported NaNs."
#endif

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

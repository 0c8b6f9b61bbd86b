// The inner product of one output pixel's taps with its input line: the per-
// element resampling arithmetic shared by the CPU loops and the CUDA kernels.
#pragma once

#include <ilvr/config.hpp>

#include <cstddef>

namespace ilvr::detail {

/// sum_m weight[m] * line[index[m] * stride], accumulated in float from m = 0 up,
/// the same order on every backend.
ILVR_HOST_DEVICE inline float tap_sum(const float* weight, const int* index, int taps, const float* line,
                                      std::ptrdiff_t stride)
{
    float acc = 0.0f;
    for (int m = 0; m < taps; ++m) acc += weight[m] * line[static_cast<std::ptrdiff_t>(index[m]) * stride];
    return acc;
}

} // namespace ilvr::detail

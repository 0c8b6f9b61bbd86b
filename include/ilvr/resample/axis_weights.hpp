// The weight table of a one-axis resize: for every output pixel, its taps
// (input indices, already mirrored at the borders) and their weights.
// Ref: docs/spec.md section 5; golden/README.md "Exact resize algorithm".
#pragma once

#include <ilvr/error.hpp>
#include <ilvr/resample/kernel.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

namespace ilvr {

/// One axis of a resize: out[o] = sum_m weight[o * taps + m] * in[index[o * taps + m]].
/// Every output has the same number of taps (zero weights pad the short ones),
/// so the inner loops have a fixed trip count.
struct axis_weights {
    int in_length = 0;
    int out_length = 0;
    int taps = 0;
    std::vector<float> weight;  ///< [out_length, taps], normalised, float32
    std::vector<int> index;     ///< [out_length, taps], in [0, in_length)
};

namespace detail {
/// Half-sample symmetric reflection into [0, length): -1 -> 0, length -> length-1.
inline int mirror(std::int64_t j, std::int64_t length)
{
    const std::int64_t period = 2 * length;
    std::int64_t m = j % period;
    if (m < 0) m += period;
    return static_cast<int>(m < length ? m : period - 1 - m);
}
} // namespace detail

/// Builds the table that resizes an axis of `in_length` pixels to `out_length`
/// pixels at scale `scale` (1/N to shrink, N to enlarge). When shrinking the
/// kernel is stretched by 1/scale (antialiasing). The output grid is centred on
/// the input grid, so a shrink to ceil(L/N) followed by an enlarge back to L maps
/// every pixel centre where it started, whether or not N divides L.
///
/// `first` and `count` select a window of the outputs: the table then holds
/// outputs first .. first + count - 1 of the full resize (count = -1: all), each
/// row exactly as in the full table. A crop of a resize costs only the crop.
inline axis_weights make_axis_weights(int in_length, int out_length, double scale, const resampling_kernel& kernel,
                                      int first = 0, int count = -1)
{
    detail::require(in_length >= 1 && out_length >= 1 && scale > 0.0,
                    "make_axis_weights: lengths must be positive and the scale > 0, got in "
                        + std::to_string(in_length) + ", out " + std::to_string(out_length) + ", scale "
                        + std::to_string(scale));
    if (count < 0) count = out_length - first;
    detail::require(first >= 0 && count >= 1 && first <= out_length - count,
                    "make_axis_weights: window " + std::to_string(first) + " + " + std::to_string(count)
                        + " outside the " + std::to_string(out_length) + " outputs");
    const bool shrink = scale < 1.0;
    const double width = shrink ? kernel.support / scale : kernel.support;
    const int span = static_cast<int>(std::ceil(width)) + 2;
    const double shift = (out_length - in_length * scale) / 2.0;  // 0 when L * scale is whole

    // Raw table over the widest window, in double, normalised per output.
    std::vector<double> raw(static_cast<std::size_t>(count) * span);
    std::vector<std::int64_t> tap0(static_cast<std::size_t>(count));
    for (int o = 0; o < count; ++o) {
        // Centre of output first + o in 1-based input coordinates (the reference's convention).
        const double centre = (first + o + 1 - shift) / scale + 0.5 * (1.0 - 1.0 / scale);
        const auto left = static_cast<std::int64_t>(std::floor(centre - width / 2.0));
        tap0[o] = left - 1;  // 0-based position of tap 0
        double sum = 0.0;
        double* row = &raw[static_cast<std::size_t>(o) * span];
        for (int m = 0; m < span; ++m) {
            const double d = centre - static_cast<double>(left + m);  // distance to pixel centre (1-based left+m)
            row[m] = shrink ? scale * kernel.value(scale * d) : kernel.value(d);
            sum += row[m];
        }
        if (sum != 0.0)
            for (int m = 0; m < span; ++m) row[m] /= sum;
    }

    // Keep the columns some output uses: taps that are zero everywhere change nothing.
    int lo = span, hi = -1;
    for (int o = 0; o < count; ++o)
        for (int m = 0; m < span; ++m)
            if (static_cast<float>(raw[static_cast<std::size_t>(o) * span + m]) != 0.0f)
                lo = std::min(lo, m), hi = std::max(hi, m);
    if (hi < lo) lo = hi = 0;

    axis_weights table{in_length, count, hi - lo + 1, {}, {}};
    table.weight.resize(static_cast<std::size_t>(count) * table.taps);
    table.index.resize(table.weight.size());
    for (int o = 0; o < count; ++o)
        for (int m = lo; m <= hi; ++m) {
            const std::size_t at = static_cast<std::size_t>(o) * table.taps + (m - lo);
            table.weight[at] = static_cast<float>(raw[static_cast<std::size_t>(o) * span + m]);
            table.index[at] = detail::mirror(tap0[o] + m, in_length);
        }
    return table;
}

} // namespace ilvr

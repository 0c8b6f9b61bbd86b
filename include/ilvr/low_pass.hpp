// The ILVR low-pass filter phi_N = up_N(down_N(.)): keeps the content a factor-N
// downsampling retains. Ref: ILVR paper, Sec. 3.2; docs/spec.md section 5.
#pragma once

#include <ilvr/detail/parallel.hpp>
#include <ilvr/error.hpp>
#include <ilvr/resample/kernel.hpp>
#include <ilvr/resample/resizer.hpp>
#include <ilvr/tensor.hpp>

#include <algorithm>
#include <string>
#include <vector>

namespace ilvr {

/// phi_N for [height, width] planes. down_N gives ceil(H/N) x ceil(W/N) pixels on
/// a grid centred on the image; up_N maps that grid back to exactly H x W with the
/// same geometry, so non-dividing sizes need no cropping or padding. N = 1 is the
/// identity. Holds its weight tables and a scratch buffer, so applying it
/// allocates nothing; one object must not be applied from two threads at once.
class low_pass {
public:
    low_pass(int height, int width, int factor, const resampling_kernel& kernel = kernels::cubic)
        : factor_(check(height, width, factor)),
          down_(height, width, ceil_div(height, factor), ceil_div(width, factor), 1.0 / factor, kernel),
          up_(ceil_div(height, factor), ceil_div(width, factor), height, width, static_cast<double>(factor), kernel),
          kernel_(kernel),
          scratch_(plane_scratch_size())
    {
    }

    int factor() const { return factor_; }
    int height() const { return up_.out_height(); }
    int width() const { return up_.out_width(); }
    const resampling_kernel& kernel() const { return kernel_; }
    /// down_N: [H, W] -> [ceil(H/N), ceil(W/N)].
    const resizer& down() const { return down_; }
    /// up_N: [ceil(H/N), ceil(W/N)] -> [H, W].
    const resizer& up() const { return up_; }

    /// Floats of scratch one plane needs.
    std::size_t plane_scratch_size() const
    {
        const std::size_t low = static_cast<std::size_t>(down_.out_height()) * down_.out_width();
        return std::max(down_.scratch_size(), up_.scratch_size()) + low;
    }

    /// phi_N of one plane into `out` (which may equal `in`); `scratch` holds
    /// plane_scratch_size() floats. Safe to call concurrently with distinct scratch.
    void apply_plane(const float* in, float* out, float* scratch) const
    {
        if (factor_ == 1) {
            if (out != in) std::copy(in, in + static_cast<std::size_t>(height()) * width(), out);
            return;
        }
        float* low = scratch;
        float* work = scratch + static_cast<std::size_t>(down_.out_height()) * down_.out_width();
        down_.apply_plane(in, low, work);
        up_.apply_plane(low, out, work);
    }

    /// Splits later applications over `threads` threads (needs OpenMP; see
    /// detail/parallel.hpp). Results do not depend on it. Allocates the scratch.
    void set_threads(int threads)
    {
        detail::require(threads >= 1, "low_pass: threads must be >= 1");
        threads_ = threads;
        scratch_.resize(plane_scratch_size() * static_cast<std::size_t>(threads));
    }
    int threads() const { return threads_; }

    /// out = phi_N(in) for every plane; `out` may be `in`.
    void operator()(tensor_view<const float> in, tensor_view<float> out)
    {
        const shape4 s = in.shape();
        detail::require(s == out.shape() && s.h == height() && s.w == width(), [&] {
            return "low_pass: built for " + std::to_string(height()) + "x" + std::to_string(width())
                            + " planes, given " + s.to_string() + " -> " + out.shape().to_string();
        });
        const std::size_t slot = plane_scratch_size();
        detail::parallel_for(static_cast<std::int64_t>(s.planes()), threads_, [&](std::int64_t p, int thread) {
            const auto q = static_cast<std::size_t>(p);
            apply_plane(in.plane(q), out.plane(q), scratch_.data() + slot * static_cast<std::size_t>(thread));
        });
    }

    /// out = phi_N(in) for any viewable containers (ilvr::tensor, Eigen, xtensor).
    template <viewable In, viewable Out>
    void operator()(const In& in, Out&& out)
    {
        (*this)(tensor_view<const float>(as_view(in)), tensor_view<float>(as_view(out)));
    }

private:
    static int ceil_div(int a, int b) { return (a + b - 1) / b; }
    static int check(int height, int width, int factor)
    {
        detail::require(height >= 1 && width >= 1,
                        "low_pass: image size " + std::to_string(height) + "x" + std::to_string(width)
                            + " must be positive");
        detail::require(factor >= 1, "low_pass: factor N = " + std::to_string(factor) + " must be >= 1");
        detail::require(factor <= height && factor <= width,
                        "low_pass: factor N = " + std::to_string(factor) + " is larger than a side of the "
                            + std::to_string(height) + "x" + std::to_string(width) + " image");
        return factor;
    }

    int factor_;
    resizer down_, up_;
    resampling_kernel kernel_;
    int threads_ = 1;
    std::vector<float> scratch_;
};

} // namespace ilvr

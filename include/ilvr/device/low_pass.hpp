// phi_N on the device: the weight tables ilvr::low_pass builds on the host,
// copied to device memory once and applied by four separable passes (height
// then width, down then up), each a functor of kernels.hpp.
#pragma once

#include <ilvr/device/kernels.hpp>
#include <ilvr/device/system.hpp>
#include <ilvr/error.hpp>
#include <ilvr/low_pass.hpp>
#include <ilvr/tensor.hpp>

#include <string>

namespace ilvr::device {

/// phi_N of [height, width] planes on the device: the sizes, factors and kernels
/// of ilvr::low_pass, whose tables it uses. Holds scratch for up to `max_planes`
/// planes, so applying it allocates nothing (and, on CUDA, does not wait).
class low_pass {
public:
    low_pass(int height, int width, int factor, const resampling_kernel& kernel, std::size_t max_planes)
        : host_(height, width, factor, kernel), max_planes_(max_planes), down_rows_(host_.down().rows()),
          down_cols_(host_.down().cols()), up_rows_(host_.up().rows()), up_cols_(host_.up().cols()),
          scratch_(max_planes * scratch_per_plane())
    {
    }

    /// The host filter whose tables these are.
    const ilvr::low_pass& host() const { return host_; }
    /// Planes the scratch holds.
    std::size_t max_planes() const { return max_planes_; }

    /// out = phi_N(in) (+ add, elementwise, when `add` is not null), all device
    /// memory of in's shape; `out` may equal `add` but not `in`. Queued on `s`.
    void apply(tensor_view<const float> in, float* out, const float* add, stream s = {})
    {
        const shape4 shape = in.shape();
        detail::require(shape.h == host_.height() && shape.w == host_.width() && shape.planes() <= max_planes_, [&] {
            return "device::low_pass: built for " + std::to_string(max_planes_) + " planes of "
                + std::to_string(host_.height()) + "x" + std::to_string(host_.width()) + ", given " + shape.to_string();
        });
        const auto planes = static_cast<std::int64_t>(shape.planes());
        const int h = host_.height(), w = host_.width();
        const int hd = host_.down().out_height(), wd = host_.down().out_width();
        if (host_.factor() == 1) {  // the identity, as on the CPU
            if (add) for_each_index(s, planes * h * w, kernels::add{add, in.data(), out});
            else copy_on_device(s, in.data(), in.size(), out);
            return;
        }
        float* a = raw(scratch_);                         // [P, hd, w]
        float* low = a + planes * hd * w;                 // [P, hd, wd]
        float* b = low + planes * hd * wd;                // [P, h, wd]
        using namespace kernels;
        for_each_index(s, planes * hd * w, resize_rows{in.data(), h, w, down_rows_.w(), down_rows_.idx(), down_rows_.taps, hd, a});
        for_each_index(s, planes * hd * wd, resize_cols{a, w, down_cols_.w(), down_cols_.idx(), down_cols_.taps, wd, nullptr, low});
        for_each_index(s, planes * h * wd, resize_rows{low, hd, wd, up_rows_.w(), up_rows_.idx(), up_rows_.taps, h, b});
        for_each_index(s, planes * h * w, resize_cols{b, wd, up_cols_.w(), up_cols_.idx(), up_cols_.taps, w, add, out});
    }

private:
    /// One axis' table in device memory.
    struct table {
        explicit table(const axis_weights& t) : weight(t.weight), index(t.index), taps(t.taps) {}
        const float* w() const { return raw(weight); }
        const int* idx() const { return raw(index); }
        vector<float> weight;
        vector<int> index;
        int taps;
    };
    std::size_t scratch_per_plane() const
    {
        const std::size_t h = static_cast<std::size_t>(host_.height()), w = static_cast<std::size_t>(host_.width());
        const std::size_t hd = static_cast<std::size_t>(host_.down().out_height());
        const std::size_t wd = static_cast<std::size_t>(host_.down().out_width());
        return host_.factor() == 1 ? 0 : hd * w + hd * wd + h * wd;
    }

    ilvr::low_pass host_;
    std::size_t max_planes_;
    table down_rows_, down_cols_, up_rows_, up_cols_;
    vector<float> scratch_;
};

} // namespace ilvr::device

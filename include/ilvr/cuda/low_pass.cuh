// phi_N on the GPU: the CPU's weight tables (built once by ilvr::low_pass)
// uploaded, applied by four separable passes.
#pragma once

#include <ilvr/cuda/kernels.cuh>
#include <ilvr/cuda/runtime.cuh>
#include <ilvr/low_pass.hpp>

#include <string>

namespace ilvr::cuda {

/// Device phi_N for [height, width] planes; the same sizes, factors and kernels as
/// ilvr::low_pass. Holds device tables and scratch for up to `max_planes` planes;
/// applying it allocates nothing and does not synchronise.
class low_pass {
public:
    low_pass(int height, int width, int factor, const resampling_kernel& kernel, std::size_t max_planes)
        : host_(height, width, factor, kernel), max_planes_(max_planes),
          down_rows_(table(host_.down().rows())), down_cols_(table(host_.down().cols())),
          up_rows_(table(host_.up().rows())), up_cols_(table(host_.up().cols())),
          scratch_({1, 1, 1, static_cast<std::int64_t>(max_planes * scratch_per_plane())})
    {
    }

    const ilvr::low_pass& host() const { return host_; }

    /// out = phi_N(in) (+ add, elementwise, when `add` is given), for device views
    /// of the same shape; `out` may equal `add` but not `in`.
    void apply(tensor_view<const float> in, float* out, const float* add, cudaStream_t stream)
    {
        const shape4 s = in.shape();
        detail::require(s.h == host_.height() && s.w == host_.width() && s.planes() <= max_planes_, [&] {
            return "cuda::low_pass: built for " + std::to_string(max_planes_) + " planes of " + std::to_string(host_.height())
                + "x" + std::to_string(host_.width()) + ", given " + s.to_string();
        });
        const std::uint64_t planes = s.planes();
        const int h = host_.height(), w = host_.width();
        const int hd = host_.down().out_height(), wd = host_.down().out_width();
        if (host_.factor() == 1) {  // identity, as on the CPU
            check(cudaMemcpyAsync(out, in.data(), in.size() * sizeof(float), cudaMemcpyDeviceToDevice, stream), "copy");
            return;
        }
        float* a = scratch_.data();                          // [P, hd, w]
        float* low = a + planes * hd * w;                    // [P, hd, wd]
        float* b = low + planes * hd * wd;                   // [P, h, wd]
        using namespace kernels;
        resize_rows<<<grid_for(planes * hd * w), block_size, 0, stream>>>(in.data(), h, w, down_rows_.w, down_rows_.idx,
                                                                           down_rows_.taps, hd, planes, a);
        resize_cols<<<grid_for(planes * hd * wd), block_size, 0, stream>>>(a, w, down_cols_.w, down_cols_.idx,
                                                                            down_cols_.taps, wd, planes * hd, nullptr, low);
        resize_rows<<<grid_for(planes * h * wd), block_size, 0, stream>>>(low, hd, wd, up_rows_.w, up_rows_.idx,
                                                                           up_rows_.taps, h, planes, b);
        resize_cols<<<grid_for(planes * h * w), block_size, 0, stream>>>(b, wd, up_cols_.w, up_cols_.idx, up_cols_.taps,
                                                                          w, planes * h, add, out);
        check(cudaGetLastError(), "low_pass kernels");
    }

private:
    struct device_table {
        device_array<float> weight;
        device_array<int> index;
        const float* w;
        const int* idx;
        int taps;
    };
    static device_table table(const axis_weights& t)
    {
        device_table d{device_array<float>(t.weight), device_array<int>(t.index), nullptr, nullptr, t.taps};
        d.w = d.weight.data();
        d.idx = d.index.data();
        return d;
    }
    std::size_t scratch_per_plane() const
    {
        const std::size_t h = host_.height(), w = host_.width(), hd = host_.down().out_height(), wd = host_.down().out_width();
        return hd * w + hd * wd + h * wd;
    }

    ilvr::low_pass host_;
    std::size_t max_planes_;
    device_table down_rows_, down_cols_, up_rows_, up_cols_;
    device_tensor scratch_;
};

} // namespace ilvr::cuda

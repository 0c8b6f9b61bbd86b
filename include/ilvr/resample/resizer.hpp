// A separable 2-D resize of NCHW planes: height first, then width, with a
// float32 intermediate. Ref: docs/spec.md section 5.
#pragma once

#include <ilvr/detail/cpu.hpp>
#include <ilvr/error.hpp>
#include <ilvr/resample/axis_weights.hpp>
#include <ilvr/resample/tap_sum.hpp>
#include <ilvr/tensor.hpp>

#include <algorithm>
#include <span>
#include <vector>

namespace ilvr {

namespace detail {

/// Output row o of resize_rows over columns [x0, x1): each element summed from 0
/// over the taps m in order, so the result is bitwise tap_sum's.
inline void resize_row_tail(const float* in, int cols, const float* w, const int* idx, int taps, int x0, int x1,
                            float* dst)
{
    for (int x = x0; x < x1; ++x) dst[x] = 0.0f;
    for (int m = 0; m < taps; ++m) {
        const float wm = w[m];
        const float* src = in + static_cast<std::size_t>(idx[m]) * cols;
        for (int x = x0; x < x1; ++x) dst[x] += wm * src[x];
    }
}

/// The portable build: blocks of 16 columns summed over all taps in registers
/// (the compiler vectorises the j loop) and stored once.
inline void resize_rows_portable(const float* in, int cols, const axis_weights& t, float* out)
{
    constexpr int block = 16;
    const int full = cols - cols % block;
    for (int o = 0; o < t.out_length; ++o) {
        float* dst = out + static_cast<std::size_t>(o) * cols;
        const float* w = &t.weight[static_cast<std::size_t>(o) * t.taps];
        const int* idx = &t.index[static_cast<std::size_t>(o) * t.taps];
        for (int x0 = 0; x0 < full; x0 += block) {
            float acc[block] = {};
            for (int m = 0; m < t.taps; ++m) {
                const float wm = w[m];
                const float* src = in + static_cast<std::size_t>(idx[m]) * cols + x0;
                for (int j = 0; j < block; ++j) acc[j] += wm * src[j];
            }
            for (int j = 0; j < block; ++j) dst[x0 + j] = acc[j];
        }
        resize_row_tail(in, cols, w, idx, t.taps, full, cols, dst);
    }
}

#ifdef ILVR_HAVE_AVX2_PATH
/// V vectors of 8 columns of output row o from x0, summed over the taps in registers.
/// Many independent sums matter: the taps of one column are a chain of dependent
/// adds, so with few columns in flight the adders wait on latency.
template <int V>
ILVR_TARGET_AVX2 ILVR_ALWAYS_INLINE inline void resize_row_block_avx2(const float* in, int cols, const float* w,
                                                                      const int* idx, int taps, int x0, float* dst)
{
    f32x8 acc[V] = {};
    for (int m = 0; m < taps; ++m) {
        // w[m] in every lane (vbroadcastss); 1 * w is exactly w, -0 included.
        const f32x8 wm = (f32x8{} + 1.0f) * w[m];
        const float* src = in + static_cast<std::size_t>(idx[m]) * cols + x0;
        for (int v = 0; v < V; ++v) acc[v] += wm * *reinterpret_cast<const f32x8_in_memory*>(src + 8 * v);
    }
    for (int v = 0; v < V; ++v) *reinterpret_cast<f32x8_in_memory*>(dst + x0 + 8 * v) = acc[v];
}

/// The AVX2 build: blocks of 64 columns (eight sums per tap in flight), then of 8,
/// then the tail; the same products and sums in the same order as the portable build.
ILVR_TARGET_AVX2 inline void resize_rows_avx2(const float* in, int cols, const axis_weights& t, float* out)
{
    const int wide = cols - cols % 64, narrow = cols - cols % 8;
    for (int o = 0; o < t.out_length; ++o) {
        float* dst = out + static_cast<std::size_t>(o) * cols;
        const float* w = &t.weight[static_cast<std::size_t>(o) * t.taps];
        const int* idx = &t.index[static_cast<std::size_t>(o) * t.taps];
        for (int x0 = 0; x0 < wide; x0 += 64) resize_row_block_avx2<8>(in, cols, w, idx, t.taps, x0, dst);
        for (int x0 = wide; x0 < narrow; x0 += 8) resize_row_block_avx2<1>(in, cols, w, idx, t.taps, x0, dst);
        resize_row_tail(in, cols, w, idx, t.taps, narrow, cols, dst);
    }
}
#endif

/// out[o, :] = sum_m w[o, m] * in[idx[o, m], :] for an [in_length, cols] plane.
/// Whole rows are combined, so the inner loop is a unit-stride axpy; per element
/// this is tap_sum's arithmetic in tap_sum's order, on either build.
inline void resize_rows(const float* in, int cols, const axis_weights& t, float* out)
{
#ifdef ILVR_HAVE_AVX2_PATH
    if (cpu_has_avx2()) return resize_rows_avx2(in, cols, t, out);
#endif
    resize_rows_portable(in, cols, t, out);
}

/// out[r, o] = sum_m w[o, m] * in[r, idx[o, m]] for a [rows, in_length] plane.
inline void resize_cols(const float* in, int rows, const axis_weights& t, float* out)
{
    for (int r = 0; r < rows; ++r) {
        const float* src = in + static_cast<std::size_t>(r) * t.in_length;
        float* dst = out + static_cast<std::size_t>(r) * t.out_length;
        for (int o = 0; o < t.out_length; ++o) {
            const std::size_t at = static_cast<std::size_t>(o) * t.taps;
            dst[o] = tap_sum(&t.weight[at], &t.index[at], t.taps, src, 1);
        }
    }
}

#ifdef ILVR_HAVE_LANE_SHUFFLES
/// A 4 x 4 block turned in registers: rows a, b, d, e are interleaved in pairs
/// (unpcklps, unpckhps), then the pairs' halves joined (movlhps, movhlps).
ILVR_ALWAYS_INLINE inline void transpose4x4(const float* src, std::size_t in_stride, float* dst, std::size_t out_stride)
{
    using f32x4 = detail::f32x4;
    using row = detail::f32x4_in_memory;
    const f32x4 a = *reinterpret_cast<const row*>(src), b = *reinterpret_cast<const row*>(src + in_stride);
    const f32x4 d = *reinterpret_cast<const row*>(src + 2 * in_stride);
    const f32x4 e = *reinterpret_cast<const row*>(src + 3 * in_stride);
    const f32x4 ab_lo = __builtin_shufflevector(a, b, 0, 4, 1, 5), ab_hi = __builtin_shufflevector(a, b, 2, 6, 3, 7);
    const f32x4 de_lo = __builtin_shufflevector(d, e, 0, 4, 1, 5), de_hi = __builtin_shufflevector(d, e, 2, 6, 3, 7);
    *reinterpret_cast<row*>(dst) = __builtin_shufflevector(ab_lo, de_lo, 0, 1, 4, 5);
    *reinterpret_cast<row*>(dst + out_stride) = __builtin_shufflevector(ab_lo, de_lo, 2, 3, 6, 7);
    *reinterpret_cast<row*>(dst + 2 * out_stride) = __builtin_shufflevector(ab_hi, de_hi, 0, 1, 4, 5);
    *reinterpret_cast<row*>(dst + 3 * out_stride) = __builtin_shufflevector(ab_hi, de_hi, 2, 3, 6, 7);
}
#endif

/// out[c * out_stride + r] = in[r * in_stride + c] for a [rows, cols] block, tile
/// by tile so that both sides stay in cache.
inline void transpose(const float* in, std::size_t in_stride, int rows, int cols, float* out, std::size_t out_stride)
{
    constexpr int tile = 16;
    for (int r0 = 0; r0 < rows; r0 += tile)
        for (int c0 = 0; c0 < cols; c0 += tile) {
            const int r1 = std::min(r0 + tile, rows), c1 = std::min(c0 + tile, cols);
#ifdef ILVR_HAVE_LANE_SHUFFLES
            if ((r1 - r0) % 4 == 0 && (c1 - c0) % 4 == 0) {
                for (int r = r0; r < r1; r += 4)
                    for (int c = c0; c < c1; c += 4)
                        transpose4x4(in + static_cast<std::size_t>(r) * in_stride + c, in_stride,
                                     out + static_cast<std::size_t>(c) * out_stride + r, out_stride);
                continue;
            }
#endif
            for (int r = r0; r < r1; ++r)
                for (int c = c0; c < c1; ++c)
                    out[static_cast<std::size_t>(c) * out_stride + r] = in[static_cast<std::size_t>(r) * in_stride + c];
        }
}

/// Rows of a plane the width pass turns at a time: 64 (one AVX2 block of
/// resize_rows) keeps both turned strips of a 1024-wide plane (256 KiB each) in
/// L2. Measured at 1024 x 1024, N = 4: 6.2 ms a phi_N against 8.4 ms turning the
/// whole plane; strips of 32 rows, or tiles of 8, were slower at every size.
inline constexpr int transposed_strip = 64;

/// The width pass done as a height pass between two transposes: the gather of
/// resize_cols becomes resize_rows' unit-stride axpy, which vectorises. Same
/// arithmetic in the same order, so bitwise the same result as resize_cols.
/// Done in strips of transposed_strip rows, so the cost per pixel does not grow
/// once a plane outgrows the cache. `scratch` holds
/// min(rows, transposed_strip) * (in_length + out_length) floats.
inline void resize_cols_transposed(const float* in, int rows, const axis_weights& t, float* out, float* scratch)
{
    const auto in_length = static_cast<std::size_t>(t.in_length), out_length = static_cast<std::size_t>(t.out_length);
    for (int r0 = 0; r0 < rows; r0 += transposed_strip) {
        const int n = std::min(transposed_strip, rows - r0);
        const auto first = static_cast<std::size_t>(r0), strip = static_cast<std::size_t>(n);
        float* turned_in = scratch;                       // [in_length, n]
        float* turned_out = scratch + in_length * strip;  // [out_length, n]
        transpose(in + first * in_length, in_length, n, t.in_length, turned_in, strip);
        resize_rows(turned_in, n, t, turned_out);
        transpose(turned_out, strip, t.out_length, n, out + first * out_length, out_length);
    }
}

} // namespace detail

/// Resizes [in_height, in_width] planes to [out_height, out_width] at one scale
/// (1/N to shrink with antialiasing, N to enlarge). The tables are built once here.
class resizer {
public:
    resizer(int in_height, int in_width, int out_height, int out_width, double scale,
            const resampling_kernel& kernel)
        : rows_(make_axis_weights(in_height, out_height, scale, kernel)),
          cols_(make_axis_weights(in_width, out_width, scale, kernel))
    {
    }

    /// From tables built elsewhere, e.g. windows of a larger resize (make_axis_weights'
    /// `first` and `count`), so the resizer writes only that crop.
    resizer(axis_weights rows, axis_weights cols) : rows_(std::move(rows)), cols_(std::move(cols)) {}

    int in_height() const { return rows_.in_length; }
    int in_width() const { return cols_.in_length; }
    int out_height() const { return rows_.out_length; }
    int out_width() const { return cols_.out_length; }
    /// The height table and the width table.
    const axis_weights& rows() const { return rows_; }
    const axis_weights& cols() const { return cols_; }

    /// Floats of scratch one plane needs: the height-resized intermediate and the
    /// transposed strips of the width pass.
    std::size_t scratch_size() const
    {
        const auto strip = static_cast<std::size_t>(std::min(out_height(), detail::transposed_strip));
        return static_cast<std::size_t>(out_height()) * in_width()
            + strip * (static_cast<std::size_t>(in_width()) + out_width());
    }

    /// Resizes one plane; `scratch` holds scratch_size() floats.
    void apply_plane(const float* in, float* out, float* scratch) const
    {
        float* between = scratch;  // [out_height, in_width]
        detail::resize_rows(in, in_width(), rows_, between);
        detail::resize_cols_transposed(between, out_height(), cols_, out,
                                       scratch + static_cast<std::size_t>(out_height()) * in_width());
    }

    /// Resizes every plane of `in` into `out` (same N and C; H and W as built).
    void apply(tensor_view<const float> in, tensor_view<float> out, std::span<float> scratch) const
    {
        const shape4 a = in.shape(), b = out.shape();
        detail::require(a.h == in_height() && a.w == in_width() && b.h == out_height() && b.w == out_width()
                            && a.n == b.n && a.c == b.c,
                        [&] { return "resizer: built for " + std::to_string(in_height()) + "x" + std::to_string(in_width())
                            + " -> " + std::to_string(out_height()) + "x" + std::to_string(out_width())
                            + ", given " + a.to_string() + " -> " + b.to_string(); });
        detail::require(scratch.size() >= scratch_size(), "resizer: scratch buffer too small");
        for (std::size_t p = 0; p < a.planes(); ++p) apply_plane(in.plane(p), out.plane(p), scratch.data());
    }

    /// As above with a scratch buffer allocated for this call.
    void apply(tensor_view<const float> in, tensor_view<float> out) const
    {
        std::vector<float> scratch(scratch_size());
        apply(in, out, scratch);
    }

private:
    axis_weights rows_, cols_;
};

} // namespace ilvr

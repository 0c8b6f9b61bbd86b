// Eigen adaptor: row-major rank-4 Eigen tensors are NCHW buffers, viewed in place.
#pragma once

#include <ilvr/tensor.hpp>

#include <unsupported/Eigen/CXX11/Tensor>

namespace ilvr {

namespace eigen {
/// An NCHW tensor in Eigen: row-major so that its memory is C-ordered NCHW.
using tensor4 = Eigen::Tensor<float, 4, Eigen::RowMajor>;
/// A read-only Eigen map of an ilvr view (no copy).
using const_map4 = Eigen::TensorMap<const Eigen::Tensor<const float, 4, Eigen::RowMajor>>;
/// A mutable Eigen map of an ilvr view (no copy).
using map4 = Eigen::TensorMap<Eigen::Tensor<float, 4, Eigen::RowMajor>>;

/// Maps an ilvr view as an Eigen tensor, sharing its memory.
inline map4 map(tensor_view<float> v)
{
    const shape4 s = v.shape();
    return map4(v.data(), s.n, s.c, s.h, s.w);
}
/// Maps a read-only ilvr view as an Eigen tensor, sharing its memory.
inline const_map4 map(tensor_view<const float> v)
{
    const shape4 s = v.shape();
    return const_map4(v.data(), s.n, s.c, s.h, s.w);
}

namespace detail {
template <class Dims>
shape4 shape_of(const Dims& d)
{
    return {static_cast<std::int64_t>(d[0]), static_cast<std::int64_t>(d[1]), static_cast<std::int64_t>(d[2]),
            static_cast<std::int64_t>(d[3])};
}
} // namespace detail
} // namespace eigen

// Column-major Eigen tensors would be WHCN in memory; they are rejected at
// compile time rather than silently transposed.
template <int Options>
struct tensor_traits<Eigen::Tensor<float, 4, Options>> {
    static_assert((Options & static_cast<int>(Eigen::RowMajor)) != 0, "ilvr: use Eigen::Tensor<float, 4, Eigen::RowMajor> for NCHW data");
    static tensor_view<float> view(Eigen::Tensor<float, 4, Options>& t)
    {
        return {t.data(), eigen::detail::shape_of(t.dimensions())};
    }
    static tensor_view<const float> view(const Eigen::Tensor<float, 4, Options>& t)
    {
        return {t.data(), eigen::detail::shape_of(t.dimensions())};
    }
};

template <class Plain, int Options>
    requires(Plain::NumDimensions == 4)
struct tensor_traits<Eigen::TensorMap<Plain, Options>> {
    static_assert(static_cast<int>(Plain::Layout) == static_cast<int>(Eigen::RowMajor), "ilvr: map NCHW data with an Eigen::RowMajor tensor type");
    using map_type = Eigen::TensorMap<Plain, Options>;
    static auto view(const map_type& t)
    {
        using T = std::remove_pointer_t<decltype(t.data())>;
        return tensor_view<T>(t.data(), eigen::detail::shape_of(t.dimensions()));
    }
};

} // namespace ilvr

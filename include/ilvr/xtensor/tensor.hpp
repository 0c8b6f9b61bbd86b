// xtensor adaptor: row-major rank-4 xtensor containers are NCHW buffers, viewed in place.
#pragma once

#include <ilvr/tensor.hpp>

#include <xtensor/xadapt.hpp>
#include <xtensor/xarray.hpp>
#include <xtensor/xtensor.hpp>

#include <array>

namespace ilvr {

namespace xtensor {
/// An NCHW tensor in xtensor (row-major is xtensor's default layout).
using tensor4 = xt::xtensor<float, 4, xt::layout_type::row_major>;

/// Adapts an ilvr view as an xtensor expression, sharing its memory.
inline auto adapt(tensor_view<float> v)
{
    const shape4 s = v.shape();
    const std::array<std::size_t, 4> shape{std::size_t(s.n), std::size_t(s.c), std::size_t(s.h), std::size_t(s.w)};
    return xt::adapt(v.data(), v.size(), xt::no_ownership(), shape);
}
/// Adapts a read-only ilvr view as an xtensor expression, sharing its memory.
inline auto adapt(tensor_view<const float> v)
{
    const shape4 s = v.shape();
    const std::array<std::size_t, 4> shape{std::size_t(s.n), std::size_t(s.c), std::size_t(s.h), std::size_t(s.w)};
    return xt::adapt(v.data(), v.size(), xt::no_ownership(), shape);
}

namespace detail {
template <class Container>
shape4 checked_shape(const Container& t)
{
    ilvr::detail::require(t.dimension() == 4, "ilvr: an xtensor container must have 4 dimensions (NCHW), has "
                                                  + std::to_string(t.dimension()));
    ilvr::detail::require(t.layout() == xt::layout_type::row_major,
                          "ilvr: an xtensor container must be row-major (NCHW in memory)");
    const auto& d = t.shape();
    return {static_cast<std::int64_t>(d[0]), static_cast<std::int64_t>(d[1]), static_cast<std::int64_t>(d[2]),
            static_cast<std::int64_t>(d[3])};
}
} // namespace detail
} // namespace xtensor

template <xt::layout_type L>
struct tensor_traits<xt::xtensor<float, 4, L>> {
    static tensor_view<float> view(xt::xtensor<float, 4, L>& t) { return {t.data(), xtensor::detail::checked_shape(t)}; }
    static tensor_view<const float> view(const xt::xtensor<float, 4, L>& t)
    {
        return {t.data(), xtensor::detail::checked_shape(t)};
    }
};

template <xt::layout_type L>
struct tensor_traits<xt::xarray<float, L>> {
    static tensor_view<float> view(xt::xarray<float, L>& t) { return {t.data(), xtensor::detail::checked_shape(t)}; }
    static tensor_view<const float> view(const xt::xarray<float, L>& t)
    {
        return {t.data(), xtensor::detail::checked_shape(t)};
    }
};

} // namespace ilvr

// NCHW float buffers: the shape, a non-owning view and a small owning tensor.
// Every algorithm works on tensor_view; backends only say how to get one.
#pragma once

#include <ilvr/error.hpp>

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <new>
#include <stdexcept>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

namespace ilvr {

/// Shape of a batch of images: batch, channels, height, width (NCHW, C order).
struct shape4 {
    std::int64_t n = 0, c = 0, h = 0, w = 0;

    /// Number of elements; throws ilvr::error if the product overflows.
    constexpr std::size_t size() const
    {
        std::size_t total = 1;
        for (std::int64_t d : {n, c, h, w}) {
            if (d < 0) throw error("shape " + to_string() + " has a negative dimension");
            const auto u = static_cast<std::size_t>(d);
            if (u != 0 && total > std::numeric_limits<std::size_t>::max() / u)
                throw error("shape " + to_string() + " has more elements than memory can address");
            total *= u;
        }
        return total;
    }
    /// Number of H x W planes (n * c).
    constexpr std::size_t planes() const { return static_cast<std::size_t>(n * c); }
    /// Elements of one plane (h * w).
    constexpr std::size_t plane_size() const { return static_cast<std::size_t>(h * w); }
    /// Elements of one image (c * h * w).
    constexpr std::size_t image_size() const { return static_cast<std::size_t>(c * h * w); }

    constexpr bool operator==(const shape4&) const = default;

    /// "[n, c, h, w]", for error messages.
    std::string to_string() const
    {
        return "[" + std::to_string(n) + ", " + std::to_string(c) + ", " + std::to_string(h) + ", "
            + std::to_string(w) + "]";
    }
};

/// A non-owning view of a contiguous NCHW buffer. T is float or const float.
template <class T>
class tensor_view {
public:
    using value_type = std::remove_const_t<T>;

    constexpr tensor_view() = default;
    constexpr tensor_view(T* data, shape4 shape) : data_(data), shape_(shape) {}
    /// A mutable view converts to a read-only one.
    template <class U>
        requires(std::is_const_v<T> && std::same_as<std::remove_const_t<T>, U>)
    constexpr tensor_view(tensor_view<U> other) : data_(other.data()), shape_(other.shape())
    {
    }

    constexpr T* data() const { return data_; }
    constexpr const shape4& shape() const { return shape_; }
    constexpr std::size_t size() const { return shape_.size(); }
    constexpr std::span<T> span() const { return {data_, size()}; }
    constexpr T& operator[](std::size_t i) const { return data_[i]; }
    /// Element (n, c, h, w).
    constexpr T& operator()(std::int64_t n, std::int64_t c, std::int64_t h, std::int64_t w) const
    {
        return data_[((n * shape_.c + c) * shape_.h + h) * shape_.w + w];
    }
    /// Pointer to plane p = n * C + c.
    constexpr T* plane(std::size_t p) const { return data_ + p * shape_.plane_size(); }
    /// The images [first, first + count) of the batch.
    constexpr tensor_view batch(std::int64_t first, std::int64_t count) const
    {
        return {data_ + static_cast<std::size_t>(first) * shape_.image_size(),
                {count, shape_.c, shape_.h, shape_.w}};
    }

private:
    T* data_ = nullptr;
    shape4 shape_{};
};

/// An owning, zero-initialised NCHW float tensor on the host: the raw backend.
class tensor {
public:
    tensor() = default;
    /// Zero-filled; throws ilvr::error (not std::bad_alloc) when it cannot fit.
    explicit tensor(shape4 shape) : shape_(shape), data_(allocate(shape)) {}
    tensor(shape4 shape, std::vector<float> values) : shape_(shape), data_(std::move(values))
    {
        detail::require(data_.size() == shape_.size(),
                        "tensor: " + std::to_string(data_.size()) + " values do not fill shape "
                            + shape_.to_string());
    }

    const shape4& shape() const { return shape_; }
    std::size_t size() const { return data_.size(); }
    float* data() { return data_.data(); }
    const float* data() const { return data_.data(); }
    float& operator[](std::size_t i) { return data_[i]; }
    float operator[](std::size_t i) const { return data_[i]; }
    tensor_view<float> view() { return {data_.data(), shape_}; }
    tensor_view<const float> view() const { return {data_.data(), shape_}; }
    operator tensor_view<float>() { return view(); }
    operator tensor_view<const float>() const { return view(); }
    std::vector<float>& values() { return data_; }
    const std::vector<float>& values() const { return data_; }

private:
    static std::vector<float> allocate(const shape4& shape)
    {
        const std::size_t count = shape.size();  // overflow-checked
        try {
            return std::vector<float>(count, 0.0f);
        } catch (const std::bad_alloc&) {
            throw error("tensor " + shape.to_string() + " needs " + std::to_string(count * sizeof(float) >> 20)
                        + " MiB, which cannot be allocated");
        } catch (const std::length_error&) {
            throw error("tensor " + shape.to_string() + " is larger than a vector can hold");
        }
    }

    shape4 shape_{};
    std::vector<float> data_;
};

/// How to see a container as an NCHW view. Specialised for ilvr::tensor and
/// tensor_view here, and for Eigen and xtensor types in ilvr/eigen and
/// ilvr/xtensor. A user's own container plugs in the same way.
template <class Container>
struct tensor_traits;

template <>
struct tensor_traits<tensor> {
    static tensor_view<float> view(tensor& t) { return t.view(); }
    static tensor_view<const float> view(const tensor& t) { return t.view(); }
};

template <class T>
struct tensor_traits<tensor_view<T>> {
    static tensor_view<T> view(tensor_view<T> t) { return t; }
};

/// A type whose objects can be viewed as NCHW float data (read-only at least).
template <class C>
concept viewable = requires(const C& c) {
    { tensor_traits<std::remove_cvref_t<C>>::view(c) };
};

/// The view of any viewable container (mutable if the container is).
template <class C>
auto as_view(C&& c)
{
    return tensor_traits<std::remove_cvref_t<C>>::view(std::forward<C>(c));
}

} // namespace ilvr

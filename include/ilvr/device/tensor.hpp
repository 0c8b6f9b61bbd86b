// An NCHW float tensor in device memory, and copies between it and the host.
#pragma once

#include <ilvr/device/system.hpp>
#include <ilvr/error.hpp>
#include <ilvr/tensor.hpp>

#include <string>

namespace ilvr::device {

/// An NCHW float tensor in device memory (the GPU's on CUDA, the heap on the
/// host system). Its views point to device memory: hand them to device code only.
class tensor {
public:
    tensor() = default;
    /// Zero-filled.
    explicit tensor(shape4 shape) : shape_(shape), data_(shape.size(), 0.0f) {}
    /// A copy of a host tensor.
    explicit tensor(const ilvr::tensor& host) : shape_(host.shape()), data_(host.values().begin(), host.values().end()) {}

    /// The tensor's shape.
    const shape4& shape() const { return shape_; }
    /// Elements held.
    std::size_t size() const { return shape_.size(); }
    /// The device address of the first element.
    float* data() { return raw(data_); }
    /// The device address of the first element.
    const float* data() const { return raw(data_); }
    /// A view of the device memory.
    tensor_view<float> view() { return {data(), shape_}; }
    /// A view of the device memory.
    tensor_view<const float> view() const { return {data(), shape_}; }

    /// Copies a host tensor of the same element count in.
    void upload(tensor_view<const float> host)
    {
        detail::require(host.size() == size(), [&] {
            return "device::tensor: upload of " + host.shape().to_string() + " into " + shape_.to_string();
        });
        copy_to_device(host.data(), size(), data());
    }

private:
    shape4 shape_{};
    vector<float> data_;
};

/// A host copy of a view of device memory.
inline ilvr::tensor download(tensor_view<const float> device_view)
{
    ilvr::tensor host(device_view.shape());
    copy_to_host(device_view.data(), device_view.size(), host.data());
    return host;
}

/// A host copy of a device tensor.
inline ilvr::tensor download(const tensor& t) { return download(t.view()); }

} // namespace ilvr::device

namespace ilvr {
/// A device tensor is viewable; its views point to device memory.
template <>
struct tensor_traits<device::tensor> {
    static tensor_view<float> view(device::tensor& t) { return t.view(); }
    static tensor_view<const float> view(const device::tensor& t) { return t.view(); }
};
} // namespace ilvr

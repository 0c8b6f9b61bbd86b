// CUDA runtime essentials: error checks, device detection, an RAII device tensor.
#pragma once

#if !defined(__CUDACC__)
#error "ilvr/cuda headers need a CUDA compiler (nvcc); link ilvr::cuda from a .cu file"
#endif

#include <ilvr/error.hpp>
#include <ilvr/tensor.hpp>

#include <cuda_runtime.h>

#include <string>
#include <utility>
#include <vector>

namespace ilvr::cuda {

/// Throws ilvr::error naming `what` if a CUDA call failed.
inline void check(cudaError_t status, const char* what)
{
    if (status != cudaSuccess)
        throw error(std::string("cuda: ") + what + ": " + cudaGetErrorName(status) + ": " + cudaGetErrorString(status));
}

/// Whether a usable GPU is present. Without a driver cudaGetDeviceCount returns an
/// error (cudaErrorInsufficientDriver / cudaErrorNoDevice), not a zero count.
inline bool device_available()
{
    int count = 0;
    const cudaError_t status = cudaGetDeviceCount(&count);
    if (status != cudaSuccess) {
        (void)cudaGetLastError();  // clear the sticky error
        return false;
    }
    return count > 0;
}

/// Why no GPU is usable, for skip messages.
inline std::string device_unavailable_reason()
{
    int count = 0;
    const cudaError_t status = cudaGetDeviceCount(&count);
    (void)cudaGetLastError();
    if (status != cudaSuccess) return std::string("cudaGetDeviceCount: ") + cudaGetErrorName(status);
    return count == 0 ? "no CUDA device" : "";
}

/// An NCHW float tensor in device memory (cudaMalloc: never managed memory).
/// Move-only; frees its memory when destroyed.
class device_tensor {
public:
    device_tensor() = default;
    explicit device_tensor(shape4 shape) : shape_(shape)
    {
        if (shape_.size() > 0) check(cudaMalloc(&data_, shape_.size() * sizeof(float)), "cudaMalloc");
    }
    /// Uploads a host tensor (synchronously).
    explicit device_tensor(const tensor& host) : device_tensor(host.shape()) { upload(host.view()); }
    device_tensor(device_tensor&& other) noexcept
        : shape_(std::exchange(other.shape_, {})), data_(std::exchange(other.data_, nullptr))
    {
    }
    device_tensor& operator=(device_tensor&& other) noexcept
    {
        std::swap(shape_, other.shape_);
        std::swap(data_, other.data_);
        return *this;
    }
    device_tensor(const device_tensor&) = delete;
    device_tensor& operator=(const device_tensor&) = delete;
    ~device_tensor()
    {
        if (data_) cudaFree(data_);
    }

    const shape4& shape() const { return shape_; }
    std::size_t size() const { return shape_.size(); }
    float* data() { return data_; }
    const float* data() const { return data_; }
    /// Views of device memory: pass them only to device code.
    tensor_view<float> view() { return {data_, shape_}; }
    tensor_view<const float> view() const { return {data_, shape_}; }

    /// Copies host data in (same element count), ordered on `stream`.
    void upload(tensor_view<const float> host, cudaStream_t stream = nullptr)
    {
        require(host.size() == size(), [&] { return "device_tensor: upload of " + host.shape().to_string() + " into " + shape_.to_string(); });
        check(cudaMemcpyAsync(data_, host.data(), size() * sizeof(float), cudaMemcpyHostToDevice, stream), "upload");
        check(cudaStreamSynchronize(stream), "upload");
    }
    /// Copies the data out to a new host tensor (synchronises `stream`).
    tensor download(cudaStream_t stream = nullptr) const
    {
        tensor host(shape_);
        check(cudaMemcpyAsync(host.data(), data_, size() * sizeof(float), cudaMemcpyDeviceToHost, stream), "download");
        check(cudaStreamSynchronize(stream), "download");
        return host;
    }

private:
    template <class M>
    static void require(bool ok, M&& message) { ilvr::detail::require(ok, std::forward<M>(message)); }
    shape4 shape_{};
    float* data_ = nullptr;
};

} // namespace ilvr::cuda

namespace ilvr {
/// A device tensor is viewable; its views point to device memory.
template <>
struct tensor_traits<cuda::device_tensor> {
    static tensor_view<float> view(cuda::device_tensor& t) { return t.view(); }
    static tensor_view<const float> view(const cuda::device_tensor& t) { return t.view(); }
};
} // namespace ilvr

namespace ilvr::cuda {

/// A typed device array (tables, timesteps), uploaded once.
template <class T>
class device_array {
public:
    device_array() = default;
    explicit device_array(const std::vector<T>& host) : size_(host.size())
    {
        if (size_ == 0) return;
        check(cudaMalloc(&data_, size_ * sizeof(T)), "cudaMalloc");
        check(cudaMemcpy(data_, host.data(), size_ * sizeof(T), cudaMemcpyHostToDevice), "upload");
    }
    device_array(device_array&& o) noexcept : data_(std::exchange(o.data_, nullptr)), size_(std::exchange(o.size_, 0)) {}
    device_array& operator=(device_array&& o) noexcept
    {
        std::swap(data_, o.data_);
        std::swap(size_, o.size_);
        return *this;
    }
    device_array(const device_array&) = delete;
    device_array& operator=(const device_array&) = delete;
    ~device_array()
    {
        if (data_) cudaFree(data_);
    }
    const T* data() const { return data_; }
    std::size_t size() const { return size_; }

private:
    T* data_ = nullptr;
    std::size_t size_ = 0;
};

} // namespace ilvr::cuda

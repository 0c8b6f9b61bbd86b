// LibTorch hand-over for the device backend: a TorchScript module as a device
// denoiser, with no copies. On the host system the sampler's memory is host
// memory, handed to a CPU module as it is. On CUDA (the CUDA-only part, kept to
// the stream guard) the sampler's device memory is handed to a CUDA module
// through from_blob and the output's data_ptr, and the module's work is queued
// on the sampler's stream, so the two need no synchronisation between them.
#pragma once

#include <ilvr/device/system.hpp>
#include <ilvr/torch/denoiser.hpp>

#ifdef ILVR_DEVICE_CUDA
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#endif

#include <cstdint>
#include <span>

namespace ilvr::device {

/// A module_denoiser as a device denoiser: device::sampler calls it with device
/// memory and its stream. The module must be on the device system's device
/// (module_options::device: torch::kCPU on the host system, the current CUDA
/// device on CUDA). Holds a reference: keep the module_denoiser alive.
class torch_denoiser {
public:
    explicit torch_denoiser(ilvr::torch::module_denoiser& module) : module_(&module) {}

    /// eps (or eps and v) of x, in device memory, valid until the next call.
    tensor_view<const float> operator()(tensor_view<const float> x, std::span<const std::int64_t> t,
                                        [[maybe_unused]] stream s)
    {
#ifdef ILVR_DEVICE_CUDA
        int device = 0;
        check(cudaGetDevice(&device), "cudaGetDevice");
        const auto index = static_cast<c10::DeviceIndex>(device);
        const c10::cuda::CUDAStreamGuard guard(c10::cuda::getStreamFromExternal(s, index));
        return module_->forward_in_place(x, t, ::torch::Device(::torch::kCUDA, index));
#else
        return module_->forward_in_place(x, t, ::torch::kCPU);
#endif
    }

private:
    ilvr::torch::module_denoiser* module_;
};

} // namespace ilvr::device

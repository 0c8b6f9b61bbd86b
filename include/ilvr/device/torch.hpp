// LibTorch hand-over for the device backend: a TorchScript module as a device
// denoiser, with no copies. On the host system the sampler's memory is host
// memory, handed to a CPU module as it is. On CUDA the sampler's device memory
// is handed to a CUDA module through from_blob and the output's data_ptr, and
// the module's work is queued on the sampler's stream, so the two need no
// synchronisation between them. That CUDA-only part is the stream guard below,
// compiled where LibTorch has CUDA (ILVR_TORCH_CUDA, set by ilvr::torch then).
// This header needs no CUDA compiler: a program may compile its LibTorch code
// with the host compiler and its device sampler with nvcc.
#pragma once

#include <ilvr/torch/denoiser.hpp>

#ifdef ILVR_TORCH_CUDA
#include <c10/cuda/CUDAFunctions.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#endif

#include <cstdint>
#include <span>
#include <type_traits>

namespace ilvr::device {

/// A module_denoiser as a device denoiser: a device run calls it with device
/// memory and its stream. The module must be where that memory is
/// (module_options::device: torch::kCPU on the host system, the current CUDA
/// device on CUDA). Holds a reference: keep the module_denoiser alive.
class torch_denoiser {
public:
    explicit torch_denoiser(ilvr::torch::module_denoiser& module) : module_(&module) {}

    /// eps (or eps and v) of x, in the same memory as x, valid until the next
    /// call. `s`: the host system's empty stream, or a cudaStream_t on CUDA.
    template <class Stream>
    tensor_view<const float> operator()(tensor_view<const float> x, std::span<const std::int64_t> t,
                                        [[maybe_unused]] Stream s)
    {
        if constexpr (std::is_pointer_v<Stream>) {  // cudaStream_t: the memory is the GPU's
#ifdef ILVR_TORCH_CUDA
            const c10::DeviceIndex device = c10::cuda::current_device();
            const c10::cuda::CUDAStreamGuard guard(c10::cuda::getStreamFromExternal(s, device));
            return module_->forward_in_place(x, t, ::torch::Device(::torch::kCUDA, device));
#else
            static_assert(!std::is_pointer_v<Stream>, "device::torch_denoiser on CUDA needs a CUDA LibTorch (ILVR_TORCH_CUDA)");
#endif
        } else {
            return module_->forward_in_place(x, t, ::torch::kCPU);
        }
    }

private:
    ilvr::torch::module_denoiser* module_;
};

} // namespace ilvr::device

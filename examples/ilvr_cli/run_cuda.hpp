// `ilvr --device cuda`: one batch sampled by the device backend on the GPU
// (run_cuda.cu, built where nvcc and a CUDA-enabled LibTorch are found, which
// defines ILVR_CLI_CUDA). No LibTorch or CUDA types here: run_cuda.cu (nvcc)
// holds the device run, run.hpp (the host compiler) the LibTorch module. The
// solver and conditioner come from the same sampling_spec as the CPU path's.
#pragma once

#include "sampling.hpp"

#include <ilvr/respacing.hpp>
#include <ilvr/tensor.hpp>

#include <cstdint>
#include <functional>
#include <span>
#include <vector>

namespace ilvr_cli {

/// One batch for the GPU: the solver and conditioner options, the noise keys, the references.
struct cuda_batch {
    const ilvr::respaced_schedule* process;
    sampling_spec sampling;
    std::uint64_t seed;
    const std::vector<std::uint64_t>* indices;  ///< job index of each image (noise keys)
    const ilvr::tensor* references;             ///< [B, C, S, S], or null: unconditional
    const ilvr::tensor* mask;                   ///< --mask [1, 1, S, S] (inpainting)
    int factor;                                 ///< N of the batch (--factor)
};

/// The network on the GPU: x and the result in device memory; the last
/// argument is the sampler's stream (a cudaStream_t; null on the host system).
using cuda_model = std::function<ilvr::tensor_view<const float>(ilvr::tensor_view<const float>,
                                                                std::span<const std::int64_t>, void*)>;

/// Samples the batch on the device into `x` (host [B, C, S, S]); on_step is called
/// after every step, false cancels. Returns false if cancelled.
bool sample_batch_cuda(const cuda_model& model, const cuda_batch& batch, ilvr::tensor& x,
                       const std::function<bool()>& on_step);

} // namespace ilvr_cli

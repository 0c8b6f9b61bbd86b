// The conditioner concept: refines each step's proposal in place.
// ILVR is one; inpainting masks or colourisation projections plug in the same way.
#pragma once

#include <ilvr/random.hpp>
#include <ilvr/respacing.hpp>
#include <ilvr/tensor.hpp>

#include <concepts>
#include <cstdint>

namespace ilvr {

/// What a conditioner learns about the step it refines.
struct step_info {
    int index;                         ///< respaced index i (K-1 .. 0)
    int timestep;                      ///< original timestep tau[i]
    const respaced_schedule* process;  ///< the sampled process (noise levels: process->schedule)
    std::uint64_t first_sample;        ///< job index of the batch's first image (for noise keys)
    int threads;                       ///< threads the sampler uses
};

/// A noise source fills a [B, C, H, W] view with the standard normals of images
/// first_sample .. first_sample + B - 1 for (purpose, step): philox_noise, or
/// replay_noise for recorded arrays. The library calls it one image at a time,
/// concurrently from several threads when threads > 1, so it must be safe to
/// call from several threads at once (both of the library's are stateless).
template <class N>
concept noise_source = requires(const N& n, tensor_view<float> out) {
    n(noise_purpose::initial, 0, std::uint64_t{0}, out);
};

/// A conditioner is told the batch shape, process and thread count once (prepare,
/// where it may allocate and must validate), then refines the proposal x'_{i} in place after
/// every step. It draws its own noise from the sampler's source.
template <class C, class Noise>
concept conditioner = noise_source<Noise> && requires(C& c, const shape4& shape, const respaced_schedule& process,
                                                      const step_info& info, tensor_view<float> proposal,
                                                      const Noise& noise) {
    c.prepare(shape, process, 1);
    c.refine(info, proposal, noise);
};

/// Unconditional sampling.
struct no_conditioning {
    void prepare(const shape4&, const respaced_schedule&, int) {}
    template <class Noise>
    void refine(const step_info&, tensor_view<float>, const Noise&)
    {
    }
};

} // namespace ilvr

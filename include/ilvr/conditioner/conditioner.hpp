// The conditioner concept: refines each step's proposal in place.
// ILVR is one; inpainting masks or colourisation projections plug in the same way.
#pragma once

#include <ilvr/config.hpp>
#include <ilvr/detail/cpu.hpp>
#include <ilvr/exec.hpp>
#include <ilvr/random.hpp>
#include <ilvr/respacing.hpp>
#include <ilvr/tensor.hpp>

#include <concepts>
#include <cstddef>
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

namespace detail {

/// A conditioner written once for every backend: prepare and refine take the
/// run's exec (cpu_exec, device::exec) and do their element work through it.
template <class C, class Noise, class Exec>
concept exec_conditioner = requires(C& c, const shape4& shape, const respaced_schedule& process, const step_info& info,
                                    tensor_view<float> proposal, const Noise& noise, const Exec& exec) {
    c.prepare(shape, process, exec);
    c.refine(info, proposal, noise, exec);
};

/// A CPU conditioner: prepare(shape, process, threads), refine(info, proposal, noise).
template <class C, class Noise>
concept cpu_conditioner = requires(C& c, const shape4& shape, const respaced_schedule& process, const step_info& info,
                                   tensor_view<float> proposal, const Noise& noise) {
    c.prepare(shape, process, 1);
    c.refine(info, proposal, noise);
};

/// Prepares `c` for a run on `exec` (a CPU conditioner with exec's threads).
template <class C, class Exec>
void prepare_on(C& c, const shape4& shape, const respaced_schedule& process, const Exec& exec)
{
    if constexpr (requires { c.prepare(shape, process, exec); }) c.prepare(shape, process, exec);
    else c.prepare(shape, process, exec.threads);
}

/// Refines with `c` on `exec`.
template <class C, class Noise, class Exec>
void refine_on(C& c, const step_info& info, tensor_view<float> proposal, const Noise& noise, const Exec& exec)
{
    if constexpr (requires { c.refine(info, proposal, noise, exec); }) c.refine(info, proposal, noise, exec);
    else c.refine(info, proposal, noise);
}

/// x = keep x + add z on elements [e0, e1) of image b: ILVR's x' + phi_N(r)
/// (keep = add = 1, bitwise x + z) and RePaint's renoising. A namespace-scope
/// type: CUDA kernels cannot name one nested in a template instantiated with a
/// local type (a lambda network).
struct scaled_sum_block {
    float keep, add;
    float* x;
    const float* z;
    std::size_t per_image;

    ILVR_HOST_DEVICE ILVR_ALWAYS_INLINE void operator()(std::int64_t b, std::size_t e0, std::size_t e1) const
    {
        const auto off = static_cast<std::size_t>(b) * per_image;
        float* xb = x + off;
        const float* zb = z + off;
        const float k = keep, a = add;  // copied: through the functor they might alias x
        for (std::size_t e = e0; e < e1; ++e) xb[e] = k * xb[e] + a * zb[e];
    }
};

} // namespace detail

/// A conditioner is told the batch shape, process and backend once (prepare,
/// where it may allocate and must validate), then refines the proposal x'_{i} in
/// place after every step. It draws its own noise from the sampler's source.
/// Written against the exec (prepare(shape, process, exec), refine(info, x,
/// noise, exec): the library's conditioners, docs/sampling.md) it runs on every
/// backend; a CPU conditioner (prepare(shape, process, threads), refine(info, x,
/// noise)) on the CPU.
template <class C, class Noise, class Exec = cpu_exec>
concept conditioner = detail::exec_conditioner<C, Noise, Exec>
    || (std::same_as<Exec, cpu_exec> && noise_source<Noise> && detail::cpu_conditioner<C, Noise>);

/// Unconditional sampling.
struct no_conditioning {
    /// Nothing to check.
    template <class Exec>
    void prepare(const shape4&, const respaced_schedule&, const Exec&)
    {
    }
    /// Leaves the proposal as it is.
    template <class Noise, class Exec = cpu_exec>
    void refine(const step_info&, tensor_view<float>, const Noise&, const Exec& = {})
    {
    }
};

} // namespace ilvr

// The execution interface: the few operations the sampling loop, the solvers and
// the conditioners run their element work through, so that each is written once
// and runs on every backend (Kokkos' execution spaces, Thrust's systems). Work is
// a functor called as f(b, e0, e1) on elements [e0, e1) of image b; memory is an
// ilvr::buffer in the backend's memory; phi_N is an ilvr::filter.
//   ilvr::cpu_exec     this header: OpenMP over images, AVX2 blocks of 2048
//                      elements (the CPU's fast loops, as they were before).
//   device::exec       ilvr/device/exec.hpp: Thrust's for_each_n on a stream
//                      (CUDA under nvcc, the host's OpenMP system elsewhere).
// docs/sampling.md ("One loop for every backend") shows a solver and a
// conditioner written against it.
#pragma once

#include <ilvr/denoiser.hpp>
#include <ilvr/detail/cpu.hpp>
#include <ilvr/detail/parallel.hpp>
#include <ilvr/low_pass.hpp>
#include <ilvr/random.hpp>
#include <ilvr/tensor.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <utility>

namespace ilvr {

/// Work memory of a run in its backend's memory (the heap on the CPU, device
/// memory on the device), allocated by the run's exec: zero-filled, or borrowing
/// host memory where the backend reads host memory. Copies share the memory
/// (solvers are copied before prepare, which allocates anew).
class buffer {
public:
    buffer() = default;
    /// Owns `data` of `shape`; `release` frees it.
    buffer(shape4 shape, float* data, void (*release)(float*)) : shape_(shape), data_(data, release) {}
    /// Borrows `view` (not freed).
    static buffer borrow(tensor_view<float> view) { return buffer(view.shape(), view.data(), [](float*) {}); }

    /// The buffer's shape.
    const shape4& shape() const { return shape_; }
    /// A view of the memory (host or device memory: hand it to the exec's work).
    tensor_view<float> view() const { return {data_.get(), shape_}; }
    /// Its first element.
    float* data() const { return data_.get(); }

private:
    shape4 shape_{};
    std::shared_ptr<float> data_;
};

/// phi_N built for a run by its exec (ilvr::low_pass on the CPU, device::low_pass
/// on the device): out = phi_N(in), in place allowed.
class filter {
public:
    filter() = default;
    /// Wraps `impl`, called as (*impl)(in, out).
    template <class Impl>
    explicit filter(std::shared_ptr<Impl> impl)
        : impl_(std::move(impl)),
          apply_([](void* p, tensor_view<const float> in, tensor_view<float> out) { (*static_cast<Impl*>(p))(in, out); })
    {
    }
    /// out = phi_N(in), queued on the run's stream on the device.
    void operator()(tensor_view<const float> in, tensor_view<float> out) const { apply_(impl_.get(), in, out); }
    /// Whether one was built.
    explicit operator bool() const { return impl_ != nullptr; }

private:
    std::shared_ptr<void> impl_;
    void (*apply_)(void*, tensor_view<const float>, tensor_view<float>) = nullptr;
};

/// The CPU backend: images in parallel on `threads` OpenMP threads, each image's
/// elements in blocks of 2048 (8 KiB a stream, so a second pass over a block reads
/// from L1) inside one loop compiled for AVX2 where the CPU has it.
struct cpu_exec {
    int threads = 1;  ///< OpenMP threads over images

    /// Elements per call of a block functor.
    static constexpr std::size_t block = 2048;

    /// Calls f(b, e0, e1) for every image b < images and every block [e0, e1)
    /// of its per_image elements. f is copied per image: its members are then
    /// locals the stores cannot alias, so its loops vectorise. Its call operator
    /// must be ILVR_ALWAYS_INLINE so that it is compiled for each build.
    template <class F>
    void for_each_block(std::int64_t images, std::size_t per_image, const F& f) const
    {
        detail::parallel_for(images, threads, [&](std::int64_t b, int) {
            const F g = f;
            detail::vectorised([&]() ILVR_ALWAYS_INLINE {
                for (std::size_t e0 = 0; e0 < per_image; e0 += block) g(b, e0, std::min(per_image, e0 + block));
            });
        });
    }

    /// Fills out [B, C, H, W] with the draws of images first .. first + B - 1 for
    /// (purpose, step), one image per call, images in parallel (the draws are keyed
    /// by image, so the split does not matter).
    template <class Noise>
    void fill_noise(const Noise& noise, noise_purpose purpose, int step, std::uint64_t first, tensor_view<float> out) const
    {
        detail::parallel_for(out.shape().n, threads, [&](std::int64_t b, int) {
            noise(purpose, step, first + static_cast<std::uint64_t>(b), out.batch(b, 1));
        });
    }

    /// Draws z (as fill_noise), then calls f(b, e0, e1) over blocks of the
    /// first `per_image` elements of each image (f reads z): per image, so the
    /// draws are still in cache when f reads them.
    template <class Noise, class F>
    void for_each_block_after_noise(const Noise& noise, noise_purpose purpose, int step, std::uint64_t first,
                                    tensor_view<float> z, std::size_t per_image, const F& f) const
    {
        detail::parallel_for(z.shape().n, threads, [&](std::int64_t b, int) {
            noise(purpose, step, first + static_cast<std::uint64_t>(b), z.batch(b, 1));
            const F g = f;
            detail::vectorised([&]() ILVR_ALWAYS_INLINE {
                for (std::size_t e0 = 0; e0 < per_image; e0 += block) g(b, e0, std::min(per_image, e0 + block));
            });
        });
    }

    /// A zero-filled buffer of `shape`.
    buffer allocate(const shape4& shape) const
    {
        return buffer(shape, new float[shape.size()](), [](float* p) { delete[] p; });
    }
    /// `host` as the run reads it: borrowed, no copy (keep it alive and unchanged).
    buffer upload(const tensor& host) const { return buffer::borrow(tensor_view<float>(const_cast<float*>(host.data()), host.shape())); }

    /// `phi` (phi_N of its planes) for this run, on this exec's threads (a copy:
    /// its tables and a scratch per thread).
    filter make_filter(const low_pass& host, std::size_t /*planes*/) const
    {
        auto phi = std::make_shared<low_pass>(host);
        phi->set_threads(threads);
        return filter(std::move(phi));
    }

    /// Calls the denoiser on x (host memory), t its timesteps.
    template <class Model>
    decltype(auto) invoke(Model& model, tensor_view<const float> x, std::span<const std::int64_t> t) const
    {
        return model(x, t);
    }
    /// Throws the sampler's NaN/Inf error unless every value of `out` is finite.
    void check_finite(tensor_view<const float> out, int step, int timestep, int call) const
    {
        detail::check_finite(out, step, timestep, threads, call);
    }

    /// The denoisers this backend calls: ilvr::denoiser.
    template <class Model>
    static constexpr bool calls = denoiser<Model>;
    /// The noise sources this backend draws from: ilvr::noise_source (callable).
    template <class Noise>
    static constexpr bool draws_from = requires(const Noise& n, tensor_view<float> out) {
        n(noise_purpose::initial, 0, std::uint64_t{0}, out);
    };
    /// Checks a run's draws before it starts (the CPU's sources check each draw).
    template <class Noise>
    void check_noise(const Noise&, std::uint64_t, const shape4&, int) const
    {
    }
    /// Waits for queued work (the CPU's is done when a call returns).
    void synchronize() const {}
};

} // namespace ilvr

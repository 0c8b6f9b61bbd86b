// The device backend of the execution interface (ilvr/exec.hpp): the same
// operations as ilvr::cpu_exec, run by Thrust on a stream, with memory in the
// device system's memory. So ilvr::sampler, every solver and every conditioner
// run on the device through the code they run on the CPU; device::run_options
// selects it. On the host system (Thrust's OpenMP system) device memory is host
// memory and the functors are the CPU's, so results are the CPU's bits.
#pragma once

#include <ilvr/denoiser.hpp>
#include <ilvr/device/kernels.hpp>
#include <ilvr/device/low_pass.hpp>
#include <ilvr/device/system.hpp>
#include <ilvr/exec.hpp>

#include <thrust/device_free.h>
#include <thrust/device_malloc.h>
#include <thrust/uninitialized_fill.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <span>

namespace ilvr::device {

/// A device denoiser is called as model(x, t, stream) or model(x, t), with x a
/// view of device memory and t on the host, and returns a viewable of device
/// memory (eps [B, C, H, W] or eps and v [B, 2C, H, W]). On the host system
/// device memory is host memory, so every CPU denoiser is one.
template <class D>
concept denoiser = requires(D& d, tensor_view<const float> x, std::span<const std::int64_t> t, stream s) {
    { d(x, t, s) } -> viewable;
} || ilvr::denoiser<D>;

/// A device noise source: philox_noise or replay_view (device/noise.hpp), a
/// small value the functors carry. `check` runs on the host before a run.
template <class N>
concept noise_source = requires(const N& n, float out[4]) {
    n.block(noise_purpose::initial, 0, std::uint64_t{0}, std::uint32_t{0}, out);
};

/// The device backend: every functor over images x blocks through Thrust's
/// for_each_n on `stream` (one GPU thread per element on CUDA; blocks of 2048
/// elements split over the host's threads on the host system).
struct exec {
    device::stream stream{};  ///< CUDA: where all work and the denoiser's are queued
    int threads = 1;          ///< the host's own threads (the device system picks its own)

    /// f(b, e0, e1) for the block of index id of a loop over images x blocks.
    template <class F>
    struct block_call {
        F f;
        std::uint64_t per_image, blocks, block;

        ILVR_HOST_DEVICE void operator()(std::int64_t id) const
        {
            const auto u = static_cast<std::uint64_t>(id);
            const std::uint64_t e0 = (u % blocks) * block, e1 = e0 + block < per_image ? e0 + block : per_image;
            f(static_cast<std::int64_t>(u / blocks), static_cast<std::size_t>(e0), static_cast<std::size_t>(e1));
        }
    };

    /// phi_N on a stream, as ilvr::filter calls it.
    struct stream_filter {
        low_pass phi;
        device::stream s;

        void operator()(tensor_view<const float> in, tensor_view<float> out)
        {
            if (phi.host().factor() == 1 && in.data() == out.data()) return;  // the identity in place
            phi.apply(in, out.data(), nullptr, s);
        }
    };

#ifdef ILVR_DEVICE_CUDA
    static constexpr std::uint64_t block = 1;
#else
    static constexpr std::uint64_t block = 2048;
#endif

    /// Calls f(b, e0, e1) over blocks of each image's per_image elements, queued
    /// on the stream; f's call operator is ILVR_HOST_DEVICE.
    template <class F>
    void for_each_block(std::int64_t images, std::size_t per_image, const F& f) const
    {
        const std::uint64_t blocks = (per_image + block - 1) / block;
        for_each_index(stream, images * static_cast<std::int64_t>(blocks), block_call<F>{f, per_image, blocks, block});
    }

    /// Fills out (device memory) with the draws of images first .. for (purpose, step).
    template <class Noise>
    void fill_noise(const Noise& noise, noise_purpose purpose, int step, std::uint64_t first, tensor_view<float> out) const
    {
        if constexpr (requires { noise.check_purpose(purpose); }) noise.check_purpose(purpose);
        const std::uint64_t per_image = out.shape().image_size();
        for_each_index(stream, out.shape().n * static_cast<std::int64_t>(kernels::blocks_of(per_image)),
                       kernels::fill_noise<Noise>{noise, purpose, step, first, per_image, out.data()});
    }

    /// Draws z, then calls f over blocks of the first per_image elements of each image.
    template <class Noise, class F>
    void for_each_block_after_noise(const Noise& noise, noise_purpose purpose, int step, std::uint64_t first,
                                    tensor_view<float> z, std::size_t per_image, const F& f) const
    {
        fill_noise(noise, purpose, step, first, z);
        for_each_block(z.shape().n, per_image, f);
    }

    /// A zero-filled buffer of `shape` in device memory.
    buffer allocate(const shape4& shape) const
    {
        const thrust::device_ptr<float> p = thrust::device_malloc<float>(shape.size());
        thrust::uninitialized_fill_n(thrust::device, p, shape.size(), 0.0f);
        return buffer(shape, thrust::raw_pointer_cast(p),
                      [](float* q) { thrust::device_free(thrust::device_pointer_cast(q)); });
    }
    /// A device copy of a host tensor.
    buffer upload(const ilvr::tensor& host) const
    {
        buffer b = allocate(host.shape());
        copy_to_device(host.data(), host.size(), b.data());
        return b;
    }
    /// `host`'s phi_N for up to `planes` planes on the stream (device::low_pass: its tables in device memory).
    filter make_filter(const ilvr::low_pass& host, std::size_t planes) const
    {
        return filter(std::make_shared<stream_filter>(
            stream_filter{low_pass(host.height(), host.width(), host.factor(), host.kernel(), planes), stream}));
    }

    /// Calls the denoiser on x (device memory): with the stream where it takes one.
    template <class Model>
    decltype(auto) invoke(Model& model, tensor_view<const float> x, std::span<const std::int64_t> t) const
    {
        if constexpr (requires { model(x, t, stream); }) return model(x, t, stream);
        else return model(x, t);
    }
    /// Throws the CPU's NaN/Inf error unless every value of `out` (device memory)
    /// is finite: a scan on the stream (kernels::find_nonfinite), its one-value
    /// answer waited for.
    void check_finite(tensor_view<const float> out, int step, int timestep, int call) const
    {
        vector<int> finite(1, 1);
        for_each_index(stream, static_cast<std::int64_t>(out.size()), kernels::find_nonfinite{out.data(), raw(finite)});
        device::synchronize(stream);
        int answer = 1;
        copy_to_host(raw(finite), 1, &answer);
        if (answer == 0) throw ilvr::detail::nonfinite_output(step, timestep, call);
    }

    /// The denoisers this backend calls: device::denoiser.
    template <class Model>
    static constexpr bool calls = denoiser<Model>;
    /// The noise sources this backend draws from: device::noise_source.
    template <class Noise>
    static constexpr bool draws_from = noise_source<Noise>;
    /// Checks a run's draws on the host before it starts (the noise's check()).
    template <class Noise>
    void check_noise(const Noise& noise, std::uint64_t first, const shape4& shape, int steps) const
    {
        if constexpr (requires { noise.check(first, std::uint64_t{1}, std::uint64_t{1}, steps); })
            noise.check(first, static_cast<std::uint64_t>(shape.n), shape.image_size(), steps);
    }
    /// Waits for the work queued on the stream.
    void synchronize() const { device::synchronize(stream); }
};

/// Options of a run on the device: ilvr::sampler::run(..., device::run_options{...}).
struct run_options {
    std::uint64_t first_sample = 0;  ///< job index of the batch's first image (noise keys)
    device::stream stream{};         ///< CUDA: the stream of every functor and of the denoiser's work

    /// The backend the run's element work goes through.
    device::exec exec() const { return {stream, 1}; }
};

} // namespace ilvr::device

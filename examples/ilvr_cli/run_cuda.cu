// `ilvr --device cuda`: the device backend on the GPU; the network is run.hpp's
// device::torch_denoiser (CUDA tensors handed over without copies). The solver
// and conditioner are the CPU path's (with_rule, with_conditioner of
// sampling.hpp), run by ilvr::sampler with device::run_options. The same source
// builds against the host system (tests/cli/test_device_path.cpp), where the
// tests check that every option reaches this path.
#include "run_cuda.hpp"

#include <ilvr/device/sampler.hpp>

namespace ilvr_cli {
namespace {

/// Philox draws keyed by each image's job index, so a sample's pixels do not
/// depend on the batch it is drawn in (as the CPU path's indexed_noise).
struct indexed_philox {
    std::uint64_t seed;
    const std::uint64_t* indices;  // device memory
    std::uint64_t count;

    ILVR_HOST_DEVICE void block(ilvr::noise_purpose purpose, int step, std::uint64_t sample, std::uint32_t j,
                                float out[4]) const
    {
        ilvr::device::philox_noise{seed}.block(purpose, step, indices[sample], j, out);
    }
    void check(std::uint64_t first, std::uint64_t images, std::uint64_t per_image, int steps) const
    {
        ilvr::detail::require(first + images <= count, "indexed noise: batch larger than its indices");
        ilvr::device::philox_noise{seed}.check(first, images, per_image, steps);
    }
};

/// The stream as the tool's std::function passes it: a cudaStream_t, or null on the host system.
void* stream_pointer([[maybe_unused]] ilvr::device::stream s)
{
#ifdef ILVR_DEVICE_CUDA
    return s;
#else
    return nullptr;
#endif
}

} // namespace

bool sample_batch_cuda(const cuda_model& network, const cuda_batch& b, ilvr::tensor& x,
                       const std::function<bool()>& on_step)
{
    const ilvr::device::vector<std::uint64_t> indices(b.indices->begin(), b.indices->end());
    const indexed_philox noise{b.seed, ilvr::device::raw(indices), indices.size()};
    auto model = [&](ilvr::tensor_view<const float> in, std::span<const std::int64_t> t, ilvr::device::stream s) {
        return network(in, t, stream_pointer(s));
    };
    ilvr::device::tensor samples(x.shape());
    auto callback = [&](const ilvr::step_event&) { return on_step(); };
    const ilvr::device::run_options options{};
    const bool finished = with_rule(b.sampling, [&](const auto& rule) {
        const ilvr::sampler sampler(*b.process, rule);
        if (!b.references) return sampler.run(model, noise, samples, ilvr::no_conditioning{}, callback, options);
        return with_conditioner(b.sampling, model, *b.references, *b.mask, b.factor, [&](auto& cond) {
            return sampler.run(model, noise, samples, cond, callback, options);
        });
    });
    x = ilvr::device::download(samples);
    return finished;
}

} // namespace ilvr_cli

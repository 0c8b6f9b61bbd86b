// `ilvr --device cuda`: the device backend on the GPU; the network is run.hpp's
// device::torch_denoiser (CUDA tensors handed over without copies).
#include "run_cuda.hpp"

#include <ilvr/device/sampler.hpp>
#include <ilvr/sampler/ddim.hpp>

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

template <class Rule>
bool sample(const Rule& rule, const cuda_model& network, const cuda_batch& b, ilvr::tensor& x,
            const std::function<bool()>& on_step)
{
    const ilvr::device::vector<std::uint64_t> indices(b.indices->begin(), b.indices->end());
    const indexed_philox noise{b.seed, ilvr::device::raw(indices), indices.size()};
    auto model = [&](ilvr::tensor_view<const float> in, std::span<const std::int64_t> t, cudaStream_t s) {
        return network(in, t, s);
    };
    ilvr::device::tensor samples(x.shape());
    const ilvr::device::sampler sampler(*b.process, rule);
    auto callback = [&](const ilvr::step_event&) { return on_step(); };
    bool finished = false;
    if (b.references) {
        ilvr::device::ilvr_conditioner cond(*b.references, b.options, static_cast<std::size_t>(x.shape().n));
        finished = sampler.run(model, noise, samples, cond, callback);
    } else {
        finished = sampler.run(model, noise, samples, ilvr::device::no_conditioning{}, callback);
    }
    x = ilvr::device::download(samples);
    return finished;
}

} // namespace

bool sample_batch_cuda(const cuda_model& model, const cuda_batch& batch, ilvr::tensor& x,
                       const std::function<bool()>& on_step)
{
    if (batch.ddim) return sample(ilvr::ddim{.eta = batch.eta}, model, batch, x, on_step);
    return sample(ilvr::ddpm{.variance = batch.variance}, model, batch, x, on_step);
}

} // namespace ilvr_cli

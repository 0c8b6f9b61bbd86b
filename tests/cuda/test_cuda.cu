// The CUDA backend against the CPU path and the golden traces. Skips (ctest
// exit 77) where no GPU is usable, e.g. on a machine without a driver.
#include "support/golden.hpp"
#include "support/random.hpp"

#include <ilvr/cuda/sampler.cuh>
#include <ilvr/ilvr.hpp>

#include <catch2/catch.hpp>

namespace {

void require_gpu()
{
    if (!ilvr::cuda::device_available())
        ilvr_test::skip("no usable GPU (" + ilvr::cuda::device_unavailable_reason() + "); the CPU tests of the shared math carry correctness");
}

const ilvr::noise_schedule& linear1000()
{
    static const auto s = ilvr::noise_schedule::linear(1000);
    return s;
}

} // namespace

TEST_CASE("device noise equals host noise for the same keys", "[cuda]")
{
    require_gpu();
    ilvr::tensor host({3, 3, 17, 9});
    ilvr::philox_noise(42)(ilvr::noise_purpose::proposal, 5, 7, host.view());
    ilvr::cuda::device_tensor dev(host.shape());
    const std::uint64_t per = host.shape().image_size();
    ilvr::cuda::kernels::fill_noise<<<ilvr::cuda::kernels::grid_for(3 * ((per + 3) / 4)), ilvr::cuda::kernels::block_size>>>(
        ilvr::cuda::philox_noise{42}, ilvr::noise_purpose::proposal, 5, 7, per, 3, dev.data());
    const auto back = dev.download();
    // Same integer stream; log/sin/cos may round differently on the device.
    REQUIRE(ilvr_test::max_abs_diff(back.values(), host.values()) <= 1e-5);
}

TEST_CASE("device phi_N equals the CPU's for every kernel, non-square and non-dividing sizes", "[cuda]")
{
    require_gpu();
    for (const auto& kernel : {ilvr::kernels::cubic, ilvr::kernels::lanczos2, ilvr::kernels::lanczos3, ilvr::kernels::linear,
                               ilvr::kernels::box})
        for (const auto [h, w, n] : {std::tuple{32, 32, 4}, std::tuple{37, 23, 3}, std::tuple{64, 48, 8}, std::tuple{20, 30, 1}}) {
            INFO(kernel.name << " " << h << "x" << w << " N=" << n);
            const auto x = ilvr_test::normal_tensor({2, 3, h, w}, 3);
            ilvr::tensor cpu(x.shape());
            ilvr::low_pass(h, w, n, kernel)(x, cpu);
            ilvr::cuda::low_pass phi(h, w, n, kernel, 6);
            ilvr::cuda::device_tensor in(x), out(x.shape());
            phi.apply(in.view(), out.data(), nullptr, nullptr);
            REQUIRE(ilvr_test::max_abs_diff(out.download().values(), cpu.values()) <= 1e-6);
        }
}

TEST_CASE("a GPU run reproduces the CPU run for the same seed", "[cuda]")
{
    require_gpu();
    const auto process = ilvr::respace(linear1000(), "25");
    const auto reference = ilvr_test::normal_tensor({1, 3, 24, 20}, 9);
    const ilvr::ilvr_options options{4, ilvr::kernels::cubic, ilvr::conditioning_range::parse("1000:100"),
                                     ilvr::reference_noise_level::paper};
    ilvr::tensor cpu({4, 3, 24, 20});
    ilvr::gaussian_prior_denoiser prior(linear1000(), 0.5);
    ilvr::ilvr_conditioner cond(reference, options);
    ilvr::sampler(process, ilvr::ddpm{}).run(prior, ilvr::philox_noise(5), cpu, cond);

    // The same Gaussian-prior denoiser on the device: eps = c_t * x.
    ilvr::cuda::device_tensor eps(cpu.shape());
    auto device_prior = [&](ilvr::tensor_view<const float> x, std::span<const std::int64_t> t, cudaStream_t stream) {
        const double ab = linear1000().alpha_bar()[static_cast<std::size_t>(t[0])];
        const auto c = static_cast<float>(std::sqrt(1.0 - ab) / (ab * 0.25 + 1.0 - ab));
        ilvr::tensor hx(x.shape());
        ilvr::cuda::check(cudaMemcpyAsync(hx.data(), x.data(), x.size() * 4, cudaMemcpyDeviceToHost, stream), "d2h");
        ilvr::cuda::check(cudaStreamSynchronize(stream), "sync");
        for (std::size_t e = 0; e < hx.size(); ++e) hx[e] *= c;
        eps.upload(hx.view(), stream);
        return eps.view();
    };
    ilvr::cuda::device_tensor gpu(cpu.shape());
    ilvr::cuda::ilvr_conditioner dcond(reference, options, 4);
    ilvr::cuda::sampler(process, ilvr::ddpm{}).run(device_prior, ilvr::cuda::philox_noise{5}, gpu, dcond);
    REQUIRE(ilvr_test::max_abs_diff(gpu.download().values(), cpu.values()) <= 1e-5);
}

TEST_CASE("every golden trace reproduced on the GPU", "[cuda][golden]")
{
    require_gpu();
    for (const auto& [id, variance] : {std::pair{"t16_s20_N4_r5_fixedsmall", ilvr::fixed_variance::small},
                                       std::pair{"t16_s20_N4_r5_fixedlarge", ilvr::fixed_variance::large}}) {
        const std::string dir = std::string("ilvr/") + id + "/";
        const auto ref_a = ilvr_test::golden(dir + "ref");
        const ilvr::tensor ref({ref_a.shape[0], ref_a.shape[1], ref_a.shape[2], ref_a.shape[3]}, ref_a.floats());
        const auto x_T = ilvr_test::golden(dir + "x_T"), Z = ilvr_test::golden(dir + "Z"), E = ilvr_test::golden(dir + "E");
        const auto step_index = ilvr_test::golden(dir + "step_index").ints;
        const std::size_t steps = step_index.size(), each = ref.size();
        std::vector<ilvr::tensor> z(steps), e(steps);
        for (std::size_t k = 0; k < steps; ++k) {
            const auto i = static_cast<std::size_t>(step_index[k]);
            z[i] = ilvr::tensor(ref.shape(), std::vector<float>(Z.values.begin() + k * each, Z.values.begin() + (k + 1) * each));
            e[i] = ilvr::tensor(ref.shape(), std::vector<float>(E.values.begin() + k * each, E.values.begin() + (k + 1) * each));
        }
        const ilvr::cuda::replay_noise replay(ilvr::tensor(ref.shape(), x_T.floats()), z, e);
        const auto process = ilvr::respace(linear1000(), "20");
        for (const auto& [mode, level] : {std::pair{"paper", ilvr::reference_noise_level::paper},
                                          std::pair{"ilvr_adm", ilvr::reference_noise_level::reference_code}}) {
            INFO(id << " " << mode);
            const auto final_ = ilvr_test::golden(dir + mode + "/final");
            ilvr::tensor scratch(ref.shape());
            ilvr::cuda::device_tensor eps(ref.shape());
            auto model = [&](ilvr::tensor_view<const float> x, std::span<const std::int64_t> t, cudaStream_t stream) {
                const double ab = linear1000().alpha_bar()[static_cast<std::size_t>(t[0])];
                const auto c = static_cast<float>(std::sqrt(1.0 - ab) / (ab * 0.25 + 1.0 - ab));
                ilvr::cuda::check(cudaMemcpyAsync(scratch.data(), x.data(), x.size() * 4, cudaMemcpyDeviceToHost, stream), "d2h");
                ilvr::cuda::check(cudaStreamSynchronize(stream), "sync");
                for (auto& v : scratch.values()) v *= c;
                eps.upload(scratch.view(), stream);
                return eps.view();
            };
            ilvr::cuda::device_tensor x(ref.shape());
            ilvr::cuda::ilvr_conditioner cond(ref, {4, ilvr::kernels::cubic, ilvr::conditioning_range::respaced(5), level}, 2);
            ilvr::cuda::sampler(process, ilvr::ddpm{variance, true}).run(model, replay.view(), x, cond);
            REQUIRE(ilvr_test::max_abs_diff(x.download().values(), final_.floats()) <= 1e-4);
        }
    }
}

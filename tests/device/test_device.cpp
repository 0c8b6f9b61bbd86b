// The device backend (include/ilvr/device) against the CPU path and the golden
// traces. One source, two targets: test_device runs it on the host system
// (Thrust's OpenMP system, every machine, every preset), test_device_cuda
// (test_device.cu) on a GPU, where it skips (exit 77) without one.
//
// Tolerances: on the host system the device functors do the CPU loops' float
// operations in the same order, so noise, phi_N and whole runs are bitwise the
// CPU's and are required to be. On CUDA the bounds apply (phi_N 1e-6,
// runs 1e-5): the GPU's exp differs from glibc's in the learned-range step,
// and sums may contract to FMA; the noise stays bitwise, as the CUDA target
// is built with --fmad=false and the Box-Muller math is the project's own.
#include "support/golden.hpp"
#include "support/random.hpp"

#include <ilvr/device/sampler.hpp>
#include <ilvr/ilvr.hpp>

#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

using Catch::Contains;

namespace {

#ifdef ILVR_DEVICE_CUDA
constexpr double phi_tolerance = 1e-6, run_tolerance = 1e-5;
#else
constexpr double phi_tolerance = 0.0, run_tolerance = 0.0;
#endif

void require_device()
{
    std::string why;
    if (!ilvr::device::available(&why))
        ilvr_test::skip("the device system (" + std::string(ilvr::device::system_name()) + ") cannot run here: " + why);
}

const ilvr::noise_schedule& linear1000()
{
    static const auto s = ilvr::noise_schedule::linear(1000);
    return s;
}

/// Whether two float ranges hold the same bits.
bool same_bits(const std::vector<float>& a, const std::vector<float>& b)
{
    return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

/// The test network, one formula for both paths: eps = c x (the exact denoiser
/// of a N(0, s^2) prior, as ilvr::gaussian_prior_denoiser computes it) and, when
/// `learned`, v = clamp(0.3 x, -1, 1) after it.
struct prior_op {
    const float* x;
    float* out;
    float c;
    std::uint64_t per_image;
    bool learned;

    ILVR_HOST_DEVICE void operator()(std::int64_t id) const
    {
        const auto u = static_cast<std::uint64_t>(id);
        const std::uint64_t b = u / per_image, e = u % per_image, stride = learned ? 2 * per_image : per_image;
        out[b * stride + e] = c * x[u];
        if (learned) {
            const float v = 0.3f * x[u];
            out[b * stride + per_image + e] = v < -1.0f ? -1.0f : (v > 1.0f ? 1.0f : v);
        }
    }
};

/// c_t of the Gaussian prior with s = 0.5, from the original process's abar.
float prior_coefficient(std::int64_t t)
{
    const double ab = linear1000().alpha_bar()[static_cast<std::size_t>(t)];
    return static_cast<float>(std::sqrt(1.0 - ab) / (ab * 0.25 + 1.0 - ab));
}

ilvr::shape4 output_shape(const ilvr::shape4& s, bool learned) { return {s.n, learned ? 2 * s.c : s.c, s.h, s.w}; }

/// prior_op on the host, over host memory: the CPU path's network.
struct host_prior {
    bool learned = false;
    ilvr::tensor out;
    ilvr::tensor_view<const float> operator()(ilvr::tensor_view<const float> x, std::span<const std::int64_t> t)
    {
        out = ilvr::tensor(output_shape(x.shape(), learned));
        const prior_op op{x.data(), out.data(), prior_coefficient(t[0]), x.shape().image_size(), learned};
        for (std::int64_t i = 0; i < static_cast<std::int64_t>(x.size()); ++i) op(i);
        return out.view();
    }
};

/// prior_op on the device system, over device memory, on the sampler's stream.
struct device_prior {
    bool learned = false;
    ilvr::device::tensor out;
    ilvr::tensor_view<const float> operator()(ilvr::tensor_view<const float> x, std::span<const std::int64_t> t,
                                              ilvr::device::stream s)
    {
        const ilvr::shape4 shape = output_shape(x.shape(), learned);
        if (!(out.shape() == shape)) out = ilvr::device::tensor(shape);
        ilvr::device::for_each_index(s, static_cast<std::int64_t>(x.size()),
                                     prior_op{x.data(), out.data(), prior_coefficient(t[0]), x.shape().image_size(), learned});
        return out.view();
    }
};

ilvr::tensor host_noise(ilvr::noise_purpose purpose, int step, std::uint64_t first, ilvr::shape4 shape)
{
    ilvr::tensor t(shape);
    ilvr::philox_noise(42)(purpose, step, first, t.view());
    return t;
}

} // namespace

TEST_CASE("device noise is bitwise the CPU's for the same keys", "[device]")
{
    require_device();
    for (const ilvr::shape4 shape : {ilvr::shape4{3, 3, 17, 9}, ilvr::shape4{1, 1, 1, 1}, ilvr::shape4{2, 1, 5, 6},
                                     ilvr::shape4{2, 3, 32, 32}})
        for (const auto purpose : {ilvr::noise_purpose::initial, ilvr::noise_purpose::proposal, ilvr::noise_purpose::reference})
            for (const int step : {0, 5, 999}) {
                INFO(shape.to_string() << " purpose " << static_cast<int>(purpose) << " step " << step);
                const std::uint64_t first = 7, per_image = shape.image_size();
                ilvr::device::tensor dev(shape);
                ilvr::device::for_each_index({}, shape.n * static_cast<std::int64_t>(ilvr::device::kernels::blocks_of(per_image)),
                                             ilvr::device::kernels::fill_noise<ilvr::device::philox_noise>{
                                                 {42}, purpose, step, first, per_image, dev.data()});
                REQUIRE(same_bits(ilvr::device::download(dev).values(), host_noise(purpose, step, first, shape).values()));
            }
}

TEST_CASE("device phi_N matches the CPU's: every kernel, dividing and non-dividing sizes, one and several images",
          "[device]")
{
    require_device();
    for (const auto& kernel : {ilvr::kernels::cubic, ilvr::kernels::lanczos2, ilvr::kernels::lanczos3, ilvr::kernels::linear,
                               ilvr::kernels::box})
        for (const auto& [h, w, n] : {std::tuple{32, 32, 4}, std::tuple{37, 23, 3}, std::tuple{64, 48, 8},
                                      std::tuple{20, 30, 1}, std::tuple{33, 33, 2}, std::tuple{17, 40, 16}})
            for (const std::int64_t images : {1, 3}) {
                INFO(kernel.name << " " << h << "x" << w << " N=" << n << " images " << images);
                const auto x = ilvr_test::normal_tensor({images, 3, h, w}, 3);
                const auto add = ilvr_test::normal_tensor({images, 3, h, w}, 4);
                ilvr::tensor cpu(x.shape());
                ilvr::low_pass(h, w, n, kernel)(x, cpu);
                ilvr::device::low_pass phi(h, w, n, kernel, static_cast<std::size_t>(images) * 3);
                ilvr::device::tensor in(x), out(x.shape()), sum(add);
                phi.apply(in.view(), out.data(), nullptr);
                ilvr::device::synchronize({});
                REQUIRE(ilvr_test::max_abs_diff(ilvr::device::download(out).values(), cpu.values()) <= phi_tolerance);
                // The fused final addition of ILVR: out = add + phi_N(in), in place on add.
                phi.apply(in.view(), sum.data(), sum.data());
                ilvr::device::synchronize({});
                for (std::size_t e = 0; e < cpu.size(); ++e) cpu[e] = add[e] + cpu[e];
                REQUIRE(ilvr_test::max_abs_diff(ilvr::device::download(sum).values(), cpu.values()) <= phi_tolerance);
            }
    ilvr::device::low_pass small(16, 16, 2, ilvr::kernels::cubic, 3);
    ilvr::device::tensor too_many({2, 3, 16, 16});
    REQUIRE_THROWS_WITH(small.apply(too_many.view(), too_many.data(), nullptr), Contains("built for 3 planes of 16x16"));
}

namespace {

/// One run on each path, same seed, network, solver and conditioner (made by
/// `make(model)` for each path's network); returns the largest difference over
/// every step's sample and x0 prediction, and checks the step counts and calls.
template <class Rule, class Make>
double device_against_cpu(const Rule& rule, const std::string& respacing, ilvr::shape4 shape, bool learned,
                          const Make& make, std::uint64_t first)
{
    const auto process = ilvr::respace(linear1000(), respacing);
    std::vector<ilvr::tensor> cpu_samples, cpu_x0;
    std::vector<std::pair<int, std::int64_t>> cpu_counts;  // per step: steps, network calls
    ilvr::tensor cpu(shape);
    host_prior cpu_model{learned, {}};
    auto keep = [&](const ilvr::step_event& e) {
        cpu_counts.emplace_back(e.steps, e.network_calls);
        cpu_samples.emplace_back(e.sample.shape(), std::vector<float>(e.sample.data(), e.sample.data() + e.sample.size()));
        cpu_x0.emplace_back(e.predicted_x0.shape(),
                            std::vector<float>(e.predicted_x0.data(), e.predicted_x0.data() + e.predicted_x0.size()));
    };
    const ilvr::sampler sampler(process, rule);
    auto cpu_cond = make(cpu_model);
    REQUIRE(sampler.run(cpu_model, ilvr::philox_noise(5), cpu, cpu_cond, keep, {.first_sample = first, .threads = 2}));

    double worst = 0.0;
    ilvr::device::tensor dev(shape);
    device_prior dev_model{learned, {}};
    auto compare = [&](const ilvr::step_event& e) {
        const auto k = static_cast<std::size_t>(e.step);
        CHECK(std::pair{e.steps, e.network_calls} == cpu_counts[k]);
        worst = std::max(worst, ilvr_test::max_abs_diff(ilvr::device::download(e.sample).values(), cpu_samples[k].values()));
        worst = std::max(worst, ilvr_test::max_abs_diff(ilvr::device::download(e.predicted_x0).values(), cpu_x0[k].values()));
    };
    auto dev_cond = make(dev_model);
    REQUIRE(sampler.run(dev_model, ilvr::device::philox_noise{5}, dev, dev_cond, compare,
                        ilvr::device::run_options{.first_sample = first}));
    REQUIRE(cpu_counts.size() == process.timesteps.size());
    worst = std::max(worst, ilvr_test::max_abs_diff(ilvr::device::download(dev).values(), cpu.values()));
    return worst;
}

/// As above with ILVR (reference given) or no conditioning.
template <class Rule>
double device_against_cpu(const Rule& rule, const std::string& respacing, ilvr::shape4 shape, bool learned,
                          const ilvr::tensor* reference, const ilvr::ilvr_options& options, std::uint64_t first)
{
    if (!reference)
        return device_against_cpu(rule, respacing, shape, learned, [](auto&) { return ilvr::no_conditioning{}; }, first);
    return device_against_cpu(rule, respacing, shape, learned,
                              [&](auto&) { return ilvr::ilvr_conditioner(*reference, options); }, first);
}

} // namespace

TEST_CASE("whole device runs reproduce the CPU runs", "[device]")
{
    require_device();
    const ilvr::shape4 one{1, 3, 24, 20}, three{3, 3, 24, 20};
    const auto shared = ilvr_test::normal_tensor({1, 3, 24, 20}, 9);
    const auto per_image = ilvr_test::normal_tensor({3, 3, 24, 20}, 10);
    const ilvr::ilvr_options n4{4, ilvr::kernels::cubic, ilvr::conditioning_range::parse("1000:100"),
                                ilvr::reference_noise_level::paper};
    const ilvr::ilvr_options n3_code{3, ilvr::kernels::lanczos3, ilvr::conditioning_range::respaced(3),
                                     ilvr::reference_noise_level::reference_code};
    SECTION("DDPM, fixed small and large variance, ILVR with a shared reference")
    {
        REQUIRE(device_against_cpu(ilvr::ddpm{}, "25", three, false, &shared, n4, 0) <= run_tolerance);
        REQUIRE(device_against_cpu(ilvr::ddpm{ilvr::fixed_variance::large}, "25", one, false, &shared, n4, 11) <= run_tolerance);
    }
    SECTION("DDPM with a learned range (eps + v), one reference per image, non-dividing N = 3")
    {
        REQUIRE(device_against_cpu(ilvr::ddpm{}, "10", three, true, &per_image, n3_code, 4) <= run_tolerance);
    }
    SECTION("DDIM, deterministic and with eta = 0.5")
    {
        REQUIRE(device_against_cpu(ilvr::ddim{}, "ddim10", three, false, &shared, n4, 0) <= run_tolerance);
        REQUIRE(device_against_cpu(ilvr::ddim{.eta = 0.5}, "ddim10", one, false, &shared, n3_code, 2) <= run_tolerance);
    }
    SECTION("unconditional")
    {
        REQUIRE(device_against_cpu(ilvr::ddpm{}, "10", three, false, nullptr, n4, 0) <= run_tolerance);
    }
}

TEST_CASE("every solver with every conditioner: the device run is the CPU run", "[device][matrix]")
{
    require_device();
    const ilvr::shape4 shape{2, 3, 16, 12};
    const auto y = ilvr_test::normal_tensor({1, 3, 16, 12}, 21);
    const auto ys = ilvr_test::normal_tensor({2, 3, 16, 12}, 22);
    const auto grey = ilvr_test::normal_tensor({1, 1, 16, 12}, 23);
    ilvr::tensor mask({1, 1, 16, 12}), soft({2, 3, 16, 12});
    for (std::size_t e = 0; e < mask.size(); ++e) mask[e] = (e % 12) < 6 ? 1.0f : 0.0f;
    for (std::size_t e = 0; e < soft.size(); ++e) soft[e] = static_cast<float>(e % 5) / 4.0f;
    const ilvr::ilvr_options n4{.factor = 4, .range = ilvr::conditioning_range::respaced(1)};
    const auto stages = ilvr::parse_factor_schedule("1000:500=4,500:0=2");
    // Each maker builds the conditioner for one path's network (RePaint calls it).
    const auto none = [](auto&) { return ilvr::no_conditioning{}; };
    const auto ilvr_shared = [&](auto&) { return ilvr::ilvr_conditioner(y, n4); };
    const auto ilvr_code = [&](auto&) {
        return ilvr::ilvr_conditioner(ys, {3, ilvr::kernels::lanczos3, ilvr::conditioning_range::all(),
                                           ilvr::reference_noise_level::reference_code});
    };
    const auto region = [&](auto&) { return ilvr::region_ilvr_conditioner(y, soft, {.factor = 2}); };
    const auto inpaint = [&](auto&) { return ilvr::inpaint_conditioner(ys, mask); };
    const auto repaint = [&](auto& model) {
        using M = std::remove_reference_t<decltype(model)>;
        return ilvr::repaint_conditioner<M>(model, ilvr::inpaint_conditioner(y, soft), {.jump = 2, .count = 3});
    };
    const auto colour = [&](auto&) { return ilvr::colourise_conditioner(grey); };
    const auto colour_rgb = [&](auto&) { return ilvr::colourise_conditioner(ys); };
    const auto schedule = [&](auto&) { return ilvr::factor_schedule_conditioner(y, stages); };
    const auto composed = [&](auto&) {
        return ilvr::compose(ilvr::ilvr_conditioner(y, n4), ilvr::inpaint_conditioner(ys, mask),
                             ilvr::compose(ilvr::colourise_conditioner(grey)));
    };
    const auto projected = [&](auto&) { return ilvr::final_projection(ilvr::ilvr_conditioner(y, n4), 3); };
    auto every_conditioner = [&](const auto& rule, const char* respacing, bool learned) {
        for (std::uint64_t first : {0u, 5u}) {
            INFO("first sample " << first << (learned ? ", learned range" : ""));
            CHECK(device_against_cpu(rule, respacing, shape, learned, none, first) <= run_tolerance);
            CHECK(device_against_cpu(rule, respacing, shape, learned, ilvr_shared, first) <= run_tolerance);
            CHECK(device_against_cpu(rule, respacing, shape, learned, ilvr_code, first) <= run_tolerance);
            CHECK(device_against_cpu(rule, respacing, shape, learned, region, first) <= run_tolerance);
            CHECK(device_against_cpu(rule, respacing, shape, learned, inpaint, first) <= run_tolerance);
            CHECK(device_against_cpu(rule, respacing, shape, learned, repaint, first) <= run_tolerance);
            CHECK(device_against_cpu(rule, respacing, shape, learned, colour, first) <= run_tolerance);
            CHECK(device_against_cpu(rule, respacing, shape, learned, colour_rgb, first) <= run_tolerance);
            CHECK(device_against_cpu(rule, respacing, shape, learned, schedule, first) <= run_tolerance);
            CHECK(device_against_cpu(rule, respacing, shape, learned, composed, first) <= run_tolerance);
            CHECK(device_against_cpu(rule, respacing, shape, learned, projected, first) <= run_tolerance);
        }
    };
    SECTION("ddpm, fixed and learned variance") { every_conditioner(ilvr::ddpm{}, "8", false), every_conditioner(ilvr::ddpm{}, "8", true); }
    SECTION("ddim, eta 0.5") { every_conditioner(ilvr::ddim{.eta = 0.5}, "ddim8", false); }
    SECTION("dpmpp_2m") { every_conditioner(ilvr::dpmpp_2m{}, "8", false); }
    SECTION("dpmpp_2m_sde, eta 1 and 0.5") { every_conditioner(ilvr::dpmpp_2m_sde{}, "8", false), every_conditioner(ilvr::dpmpp_2m_sde{0.5}, "8", true); }
    SECTION("heun, clipped and not") { every_conditioner(ilvr::heun{}, "6", false), every_conditioner(ilvr::heun{false, false}, "6", true); }
}

namespace {

ilvr::tensor slice(const ilvr_test::npy_array& a, std::size_t k)
{
    const ilvr::shape4 s{a.shape[1], a.shape[2], a.shape[3], a.shape[4]};
    const auto from = a.values.begin() + static_cast<std::ptrdiff_t>(k * s.size());
    return {s, std::vector<float>(from, from + static_cast<std::ptrdiff_t>(s.size()))};
}

ilvr::tensor whole(const ilvr_test::npy_array& a) { return {{a.shape[0], a.shape[1], a.shape[2], a.shape[3]}, a.floats()}; }

} // namespace

TEST_CASE("every golden ILVR trace on the device path, both noise-level modes", "[device][golden]")
{
    require_device();
    for (const auto& [id, variance] : {std::pair{"t16_s20_N4_r5_fixedsmall", ilvr::fixed_variance::small},
                                       std::pair{"t16_s20_N4_r5_fixedlarge", ilvr::fixed_variance::large}}) {
        const std::string dir = std::string("ilvr/") + id + "/";
        const auto ref = whole(ilvr_test::golden(dir + "ref"));
        const auto Z = ilvr_test::golden(dir + "Z"), E = ilvr_test::golden(dir + "E");
        const auto step_index = ilvr_test::golden(dir + "step_index").ints;
        const std::size_t steps = step_index.size();
        std::vector<ilvr::tensor> z(steps), e(steps);
        for (std::size_t k = 0; k < steps; ++k) {
            const auto i = static_cast<std::size_t>(step_index[k]);
            z[i] = slice(Z, k);
            e[i] = slice(E, k);
        }
        const ilvr::device::replay_noise replay(whole(ilvr_test::golden(dir + "x_T")), z, e);
        const auto process = ilvr::respace(linear1000(), "20");
        for (const auto& [mode, level] : {std::pair{"paper", ilvr::reference_noise_level::paper},
                                          std::pair{"ilvr_adm", ilvr::reference_noise_level::reference_code}}) {
            INFO(id << " " << mode);
            const auto X = ilvr_test::golden(dir + mode + "/X");
            const auto final_ = ilvr_test::golden(dir + mode + "/final");
            device_prior model;
            ilvr::device::tensor x(ref.shape());
            ilvr::ilvr_conditioner cond(ref, {4, ilvr::kernels::cubic, ilvr::conditioning_range::respaced(5), level});
            // 1e-5 at every step, the bound of the CPU's golden test (same reasons:
            // this library filters y_a - x' once where the reference filters both).
            double worst = 0.0;
            REQUIRE(ilvr::sampler(process, ilvr::ddpm{variance, true})
                        .run(model, replay.view(), x, cond, [&](const ilvr::step_event& ev) {
                            const auto want = slice(X, static_cast<std::size_t>(ev.step));
                            worst = std::max(worst, ilvr_test::max_abs_diff(ilvr::device::download(ev.sample).values(),
                                                                            want.values()));
                        }, ilvr::device::run_options{}));
            CHECK(worst <= 1e-5);
            REQUIRE(ilvr_test::max_abs_diff(ilvr::device::download(x).values(), final_.floats()) <= 1e-5);
        }
    }
}

namespace {

/// The message of the ilvr::error `f` throws ("" if none).
template <class F>
std::string message_of(F&& f)
{
    try {
        f();
    } catch (const ilvr::error& e) {
        return e.what();
    }
    return "";
}

/// A device network that writes NaN into its output from loop step `bad` on.
struct nan_from_step {
    int bad;
    int calls = 0;
    device_prior inner;
    ilvr::tensor_view<const float> operator()(ilvr::tensor_view<const float> x, std::span<const std::int64_t> t,
                                              ilvr::device::stream s)
    {
        auto out = inner(x, t, s);
        if (calls++ >= bad) {
            const float nan = std::numeric_limits<float>::quiet_NaN();
            ilvr::device::copy_to_device(&nan, 1, inner.out.data() + 5);
        }
        return out;
    }
};

} // namespace

TEST_CASE("device errors are the CPU path's", "[device][errors]")
{
    require_device();
    const auto process = ilvr::respace(linear1000(), "10");
    const ilvr::shape4 shape{2, 3, 8, 8};
    const ilvr::sampler cpu(process, ilvr::ddpm{});
    const ilvr::device::run_options on_device{};
    // The device run of the CPU sampler `cpu`: the same loop with device::run_options.
    auto dev_run = [&](auto& model, const auto& noise, ilvr::device::tensor& x, auto&& cond) {
        return cpu.run(model, noise, x, cond, ilvr::no_callback{}, on_device);
    };
    ilvr::tensor hx(shape);
    ilvr::device::tensor dx(shape);
    // The CPU prior with a NaN in its output from its fourth call on (each
    // section runs with a fresh one), against nan_from_step{3} on the device.
    host_prior good;
    auto cpu_nan = [&, calls = 0](ilvr::tensor_view<const float> x, std::span<const std::int64_t> t) mutable {
        auto out = good(x, t);
        if (calls++ >= 3) good.out[5] = std::numeric_limits<float>::quiet_NaN();
        return out;
    };

    SECTION("NaN from the network, named by its first step")
    {
        const std::string want = message_of([&] { cpu.run(cpu_nan, ilvr::philox_noise(1), hx); });
        REQUIRE_THAT(want, Contains("NaN or Inf at step 3"));
        nan_from_step dev_nan{3, 0, {}};
        REQUIRE(message_of([&] { dev_run(dev_nan, ilvr::device::philox_noise{1}, dx, ilvr::no_conditioning{}); }) == want);
    }
    SECTION("NaN at a solver's second call of a step: \"at step k, call c\"")
    {
        const ilvr::sampler heun_cpu(process, ilvr::heun{});
        const std::string want = message_of([&] { heun_cpu.run(cpu_nan, ilvr::philox_noise(1), hx); });
        REQUIRE_THAT(want, Contains("NaN or Inf at step 1, call 2"));
        nan_from_step dev_nan{3, 0, {}};
        REQUIRE(message_of([&] {
            heun_cpu.run(dev_nan, ilvr::device::philox_noise{1}, dx, ilvr::no_conditioning{}, ilvr::no_callback{}, on_device);
        }) == want);
    }
    SECTION("an output of the wrong shape")
    {
        auto cpu_bad = [](ilvr::tensor_view<const float> in, std::span<const std::int64_t>) {
            return ilvr::tensor({in.shape().n, 4, 8, 8});
        };
        ilvr::device::tensor wrong({2, 4, 8, 8});
        auto dev_bad = [&](ilvr::tensor_view<const float>, std::span<const std::int64_t>, ilvr::device::stream) {
            return wrong.view();
        };
        const std::string want = message_of([&] { cpu.run(cpu_bad, ilvr::philox_noise(1), hx); });
        REQUIRE_THAT(want, Contains("fits neither eps"));
        REQUIRE(message_of([&] { dev_run(dev_bad, ilvr::device::philox_noise{1}, dx, ilvr::no_conditioning{}); }) == want);
    }
    SECTION("a network that throws")
    {
        auto cpu_throws = [](ilvr::tensor_view<const float>, std::span<const std::int64_t>) -> ilvr::tensor {
            throw std::runtime_error("out of memory");
        };
        auto dev_throws = [](ilvr::tensor_view<const float>, std::span<const std::int64_t>,
                             ilvr::device::stream) -> ilvr::tensor_view<const float> {
            throw std::runtime_error("out of memory");
        };
        const std::string want = message_of([&] { cpu.run(cpu_throws, ilvr::philox_noise(1), hx); });
        REQUIRE_THAT(want, Contains("denoiser failed at step 0"));
        REQUIRE(message_of([&] { dev_run(dev_throws, ilvr::device::philox_noise{1}, dx, ilvr::no_conditioning{}); }) == want);
    }
    SECTION("bad references, factors and ranges")
    {
        host_prior cpu_model;
        device_prior dev_model;
        const ilvr::ilvr_options n2{.factor = 2};
        for (const ilvr::shape4 ref : {ilvr::shape4{1, 1, 8, 8}, ilvr::shape4{1, 3, 8, 4}, ilvr::shape4{3, 3, 8, 8}}) {
            ilvr::ilvr_conditioner c(ilvr::tensor(ref), n2);
            const std::string want = message_of([&] { cpu.run(cpu_model, ilvr::philox_noise(1), hx, c); });
            REQUIRE_THAT(want, Contains("does not fit samples"));
            ilvr::ilvr_conditioner d(ilvr::tensor(ref), n2);
            REQUIRE(message_of([&] { dev_run(dev_model, ilvr::device::philox_noise{1}, dx, d); }) == want);
        }
        const ilvr::ilvr_options nothing{.factor = 2, .range = ilvr::conditioning_range::respaced(9)};
        ilvr::ilvr_conditioner c(ilvr::tensor({1, 3, 8, 8}), nothing);
        ilvr::ilvr_conditioner d(ilvr::tensor({1, 3, 8, 8}), nothing);
        const std::string want = message_of([&] { cpu.run(cpu_model, ilvr::philox_noise(1), hx, c); });
        REQUIRE_THAT(want, Contains("leaves no step"));
        REQUIRE(message_of([&] { dev_run(dev_model, ilvr::device::philox_noise{1}, dx, d); }) == want);
        ilvr::device::tensor empty(ilvr::shape4{0, 3, 8, 8});
        REQUIRE(message_of([&] { dev_run(dev_model, ilvr::device::philox_noise{1}, empty, ilvr::no_conditioning{}); }) ==
                message_of([&] { ilvr::tensor e(ilvr::shape4{0, 3, 8, 8}); cpu.run(cpu_model, ilvr::philox_noise(1), e); }));
    }
    SECTION("a callback cancels after the same step")
    {
        device_prior model;
        int seen = 0;
        REQUIRE_FALSE(cpu.run(model, ilvr::device::philox_noise{1}, dx, ilvr::no_conditioning{},
                              [&](const ilvr::step_event& e) { return ++seen, e.step < 4; }, on_device));
        REQUIRE(seen == 5);
    }
}

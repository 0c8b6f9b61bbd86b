// Soak test (not in CI; run by scripts/soak.sh): many consecutive short ILVR
// runs in one process with the exact Gaussian denoiser and random valid
// parameters (image size, channels, factor, kernel, respacing, range, noise
// level, sampler, batch, threads). Every run's output must be finite; the
// resident set must stay flat: a leak or an ever-growing cache shows up as
// VmRSS rising from run 10 to the last run.
//
//   soak [RUNS=1000] [SEED=1]
//
// Prints the parameters every 100 runs and, at the end, VmRSS and VmHWM (peak)
// at run 10 and at the last run; exits 1 if a run fails or RSS grew by more than
// 4 MiB after run 10 (the allocator may keep a few freed pages of the largest
// run; a leak of even one small tensor per run grows far beyond that).
#include <ilvr/ilvr.hpp>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <string>
#include <vector>

namespace {

/// A field of /proc/self/status in KiB (VmRSS: resident now, VmHWM: peak).
long status_kib(const std::string& field)
{
    std::ifstream in("/proc/self/status");
    std::string line;
    while (std::getline(in, line))
        if (line.rfind(field + ":", 0) == 0) return std::stol(line.substr(field.size() + 1));
    return -1;
}

struct run_parameters {
    int size = 0, channels = 0, batch = 0, factor = 0, steps = 0, threads = 0;
    ilvr::resampling_kernel kernel = ilvr::kernels::cubic;
    ilvr::conditioning_range range = ilvr::conditioning_range::all();
    ilvr::reference_noise_level level = ilvr::reference_noise_level::paper;
    bool ddim = false;
    std::string describe() const
    {
        return std::to_string(batch) + "x" + std::to_string(channels) + "x" + std::to_string(size) + "^2 N=" +
               std::to_string(factor) + " " + std::string(kernel.name) + " steps=" + std::to_string(steps) + " " +
               range.to_string() + (ddim ? " ddim" : " ddpm") + " threads=" + std::to_string(threads);
    }
};

run_parameters draw(std::mt19937_64& rng)
{
    auto uniform = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
    const std::vector<ilvr::resampling_kernel> kernels{ilvr::kernels::cubic, ilvr::kernels::lanczos2,
                                                       ilvr::kernels::lanczos3, ilvr::kernels::linear,
                                                       ilvr::kernels::box};
    run_parameters p;
    p.size = uniform(4, 64);
    p.channels = uniform(0, 1) ? 3 : 1;
    p.batch = uniform(1, 4);
    p.factor = uniform(1, p.size);
    p.steps = uniform(2, 12);
    p.threads = uniform(1, 2);
    p.kernel = kernels[static_cast<std::size_t>(uniform(0, 4))];
    // A range holding at least one sampled timestep: tau[lo] .. tau[hi] of the respaced process.
    const auto tau = ilvr::respace_timesteps(1000, std::to_string(p.steps));
    const int hi = uniform(0, p.steps - 1), lo = uniform(0, hi);
    p.range = uniform(0, 2) == 0 ? ilvr::conditioning_range::all()
                                 : ilvr::conditioning_range::timesteps(tau[static_cast<std::size_t>(hi)] + 1,
                                                                       tau[static_cast<std::size_t>(lo)]);
    p.level = uniform(0, 1) ? ilvr::reference_noise_level::paper : ilvr::reference_noise_level::reference_code;
    p.ddim = uniform(0, 1) == 1;
    return p;
}

/// One ILVR run; returns whether every output value is finite.
bool run_once(const run_parameters& p, std::uint64_t seed)
{
    const auto process = ilvr::respace(ilvr::noise_schedule::linear(1000), std::to_string(p.steps));
    const ilvr::shape4 shape{p.batch, p.channels, p.size, p.size};
    ilvr::tensor reference({1, p.channels, p.size, p.size});
    for (std::size_t i = 0; i < reference.size(); ++i) reference[i] = std::sin(0.37f * static_cast<float>(i));
    ilvr::gaussian_prior_denoiser model(ilvr::noise_schedule::linear(1000), 0.7);
    ilvr::ilvr_conditioner conditioner(reference, {.factor = p.factor, .kernel = p.kernel, .range = p.range,
                                                   .level = p.level});
    ilvr::tensor x(shape);
    const ilvr::philox_noise noise(seed);
    const ilvr::run_options options{.first_sample = seed * 4, .threads = p.threads};
    if (p.ddim) ilvr::sampler(process, ilvr::ddim{.eta = 0.5}).run(model, noise, x, conditioner, ilvr::no_callback{}, options);
    else ilvr::sampler(process, ilvr::ddpm{}).run(model, noise, x, conditioner, ilvr::no_callback{}, options);
    for (std::size_t i = 0; i < x.size(); ++i)
        if (!std::isfinite(x[i])) return false;
    return true;
}

} // namespace

int main(int argc, char** argv)
{
    const int runs = argc > 1 ? std::atoi(argv[1]) : 1000;
    const std::uint64_t seed = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 1;
    if (runs < 10) {
        std::fprintf(stderr, "soak: RUNS must be at least 10\n");
        return 2;
    }
    std::mt19937_64 rng(seed);
    long rss10 = 0, hwm10 = 0;
    for (int run = 1; run <= runs; ++run) {
        const run_parameters p = draw(rng);
        try {
            if (!run_once(p, static_cast<std::uint64_t>(run))) {
                std::fprintf(stderr, "soak: run %d (%s): non-finite output\n", run, p.describe().c_str());
                return 1;
            }
        } catch (const std::exception& e) {
            std::fprintf(stderr, "soak: run %d (%s): %s\n", run, p.describe().c_str(), e.what());
            return 1;
        }
        if (run == 10) rss10 = status_kib("VmRSS"), hwm10 = status_kib("VmHWM");
        if (run % 100 == 0)
            std::printf("run %4d  %-60s  VmRSS %ld KiB  VmHWM %ld KiB\n", run, p.describe().c_str(),
                        status_kib("VmRSS"), status_kib("VmHWM"));
    }
    const long rss = status_kib("VmRSS"), hwm = status_kib("VmHWM");
    std::printf("run   10: VmRSS %ld KiB, VmHWM %ld KiB\nrun %4d: VmRSS %ld KiB, VmHWM %ld KiB\n", rss10, hwm10, runs,
                rss, hwm);
    const long growth = rss - rss10;
    std::printf("RSS growth after run 10: %ld KiB (limit 4096): %s\n", growth, growth <= 4096 ? "flat" : "GROWING");
    return growth <= 4096 ? 0 : 1;
}

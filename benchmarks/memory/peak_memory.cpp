// Peak memory of an ILVR sampling run with the exact Gaussian-prior denoiser:
// getrusage's ru_maxrss before anything is allocated, after the caller's own
// tensors (samples, reference) exist, and after the run. Prints one JSON object;
// sizes are also given as multiples of one image's float32 size (C x H x W x 4 bytes).
//
//   peak_memory [H W C BATCH STEPS N THREADS]     (default 1024 1024 3 1 20 8 1)
#include <ilvr/ilvr.hpp>

#include <sys/resource.h>

#include <cstdio>
#include <string>

namespace {

long max_rss_kib()
{
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    return usage.ru_maxrss;  // KiB on Linux
}

} // namespace

int main(int argc, char** argv)
{
    auto arg = [&](int i, long fallback) { return argc > i ? std::stol(argv[i]) : fallback; };
    const long h = arg(1, 1024), w = arg(2, 1024), c = arg(3, 3), batch = arg(4, 1), steps = arg(5, 20),
               factor = arg(6, 8), threads = arg(7, 1);

    const long before = max_rss_kib();
    const auto base = ilvr::noise_schedule::linear(1000);
    const ilvr::sampler sampler(ilvr::respace(base, std::to_string(steps)), ilvr::ddpm{});
    ilvr::gaussian_prior_denoiser model(base, 0.5);
    model.set_threads(static_cast<int>(threads));
    ilvr::tensor reference({1, c, h, w});
    for (std::size_t e = 0; e < reference.size(); ++e) reference[e] = static_cast<float>(e % 255) / 127.5f - 1.0f;
    ilvr::tensor x({batch, c, h, w});
    const long with_inputs = max_rss_kib();
    ilvr::ilvr_conditioner cond(std::move(reference), {.factor = static_cast<int>(factor)});
    sampler.run(model, ilvr::philox_noise(1), x, cond, ilvr::no_callback{},
                {.first_sample = 0, .threads = static_cast<int>(threads)});
    const long after = max_rss_kib();

    const double image_kib = static_cast<double>(c * h * w) * 4.0 / 1024.0;
    double checksum = 0.0;
    for (std::size_t e = 0; e < x.size(); e += 4099) checksum += x[e];
    std::printf("{\n  \"height\": %ld, \"width\": %ld, \"channels\": %ld, \"batch\": %ld, \"steps\": %ld, \"N\": %ld, "
                "\"threads\": %ld,\n",
                h, w, c, batch, steps, factor, threads);
    std::printf("  \"image_float_kib\": %.1f,\n  \"maxrss_before_kib\": %ld,\n  \"maxrss_with_inputs_kib\": %ld,\n"
                "  \"maxrss_after_kib\": %ld,\n",
                image_kib, before, with_inputs, after);
    std::printf("  \"peak_beyond_baseline_images\": %.2f,\n  \"library_beyond_inputs_images\": %.2f,\n"
                "  \"peak_beyond_baseline_per_sample_images\": %.2f,\n  \"checksum\": %.6f\n}\n",
                static_cast<double>(after - before) / image_kib, static_cast<double>(after - with_inputs) / image_kib,
                static_cast<double>(after - before) / image_kib / static_cast<double>(batch), checksum);
    return 0;
}

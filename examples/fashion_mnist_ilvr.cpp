// ILVR with the exact data-set denoiser over Fashion-MNIST: the posterior mean
// over the training images stands in for a trained network, so the samples are
// training images whose low frequencies match a test image's. Writes a grid:
// per factor N one row of reference, phi_N(reference) and the samples.
#include <ilvr/data/idx.hpp>
#include <ilvr/ilvr.hpp>
#include <ilvr/image/io.hpp>

#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include <unistd.h>

int main(int argc, char** argv)
{
    CLI::App app{"ILVR over Fashion-MNIST with the exact data-set denoiser"};
    std::string data_dir = "/usr/share/datasets/fashion-mnist", out = "out/fashion_mnist_ilvr.png";
    std::int64_t train_count = 10000;
    int reference_index = 0, samples = 6, threads = 2;
    std::string respacing = "100";
    std::vector<int> factors{2, 4, 8, 16};
    std::uint64_t seed = 1;
    app.add_option("--data", data_dir, "folder with the Fashion-MNIST IDX files")->capture_default_str();
    app.add_option("--out", out, "grid PNG to write")->capture_default_str();
    app.add_option("--train-count", train_count, "training images the denoiser knows")->capture_default_str();
    app.add_option("--reference", reference_index, "index of the test image used as reference")->capture_default_str();
    app.add_option("--factors", factors, "factors N")->capture_default_str();
    app.add_option("--samples", samples, "samples per factor")->capture_default_str()->check(CLI::PositiveNumber);
    app.add_option("--respacing", respacing, "respacing of the 1000-step process")->capture_default_str();
    app.add_option("--seed", seed, "noise seed")->capture_default_str();
    app.add_option("--threads", threads, "threads")->capture_default_str()->check(CLI::PositiveNumber);
    CLI11_PARSE(app, argc, argv);

    try {
        const std::filesystem::path dir(data_dir);
        const auto train = ilvr::load_idx_images(dir / "train-images-idx3-ubyte.gz", train_count, 32);
        const auto test = ilvr::load_idx_images(dir / "t10k-images-idx3-ubyte.gz", reference_index + 1, 32);
        const ilvr::tensor reference({1, 1, 32, 32}, std::vector<float>(test.data() + reference_index * 1024,
                                                                        test.data() + (reference_index + 1) * 1024));
        const auto base = ilvr::noise_schedule::linear(1000);
        const ilvr::sampler sampler(ilvr::respace(base, respacing), ilvr::ddpm{});
        ilvr::dataset_denoiser model(base, train, threads);
        std::printf("ILVR on Fashion-MNIST: %lld training images, test image %d, factors", (long long)train.shape().n,
                    reference_index);
        for (int n : factors) std::printf(" %d", n);
        std::printf(", %d samples each, %zu steps\n", samples, sampler.process().timesteps.size());

        std::vector<ilvr::tensor> rows;  // per factor: reference, phi_N(reference), samples
        std::vector<std::string> labels;
        const auto start = std::chrono::steady_clock::now();
        for (std::size_t f = 0; f < factors.size(); ++f) {
            const int factor = factors[f];
            ilvr::ilvr_conditioner cond(reference, {.factor = factor});
            ilvr::tensor x({samples, 1, 32, 32});
            const auto steps = static_cast<int>(sampler.process().timesteps.size());
            // Progress: rewritten in place on a terminal, every quarter as a line in a log.
            const bool terminal = isatty(fileno(stderr)) != 0;
            sampler.run(model, ilvr::philox_noise(seed), x, cond, [&](const ilvr::step_event& ev) {
                const int done = ev.step + 1;
                if (terminal ? done % 10 == 0 || done == steps : done % (steps / 4 > 0 ? steps / 4 : 1) == 0) {
                    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
                    std::fprintf(stderr, "%s  N = %-3d step %4d / %d   %.1f s elapsed%s", terminal ? "\r" : "", factor, done,
                                 steps, s, terminal ? "" : "\n");
                }
            }, {.first_sample = 0, .threads = threads});
            if (terminal) std::fprintf(stderr, "\n");
            ilvr::tensor low({1, 1, 32, 32});
            ilvr::low_pass(32, 32, factor)(reference, low);
            rows.push_back(reference);
            rows.push_back(low);
            for (int b = 0; b < samples; ++b) rows.emplace_back(ilvr::shape4{1, 1, 32, 32},
                                                                std::vector<float>(x.data() + b * 1024, x.data() + (b + 1) * 1024));
            labels.push_back("N=" + std::to_string(factor));
        }
        std::vector<ilvr::tensor_view<const float>> cells(rows.begin(), rows.end());
        std::vector<std::string> columns{"REF", "PHI(REF)"};
        for (int b = 0; b < samples; ++b) columns.push_back("#" + std::to_string(b + 1));
        const auto grid = ilvr::make_grid(cells, samples + 2, 2, labels, columns, 1);
        const std::filesystem::path out_path(out);
        if (out_path.has_parent_path()) std::filesystem::create_directories(out_path.parent_path());
        ilvr::save_png(out_path, grid);
        std::printf("wrote %s\n", std::filesystem::absolute(out_path).string().c_str());
    } catch (const std::exception& e) {
        std::fprintf(stderr, "fashion_mnist_ilvr: %s\n", e.what());
        return 1;
    }
}

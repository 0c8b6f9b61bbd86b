// The `ilvr` command-line tool (examples/ilvr_cli): option parsing and defaults,
// validation and its one-line errors, the job-global sample index and the
// batch independence of the written samples.
#include "options.hpp"
#include "run.hpp"

#include <ilvr/ilvr.hpp>
#include <ilvr/image/io.hpp>
#include <ilvr/torch/denoiser.hpp>

#include "cli_support.hpp"
#include "support/temp_folder.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <csignal>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <unistd.h>

namespace fs = std::filesystem;
using Catch::Contains;
using Catch::StartsWith;

using namespace cli_test;

namespace {

struct temp_folder : ilvr_test::temp_folder {
    temp_folder() : ilvr_test::temp_folder("test-cli") {}
};

} // namespace

TEST_CASE("cli: defaults", "[cli]")
{
    const auto o = ilvr_cli::parse({});
    CHECK(o.image_size == 32);
    CHECK(o.channels == 1);
    CHECK_FALSE(o.learn_sigma);
    CHECK(o.timesteps == 1000);
    CHECK(o.schedule == "linear");
    CHECK(o.respacing == "100");
    CHECK(o.factors == std::vector<std::string>{"4"});
    CHECK(o.range.empty());
    CHECK(o.range_t.empty());
    CHECK(o.kernel == "cubic");
    CHECK(o.noise_level == "paper");
    CHECK(o.sampler == "ddpm");
    CHECK_FALSE(o.eta.has_value());  // 0 for ddim, 1 for dpm++2m-sde
    CHECK(o.precision == "fp32");
    CHECK(o.variance == "small");
    CHECK(o.samples == 4);
    CHECK(o.batch == 8);
    CHECK(o.seed == 0);
    CHECK(o.threads == 0);
    CHECK(o.out == "out/ilvr");
    CHECK(o.grid.empty());
    CHECK_FALSE(o.quiet);
    CHECK(fs::path(o.model) == bundled("model.pt"));

    const auto p = ilvr_cli::validate(o);
    CHECK(p.model == bundled("model.pt"));
    REQUIRE(p.references.size() == 1);
    CHECK(p.references[0] == bundled("references/t10k-0000-ankle-boot.png"));
    CHECK(fs::exists(p.references[0]));
    CHECK(p.factors == std::vector<int>{4});
    CHECK(p.process.timesteps.size() == 100);
    CHECK(p.process.timesteps.back() == 999);
    CHECK(p.range.to_string() == "all steps");
    CHECK(p.kernel.name == "cubic");
    CHECK(p.level == ilvr::reference_noise_level::paper);
    CHECK_FALSE(p.ddim);
    CHECK(p.variance == ilvr::fixed_variance::small);
    CHECK(p.threads >= 1);
    CHECK(p.out == fs::path("out/ilvr"));
    CHECK(p.grid == fs::path("out/ilvr/grid.png"));
}

TEST_CASE("cli: every option", "[cli]")
{
    const std::string model = bundled("model.pt").string(), folder = bundled("references").string();
    const auto o = ilvr_cli::parse({"--model", model, "--image-size", "32", "--channels", "1", "--learn-sigma",
                                    "--timesteps", "500", "--schedule", "cosine", "--respacing", "ddim50",
                                    "--factor", "2", "--range", "500:100", "--kernel", "lanczos3", "--noise-level",
                                    "reference-code", "--sampler", "ddim", "--eta", "0.5", "--variance", "large",
                                    "--samples", "3", "--batch", "2", "--seed", "42", "--threads", "1",
                                    "--reference", folder, "--out", "somewhere", "--grid", "g/grid.png", "--quiet"});
    CHECK(o.model == model);
    CHECK(o.learn_sigma);
    CHECK(o.timesteps == 500);
    CHECK(o.schedule == "cosine");
    CHECK(o.respacing == "ddim50");
    CHECK(o.factors == std::vector<std::string>{"2"});
    CHECK(o.range == "500:100");
    CHECK(o.kernel == "lanczos3");
    CHECK(o.noise_level == "reference-code");
    CHECK(o.sampler == "ddim");
    CHECK(o.eta == 0.5);
    CHECK(o.variance == "large");
    CHECK(o.samples == 3);
    CHECK(o.batch == 2);
    CHECK(o.seed == 42);
    CHECK(o.threads == 1);
    CHECK(o.references == std::vector<std::string>{folder});
    CHECK(o.out == "somewhere");
    CHECK(o.grid == "g/grid.png");
    CHECK(o.quiet);

    const auto p = ilvr_cli::validate(o);
    CHECK(p.learn_sigma);
    CHECK(p.process.timesteps.size() == 50);
    CHECK(p.process.timesteps[1] == 10);  // ddim50 of 500: stride 10
    CHECK(p.kernel.name == "lanczos3");
    CHECK(p.level == ilvr::reference_noise_level::reference_code);
    CHECK(p.ddim);
    CHECK(p.eta == 0.5);
    CHECK(p.variance == ilvr::fixed_variance::large);
    CHECK(p.samples == 3);
    CHECK(p.batch == 2);
    CHECK(p.seed == 42);
    CHECK(p.threads == 1);
    CHECK(p.grid == fs::path("g/grid.png"));
    // 500:100 conditions tau in [100, 500): the kept steps 100 .. 490.
    CHECK(p.range.contains(10, 100));
    CHECK_FALSE(p.range.contains(9, 90));
    // The folder: all 8 bundled references, sorted by name.
    REQUIRE(p.references.size() == 8);
    CHECK(p.references.front().filename() == "t10k-0000-ankle-boot.png");
    CHECK(std::is_sorted(p.references.begin(), p.references.end()));

    // --variance and the other names, --range-t.
    const auto q = ilvr_cli::validate(ilvr_cli::parse({"--range-t", "9", "--respacing", "20", "--kernel", "box"}));
    CHECK(q.range.to_string() == "respaced steps i > 9");
    CHECK(q.kernel.name == "box");
    // dpm++2m-sde: eta 1 unless given; --precision bf16.
    const auto sde = ilvr_cli::validate(ilvr_cli::parse({"--sampler", "dpm++2m-sde", "--precision", "bf16"}));
    CHECK(sde.sampler == "dpm++2m-sde");
    CHECK(sde.eta == 1.0);
    CHECK(sde.bf16);
    CHECK(ilvr_cli::validate(ilvr_cli::parse({"--sampler", "dpm++2m-sde", "--eta", "0.25"})).eta == 0.25);
    CHECK_FALSE(ilvr_cli::validate(ilvr_cli::parse({})).bf16);
    CHECK(ilvr_cli::validate(ilvr_cli::parse({"--final-projection", "20"})).final_projection == 20);
    CHECK(ilvr_cli::validate(ilvr_cli::parse({})).final_projection == 0);
    // Positional references come after --reference ones.
    const auto r = ilvr_cli::parse({(bundled("references") / "t10k-0002-trouser.png").string(), "--reference",
                                    (bundled("references") / "t10k-0001-pullover.png").string()});
    const auto rp = ilvr_cli::validate(r);
    REQUIRE(rp.references.size() == 2);
    CHECK(rp.references[0].filename() == "t10k-0001-pullover.png");
    CHECK(rp.references[1].filename() == "t10k-0002-trouser.png");
}

TEST_CASE("cli: a factor sweep by repetition and comma lists", "[cli]")
{
    const auto o = ilvr_cli::parse({"--factor", "2,4", "--factor", "8", "--factor=16"});
    CHECK(o.factors == std::vector<std::string>{"2,4", "8", "16"});  // split by validate()
    const auto p = ilvr_cli::validate(o);
    CHECK(p.factors == std::vector<int>{2, 4, 8, 16});
    // The job-global sample index: ((reference * factors) + factor) * samples + k.
    CHECK(p.sample_index(0, 0, 0) == 0);
    CHECK(p.sample_index(0, 2, 1) == 2 * 4 + 1);
    CHECK(p.sample_index(1, 0, 3) == (1 * 4 + 0) * 4 + 3);
}

TEST_CASE("cli: --range 1000:200 is --range-t 19 with the default respacing (docs/tool.md)", "[cli]")
{
    const auto a = ilvr_cli::validate(ilvr_cli::parse({"--range", "1000:200"}));
    const auto b = ilvr_cli::validate(ilvr_cli::parse({"--range-t", "19"}));
    int conditioned = 0;
    for (int i = 0; i < 100; ++i) {
        const int tau = a.process.timesteps[static_cast<std::size_t>(i)];
        CHECK(a.range.contains(i, tau) == b.range.contains(i, tau));
        conditioned += a.range.contains(i, tau) ? 1 : 0;
    }
    CHECK(conditioned == 80);
    const auto all = ilvr_cli::validate(ilvr_cli::parse({"--range", "1000:0"}));
    for (int i = 0; i < 100; ++i) CHECK(all.range.contains(i, all.process.timesteps[static_cast<std::size_t>(i)]));
}

TEST_CASE("cli: --range and --range-t are mutually exclusive", "[cli]")
{
    CHECK_THROWS_AS(ilvr_cli::parse({"--range", "1000:200", "--range-t", "10"}), CLI::ExcludesError);
    require_one_line_error(run_cli({"--range", "1000:200", "--range-t", "10"}), "excludes", true);
    // Set directly (bypassing CLI11), validation refuses it too.
    ilvr_cli::options o;
    o.range = "1000:200", o.range_t = "10";
    CHECK_THROWS_WITH(ilvr_cli::validate(o), Contains("mutually exclusive"));
}

TEST_CASE("cli: usage errors and --help", "[cli]")
{
    require_one_line_error(run_cli({"--no-such-option"}), "no-such-option", true);
    require_one_line_error(run_cli({"--samples", "many"}), "many", true);
    const auto help = run_cli({"--help"});
    CHECK(help.code == 0);
    CHECK_THAT(help.out, Contains("--factor") && Contains("--range-t") && Contains("--noise-level"));
}

TEST_CASE("cli: bad inputs give one line and exit code 2 before anything is loaded", "[cli]")
{
    temp_folder tmp;
    const std::string out = (tmp / "out").string();
    auto run = [&](std::vector<std::string> args) {
        args.insert(args.end(), {"--out", out, "--quiet"});
        return run_cli(args);
    };
    SECTION("missing model file")
    {
        require_one_line_error(run({"--model", (tmp / "absent.pt").string()}), "absent.pt': no such file");
    }
    SECTION("bad factors")
    {
        require_one_line_error(run({"--factor", "0"}), "--factor 0: must be between 1 and the image size 32");
        require_one_line_error(run({"--factor", "-2"}), "--factor -2");
        require_one_line_error(run({"--factor", "64"}), "--factor 64: must be between 1 and the image size 32");
        require_one_line_error(run({"--factor", "4,x"}), "--factor 'x': not an integer");
        require_one_line_error(run({"--factor", "4,4"}), "given twice");
    }
    SECTION("bad ranges")
    {
        require_one_line_error(run({"--range", "200:1000"}), "empty or inverted");
        require_one_line_error(run({"--range", "500:500"}), "empty or inverted");
        require_one_line_error(run({"--range", "garbage"}), "is not 'from:to'");
        require_one_line_error(run({"--range", "1000:"}), "is not 'from:to'");
        require_one_line_error(run({"--range", "2000:200"}), "exceeds the model's T = 1000");
        require_one_line_error(run({"--range", "5:1", "--respacing", "10"}), "contains none of the sampled");
        require_one_line_error(run({"--range-t", "99"}), "leaves no step to condition among 100");
        require_one_line_error(run({"--range-t", "-5"}), "must be >= -1");
        require_one_line_error(run({"--range-t", "ten"}), "--range-t 'ten': not an integer");
    }
    SECTION("unknown names and bad respacing")
    {
        require_one_line_error(run({"--kernel", "gauss"}), "unknown resampling kernel 'gauss'");
        require_one_line_error(run({"--schedule", "sigmoid"}), "--schedule 'sigmoid': unknown schedule");
        require_one_line_error(run({"--noise-level", "t"}), "--noise-level 't'");
        require_one_line_error(run({"--sampler", "euler"}), "--sampler 'euler'");
        require_one_line_error(run({"--variance", "medium"}), "--variance 'medium'");
        require_one_line_error(run({"--eta", "0.5"}), "--eta applies to --sampler ddim and dpm++2m-sde only");
        require_one_line_error(run({"--sampler", "dpm++2m-sde", "--eta", "-1"}), "--eta -1");
        require_one_line_error(run({"--precision", "fp16"}), "--precision 'fp16': expected fp32 or bf16");
        require_one_line_error(run({"--final-projection", "-1"}), "--final-projection -1: must be 0 .. 1000");
        require_one_line_error(run({"--final-projection", "5", "--unconditional"}),
                               "--final-projection applies to ILVR at fixed factors");
        require_one_line_error(run({"--respacing", "0"}), "--respacing: respacing '0'");
        require_one_line_error(run({"--respacing", "abc"}), "not an integer count");
        require_one_line_error(run({"--respacing", "2000"}), "cannot keep 2000");
        require_one_line_error(run({"--respacing", "ddim999"}), "no integer stride");
    }
    SECTION("devices")
    {
        require_one_line_error(run({"--device", "tpu"}), "--device 'tpu': expected cpu or cuda");
#ifndef ILVR_CLI_CUDA
        require_one_line_error(run({"--device", "cuda"}), "--device cuda: this ilvr was built without the CUDA backend");
#else
        require_one_line_error(run({"--precision", "bf16", "--device", "cuda"}), "--precision bf16 runs on the CPU only");
#endif
    }
    SECTION("bad counts")
    {
        require_one_line_error(run({"--samples", "0"}), "--samples 0: must be at least 1");
        require_one_line_error(run({"--batch", "0"}), "--batch 0: must be at least 1");
        require_one_line_error(run({"--channels", "2"}), "--channels 2: must be 1 or 3");
        require_one_line_error(run({"--timesteps", "1"}), "--timesteps 1");
    }
    SECTION("missing references, empty folders, clashing names")
    {
        require_one_line_error(run({(tmp / "nothing.png").string()}), "nothing.png': no such file or folder");
        fs::create_directories(tmp / "empty");
        std::ofstream(tmp / "empty" / "notes.txt") << "not an image";
        require_one_line_error(run({"--reference", (tmp / "empty").string()}), "holds no .png, .jpg or .jpeg");
        fs::create_directories(tmp / "a");
        fs::copy_file(bundled("references/t10k-0002-trouser.png"), tmp / "a" / "t10k-0002-trouser.png");
        require_one_line_error(run({(tmp / "a").string(), bundled("references").string()}), "same name");
    }
    SECTION("an output folder that is a file")
    {
        std::ofstream(tmp / "file") << "x";
        require_one_line_error(run_cli({"--out", (tmp / "file").string()}), "exists and is not a folder");
    }
    CHECK_FALSE(fs::exists(out));  // nothing was written
}

TEST_CASE("cli: unreadable inputs are reported before sampling", "[cli]")
{
    temp_folder tmp;
    const std::string out = (tmp / "out").string();
    auto run = [&](std::vector<std::string> args) {
        args.insert(args.end(), {"--out", out, "--quiet", "--respacing", "3", "--samples", "1", "--threads", "1"});
        return run_cli(args);
    };
    SECTION("a corrupt reference")
    {
        std::ofstream(tmp / "broken.png", std::ios::binary) << "\x89PNG\r\n\x1a\n garbage";
        require_one_line_error(run({(tmp / "broken.png").string()}), "broken.png");
    }
    SECTION("a truncated reference")
    {
        const std::string bytes = read_bytes(bundled("references/t10k-0000-ankle-boot.png"));
        std::ofstream(tmp / "cut.png", std::ios::binary) << bytes.substr(0, bytes.size() / 2);
        require_one_line_error(run({(tmp / "cut.png").string()}), "cut.png");
    }
    SECTION("a file that is not TorchScript")
    {
        std::ofstream(tmp / "model.pt") << "not a model";
        require_one_line_error(run({"--model", (tmp / "model.pt").string()}), "cannot load");
    }
    SECTION("a model whose output shape does not fit")
    {
        save_module(tmp / "wide.pt", "def forward(self, x, t):\n    return torch.cat([x, x, x], 1)\n");
        require_one_line_error(run({"--model", (tmp / "wide.pt").string()}), "fits neither eps");
    }
    SECTION("an eps model with --learn-sigma, an eps+v model without it")
    {
        save_module(tmp / "eps.pt", elementwise_eps);
        require_one_line_error(run({"--model", (tmp / "eps.pt").string(), "--learn-sigma"}), "expected eps and v");
        save_module(tmp / "epsv.pt", "def forward(self, x, t):\n    return torch.cat([x * 0.1, x * 0.0], 1)\n");
        require_one_line_error(run({"--model", (tmp / "epsv.pt").string()}), "expected eps [1, 1, 32, 32]");
    }
    SECTION("a model for another image size")
    {
        save_module(tmp / "small.pt", "def forward(self, x, t):\n    return x[:, :, :16, :16]\n");
        require_one_line_error(run({"--model", (tmp / "small.pt").string()}), "fits neither eps");
    }
    CHECK_FALSE(fs::exists(tmp / "out" / "grid.png"));
}

TEST_CASE("cli: writes the layout, and sample k uses the job-global index", "[cli]")
{
    temp_folder tmp;
    save_module(tmp / "eps.pt", elementwise_eps);
    const fs::path out = tmp / "out";
    const auto r = run_cli({"--model", (tmp / "eps.pt").string(), "--respacing", "6", "--samples", "3", "--factor",
                            "2,8", "--range", "1000:300", "--seed", "7", "--batch", "2", "--threads", "1", "--out",
                            out.string(), bundled("references/t10k-0001-pullover.png").string(),
                            bundled("references/t10k-0002-trouser.png").string()});
    INFO(r.err);
    REQUIRE(r.code == 0);
    CHECK_THAT(r.out, Contains("grid: " + (out / "grid.png").string()) && Contains("samples: " + out.string()));
    CHECK_THAT(r.err, Contains("100%"));
    std::vector<fs::path> expected{"grid.png"};
    for (const char* stem : {"t10k-0001-pullover", "t10k-0002-trouser"})
        for (const char* n : {"N2", "N8"})
            for (int k = 0; k < 3; ++k) expected.push_back(fs::path(stem) / n / ("sample-" + std::to_string(k) + ".png"));
    std::sort(expected.begin(), expected.end());
    CHECK(files_under(out) == expected);
    const auto grid = ilvr::load_image(out / "grid.png", 1);
    CHECK(grid.shape().h > 4 * 32);
    CHECK(grid.shape().w > 5 * 32);

    // Sample k = 1 of reference 1 at factor 8 (f = 1) is job sample ((1*2)+1)*3+1 = 10:
    // the library, run alone with first_sample = 10, draws the same image.
    ilvr::torch::module_denoiser model(tmp / "eps.pt", {.threads = 1});
    const auto reference = ilvr::prepare_reference(ilvr::load_image(bundled("references/t10k-0002-trouser.png"), 1), 32);
    const ilvr::sampler sampler(ilvr::respace(ilvr::noise_schedule::linear(1000), "6"), ilvr::ddpm{});
    ilvr::ilvr_conditioner cond(reference, {.factor = 8, .range = ilvr::conditioning_range::parse("1000:300")});
    ilvr::tensor x({1, 1, 32, 32});
    sampler.run(model, ilvr::philox_noise(7), x, cond, ilvr::no_callback{}, {.first_sample = 10, .threads = 1});
    ilvr::save_png(tmp / "alone.png", x);
    CHECK(read_bytes(tmp / "alone.png") == read_bytes(out / "t10k-0002-trouser" / "N8" / "sample-1.png"));
}

TEST_CASE("cli: --unconditional samples without a reference, keyed by k alone", "[cli]")
{
    temp_folder tmp;
    save_module(tmp / "eps.pt", elementwise_eps);
    const fs::path out = tmp / "out";
    const auto r = run_cli({"--model", (tmp / "eps.pt").string(), "--unconditional", "--respacing", "5", "--samples",
                            "3", "--batch", "2", "--seed", "3", "--threads", "1", "--out", out.string()});
    INFO(r.err);
    REQUIRE(r.code == 0);
    CHECK_THAT(r.err, Contains("3 unconditional sample(s)"));
    CHECK(files_under(out) == std::vector<fs::path>{"grid.png", "unconditional/sample-0.png",
                                                    "unconditional/sample-1.png", "unconditional/sample-2.png"});
    // Sample 2 is the library's unconditional sample with first_sample = 2.
    ilvr::torch::module_denoiser model(tmp / "eps.pt", {.threads = 1});
    const ilvr::sampler sampler(ilvr::respace(ilvr::noise_schedule::linear(1000), "5"), ilvr::ddpm{});
    ilvr::no_conditioning none;
    ilvr::tensor x({1, 1, 32, 32});
    sampler.run(model, ilvr::philox_noise(3), x, none, ilvr::no_callback{}, {.first_sample = 2, .threads = 1});
    ilvr::save_png(tmp / "alone.png", x);
    CHECK(read_bytes(tmp / "alone.png") == read_bytes(out / "unconditional" / "sample-2.png"));

    // It excludes everything that belongs to conditioning.
    const std::string model_path = (tmp / "eps.pt").string();
    require_one_line_error(run_cli({"--model", model_path, "--unconditional", "--factor", "2"}), "--factor", true);
    require_one_line_error(run_cli({"--model", model_path, "--unconditional", "--range", "1000:200"}), "--range",
                           true);
    require_one_line_error(
        run_cli({"--model", model_path, "--unconditional", bundled("references/t10k-0001-pullover.png").string()}),
        "reference", true);
}

TEST_CASE("cli: --batch 1 and --batch 4 write byte-identical samples (batch-invariant model)", "[cli]")
{
    temp_folder tmp;
    save_module(tmp / "eps.pt", elementwise_eps);
    auto job = [&](const std::string& batch) {
        const fs::path out = tmp / ("batch" + batch);
        const auto r = run_cli({"--model", (tmp / "eps.pt").string(), "--respacing", "8", "--samples", "5",
                                "--factor", "4,8", "--batch", batch, "--threads", "1", "--quiet", "--out",
                                out.string(), bundled("references").string()});
        REQUIRE(r.code == 0);
        return out;
    };
    const fs::path a = job("1"), b = job("4");
    const auto files = files_under(a);
    REQUIRE(files.size() == 8 * 2 * 5 + 1);
    REQUIRE(files == files_under(b));
    for (const auto& f : files) {
        INFO(f);
        CHECK(read_bytes(a / f) == read_bytes(b / f));
    }
}

TEST_CASE("cli: batches are filled across references", "[cli]")
{
    // One sample of each of the 8 bundled references at one factor: with --batch 8
    // a single batch (5 network calls for 5 steps), not 8 batches of one.
    temp_folder tmp;
    save_module(tmp / "eps.pt", elementwise_eps);
    const auto r = run_cli({"--model", (tmp / "eps.pt").string(), "--respacing", "5", "--samples", "1", "--batch", "8",
                            "--threads", "1", "--out", (tmp / "out").string(), bundled("references").string()});
    INFO(r.err);
    REQUIRE(r.code == 0);
    CHECK_THAT(r.err, Contains("100% | 5/5 steps") && Contains("sampled 8 image(s)"));
    CHECK(files_under(tmp / "out").size() == 8 + 1);
}

TEST_CASE("cli: the bundled model with --batch 1 and --batch 4", "[cli][model]")
{
    // A real network's float rounding can depend on the batch size (BLAS picks
    // other kernels), so bitwise identity is not promised here: the noise is the
    // same, and the pixels agree to within a level or two.
    if (!fs::exists(bundled("model.pt"))) {
        WARN("no bundled model: skipped");
        return;
    }
    temp_folder tmp;
    fs::copy_file(bundled("model.pt"), tmp / "model.pt");  // training may refresh the original meanwhile
    auto job = [&](const std::string& batch) {
        const fs::path out = tmp / ("batch" + batch);
        const auto r = run_cli({"--model", (tmp / "model.pt").string(), "--respacing", "5", "--samples", "2",
                                "--factor", "4,8", "--batch", batch, "--threads", "1", "--quiet", "--out",
                                out.string()});
        INFO(r.err);
        REQUIRE(r.code == 0);
        return out;
    };
    const fs::path a = job("1"), b = job("4");
    const auto files = files_under(a);
    REQUIRE(files.size() == 2 * 2 + 1);
    REQUIRE(files == files_under(b));
    int identical = 0;
    for (const auto& f : files) {
        if (f == "grid.png") continue;
        const auto x = ilvr::load_image(a / f, 1), y = ilvr::load_image(b / f, 1);
        float worst = 0;
        for (std::size_t e = 0; e < x.size(); ++e) worst = std::max(worst, std::abs(x[e] - y[e]));
        CHECK(worst <= 2.5f / 127.5f);  // at most 2 levels of 255
        identical += read_bytes(a / f) == read_bytes(b / f) ? 1 : 0;
    }
    WARN(identical << " of 4 samples byte-identical");
}

TEST_CASE("cli: progress lines", "[cli]")
{
    SECTION("not a terminal: one line per 10 %")
    {
        std::ostringstream err;
        ilvr_cli::progress bar(err, false, true, 25);
        for (int i = 0; i < 25; ++i) bar.step();
        const std::string text = err.str();
        CHECK(std::count(text.begin(), text.end(), '\n') == 10);
        CHECK(text.find('\r') == std::string::npos);
        CHECK_THAT(text, Contains("ilvr:  12% | 3/25 steps") && Contains("ilvr: 100% | 25/25 steps") &&
                             Contains("steps/s") && Contains("elapsed") && Contains("left"));
    }
    SECTION("a terminal: one line rewritten in place, ended at 100 %")
    {
        std::ostringstream err;
        ilvr_cli::progress bar(err, true, true, 4);
        for (int i = 0; i < 4; ++i) bar.step();
        const std::string text = err.str();
        CHECK(text.front() == '\r');
        CHECK(std::count(text.begin(), text.end(), '\n') == 1);
        CHECK(text.back() == '\n');
        CHECK_THAT(text, Contains("100% | 4/4 steps"));
    }
    SECTION("quiet: nothing")
    {
        std::ostringstream err;
        ilvr_cli::progress bar(err, false, false, 4);
        for (int i = 0; i < 4; ++i) bar.step();
        CHECK(err.str().empty());
    }
    CHECK(ilvr_cli::format_duration(59.4) == "0:59");
    CHECK(ilvr_cli::format_duration(3725) == "1:02:05");
}

TEST_CASE("cli: shards together, and an interrupted run resumed, write exactly the whole job's samples", "[cli]")
{
    temp_folder tmp;
    save_module(tmp / "eps.pt", elementwise_eps);
    auto job = [&](const fs::path& out, std::vector<std::string> extra) {
        std::vector<std::string> args{"--model", (tmp / "eps.pt").string(), "--respacing", "6", "--samples", "3",
                                      "--factor", "4,8", "--batch", "2", "--threads", "1", "--quiet", "--out",
                                      out.string(), bundled("references").string()};
        args.insert(args.end(), extra.begin(), extra.end());
        return run_cli(args);
    };
    const fs::path whole = tmp / "whole", sharded = tmp / "sharded", resumed = tmp / "resumed";
    REQUIRE(job(whole, {}).code == 0);
    const auto files = files_under(whole);
    REQUIRE(files.size() == 8 * 2 * 3 + 1);

    // Three shards, then a --resume that only assembles the grid.
    for (const char* shard : {"0/3", "1/3", "2/3"}) REQUIRE(job(sharded, {"--shard", shard}).code == 0);
    REQUIRE_FALSE(fs::exists(sharded / "grid.png"));
    REQUIRE(job(sharded, {"--resume"}).code == 0);

    // Interrupted before its first step: exit 128 + SIGTERM, nothing partial; then
    // some samples written, others missing; --resume completes the job.
    ilvr_cli::stop_signal = SIGTERM;
    const auto stopped = job(resumed, {});
    ilvr_cli::stop_signal = 0;
    CHECK(stopped.code == 128 + SIGTERM);
    CHECK(stopped.err.find("--resume continues") != std::string::npos);
    if (fs::exists(resumed))
        for (const auto& f : files_under(resumed)) CHECK(f.extension() != ".png");
    REQUIRE(job(resumed, {"--shard", "1/2"}).code == 0);
    fs::remove(resumed / "t10k-0001-pullover" / "N8" / "sample-1.png");
    REQUIRE(job(resumed, {"--resume"}).code == 0);

    const auto all_files = files_under(whole, true);  // with the manifest and the lock file
    REQUIRE(all_files.size() == files.size() + 2);
    for (const fs::path& out : {sharded, resumed}) {
        REQUIRE(files_under(out, true) == all_files);
        for (const auto& f : all_files) {
            INFO(out / f);
            CHECK(job_bytes(out / f) == job_bytes(whole / f));
        }
    }
    CHECK(job(tmp / "bad", {"--shard", "3/3"}).code == 2);
    CHECK(job(tmp / "bad", {"--shard", "x"}).code == 2);
}

TEST_CASE("cli: --mask, --repaint, --colourise and --factor-schedule write one row each", "[cli][conditioner]")
{
    temp_folder tmp;
    save_module(tmp / "eps.pt", elementwise_eps);
    const std::string model = (tmp / "eps.pt").string();
    const fs::path ref = bundled("references/t10k-0001-pullover.png");
    auto run = [&](const std::string& name, std::vector<std::string> args) {
        args.insert(args.end(), {"--model", model, "--respacing", "10", "--samples", "2", "--threads", "1", "--quiet",
                                 "--out", (tmp / name).string()});
        const auto r = run_cli(args);
        INFO(r.err);
        REQUIRE(r.code == 0);
        return tmp / name;
    };
    // A mask: the left half known (white).
    ilvr::tensor mask_image({1, 1, 32, 32});
    for (std::size_t e = 0; e < mask_image.size(); ++e) mask_image[e] = e % 32 < 16 ? 1.0f : -1.0f;
    ilvr::save_png(tmp / "mask.png", mask_image);
    const auto reference = ilvr::prepare_reference(ilvr::load_image(ref, 1), 32);
    ilvr::save_png(tmp / "reference.png", reference);
    const auto ref_u8 = ilvr::load_image(tmp / "reference.png", 1);

    SECTION("--mask: the known half is the reference, byte for byte; --repaint changes the rest")
    {
        const auto out = run("inpaint", {"--mask", (tmp / "mask.png").string(), ref.string()});
        const auto repainted = run("repaint", {"--mask", (tmp / "mask.png").string(), "--repaint", "3,3", ref.string()});
        for (int k = 0; k < 2; ++k) {
            const fs::path file = fs::path("t10k-0001-pullover") / "inpaint" / ("sample-" + std::to_string(k) + ".png");
            const auto a = ilvr::load_image(out / file, 1), b = ilvr::load_image(repainted / file, 1);
            bool free_differs = false;
            for (std::size_t e = 0; e < a.size(); ++e) {
                if (e % 32 < 16) {
                    REQUIRE(a[e] == ref_u8[e]);
                    REQUIRE(b[e] == ref_u8[e]);
                } else {
                    free_differs |= a[e] != b[e];
                }
            }
            CHECK(free_differs);
        }
        CHECK(fs::exists(out / "grid.png"));
    }
    SECTION("--factor-schedule: a one-stage schedule is --factor, byte for byte")
    {
        const auto scheduled = run("schedule", {"--factor-schedule", "1000:0=4", ref.string()});
        const auto fixed = run("fixed", {ref.string(), "--factor", "4"});
        for (int k = 0; k < 2; ++k) {
            const std::string sample = "sample-" + std::to_string(k) + ".png";
            CHECK(read_bytes(scheduled / "t10k-0001-pullover" / "schedule" / sample)
                  == read_bytes(fixed / "t10k-0001-pullover" / "N4" / sample));
        }
        run("coarse-to-fine", {"--factor-schedule", "1000:600=16,600:300=8,300:0=4", ref.string()});
    }
    SECTION("--colourise: a 3-channel model's samples have the reference's luma")
    {
        const fs::path colour = fs::path(ILVR_SOURCE_DIR) / "docs" / "images" / "inputs" / "drawing-tshirt.png";
        const auto out = run("colourise", {"--colourise", "--channels", "3", colour.string()});
        const auto y = ilvr::prepare_reference(ilvr::load_image(colour, 3), 32);
        for (int k = 0; k < 2; ++k) {
            const auto x = ilvr::load_image(out / "drawing-tshirt" / "colourise" / ("sample-" + std::to_string(k) + ".png"), 3);
            double worst = 0;
            int checked = 0;
            for (std::size_t p = 0; p < 1024; ++p) {
                auto luma = [&](const ilvr::tensor& t) { return 0.299 * t[p] + 0.587 * t[1024 + p] + 0.114 * t[2048 + p]; };
                bool clamped = false;  // the PNG clamps to [-1, 1]: such pixels lost their luma there
                for (int c = 0; c < 3; ++c) clamped |= std::abs(x[static_cast<std::size_t>(c) * 1024 + p]) >= 1.0f;
                if (clamped) continue;
                ++checked;
                worst = std::max(worst, std::abs(luma(x) - luma(y)));
            }
            // Exact in float; the PNG's rounding moves each channel by <= 1/255 in [0, 1], i.e.
            // 1/127.5 = 0.0078 in [-1, 1], and the luma, a convex combination, by as much.
            INFO("worst luma difference " << worst << " over " << checked << " unclamped pixels");
            CHECK(checked >= 100);
            CHECK(worst <= 0.0079);
        }
    }
    SECTION("errors")
    {
        auto error = [&](std::vector<std::string> args, const std::string& part) {
            args.insert(args.end(), {"--model", model, "--quiet", "--out", (tmp / "bad").string()});
            require_one_line_error(run_cli(args), part, part.find("excludes") != std::string::npos
                                                            || part.find("requires") != std::string::npos);
        };
        error({"--colourise"}, "--colourise needs a 3-channel model");
        error({"--repaint", "3,2"}, "--repaint requires --mask");
        error({"--mask", (tmp / "mask.png").string(), "--repaint", "0,2"}, "--repaint '0,2': expected J,R");
        error({"--mask", (tmp / "absent.png").string()}, "--mask '");
        error({"--mask", (tmp / "mask.png").string(), "--factor", "2"}, "excludes");
        error({"--factor-schedule", "1000:400=4,500:0=2"}, "stages overlap at timestep");
        error({"--factor-schedule", "1000:0=64"}, "factor 64 must be between 1 and the image size 32");
        error({"--factor-schedule", "1000:0"}, "is not 'FROM:TO=N'");
        ilvr::save_png(tmp / "small.png", ilvr::tensor({1, 1, 16, 16}));
        error({"--mask", (tmp / "small.png").string()}, "is 16 x 16, the model's images are 32 x 32");
        CHECK_FALSE(fs::exists(tmp / "bad"));
    }
}

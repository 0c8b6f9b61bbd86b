// The `ilvr` tool under hostile input, round 2 (issue "hostile input, round 2"):
// temporaries that cannot be planted, outputs that never coincide with inputs,
// self-described models checked against their output, bounded decoding of
// metadata and manifests, control characters escaped, manifest values that
// stay values, a lock that notices its removal, the shard count as part of the
// job, exact environment numbers, and the rough edges (empty values, the
// linear schedule's T, metadata named as such, a mask's alpha, options without
// effect). Fast: an elementwise TorchScript model, a few steps.
#include "options.hpp"
#include "run.hpp"

#include <ilvr/image/io.hpp>

#include "cli_support.hpp"
#include "support/temp_folder.hpp"

#include <catch2/catch.hpp>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <unistd.h>

namespace fs = std::filesystem;
using Catch::Contains;

using namespace cli_test;

namespace {

struct temp_folder : ilvr_test::temp_folder {
    temp_folder() : ilvr_test::temp_folder("test-hostile-files") {}
};

const fs::path pullover = bundled("references/t10k-0001-pullover.png");

/// The arguments of a small job on `model` into `out`, then `extra`.
std::vector<std::string> small_args(const fs::path& model, const fs::path& out, const std::vector<std::string>& extra = {})
{
    std::vector<std::string> a{"--model", model.string(), "--quiet", "--out", out.string(), "--respacing", "4",
                               "--samples", "2", "--threads", "1"};
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
}

/// An ilvr.json for a 32 x 32 one-channel model.
std::string metadata(bool learn_sigma, const std::string& more = "")
{
    return std::string(R"({"format": "ilvr-model-1", "image_size": 32, "channels": 1, "learn_sigma": )") +
           (learn_sigma ? "true" : "false") + more + "}";
}

/// A 32 x 32 grey+alpha PNG: white everywhere, transparent where x >= 16.
void save_half_transparent_mask(const fs::path& file)
{
    std::vector<unsigned char> pixels;
    for (int y = 0; y < 32; ++y)
        for (int x = 0; x < 32; ++x) pixels.insert(pixels.end(), {255, static_cast<unsigned char>(x < 16 ? 255 : 0)});
    REQUIRE(stbi_write_png(file.c_str(), 32, 32, 2, pixels.data(), 64) != 0);
}

} // namespace

TEST_CASE("hostile files: temporaries are created exclusively, under names no one can plant", "[cli][hostile]")
{
    temp_folder tmp;
    const fs::path model = tmp / "eps.pt", out = tmp / "out";
    save_module(model, elementwise_eps);
    std::ofstream(tmp / "victim") << "outside --out";
    // The names the tool used to write through (<name>.tmp-<pid>-<n>, n counting
    // from 0 in this process): links planted at each of the first 4000.
    const fs::path folder = out / "t10k-0001-pullover" / "N4";
    fs::create_directories(folder);
    for (int n = 0; n < 4000; ++n)
        for (const fs::path& target : {folder / "sample-0.png", out / "grid.png"})
            fs::create_symlink(tmp / "victim", target.string() + ".tmp-" + std::to_string(::getpid()) + "-" +
                                                   std::to_string(n));
    const auto r = run_cli(small_args(model, out, {pullover.string()}));
    INFO(r.err);
    REQUIRE(r.code == 0);
    CHECK(read_bytes(tmp / "victim") == "outside --out");
    CHECK(fs::is_regular_file(fs::symlink_status(folder / "sample-0.png")));
    CHECK(fs::is_regular_file(fs::symlink_status(out / "grid.png")));

    // The library's writer: a fresh unguessable name each time, never an existing one.
    const auto a = ilvr::detail::temporary_name(tmp / "x.png"), b = ilvr::detail::temporary_name(tmp / "x.png");
    CHECK(a != b);
    CHECK(a.string().size() == (tmp / "x.png").string().size() + 5 + std::to_string(::getpid()).size() + 1 + 16);
    CHECK(ilvr::detail::write_file_atomically(tmp / "y", "new", "test"));
    CHECK_FALSE(ilvr::detail::write_file_atomically(tmp / "y", "other", "test", false));  // exists: not replaced
    CHECK(read_bytes(tmp / "y") == "new");
}

TEST_CASE("hostile files: no output coincides with an input of the job", "[cli][hostile]")
{
    temp_folder tmp;
    const fs::path model = tmp / "eps.pt", out = tmp / "out";
    save_module(model, elementwise_eps);
    fs::copy_file(bundled("../../docs/images/inputs/mask-centre.png"), tmp / "mask.png");
    const std::string mask_bytes = read_bytes(tmp / "mask.png");
    // --grid at the mask, or at a hard link of the reference (the same file under another name).
    require_one_line_error(run_cli(small_args(model, out, {"--mask", (tmp / "mask.png").string(), "--grid",
                                                           (tmp / "mask.png").string(), pullover.string()})),
                           "is the --mask");
    fs::copy_file(pullover, tmp / "ref.png");
    fs::create_hard_link(tmp / "ref.png", tmp / "also-ref.png");
    require_one_line_error(run_cli(small_args(model, out, {"--grid", (tmp / "also-ref.png").string(),
                                                           (tmp / "ref.png").string()})),
                           "is the reference");
    // A mask (or the model) lying at one of the job's sample paths would be removed by the takeover.
    const fs::path sample = out / "ref" / "inpaint" / "sample-0.png";
    fs::create_directories(sample.parent_path());
    fs::copy_file(tmp / "mask.png", sample);
    require_one_line_error(run_cli(small_args(model, out, {"--mask", sample.string(), (tmp / "ref.png").string()})),
                           "--mask '" + sample.string() + "' is a sample of this job");
    const fs::path sample_model = out / "ref" / "N4" / "sample-1.png";
    fs::create_directories(sample_model.parent_path());
    fs::copy_file(model, sample_model);
    require_one_line_error(run_cli(small_args(sample_model, out, {(tmp / "ref.png").string()})),
                           "model file is a sample of this job");
    CHECK(read_bytes(sample) == mask_bytes);
    CHECK(read_bytes(tmp / "mask.png") == mask_bytes);
    CHECK(fs::exists(sample_model));
}

TEST_CASE("hostile files: a self-described model is checked against its first output", "[cli][hostile]")
{
    temp_folder tmp;
    const fs::path out = tmp / "out";
    // The metadata says eps and v; the network returns eps only.
    save_module(tmp / "claims-sigma.pt", elementwise_eps, metadata(true));
    require_one_line_error(run_cli(small_args(tmp / "claims-sigma.pt", out, {pullover.string()})),
                           "but learn_sigma is true (eps and v expected, from the model's metadata ilvr.json");
    // The reverse: eps and v from a model whose metadata says eps only.
    save_module(tmp / "hides-sigma.pt", "def forward(self, x, t):\n    return torch.cat([x * 0.1, x * 0.0], 1)\n",
                metadata(false));
    require_one_line_error(run_cli(small_args(tmp / "hides-sigma.pt", out, {pullover.string()})),
                           "but learn_sigma is false (eps only expected");
    CHECK_FALSE(fs::exists(out / "t10k-0001-pullover" / "N4" / "sample-0.png"));
}

TEST_CASE("hostile files: metadata and manifests are bounded before they are decoded or looped over", "[cli][hostile]")
{
    temp_folder tmp;
    const fs::path out = tmp / "out";
    // A metadata record larger than the limit: refused by its announced size, unread.
    save_module(tmp / "bomb.pt", elementwise_eps, metadata(false) + std::string((std::size_t{1} << 20) + 1, ' '));
    require_one_line_error(run_cli(small_args(tmp / "bomb.pt", out, {pullover.string()})),
                           "metadata ilvr.json inflates to 1048658 bytes, more than the 1 MiB limit");
    CHECK(ilvr_cli::metadata_record_size(tmp / "bomb.pt") == 1048658u);
    save_module(tmp / "plain.pt", elementwise_eps);
    CHECK(ilvr_cli::metadata_record_size(tmp / "plain.pt") == 0u);
    CHECK_FALSE(ilvr_cli::metadata_record_size(pullover).has_value());  // not a zip archive

    // A finished job whose manifest is then tampered with.
    save_module(tmp / "eps.pt", elementwise_eps);
    REQUIRE(run_cli(small_args(tmp / "eps.pt", out, {pullover.string()})).code == 0);
    const std::string manifest = read_bytes(out / "ilvr-job.txt");
    auto tampered = [&](const std::string& from, const std::string& to) {
        std::string text = manifest;
        REQUIRE(text.find(from) != std::string::npos);
        text.replace(text.find(from), from.size(), to);
        std::ofstream(out / "ilvr-job.txt", std::ios::binary | std::ios::trunc) << text;
        return run_cli({"--assemble", "--out", out.string()});
    };
    require_one_line_error(tampered("samples: 2", "samples: 2000000000"), "the job needs about");
    require_one_line_error(tampered("samples: 2", "samples: 2x"), "samples '2x' is not an integer");
    require_one_line_error(tampered("factors: 4", "factors: 4abc"), "factors '4abc' is not an integer");
    require_one_line_error(tampered(" t10k-0001-pullover\n", " ../outside\n"), "is not a checksum and a folder name");
    require_one_line_error(tampered("image-size: 32", "image-size: 99999"), "image-size '99999'");
    std::ofstream(out / "ilvr-job.txt", std::ios::binary | std::ios::trunc) << manifest;
    CHECK(run_cli({"--assemble", "--out", out.string()}).code == 0);
}

TEST_CASE("hostile files: text from models and files reaches the terminal with control characters escaped",
          "[cli][hostile]")
{
    temp_folder tmp;
    CHECK(ilvr_cli::printable("a\x1b]0;title\x07z") == "a\\x1b]0;title\\x07z");
    CHECK(ilvr_cli::printable("\x7f \xc2\x9b \xc3\xa9") == "\\x7f \\u009b \xc3\xa9");  // DEL, C1 CSI; é kept
    const fs::path out = tmp / "out";
    // The network's own exception text.
    save_module(tmp / "rude.pt", "def forward(self, x, t):\n"
                                 "    assert bool((t < 0).all()), chr(27) + '[2J' + chr(27) + ']0;owned' + chr(7) + ' cleared'\n"
                                 "    return x\n");
    const auto r = run_cli(small_args(tmp / "rude.pt", out, {pullover.string()}));
    require_one_line_error(r, "\\x1b[2J\\x1b]0;owned\\x07 cleared");
    CHECK(r.err.find('\x1b') == std::string::npos);
    // A file name given by the user.
    const auto name = run_cli(small_args(tmp / "rude.pt", out, {(tmp / "\x1b[2J.png").string()}));
    require_one_line_error(name, "\\x1b[2J.png': no such file");
    CHECK(name.err.find('\x1b') == std::string::npos);
    save_module(tmp / "meta.pt", elementwise_eps, metadata(false, R"(, "noise_schedule": "\u001b[2Jlinear")"));
    const auto m = run_cli(small_args(tmp / "meta.pt", out, {pullover.string()}));
    require_one_line_error(m, "noise_schedule '\\x1b[2Jlinear' is not supported");
    CHECK(m.err.find('\x1b') == std::string::npos);
}

TEST_CASE("hostile files: manifest values never become new lines or paths outside --out", "[cli][hostile]")
{
    using ilvr_cli::manifest;
    CHECK(manifest::escape("a\nb%c\x1b") == "a%0Ab%25c%1B");
    CHECK(manifest::unescape("a%0Ab%25c%1B") == std::optional<std::string>("a\nb%c\x1b"));
    CHECK_FALSE(manifest::unescape("50%").has_value());
    CHECK_FALSE(manifest::unescape("%zz").has_value());
    temp_folder tmp;
    const fs::path model = tmp / "eps.pt", out = tmp / "out";
    save_module(model, elementwise_eps);
    const fs::path odd = tmp / "two\nlines: injected.png";
    fs::copy_file(pullover, odd);
    REQUIRE(run_cli(small_args(model, out, {odd.string()})).code == 0);
    const std::string text = read_bytes(out / "ilvr-job.txt");
    CHECK(text.find("\nlines: injected") == std::string::npos);
    CHECK_THAT(text, Contains("two%0Alines: injected"));
    const auto parsed = manifest::parse(text);
    REQUIRE(parsed);
    CHECK(parsed->all("reference-path") == std::vector<std::string>{ilvr_cli::path_key(odd).string()});
    // The identical job resumes.
    const auto again = run_cli(small_args(model, out, {"--resume", odd.string()}));
    INFO(again.err);
    CHECK(again.code == 0);
}

TEST_CASE("hostile files: the lock notices its removal or replacement, and the shard count is part of the job",
          "[cli][hostile]")
{
    temp_folder tmp;
    const fs::path out = tmp / "out";
    fs::create_directories(out);
    {
        const ilvr_cli::folder_lock lock(out, 0, 1);
        CHECK_NOTHROW(ilvr_cli::check_lock());
        fs::remove(out / ".ilvr-lock");  // by hand: a second job could now lock a new file
        CHECK_THROWS_WITH(ilvr_cli::check_lock(), Contains("was removed or replaced while this job held it"));
        CHECK_THROWS_WITH(ilvr_cli::write_manifest(out, {}, true), Contains("was removed or replaced"));
        const ilvr_cli::folder_lock second(out, 0, 1);  // the second job's lock
        CHECK_THROWS_WITH(lock.check(), Contains("was removed or replaced"));
        CHECK_NOTHROW(second.check());
    }
    CHECK_NOTHROW(ilvr_cli::check_lock());  // none held
    CHECK_FALSE(fs::exists(out / "ilvr-job.txt"));

    const fs::path model = tmp / "eps.pt";
    save_module(model, elementwise_eps);
    REQUIRE(run_cli(small_args(model, out, {"--shard", "0/2", pullover.string()})).code == 0);
    CHECK_THAT(read_bytes(out / "ilvr-job.txt"), Contains("\nshards: 2\n"));
    require_one_line_error(run_cli(small_args(model, out, {"--shard", "2/3", pullover.string()})),
                           "holds the same job in 2 shards; give --shard I/2");
    REQUIRE(run_cli(small_args(model, out, {"--shard", "1/2", pullover.string()})).code == 0);
    // The whole job may still finish a sharded one (it holds the folder alone).
    CHECK(run_cli(small_args(model, out, {"--resume", pullover.string()})).code == 0);
}

TEST_CASE("hostile files: environment numbers are parsed exactly, overflow refused", "[cli][hostile]")
{
    auto shard = [](std::map<std::string, std::string> env) {
        return ilvr_cli::detail::shard_from_environment([env](const char* name) -> const char* {
            const auto it = env.find(name);
            return it == env.end() ? nullptr : it->second.c_str();
        });
    };
    CHECK_THROWS_WITH(shard({{"SLURM_ARRAY_TASK_COUNT", "2"}, {"SLURM_ARRAY_TASK_ID", "9223372036854775807"},
                             {"SLURM_ARRAY_TASK_MIN", "9223372036854775806"}}),
                      Contains("SLURM_ARRAY_TASK_ID=9223372036854775807 is out of range 0 .. 2147483647"));
    CHECK_THROWS_WITH(shard({{"SLURM_ARRAY_TASK_COUNT", "2"}, {"SLURM_ARRAY_TASK_ID", "1"},
                             {"SLURM_ARRAY_TASK_MIN", "-9223372036854775807"}}),
                      Contains("SLURM_ARRAY_TASK_MIN=-9223372036854775807 is out of range"));
    CHECK_THROWS_WITH(shard({{"OMPI_COMM_WORLD_RANK", "0"}, {"OMPI_COMM_WORLD_SIZE", "4294967298"}}),
                      Contains("OMPI_COMM_WORLD_SIZE=4294967298 is out of range"));
    CHECK(shard({{"SLURM_ARRAY_TASK_COUNT", "3"}, {"SLURM_ARRAY_TASK_ID", "12"}, {"SLURM_ARRAY_TASK_MIN", "10"}}) ==
          std::pair{2, 3});
}

TEST_CASE("hostile files: rough edges", "[cli][hostile]")
{
    temp_folder tmp;
    const fs::path model = tmp / "eps.pt", out = tmp / "out";
    save_module(model, elementwise_eps);
    SECTION("an empty value is refused, naming its option")
    {
        for (const char* option : {"--mask", "--shard", "--max-memory", "--grid", "--range", "--range-t", "--out",
                                   "--factor-schedule", "--model", "--reference"})
            require_one_line_error(run_cli(small_args(model, out, {option, ""})),
                                   std::string(option) + " '': an empty value");
        require_one_line_error(run_cli(small_args(model, out, {""})), "reference '': an empty value");
    }
    SECTION("the linear schedule's T range, as documented")
    {
        require_one_line_error(run_cli(small_args(model, out, {"--timesteps", "20"})),
                               "--timesteps 20: the linear schedule needs T >= 21");
        CHECK_NOTHROW(ilvr_cli::validate(ilvr_cli::parse({"--model", model.string(), "--timesteps", "21",
                                                          "--respacing", "4", "--out", out.string()})));
        CHECK_NOTHROW(ilvr_cli::validate(ilvr_cli::parse({"--model", model.string(), "--timesteps", "2",
                                                          "--schedule", "cosine", "--respacing", "2", "--out",
                                                          out.string()})));
    }
    SECTION("metadata values are reported as the metadata's, not as options never given")
    {
        auto error_of = [&](const std::string& more) {
            save_module(tmp / "m.pt", elementwise_eps, metadata(false, more));
            return run_cli(small_args(tmp / "m.pt", out, {pullover.string()}));
        };
        const auto steps = error_of(R"(, "diffusion_steps": 200000)");
        require_one_line_error(steps, "metadata ilvr.json: 'diffusion_steps' 200000 is out of range [2, 100000]");
        CHECK(steps.err.find("--timesteps") == std::string::npos);
        require_one_line_error(error_of(R"(, "diffusion_steps": 10)"), "'diffusion_steps' 10: the linear schedule");
        const auto schedule = error_of(R"(, "noise_schedule": "quadratic")");
        require_one_line_error(schedule, "noise_schedule 'quadratic' is not supported");
        CHECK(schedule.err.find("--schedule") == std::string::npos);
        require_one_line_error(error_of(R"(, "timestep_respacing": "ddimx")"), "timestep_respacing 'ddimx'");
    }
    SECTION("a mask's transparent pixels are generated, as editors show them")
    {
        save_half_transparent_mask(tmp / "half.png");
        ilvr_cli::plan p;
        p.image_size = 32;
        p.mask = tmp / "half.png";
        const ilvr::tensor mask = ilvr_cli::load_mask(p);
        CHECK(mask[5 * 32 + 3] == 1.0f);   // white, opaque: known
        CHECK(mask[5 * 32 + 20] == 0.0f);  // white, transparent: to be generated
    }
    SECTION("options without effect are left out of the manifest, so --resume does not depend on them")
    {
        REQUIRE(run_cli(small_args(model, out, {"--sampler", "ddim", "--variance", "large", pullover.string()})).code == 0);
        CHECK(read_bytes(out / "ilvr-job.txt").find("variance") == std::string::npos);
        CHECK(run_cli(small_args(model, out, {"--sampler", "ddim", "--resume", pullover.string()})).code == 0);
        const fs::path mask_out = tmp / "inpaint";
        fs::copy_file(bundled("../../docs/images/inputs/mask-centre.png"), tmp / "mask.png");
        REQUIRE(run_cli(small_args(model, mask_out, {"--mask", (tmp / "mask.png").string(), pullover.string()})).code == 0);
        CHECK(read_bytes(mask_out / "ilvr-job.txt").find("kernel") == std::string::npos);
        CHECK(run_cli(small_args(model, mask_out, {"--mask", (tmp / "mask.png").string(), "--kernel", "box", "--resume",
                                                   pullover.string()}))
                  .code == 0);
    }
}

// The options of the `ilvr` command-line tool: the option struct, the CLI11 app
// that fills it, and the validation that turns it into a plan. Nothing here loads
// a model or samples, so tests can parse argument lists on their own.
// Ref: docs/tool.md.
#pragma once

#include <ilvr/conditioner/conditioning_range.hpp>
#include <ilvr/conditioner/factor_schedule.hpp>
#include <ilvr/conditioner/ilvr.hpp>
#include <ilvr/error.hpp>
#include <ilvr/resample/kernel.hpp>
#include <ilvr/respacing.hpp>
#include <ilvr/sampler/ddpm.hpp>
#include <ilvr/schedule.hpp>

#include <CLI/CLI.hpp>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <vector>

#ifndef ILVR_CLI_SOURCE_DATA_DIR
#define ILVR_CLI_SOURCE_DATA_DIR ""
#endif

namespace ilvr_cli {

// ---------------------------------------------------------------------------
// Where the bundled model and references live.

/// The folder of the running executable ("" if unknown).
inline std::filesystem::path executable_dir()
{
    std::error_code ec;
    const auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
    return ec ? std::filesystem::path{} : self.parent_path();
}

/// The folder that holds the bundled data (`fashion-mnist-ddpm/model.pt`,
/// `fashion-mnist-ddpm/references/`): the installed copy `<exe>/../share/ilvr` when
/// it exists (an installed tool uses its installed data), otherwise the source
/// tree's `models/` folder named at compile time (ILVR_CLI_SOURCE_DATA_DIR).
inline std::filesystem::path data_dir()
{
    const std::filesystem::path exe = executable_dir();
    if (!exe.empty()) {
        const auto installed = exe / ".." / "share" / "ilvr";
        std::error_code ec;
        if (std::filesystem::exists(installed / "fashion-mnist-ddpm", ec))
            return std::filesystem::weakly_canonical(installed, ec);
    }
    return ILVR_CLI_SOURCE_DATA_DIR;
}

inline std::filesystem::path default_model() { return data_dir() / "fashion-mnist-ddpm" / "model.pt"; }
inline std::filesystem::path default_reference()
{
    return data_dir() / "fashion-mnist-ddpm" / "references" / "t10k-0000-ankle-boot.png";
}

// ---------------------------------------------------------------------------
// Options as given on the command line.

struct options {
    std::string model = default_model().string();
    int image_size = 32;
    int channels = 1;
    bool learn_sigma = false;
    int timesteps = 1000;
    std::string schedule = "linear";
    std::string respacing = "100";
    std::vector<std::string> factors{"4"};  ///< each an integer; a list is a sweep
    std::string range;                      ///< "FROM:TO" or "all"; "" = not given
    std::string range_t;                    ///< respaced range_t; "" = not given
    std::string kernel = "cubic";
    std::string noise_level = "paper";
    std::string sampler = "ddpm";
    double eta = 0.0;
    std::string variance = "small";
    int samples = 4;
    int batch = 8;
    std::uint64_t seed = 0;
    int threads = 0;                        ///< 0 = all cores
    std::vector<std::string> references;    ///< --reference PATH (repeatable)
    std::vector<std::string> positional;    ///< positional references
    std::string out = "out/ilvr";
    std::string grid;                       ///< "" = <out>/grid.png
    bool quiet = false;
    std::string shard;                      ///< "I/K"; "" = the whole job
    bool resume = false;                    ///< keep samples already written
    bool unconditional = false;             ///< sample without a reference (no ILVR)
    std::string device = "cpu";             ///< where sampling runs: cpu|cuda
    std::string mask;                       ///< inpainting mask image; "" = no inpainting
    std::string repaint;                    ///< "J,R": RePaint jump length and count (with --mask)
    bool colourise = false;                 ///< keep the reference's luma (3-channel models)
    std::string factor_schedule;            ///< "FROM:TO=N,..."; "" = the fixed --factor
};

/// Builds the CLI11 app whose parse fills `o` (which must outlive the app).
inline std::unique_ptr<CLI::App> make_app(options& o)
{
    auto app = std::make_unique<CLI::App>(
        "ilvr: condition a pretrained DDPM on reference images (ILVR, Choi et al. 2021).\n"
        "Each reference is sampled `--samples` times per factor N; samples go to\n"
        "OUT/<reference-stem>/N<factor>/sample-<k>.png and a grid to OUT/grid.png.",
        "ilvr");
    app->get_formatter()->column_width(34);
    app->footer("Bundled data: " + data_dir().string() + "\nDocumentation: docs/tool.md");

    app->add_option("reference", o.positional, "reference images or folders of images (.png/.jpg/.jpeg, sorted); "
                                               "default: the bundled " + default_reference().filename().string())
        ->type_name("PATH...");
    app->add_option("--reference", o.references, "a reference image or a folder of images (repeatable)")
        ->type_name("PATH");
    app->add_option("--model", o.model, "TorchScript denoiser forward(x float[B,C,S,S], t int64[B]) -> eps [B,C,S,S]")
        ->capture_default_str()
        ->type_name("PATH");
    app->add_option("--image-size", o.image_size, "the model's image size S (references are prepared to S x S)")
        ->capture_default_str();
    app->add_option("--channels", o.channels, "the model's channels C (1 or 3); references are loaded with C")
        ->capture_default_str();
    app->add_flag("--learn-sigma", o.learn_sigma, "the model returns eps and v [B,2C,S,S] (learned variance range)");
    app->add_option("--timesteps", o.timesteps, "diffusion steps T the model was trained with")->capture_default_str();
    app->add_option("--schedule", o.schedule, "noise schedule: linear|cosine")->capture_default_str();
    app->add_option("--respacing", o.respacing, "steps to sample: a count (\"100\"), counts per section "
                                                "(\"10,20\") or \"ddimN\"")
        ->capture_default_str()
        ->type_name("STEPS");
    app->add_option("--factor", o.factors, "downsampling factor N of phi_N; repeat it or give a comma list for a sweep")
        ->delimiter(',')
        ->capture_default_str()
        ->type_name("N");
    auto* range = app->add_option("--range", o.range, "conditioned original timesteps FROM:TO, to <= t < from "
                                                      "(paper style, e.g. 1000:200); default: all steps")
                      ->type_name("FROM:TO");
    auto* range_t = app->add_option("--range-t", o.range_t, "condition respaced steps i > R, the reference code's "
                                                            "range_t (the last R+1 steps run free)")
                        ->type_name("R");
    range->excludes(range_t);
    range_t->excludes(range);
    auto* unconditional = app->add_flag("--unconditional", o.unconditional,
                                        "sample without a reference (no ILVR), for comparison: "
                                        "OUT/unconditional/sample-<k>.png");
    app->add_option("--kernel", o.kernel, "kernel of phi_N: cubic|lanczos2|lanczos3|linear|box")->capture_default_str();
    app->add_option("--noise-level", o.noise_level, "reference noised to the proposal's level (paper) or one step "
                                                    "noisier (reference-code): paper|reference-code")
        ->capture_default_str();
    app->add_option("--sampler", o.sampler, "ddpm|ddim|dpm++2m|heun (heun: 2 network calls a step)")
        ->capture_default_str();
    app->add_option("--eta", o.eta, "DDIM stochasticity (--sampler ddim only)")->capture_default_str();
    app->add_option("--variance", o.variance, "DDPM fixed variance: small|large (ignored with --learn-sigma)")
        ->capture_default_str();
    app->add_option("--samples", o.samples, "samples K per reference and factor")->capture_default_str();
    app->add_option("--batch", o.batch, "images sampled together (results do not depend on it)")
        ->capture_default_str();
    app->add_option("--seed", o.seed, "noise seed")->capture_default_str();
    app->add_option("--threads", o.threads, "threads of LibTorch and of the library; 0 = all cores")
        ->capture_default_str();
    app->add_option("--out", o.out, "output folder")->capture_default_str()->type_name("DIR");
    app->add_option("--grid", o.grid, "grid image to write; default: DIR/grid.png")->type_name("FILE");
    app->add_flag("--quiet,-q", o.quiet, "no progress on stderr");
    app->add_option("--shard", o.shard, "I/K: sample only the references r with r % K == I (0 <= I < K); "
                                        "K processes together write every sample; no grid")
        ->type_name("I/K");
    for (const char* name : {"reference", "--reference", "--factor", "--range", "--range-t", "--shard"})
        unconditional->excludes(app->get_option(name));
    app->add_option("--device", o.device, "where sampling runs: cpu|cuda (cuda: a build with the CUDA backend "
                                          "and a CUDA LibTorch, docs/cuda.md)")
        ->capture_default_str();
    // Other conditioners instead of ILVR at one factor (docs/applications.md); each
    // writes one row per reference, OUT/<reference-stem>/<inpaint|colourise|schedule>/.
    auto* mask = app->add_option("--mask", o.mask, "inpaint instead of ILVR: the FILE's white pixels (an S x S "
                                                   "image) are kept from the reference, the black ones generated")
                     ->type_name("FILE");
    auto* repaint = app->add_option("--repaint", o.repaint, "with --mask: RePaint resampling, every J steps run "
                                                            "the last J again, R passes in all (e.g. 10,5)")
                        ->type_name("J,R");
    repaint->needs(mask);
    auto* colourise = app->add_flag("--colourise", o.colourise, "colourise instead of ILVR: keep the reference's "
                                                                "luma, generate the colour (--channels 3)");
    auto* schedule = app->add_option("--factor-schedule", o.factor_schedule,
                                     "ILVR with a factor per range of timesteps, e.g. 1000:600=16,600:300=8,300:0=4 "
                                     "(instead of --factor and --range)")
                         ->type_name("FROM:TO=N,...");
    for (CLI::Option* a : {mask, colourise, schedule})
        for (const char* other : {"--mask", "--colourise", "--factor-schedule", "--factor", "--unconditional"})
            if (a != app->get_option(other)) a->excludes(app->get_option(other));
    schedule->excludes(range)->excludes(range_t);
    app->add_flag("--resume", o.resume, "keep sample PNGs already in OUT (complete by construction) and draw only "
                                        "the missing ones; with nothing missing, just writes the grid");
    return app;
}

/// Parses `args` (without the program name) into options. Throws CLI::ParseError
/// (CLI::CallForHelp for --help) on usage errors.
inline options parse(std::vector<std::string> args)
{
    options o;
    auto app = make_app(o);
    std::reverse(args.begin(), args.end());  // CLI11 takes the arguments last first
    app->parse(args);
    return o;
}

// ---------------------------------------------------------------------------
// Validation: everything that can be checked before loading the model.

/// Every fact of the job, checked.
struct plan {
    std::filesystem::path model;
    int image_size = 32, channels = 1;
    bool learn_sigma = false;
    ilvr::respaced_schedule process{{}, ilvr::noise_schedule(std::vector<double>{0.5, 0.5})};  // set by validate()
    std::vector<int> factors;
    ilvr::conditioning_range range = ilvr::conditioning_range::all();
    ilvr::resampling_kernel kernel = ilvr::kernels::cubic;
    ilvr::reference_noise_level level = ilvr::reference_noise_level::paper;
    bool ddim = false;
    std::string sampler = "ddpm";  ///< ddpm, ddim, dpm++2m or heun
    double eta = 0.0;
    ilvr::fixed_variance variance = ilvr::fixed_variance::small;
    int samples = 4, batch = 8;
    std::uint64_t seed = 0;
    int threads = 1;
    std::vector<std::filesystem::path> references;  ///< files, folders expanded
    std::filesystem::path out, grid;
    bool quiet = false;
    int shard_index = 0, shard_count = 1;  ///< this process samples references r with r % count == index
    bool resume = false;
    bool unconditional = false;  ///< no references and no factors: one row of unconditional samples
    bool cuda = false;           ///< sample on the GPU (--device cuda)
    bool self_described = false;  ///< the model carries its metadata (ilvr.json): no start-up probe call
    /// What conditions the samples: ILVR at each factor, or one row of another conditioner.
    enum class mode { ilvr, inpaint, colourise, schedule } conditioning = mode::ilvr;
    std::filesystem::path mask;                  ///< --mask
    int repaint_jump = 1, repaint_count = 1;     ///< --repaint (count 1: none)
    std::vector<ilvr::factor_stage> schedule;    ///< --factor-schedule

    /// The folder name of row f: N<factor>, or inpaint, colourise, schedule.
    std::string row_name(std::size_t f) const
    {
        switch (conditioning) {
        case mode::inpaint: return "inpaint";
        case mode::colourise: return "colourise";
        case mode::schedule: return "schedule";
        default: return "N" + std::to_string(factors[f]);
        }
    }

    /// Whether reference r belongs to this process's shard.
    bool in_shard(std::size_t r) const { return static_cast<int>(r % static_cast<std::size_t>(shard_count)) == shard_index; }

    /// The job-global index of sample k of reference r at factor f: it keys the
    /// sample's noise, so its pixels do not depend on --batch (docs/tool.md).
    std::uint64_t sample_index(std::size_t r, std::size_t f, int k) const
    {
        return (static_cast<std::uint64_t>(r) * factors.size() + f) * static_cast<std::uint64_t>(samples)
            + static_cast<std::uint64_t>(k);
    }
};

namespace detail {

[[noreturn]] inline void fail(const std::string& message) { throw ilvr::error(message); }

inline bool parse_int(std::string_view text, int& value)
{
    while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) text.remove_prefix(1);
    while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.remove_suffix(1);
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    return !text.empty() && ec == std::errc{} && end == text.data() + text.size();
}

inline std::string lower(std::string s)
{
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

inline bool is_image_file(const std::filesystem::path& p)
{
    const std::string ext = lower(p.extension().string());
    return ext == ".png" || ext == ".jpg" || ext == ".jpeg";
}

/// Files named by the reference arguments: a file as is, a folder as its
/// .png/.jpg/.jpeg files (not recursive), sorted by name.
inline std::vector<std::filesystem::path> expand_references(const std::vector<std::string>& given)
{
    std::vector<std::filesystem::path> files;
    for (const std::string& item : given) {
        const std::filesystem::path path(item);
        std::error_code ec;
        const auto status = std::filesystem::status(path, ec);
        if (!std::filesystem::exists(status)) fail("reference '" + item + "': no such file or folder");
        if (!std::filesystem::is_directory(status)) {
            files.push_back(path);
            continue;
        }
        std::vector<std::filesystem::path> found;
        std::filesystem::directory_iterator it(path, ec), end;
        if (ec) fail("reference folder '" + item + "': cannot list it (" + ec.message() + ")");
        for (; it != end; it.increment(ec)) {
            if (ec) fail("reference folder '" + item + "': cannot list it (" + ec.message() + ")");
            std::error_code file_ec;
            if (it->is_regular_file(file_ec) && is_image_file(it->path())) found.push_back(it->path());
        }
        if (found.empty()) fail("reference folder '" + item + "' holds no .png, .jpg or .jpeg images");
        std::sort(found.begin(), found.end());
        files.insert(files.end(), found.begin(), found.end());
    }
    return files;
}

} // namespace detail

/// Checks every option and the files they name (existence only; decoding comes
/// later) and resolves defaults. Throws ilvr::error with a one-line message.
inline plan validate(const options& o)
{
    using detail::fail;
    plan p;

    // Shapes and counts.
    if (o.image_size < 1 || o.image_size > 4096)
        fail("--image-size " + std::to_string(o.image_size) + ": must be between 1 and 4096");
    if (o.channels != 1 && o.channels != 3) fail("--channels " + std::to_string(o.channels) + ": must be 1 or 3");
    if (o.samples < 1) fail("--samples " + std::to_string(o.samples) + ": must be at least 1");
    if (o.batch < 1) fail("--batch " + std::to_string(o.batch) + ": must be at least 1");
    if (o.threads < 0) fail("--threads " + std::to_string(o.threads) + ": must be 0 (all cores) or more");
    p.image_size = o.image_size, p.channels = o.channels, p.learn_sigma = o.learn_sigma;
    p.samples = o.samples, p.batch = o.batch, p.seed = o.seed, p.quiet = o.quiet, p.resume = o.resume;
    p.unconditional = o.unconditional;
    if (o.unconditional && (!o.references.empty() || !o.positional.empty() || !o.range.empty() || !o.range_t.empty()
                            || !o.shard.empty()))
        fail("--unconditional takes no reference, --range, --range-t or --shard");
    if (!o.shard.empty()) {
        const auto slash = o.shard.find('/');
        if (slash == std::string::npos || !detail::parse_int(o.shard.substr(0, slash), p.shard_index)
            || !detail::parse_int(o.shard.substr(slash + 1), p.shard_count) || p.shard_count < 1 || p.shard_index < 0
            || p.shard_index >= p.shard_count)
            fail("--shard '" + o.shard + "': expected I/K with 0 <= I < K");
    }
    if (o.device != "cpu" && o.device != "cuda") fail("--device '" + o.device + "': expected cpu or cuda");
#ifndef ILVR_CLI_CUDA
    if (o.device == "cuda")
        fail("--device cuda: this ilvr was built without the CUDA backend (it needs nvcc and a CUDA-enabled "
             "LibTorch; see docs/cuda.md)");
#endif
    p.cuda = o.device == "cuda";
    p.threads = o.threads > 0 ? o.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));

    // Process: schedule, T, respacing.
    if (o.timesteps < 2) fail("--timesteps " + std::to_string(o.timesteps) + ": must be at least 2");
    if (o.schedule != "linear" && o.schedule != "cosine")
        fail("--schedule '" + o.schedule + "': unknown schedule (expected linear or cosine)");
    try {
        const auto base = ilvr::noise_schedule::named(o.schedule, o.timesteps);
        p.process = ilvr::respace(base, o.respacing);
    } catch (const ilvr::error& e) {
        fail(std::string("--respacing: ") + e.what());
    }
    const int steps = static_cast<int>(p.process.timesteps.size());

    // Factors: positive integers no larger than the image.
    if (o.factors.empty()) fail("--factor: give at least one factor");
    for (const std::string& text : o.factors) {
        int n = 0;
        if (!detail::parse_int(text, n)) fail("--factor '" + text + "': not an integer");
        if (n < 1 || n > o.image_size)
            fail("--factor " + std::to_string(n) + ": must be between 1 and the image size " +
                 std::to_string(o.image_size));
        if (std::find(p.factors.begin(), p.factors.end(), n) != p.factors.end())
            fail("--factor " + std::to_string(n) + ": given twice");
        p.factors.push_back(n);
    }
    if (p.unconditional) p.factors.clear();

    // Other conditioners: one row each, in place of the factors.
    if (int(!o.mask.empty()) + int(o.colourise) + int(!o.factor_schedule.empty()) + int(o.unconditional) > 1)
        fail("--mask, --colourise, --factor-schedule and --unconditional are mutually exclusive");
    if (!o.repaint.empty() && o.mask.empty()) fail("--repaint needs --mask");
    if (!o.mask.empty()) {
        p.conditioning = plan::mode::inpaint;
        p.mask = o.mask;
        std::error_code ec;
        if (!std::filesystem::is_regular_file(p.mask, ec)) fail("--mask '" + o.mask + "': no such file");
        if (!o.repaint.empty()) {
            const auto comma = o.repaint.find(',');
            if (comma == std::string::npos || !detail::parse_int(o.repaint.substr(0, comma), p.repaint_jump)
                || !detail::parse_int(o.repaint.substr(comma + 1), p.repaint_count) || p.repaint_jump < 1
                || p.repaint_count < 1 || p.repaint_count > 255)
                fail("--repaint '" + o.repaint + "': expected J,R with J >= 1 and 1 <= R <= 255");
        }
    }
    if (o.colourise) {
        if (o.channels != 3) fail("--colourise needs a 3-channel model (--channels 3)");
        p.conditioning = plan::mode::colourise;
    }
    if (!o.factor_schedule.empty()) {
        p.conditioning = plan::mode::schedule;
        try {
            p.schedule = ilvr::parse_factor_schedule(o.factor_schedule);
            for (const auto& stage : p.schedule) stage.range.check(p.process);
        } catch (const ilvr::error& e) {
            fail(std::string("--factor-schedule: ") + e.what());
        }
        for (const auto& stage : p.schedule)
            if (stage.factor < 1 || stage.factor > o.image_size)
                fail("--factor-schedule: factor " + std::to_string(stage.factor)
                     + " must be between 1 and the image size " + std::to_string(o.image_size));
        for (std::size_t i = 0; i < p.process.timesteps.size(); ++i) {
            int owners = 0;
            for (const auto& stage : p.schedule) owners += stage.range.contains(static_cast<int>(i), p.process.timesteps[i]);
            if (owners > 1)
                fail("--factor-schedule: stages overlap at timestep " + std::to_string(p.process.timesteps[i]));
        }
    }
    if (p.conditioning != plan::mode::ilvr) p.factors = {0};

    // Range.
    if (!o.range.empty() && !o.range_t.empty()) fail("--range and --range-t are mutually exclusive");
    try {
        if (!o.range.empty()) {
            p.range = ilvr::conditioning_range::parse(o.range);
        } else if (!o.range_t.empty()) {
            int r = 0;
            if (!detail::parse_int(o.range_t, r)) fail("--range-t '" + o.range_t + "': not an integer");
            p.range = ilvr::conditioning_range::respaced(r);
        }
        p.range.check(p.process);
    } catch (const ilvr::error& e) {
        fail(std::string(o.range.empty() ? "--range-t: " : "--range: ") + e.what());
    }
    if (!o.range.empty()) {  // from:to beyond T cannot be meant
        const auto colon = o.range.find(':');
        int from = 0;
        if (colon != std::string::npos && detail::parse_int(std::string_view(o.range).substr(0, colon), from)
            && from > o.timesteps)
            fail("--range " + o.range + ": FROM = " + std::to_string(from) + " exceeds the model's T = " +
                 std::to_string(o.timesteps));
    }
    (void)steps;

    // Names.
    try {
        p.kernel = ilvr::kernels::by_name(o.kernel);
    } catch (const ilvr::error& e) {
        fail(std::string("--kernel: ") + e.what());
    }
    if (o.noise_level == "paper") p.level = ilvr::reference_noise_level::paper;
    else if (o.noise_level == "reference-code") p.level = ilvr::reference_noise_level::reference_code;
    else fail("--noise-level '" + o.noise_level + "': expected paper or reference-code");
    if (o.sampler != "ddpm" && o.sampler != "ddim" && o.sampler != "dpm++2m" && o.sampler != "heun")
        fail("--sampler '" + o.sampler + "': expected ddpm, ddim, dpm++2m or heun");
    p.sampler = o.sampler;
    p.ddim = o.sampler == "ddim";
    if (!(o.eta >= 0.0)) fail("--eta " + std::to_string(o.eta) + ": must be >= 0");
    if (o.eta != 0.0 && !p.ddim) fail("--eta applies to --sampler ddim only");
    if (p.cuda && o.sampler != "ddpm" && o.sampler != "ddim")
        fail("--device cuda: --sampler " + o.sampler + " runs on the CPU only (the GPU samples with ddpm or ddim)");
    p.eta = o.eta;
    if (o.variance == "small") p.variance = ilvr::fixed_variance::small;
    else if (o.variance == "large") p.variance = ilvr::fixed_variance::large;
    else fail("--variance '" + o.variance + "': expected small or large");

    // Files.
    p.model = o.model;
    {
        std::error_code ec;
        const auto status = std::filesystem::status(p.model, ec);
        if (!std::filesystem::exists(status)) fail("--model '" + o.model + "': no such file");
        if (std::filesystem::is_directory(status)) fail("--model '" + o.model + "': is a folder, not a model file");
    }
    std::vector<std::string> given = o.references;
    given.insert(given.end(), o.positional.begin(), o.positional.end());
    if (given.empty() && !o.unconditional) given.push_back(default_reference().string());
    p.references = detail::expand_references(given);
    std::set<std::string> stems;
    for (const auto& file : p.references)
        if (!stems.insert(file.stem().string()).second)
            fail("reference '" + file.string() + "': another reference has the same name '" + file.stem().string() +
                 "' (its samples would overwrite each other)");

    if (p.cuda && p.conditioning != plan::mode::ilvr)
        fail("--device cuda: --mask, --colourise and --factor-schedule run on the CPU only (the GPU samples with "
             "ILVR at fixed factors, or unconditionally)");

    if (o.out.empty()) fail("--out: give a folder");
    p.out = o.out;
    {
        std::error_code ec;
        if (std::filesystem::exists(p.out, ec) && !std::filesystem::is_directory(p.out, ec))
            fail("--out '" + o.out + "': exists and is not a folder");
    }
    p.grid = o.grid.empty() ? p.out / "grid.png" : std::filesystem::path(o.grid);
    if (!p.grid.has_filename()) fail("--grid '" + o.grid + "': not a file name");
    return p;
}

} // namespace ilvr_cli

// The options of the `ilvr` command-line tool: the option struct, the CLI11 app
// that fills it, and the validation that turns it into a plan. Nothing here loads
// a model or samples, so tests can parse argument lists on their own.
// Ref: docs/tool.md.
#pragma once

#include "memory.hpp"
#include "paths.hpp"

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
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <optional>
#include <tuple>
#include <utility>
#include <filesystem>
#include <limits>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <type_traits>
#include <vector>

#include <sched.h>

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
    std::optional<double> eta;              ///< unset: 0 for ddim, 1 for dpm++2m-sde
    std::string variance = "small";
    std::string precision = "fp32";         ///< the network's arithmetic: fp32|bf16
    int final_projection = 0;               ///< rounds of refine + clamp after the last step; 0 = off
    int samples = 4;
    int batch = 8;
    std::uint64_t seed = 0;
    int threads = 0;                        ///< 0 = all cores
    std::vector<std::string> references;    ///< --reference PATH (repeatable)
    std::vector<std::string> positional;    ///< positional references
    std::string out = "out/ilvr";
    std::string grid;                       ///< "" = <out>/grid.png
    bool quiet = false;
    std::string shard;                      ///< "I/K" or "auto"; "" = the whole job
    bool resume = false;                    ///< keep samples already written
    bool unconditional = false;             ///< sample without a reference (no ILVR)
    std::string device = "cpu";             ///< where sampling runs: cpu|cuda
    std::string max_memory;                 ///< "" = the memory available
    bool assemble = false;                  ///< only write the grid of a finished (sharded) job
    std::string mask;                       ///< inpainting mask image; "" = no inpainting
    std::string repaint;                    ///< "J,R": RePaint jump length and count (with --mask)
    bool colourise = false;                 ///< keep the reference's luma (3-channel models)
    std::string factor_schedule;            ///< "FROM:TO=N,..."; "" = the fixed --factor
};

namespace detail {

/// The largest value of T, for messages.
template <class T>
std::string limit_text(T value)
{
    return std::to_string(value);
}

/// Parses the whole of `text` as a T, exactly: an integer within T's range (no
/// sign for unsigned T) or a finite floating-point number. Throws ilvr::error
/// naming the option otherwise (exit code 2).
template <class T>
T parse_number(const std::string& option, const std::string& text)
{
    T value{};
    const char* first = text.data();
    const char* last = text.data() + text.size();
    if constexpr (std::is_integral_v<T>) {
        const auto [end, ec] = std::from_chars(first, last, value);
        if (text.empty() || ec != std::errc{} || end != last)
            throw ilvr::error(option + " '" + text + "': not an integer in " +
                              limit_text(std::numeric_limits<T>::min()) + " .. " +
                              limit_text(std::numeric_limits<T>::max()));
    } else {
        const auto [end, ec] = std::from_chars(first, last, value);
        if (text.empty() || ec != std::errc{} || end != last || !std::isfinite(value))
            throw ilvr::error(option + " '" + text + "': not a finite number");
    }
    return value;
}

/// Adds a numeric option whose text is parsed by parse_number into `field`.
template <class T>
CLI::Option* add_number(CLI::App& app, const std::string& name, T& field, const std::string& help)
{
    std::string shown = std::to_string(field);
    if constexpr (!std::is_integral_v<T>) shown = CLI::detail::to_string(field);
    return app
        .add_option_function<std::string>(
            name, [&field, name](const std::string& text) { field = parse_number<T>(name, text); }, help)
        ->default_str(shown)
        ->type_name(std::is_integral_v<T> ? "INT" : "FLOAT");
}

} // namespace detail

namespace detail {
/// A CLI11 check refusing an empty value of `option` (exit code 2, as a bad
/// number): for the options whose empty default means "not given", `--mask ''`
/// must not silently mean no mask.
inline CLI::Validator non_empty(const std::string& option)
{
    return CLI::Validator(
        [option](std::string& value) {
            if (value.empty()) throw ilvr::error(option + " '': an empty value (leave the option out instead)");
            return std::string();
        },
        "", "non-empty");
}
} // namespace detail

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
    detail::add_number(*app, "--image-size", o.image_size, "the model's image size S (references are prepared to S x S)");
    detail::add_number(*app, "--channels", o.channels, "the model's channels C (1 or 3); references are loaded with C");
    app->add_flag("--learn-sigma", o.learn_sigma, "the model returns eps and v [B,2C,S,S] (learned variance range)");
    detail::add_number(*app, "--timesteps", o.timesteps, "diffusion steps T the model was trained with (2 .. 100000; linear schedule: 21 .. 100000)");
    app->add_option("--schedule", o.schedule, "noise schedule: linear|cosine")->capture_default_str();
    app->add_option("--respacing", o.respacing, "steps to sample: a count (\"100\"), counts per section "
                                                "(\"10,20\") or \"ddimN\"")
        ->capture_default_str()
        ->type_name("STEPS");
    app->add_option("--factor", o.factors, "downsampling factor N of phi_N; repeat it or give a comma list for a sweep")
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
    app->add_option("--sampler", o.sampler, "ddpm|ddim|dpm++2m|dpm++2m-sde|heun (heun: 2 network calls a step)")
        ->capture_default_str();
    app->add_option_function<std::string>(
           "--eta", [&o](const std::string& text) { o.eta = detail::parse_number<double>("--eta", text); },
           "noise scale of --sampler ddim (default 0) or dpm++2m-sde (default 1: the SDE; 0: dpm++2m)")
        ->type_name("FLOAT");
    detail::add_number(*app, "--final-projection", o.final_projection,
                       "after the last step, ROUNDS rounds of the ILVR refinement and a clamp to [-1, 1] "
                       "(faithfulness of few-step samplers, docs/sampling.md); 0 = off")
        ->type_name("ROUNDS");
    app->add_option("--precision", o.precision, "the network's arithmetic on the CPU: fp32|bf16 (bf16: autocast, "
                                                "needs a CPU with AVX512-BF16 or AMX)")
        ->capture_default_str();
    app->add_option("--variance", o.variance, "DDPM fixed variance: small|large (ignored with --learn-sigma)")
        ->capture_default_str();
    detail::add_number(*app, "--samples", o.samples, "samples K per reference and factor");
    detail::add_number(*app, "--batch", o.batch, "images sampled together (results do not depend on it)");
    detail::add_number(*app, "--seed", o.seed, "noise seed, 0 .. 2^64-1");
    detail::add_number(*app, "--threads", o.threads,
                       "threads of LibTorch and of the library; 0 = all available cores (more are capped to them)");
    app->add_option("--max-memory", o.max_memory, "refuse a job whose estimated peak memory exceeds SIZE "
                                                  "(e.g. 4G, 512M); default: the memory available")
        ->type_name("SIZE");
    app->add_option("--out", o.out, "output folder")->capture_default_str()->type_name("DIR");
    app->add_option("--grid", o.grid, "grid image to write; default: DIR/grid.png")->type_name("FILE");
    app->add_flag("--quiet,-q", o.quiet, "no progress on stderr");
    app->add_option("--shard", o.shard, "I/K: draw only the samples whose job index i has i % K == I "
                                        "(0 <= I < K); auto: I and K from Slurm or MPI (docs/cluster.md); "
                                        "K processes together write every sample; no grid")
        ->type_name("I/K|auto");
    for (const char* name : {"reference", "--reference", "--factor", "--range", "--range-t"})
        unconditional->excludes(app->get_option(name));
    app->add_option("--device", o.device, "where sampling runs: cpu|cuda (cuda: a build with the CUDA backend "
                                          "and a CUDA LibTorch, docs/cuda.md)")
        ->capture_default_str();
    app->add_flag("--assemble", o.assemble, "write the grid of a finished job in --out from its samples and "
                                            "manifest (after --shard runs); takes only --out, --grid, --quiet");
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
    app->add_flag("--resume", o.resume, "continue the job in OUT (its manifest must match): keep its complete "
                                        "samples, draw the missing or damaged ones, write the grid");
    // Every option that takes text refuses an empty value (one that would mean "not given" or nothing).
    for (CLI::Option* option : app->get_options())
        if (option->get_type_size_max() > 0) option->check(detail::non_empty(option->get_name()));
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

/// Largest --timesteps: the schedule tables cost about 200 bytes per timestep.
inline constexpr int max_timesteps = 100000;
/// Smallest T of the linear schedule: beta_T = 0.02 x 1000 / T reaches 1 at T = 20.
inline constexpr int min_linear_timesteps = 21;

/// Every fact of the job, checked.
struct plan {
    std::filesystem::path model;
    int image_size = 32, channels = 1;
    bool learn_sigma = false;
    int timesteps = 1000;
    std::string schedule_name = "linear", respacing = "100";  ///< as given (for the manifest)
    ilvr::respaced_schedule process{{}, ilvr::noise_schedule(std::vector<double>{0.5, 0.5})};  // set by validate()
    std::vector<int> factors;
    ilvr::conditioning_range range = ilvr::conditioning_range::all();
    ilvr::resampling_kernel kernel = ilvr::kernels::cubic;
    ilvr::reference_noise_level level = ilvr::reference_noise_level::paper;
    bool ddim = false;
    std::string sampler = "ddpm";  ///< ddpm, ddim, dpm++2m, dpm++2m-sde or heun
    double eta = 0.0;              ///< ddim's or dpm++2m-sde's noise scale
    bool bf16 = false;             ///< the network under bfloat16 autocast (--precision bf16)
    int final_projection = 0;      ///< --final-projection rounds (0: none)
    ilvr::fixed_variance variance = ilvr::fixed_variance::small;
    int samples = 4, batch = 8;
    std::uint64_t seed = 0;
    int threads = 1;
    std::vector<std::filesystem::path> references;  ///< files, folders expanded
    std::vector<std::string> names;                 ///< per reference: its folder name in OUT (safe_name of the stem)
    std::filesystem::path out, grid;
    bool quiet = false;
    int shard_index = 0, shard_count = 1;  ///< this process draws the samples with index % count == index
    bool resume = false;
    bool unconditional = false;  ///< no references and no factors: one row of unconditional samples
    bool cuda = false;           ///< sample on the GPU (--device cuda)
    std::uint64_t max_memory = 0;       ///< 0: the memory available
    memory_estimate memory;             ///< the job's peak less the model and the network (validate())
    std::vector<std::string> warnings;  ///< printed on stderr before the job
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

    /// The job-global index of sample k of reference r at factor f: it keys the
    /// sample's noise, so its pixels do not depend on --batch (docs/tool.md).
    /// Unconditional: k.
    std::uint64_t sample_index(std::size_t r, std::size_t f, int k) const
    {
        if (unconditional) return static_cast<std::uint64_t>(k);
        return (static_cast<std::uint64_t>(r) * factors.size() + f) * static_cast<std::uint64_t>(samples)
            + static_cast<std::uint64_t>(k);
    }

    /// Whether the sample with job index `index` belongs to this process's shard.
    bool in_shard(std::uint64_t index) const
    {
        return index % static_cast<std::uint64_t>(shard_count) == static_cast<std::uint64_t>(shard_index);
    }

    /// Rows of the job: (reference, factor) pairs, or 1 unconditional row.
    std::size_t rows() const { return unconditional ? 1 : references.size() * factors.size(); }

    /// The folder of row (r, f): OUT/<name>/N<factor>, or OUT/unconditional.
    std::filesystem::path sample_folder(std::size_t r, std::size_t f) const
    {
        return unconditional ? out / unconditional_folder : out / names[r] / row_name(f);
    }

    /// The file of a sample: OUT/<name>/N<factor>/sample-<k>.png, or
    /// OUT/unconditional/sample-<k>.png.
    std::filesystem::path sample_file(std::size_t r, std::size_t f, int k) const
    {
        return sample_folder(r, f) / ("sample-" + std::to_string(k) + ".png");
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
/// .png/.jpg/.jpeg files (not recursive), sorted by name. `folders` receives the
/// folders given.
inline std::vector<std::filesystem::path> expand_references(const std::vector<std::string>& given,
                                                            std::vector<std::filesystem::path>& folders)
{
    std::vector<std::filesystem::path> files;
    for (const std::string& item : given) {
        const std::filesystem::path path(item);
        const file_kind kind = kind_at(path, true, "reference");
        if (kind == file_kind::missing) fail("reference '" + item + "': no such file or folder");
        if (kind != file_kind::folder) {
            files.push_back(path);
            continue;
        }
        folders.push_back(path);
        std::vector<std::filesystem::path> found;
        std::error_code ec;
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

/// The cores this process may run on (its CPU affinity mask; a cluster's job
/// gets the cores it was allotted).
inline int available_cores()
{
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) == 0) return std::max(1, CPU_COUNT(&set));
    return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

/// The shard I/K from the environment of Slurm or an MPI launcher, first found of:
/// a Slurm job array (SLURM_ARRAY_TASK_ID - SLURM_ARRAY_TASK_MIN of
/// SLURM_ARRAY_TASK_COUNT), Open MPI (OMPI_COMM_WORLD_RANK of _SIZE), MPICH,
/// Intel MPI and other PMI launchers (PMI_RANK of PMI_SIZE), Slurm tasks
/// (SLURM_PROCID of SLURM_NTASKS). Throws if none is set or one is malformed.
inline std::pair<int, int> shard_from_environment(const std::function<const char*(const char*)>& getenv)
{
    auto number = [&](const char* name) -> std::optional<long long> {
        const char* text = getenv(name);
        if (!text) return std::nullopt;
        long long value = 0;
        const std::string_view view(text);
        const auto [end, ec] = std::from_chars(view.data(), view.data() + view.size(), value);
        if (view.empty() || ec != std::errc{} || end != view.data() + view.size())
            fail(std::string("--shard auto: ") + name + "='" + printable(text) + "' is not an integer");
        // Ranks, counts and array indices are never negative or beyond int: refusing
        // those keeps the arithmetic below (id - min) exact.
        if (value < 0 || value > std::numeric_limits<int>::max())
            fail(std::string("--shard auto: ") + name + "=" + text + " is out of range 0 .. " +
                 std::to_string(std::numeric_limits<int>::max()));
        return value;
    };
    auto shard = [&](long long index, long long count, const std::string& from) -> std::pair<int, int> {
        if (count < 1 || count > std::numeric_limits<int>::max() || index < 0 || index >= count)
            fail("--shard auto: " + from + " gives shard " + std::to_string(index) + " of " + std::to_string(count));
        return {static_cast<int>(index), static_cast<int>(count)};
    };
    if (const auto count = number("SLURM_ARRAY_TASK_COUNT")) {
        const auto id = number("SLURM_ARRAY_TASK_ID");
        const auto min = number("SLURM_ARRAY_TASK_MIN").value_or(0);
        const auto step = number("SLURM_ARRAY_TASK_STEP").value_or(1);
        if (!id) fail("--shard auto: SLURM_ARRAY_TASK_COUNT is set but SLURM_ARRAY_TASK_ID is not");
        if (step != 1) fail("--shard auto: a Slurm array with a step (SLURM_ARRAY_TASK_STEP=" + std::to_string(step) +
                            ") cannot be numbered 0 .. K-1; use --array=0-K");
        return shard(*id - min, *count, "SLURM_ARRAY_TASK_ID");
    }
    for (const auto& [rank, size] : {std::pair{"OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE"},
                                     std::pair{"PMI_RANK", "PMI_SIZE"}, std::pair{"SLURM_PROCID", "SLURM_NTASKS"}}) {
        const auto r = number(rank), s = number(size);
        if (r && s) return shard(*r, *s, rank);
    }
    fail("--shard auto: no Slurm array, MPI or Slurm task variables in the environment "
         "(SLURM_ARRAY_TASK_ID, OMPI_COMM_WORLD_RANK, PMI_RANK, SLURM_PROCID)");
}

/// If `rel` (a path relative to the output folder) names a file or folder the
/// job writes, what it is ("" otherwise).
inline std::string job_entry(const plan& p, const std::filesystem::path& rel)
{
    std::vector<std::string> parts;
    for (const auto& part : rel) parts.push_back(part.string());
    if (parts.empty()) return "the output folder";
    if (parts.size() == 1 && (parts[0] == manifest_name || parts[0] == lock_name)) return "the job's " + parts[0];
    const auto is_sample = [&](const std::string& name) {
        int k = -1;
        return name.rfind("sample-", 0) == 0 && name.size() > 11 && name.substr(name.size() - 4) == ".png"
            && parse_int(name.substr(7, name.size() - 11), k) && k >= 0 && k < p.samples;
    };
    if (p.unconditional) {
        if (parts[0] != unconditional_folder) return "";
        if (parts.size() == 1) return "the samples' folder";
        return parts.size() == 2 && is_sample(parts[1]) ? "a sample" : "";
    }
    if (std::find(p.names.begin(), p.names.end(), parts[0]) == p.names.end()) return "";
    if (parts.size() == 1) return "a reference's sample folder";
    bool factor = false;
    for (std::size_t f = 0; f < p.factors.size(); ++f) factor = factor || parts[1] == p.row_name(f);
    if (!factor) return "";
    if (parts.size() == 2) return "a sample folder";
    return parts.size() == 3 && is_sample(parts[2]) ? "a sample" : "";
}

/// The job's input files: its references, --mask and --model, each with the
/// name messages give it.
inline std::vector<std::pair<std::filesystem::path, std::string>> job_inputs(const plan& p)
{
    std::vector<std::pair<std::filesystem::path, std::string>> inputs;
    for (const auto& file : p.references) inputs.emplace_back(file, "the reference '" + file.string() + "'");
    if (!p.mask.empty()) inputs.emplace_back(p.mask, "the --mask '" + p.mask.string() + "'");
    if (!p.model.empty()) inputs.emplace_back(p.model, "the model file");
    return inputs;
}

/// The output checks (before the model is loaded): OUT a folder or absent; the
/// grid a regular file or absent, not one of the job's own files or folders,
/// and not an input (a reference, the mask or the model, compared by path and
/// by file identity); no reference folder is or lies in OUT and no input is one
/// of the job's files (a sample's path would be replaced or removed); each
/// sample folder a folder or absent, each sample a regular file or absent.
inline void check_outputs(const plan& p, const std::vector<std::filesystem::path>& reference_folders, bool grid)
{
    check_output_folder(p.out, "--out");
    const auto out_key = path_key(p.out);
    for (const auto& folder : reference_folders)
        if (is_within(path_key(folder), out_key))
            fail("--out '" + p.out.string() + "' holds the reference folder '" + folder.string() +
                 "': the job's own files would become references; choose another --out");
    for (const auto& [file, name] : job_inputs(p)) {
        const auto key = path_key(file);
        if (is_within(key, out_key) && !job_entry(p, key.lexically_relative(out_key)).empty())
            fail(name.substr(4) + " is " + job_entry(p, key.lexically_relative(out_key)) + " of this job in --out '" +
                 p.out.string() + "'");
    }
    if (grid) {
        check_output_file(p.grid, "--grid");
        const auto grid_key = path_key(p.grid);
        if (is_within(grid_key, out_key)) {
            const std::string entry = job_entry(p, grid_key.lexically_relative(out_key));
            if (!entry.empty()) fail("--grid '" + p.grid.string() + "' is " + entry + " of this job");
        }
        for (const auto& [file, name] : job_inputs(p))
            if (same_file(file, p.grid)) fail("--grid '" + p.grid.string() + "' is " + name);
    }
    for (std::size_t r = 0; r < (p.unconditional ? 1 : p.references.size()); ++r) {
        if (!p.unconditional) check_output_folder(p.out / p.names[r], "sample folder");
        for (std::size_t f = 0; f < std::max<std::size_t>(1, p.factors.size()); ++f) {
            const auto folder = p.sample_folder(r, f);
            check_output_folder(folder, "sample folder");
            if (kind_at(folder, true, "sample folder") == file_kind::missing) continue;
            for (int k = 0; k < p.samples; ++k) {
                const auto file = p.sample_file(r, f, k);
                const file_kind kind = kind_at(file, false, "sample");
                if (kind != file_kind::missing && kind != file_kind::regular) check_output_file(file, "sample");
            }
        }
    }
}

/// The job's peak memory less the model and the network's activations.
inline memory_estimate estimate_memory(const plan& p, bool grid)
{
    const double image = 4.0 * p.channels * p.image_size * p.image_size;  // one float image
    const double total = static_cast<double>(p.rows()) * p.samples;
    const double batch = std::min<double>(p.batch, total);
    memory_estimate m;
    m.add("the process now", static_cast<double>(resident_bytes()));
    m.add("schedule tables", 128.0 * p.timesteps + 256.0 * static_cast<double>(p.process.timesteps.size()));
    m.add("sample list", 64.0 * total);
    m.add("references", 2.0 * image * static_cast<double>(p.references.size()));
    m.add("batch buffers", 16.0 * image * batch);
    if (grid) m.add("grid", 2.5 * image * static_cast<double>(p.rows()) * (p.samples + (p.unconditional ? 0 : 2)));
    return m;
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
    if (o.unconditional && (!o.references.empty() || !o.positional.empty() || !o.range.empty() || !o.range_t.empty()))
        fail("--unconditional takes no reference, --range or --range-t");
    if (o.shard == "auto") {
        std::tie(p.shard_index, p.shard_count) = detail::shard_from_environment([](const char* n) { return std::getenv(n); });
    } else if (!o.shard.empty()) {
        const auto slash = o.shard.find('/');
        if (slash == std::string::npos || !detail::parse_int(o.shard.substr(0, slash), p.shard_index)
            || !detail::parse_int(o.shard.substr(slash + 1), p.shard_count) || p.shard_count < 1 || p.shard_index < 0
            || p.shard_index >= p.shard_count)
            fail("--shard '" + o.shard + "': expected I/K with 0 <= I < K, or auto");
    }
    const int cores = detail::available_cores();
    p.threads = o.threads > 0 ? std::min(o.threads, cores) : cores;
    if (o.threads > cores)
        p.warnings.push_back("--threads " + std::to_string(o.threads) + " exceeds the " + std::to_string(cores) +
                             " available cores; using " + std::to_string(cores));
    if (!o.max_memory.empty()) {
        const auto bytes = parse_size(o.max_memory);
        if (!bytes) fail("--max-memory '" + o.max_memory + "': expected a size such as 4G, 512M or 1000000");
        p.max_memory = *bytes;
    }
    if (o.device != "cpu" && o.device != "cuda") fail("--device '" + o.device + "': expected cpu or cuda");
#ifndef ILVR_CLI_CUDA
    if (o.device == "cuda")
        fail("--device cuda: this ilvr was built without the CUDA backend (it needs nvcc and a CUDA-enabled "
             "LibTorch; see docs/cuda.md)");
#endif
    p.cuda = o.device == "cuda";

    // Process: schedule, T, respacing.
    if (o.timesteps < 2 || o.timesteps > max_timesteps)
        fail("--timesteps " + std::to_string(o.timesteps) + ": must be between 2 and " + std::to_string(max_timesteps));
    if (o.schedule != "linear" && o.schedule != "cosine")
        fail("--schedule '" + o.schedule + "': unknown schedule (expected linear or cosine)");
    if (o.schedule == "linear" && o.timesteps < min_linear_timesteps)
        fail("--timesteps " + std::to_string(o.timesteps) + ": the linear schedule needs T >= " +
             std::to_string(min_linear_timesteps) + " (its last beta, 0.02 x 1000 / T, must stay below 1); "
             "the cosine schedule takes 2 .. " + std::to_string(max_timesteps));
    p.timesteps = o.timesteps, p.schedule_name = o.schedule, p.respacing = o.respacing;
    try {
        const auto base = ilvr::noise_schedule::named(o.schedule, o.timesteps);
        p.process = ilvr::respace(base, o.respacing);
    } catch (const ilvr::error& e) {
        fail(std::string("--respacing: ") + e.what());
    }

    // Factors: positive integers no larger than the image, from comma lists.
    if (o.factors.empty()) fail("--factor: give at least one factor");
    for (const std::string& list : o.factors) {
        std::size_t begin = 0;
        for (;;) {
            const std::size_t comma = std::min(list.find(',', begin), list.size());
            const std::string text = list.substr(begin, comma - begin);
            int n = 0;
            if (text.find_first_not_of(" \t") == std::string::npos) fail("--factor '" + list + "': an empty item");
            if (!detail::parse_int(text, n)) fail("--factor '" + text + "': not an integer");
            if (n < 1 || n > o.image_size)
                fail("--factor " + std::to_string(n) + ": must be between 1 and the image size " +
                     std::to_string(o.image_size));
            if (std::find(p.factors.begin(), p.factors.end(), n) != p.factors.end())
                fail("--factor " + std::to_string(n) + ": given twice");
            p.factors.push_back(n);
            if (comma == list.size()) break;
            begin = comma + 1;
        }
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

    // Names.
    try {
        p.kernel = ilvr::kernels::by_name(o.kernel);
    } catch (const ilvr::error& e) {
        fail(std::string("--kernel: ") + e.what());
    }
    if (o.noise_level == "paper") p.level = ilvr::reference_noise_level::paper;
    else if (o.noise_level == "reference-code") p.level = ilvr::reference_noise_level::reference_code;
    else fail("--noise-level '" + o.noise_level + "': expected paper or reference-code");
    if (o.sampler != "ddpm" && o.sampler != "ddim" && o.sampler != "dpm++2m" && o.sampler != "dpm++2m-sde"
        && o.sampler != "heun")
        fail("--sampler '" + o.sampler + "': expected ddpm, ddim, dpm++2m, dpm++2m-sde or heun");
    p.sampler = o.sampler;
    p.ddim = o.sampler == "ddim";
    const bool sde = o.sampler == "dpm++2m-sde";
    p.eta = o.eta.value_or(sde ? 1.0 : 0.0);
    if (!(p.eta >= 0.0) || !std::isfinite(p.eta)) fail("--eta " + std::to_string(p.eta) + ": must be finite and >= 0");
    if (o.eta && *o.eta != 0.0 && !p.ddim && !sde) fail("--eta applies to --sampler ddim and dpm++2m-sde only");
    if (o.precision != "fp32" && o.precision != "bf16")
        fail("--precision '" + o.precision + "': expected fp32 or bf16");
    p.bf16 = o.precision == "bf16";
    if (o.final_projection < 0 || o.final_projection > 1000)
        fail("--final-projection " + std::to_string(o.final_projection) + ": must be 0 .. 1000");
    p.final_projection = o.final_projection;
    if (p.bf16 && p.cuda) fail("--precision bf16 runs on the CPU only (--device cpu)");
    if (o.variance == "small") p.variance = ilvr::fixed_variance::small;
    else if (o.variance == "large") p.variance = ilvr::fixed_variance::large;
    else fail("--variance '" + o.variance + "': expected small or large");

    // Files.
    p.model = o.model;
    {
        const file_kind kind = kind_at(p.model, true, "--model");
        if (kind == file_kind::missing) fail("--model '" + o.model + "': no such file");
        if (kind == file_kind::folder) fail("--model '" + o.model + "': is a folder, not a model file");
        if (kind != file_kind::regular) fail("--model '" + o.model + "' is " + describe(kind) + ", not a model file");
    }
    std::vector<std::string> given = o.references;
    given.insert(given.end(), o.positional.begin(), o.positional.end());
    if (given.empty() && !o.unconditional) given.push_back(default_reference().string());
    std::vector<std::filesystem::path> reference_folders;
    p.references = detail::expand_references(given, reference_folders);
    std::set<std::string> names;
    for (const auto& file : p.references) {
        p.names.push_back(safe_name(file.stem().string()));
        if (!names.insert(p.names.back()).second)
            fail("reference '" + file.string() + "': another reference has the same name '" + p.names.back() +
                 "' (its samples would overwrite each other)");
    }

    if (p.final_projection > 0 && (p.conditioning != plan::mode::ilvr || p.unconditional))
        fail("--final-projection applies to ILVR at fixed factors only (not with --mask, --colourise, "
             "--factor-schedule or --unconditional)");

    if (o.out.empty()) fail("--out: give a folder");
    p.out = o.out;
    p.grid = o.grid.empty() ? p.out / "grid.png" : std::filesystem::path(o.grid);
    if (!p.grid.has_filename()) fail("--grid '" + o.grid + "': not a file name");
    const bool grid = p.shard_count == 1;
    detail::check_outputs(p, reference_folders, grid);

    p.memory = detail::estimate_memory(p, grid);
    p.memory.check(p.max_memory);
    return p;
}

} // namespace ilvr_cli

// The job of the `ilvr` tool: load and prepare the references, load the model
// and check its output shape, sample every (reference, factor) in batches, write
// one PNG per sample and a grid. cli_main() is the whole program, with its
// streams passed in so tests can run it. Ref: docs/tool.md.
#pragma once

#include "model_metadata.hpp"
#include "options.hpp"
#ifdef ILVR_CLI_CUDA
#include "run_cuda.hpp"

#include <ilvr/device/torch.hpp>
#endif

#include <ilvr/conditioner/colourise.hpp>
#include <ilvr/conditioner/factor_schedule.hpp>
#include <ilvr/conditioner/ilvr.hpp>
#include <ilvr/conditioner/inpaint.hpp>
#include <ilvr/image/io.hpp>
#include <ilvr/low_pass.hpp>
#include <ilvr/random.hpp>
#include <ilvr/sample.hpp>
#include <ilvr/sampler/ddim.hpp>
#include <ilvr/sampler/ddpm.hpp>
#include <ilvr/sampler/dpm_solver.hpp>
#include <ilvr/sampler/heun.hpp>
#include <ilvr/torch/denoiser.hpp>

#include <CLI/CLI.hpp>

#include <algorithm>
#include <csignal>
#include <stdexcept>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <ostream>
#include <string>
#include <type_traits>
#include <vector>

namespace ilvr_cli {

// ---------------------------------------------------------------------------
// Interruption: SIGINT and SIGTERM set a flag that the sampling callback reads,
// so the batch in flight is dropped, every PNG already written stays whole, and
// the tool exits with 128 + the signal number. `--resume` later completes the job.

inline volatile std::sig_atomic_t stop_signal = 0;

extern "C" inline void on_stop_signal(int signal) { stop_signal = signal; }

inline bool stop_requested() { return stop_signal != 0; }

/// Thrown when a signal stopped the job.
struct interrupted : std::runtime_error {
    interrupted() : std::runtime_error("interrupted by signal " + std::to_string(stop_signal)) {}
};

inline void install_stop_handlers()
{
    std::signal(SIGINT, on_stop_signal);
    std::signal(SIGTERM, on_stop_signal);
}

// ---------------------------------------------------------------------------
// Progress on stderr.

/// "m:ss" or "h:mm:ss".
inline std::string format_duration(double seconds)
{
    const auto s = static_cast<long long>(std::max(0.0, seconds) + 0.5);
    char text[32];
    if (s >= 3600) std::snprintf(text, sizeof text, "%lld:%02lld:%02lld", s / 3600, s / 60 % 60, s % 60);
    else std::snprintf(text, sizeof text, "%lld:%02lld", s / 60, s % 60);
    return text;
}

/// Sampling progress in sampler steps (one model call over a batch). On a terminal
/// one line is rewritten in place (at most 10 times a second); otherwise one line
/// is printed per 10 %. Each line: percent, steps/s, elapsed and estimated time left.
class progress {
public:
    progress(std::ostream& out, bool tty, bool enabled, long long total)
        : out_(out), tty_(tty), enabled_(enabled && total > 0), total_(total),
          start_(std::chrono::steady_clock::now()), last_draw_(start_)
    {
    }

    void step()
    {
        ++done_;
        if (!enabled_) return;
        const auto now = std::chrono::steady_clock::now();
        if (tty_) {
            if (done_ == total_ || now - last_draw_ >= std::chrono::milliseconds(100)) {
                last_draw_ = now;
                out_ << '\r' << line(now) << "   " << (done_ == total_ ? "\n" : "") << std::flush;
            }
            return;
        }
        const long long decile = done_ * 10 / total_;
        if (decile > printed_decile_) {
            printed_decile_ = decile;
            out_ << line(now) << '\n' << std::flush;
        }
    }

    long long done() const { return done_; }

    /// Ends a half-drawn terminal line (before an error message).
    void interrupt()
    {
        if (enabled_ && tty_ && done_ > 0 && done_ < total_) out_ << '\n' << std::flush;
    }

private:
    std::string line(std::chrono::steady_clock::time_point now) const
    {
        const double elapsed = std::chrono::duration<double>(now - start_).count();
        const double rate = elapsed > 0 ? static_cast<double>(done_) / elapsed : 0.0;
        const double left = rate > 0 ? static_cast<double>(total_ - done_) / rate : 0.0;
        char text[160];
        std::snprintf(text, sizeof text, "ilvr: %3lld%% | %lld/%lld steps | %.2f steps/s | %s elapsed | %s left",
                      done_ * 100 / total_, done_, total_, rate, format_duration(elapsed).c_str(),
                      format_duration(left).c_str());
        return text;
    }

    std::ostream& out_;
    bool tty_, enabled_;
    long long total_, done_ = 0, printed_decile_ = 0;
    std::chrono::steady_clock::time_point start_, last_draw_;
};

// ---------------------------------------------------------------------------
// The job.

/// Each reference loaded with the model's channels and prepared to its size:
/// [1, C, S, S] in [-1, 1]. Errors name the file.
inline std::vector<ilvr::tensor> load_references(const plan& p)
{
    std::vector<ilvr::tensor> references;
    for (const auto& file : p.references)
        references.push_back(ilvr::prepare_reference(ilvr::load_image(file, p.channels), p.image_size));
    return references;
}

/// Loads the model and runs it once on a zero image at the first sampled timestep,
/// so a model that does not fit (shape, channels, --learn-sigma) is reported
/// before any sampling, with a hint. A model that describes itself (ilvr.json)
/// skips that call (a whole forward pass, seconds at 256 x 256): its shapes are
/// known, and the first step's output is checked by the denoiser.
inline ilvr::torch::module_denoiser load_model(const plan& p)
{
    const std::string name = "model '" + p.model.string() + "': ";
    const std::string hint = " (check --image-size, --channels and --learn-sigma)";
    try {
        ilvr::torch::module_denoiser model(p.model, {.device = p.cuda ? ::torch::Device(::torch::kCUDA) : ::torch::kCPU,
                                                     .threads = p.threads});
        if (p.self_described) return model;
        const ilvr::tensor probe({1, p.channels, p.image_size, p.image_size});
        const std::vector<std::int64_t> t{p.process.timesteps.back()};
        const auto out = model(probe.view(), t);
        const std::int64_t expected = p.learn_sigma ? 2 * p.channels : p.channels;
        if (out.shape().c != expected)
            throw ilvr::error("returns " + out.shape().to_string() + " for input " + probe.shape().to_string() +
                              (p.learn_sigma ? ", expected eps and v " : ", expected eps ") +
                              ilvr::shape4{1, expected, p.image_size, p.image_size}.to_string() + hint);
        return model;
    } catch (const ilvr::error& e) {
        std::string message = e.what();
        if (message.find(" (check ") == std::string::npos && message.find("not found") == std::string::npos &&
            message.find("cannot load") == std::string::npos)
            message += hint;
        throw ilvr::error(name + message);
    }
}

/// One sample of the job: reference r (unused when unconditional), factor f, number k.
struct job_sample {
    std::size_t r = 0, f = 0;
    int k = 0;
};

/// The file of a sample: OUT/<reference-stem>/N<factor>/sample-<k>.png (inpaint,
/// colourise or schedule in place of N<factor>), or OUT/unconditional/sample-<k>.png.
inline std::filesystem::path sample_file(const plan& p, std::size_t r, std::size_t f, int k)
{
    const std::filesystem::path folder = p.unconditional ? p.out / "unconditional"
                                                         : p.out / p.references[r].stem() / p.row_name(f);
    return folder / ("sample-" + std::to_string(k) + ".png");
}

/// The samples this process draws, in job order: every sample of its shard,
/// less those already written when resuming (save_png renames a complete
/// temporary file into place, so an existing file is whole).
inline std::vector<job_sample> samples_to_draw(const plan& p)
{
    std::vector<job_sample> todo;
    auto add = [&](std::size_t r, std::size_t f) {
        for (int k = 0; k < p.samples; ++k)
            if (!p.resume || !std::filesystem::exists(sample_file(p, r, f, k))) todo.push_back({r, f, k});
    };
    if (p.unconditional) add(0, 0);
    else
        for (std::size_t r = 0; r < p.references.size(); ++r)
            if (p.in_shard(r))
                for (std::size_t f = 0; f < p.factors.size(); ++f) add(r, f);
    return todo;
}

/// The batches: consecutive samples at the same factor, up to --batch of them,
/// across references, so a folder sampled once per reference still fills batches.
inline std::vector<std::vector<job_sample>> make_batches(const plan& p, const std::vector<job_sample>& todo)
{
    std::vector<std::vector<job_sample>> batches;
    for (std::size_t f = 0; f < std::max<std::size_t>(1, p.factors.size()); ++f) {
        std::vector<job_sample> batch;
        for (const job_sample& s : todo) {
            if (s.f != f) continue;
            batch.push_back(s);
            if (static_cast<int>(batch.size()) == p.batch) batches.push_back(std::move(batch)), batch.clear();
        }
        if (!batch.empty()) batches.push_back(std::move(batch));
    }
    return batches;
}

/// A noise source whose batch position b draws for job sample indices[first + b]:
/// the images of a batch need not have consecutive indices, and each still gets
/// exactly the noise it would get alone.
struct indexed_noise {
    const ilvr::philox_noise& base;
    const std::vector<std::uint64_t>& indices;

    void operator()(ilvr::noise_purpose purpose, int step, std::uint64_t first, ilvr::tensor_view<float> out) const
    {
        for (std::int64_t b = 0; b < out.shape().n; ++b)
            base(purpose, step, indices[static_cast<std::size_t>(first) + static_cast<std::size_t>(b)], out.batch(b, 1));
    }
};

#ifdef ILVR_CLI_CUDA
/// One batch on the GPU (--device cuda): the CPU path's noise keys and
/// references, the device sampler (ddpm or ddim; validate() refuses the others).
template <class Rule>
bool sample_batch_on_gpu(const plan& p, [[maybe_unused]] const Rule& rule, ilvr::torch::module_denoiser& model,
                         const std::vector<ilvr::tensor>& references, const std::vector<job_sample>& batch,
                         const std::vector<std::uint64_t>& indices, ilvr::tensor& x, progress& bar)
{
    if constexpr (std::is_same_v<Rule, ilvr::ddpm> || std::is_same_v<Rule, ilvr::ddim>) {
        const auto count = static_cast<std::int64_t>(batch.size());
        ilvr::tensor refs({count, p.channels, p.image_size, p.image_size});
        for (std::int64_t b = 0; !p.unconditional && b < count; ++b) {
            const ilvr::tensor& ref = references[batch[static_cast<std::size_t>(b)].r];
            std::copy(ref.data(), ref.data() + ref.size(), refs.view().batch(b, 1).data());
        }
        const cuda_batch job{&p.process, std::is_same_v<Rule, ilvr::ddim>, p.eta, p.variance, p.seed, &indices,
                             p.unconditional ? nullptr : &refs,
                             {.factor = p.unconditional ? 1 : p.factors[batch.front().f], .kernel = p.kernel,
                              .range = p.range, .level = p.level}};
        ilvr::device::torch_denoiser network(model);
        auto on_gpu = [&](ilvr::tensor_view<const float> in, std::span<const std::int64_t> t, void* stream) {
            return network(in, t, static_cast<cudaStream_t>(stream));
        };
        return sample_batch_cuda(on_gpu, job, x, [&] {
            bar.step();
            return !stop_requested();
        });
    } else {
        throw ilvr::error("--device cuda samples with ddpm or ddim only");
    }
}
#endif

/// The --mask image as a 0/1 mask [1, 1, S, S]: white (> mid-grey) is known.
inline ilvr::tensor load_mask(const plan& p)
{
    const ilvr::tensor image = ilvr::load_image(p.mask, 1);
    if (image.shape().h != p.image_size || image.shape().w != p.image_size)
        throw ilvr::error("--mask '" + p.mask.string() + "': is " + std::to_string(image.shape().w) + " x "
                          + std::to_string(image.shape().h) + ", the model's images are " + std::to_string(p.image_size)
                          + " x " + std::to_string(p.image_size));
    ilvr::tensor mask(image.shape());
    for (std::size_t e = 0; e < mask.size(); ++e) mask[e] = image[e] > 0.0f ? 1.0f : 0.0f;
    return mask;
}

/// Runs `sample(conditioner)` with the conditioner --mask, --colourise,
/// --factor-schedule or --factor chose, for the batch's references `refs`.
template <class Model, class Sample>
bool with_conditioner(const plan& p, Model& model, ilvr::tensor refs, const ilvr::tensor& mask, int factor,
                      Sample&& sample)
{
    switch (p.conditioning) {
    case plan::mode::inpaint: {
        ilvr::inpaint_conditioner inpaint(std::move(refs), mask, {.range = p.range, .level = p.level});
        if (p.repaint_count == 1) return sample(inpaint);
        ilvr::repaint_conditioner repaint(model, std::move(inpaint), {.jump = p.repaint_jump, .count = p.repaint_count});
        return sample(repaint);
    }
    case plan::mode::colourise: {
        ilvr::colourise_conditioner colourise(std::move(refs), {.range = p.range, .level = p.level});
        return sample(colourise);
    }
    case plan::mode::schedule: {
        ilvr::factor_schedule_conditioner schedule(refs, p.schedule, {.kernel = p.kernel, .level = p.level});
        return sample(schedule);
    }
    default: {
        ilvr::ilvr_conditioner conditioner(std::move(refs), {.factor = factor, .kernel = p.kernel, .range = p.range,
                                                             .level = p.level});
        return sample(conditioner);
    }
    }
}

/// Draws every batch and writes its PNGs as it finishes.
template <class Rule>
void sample_batches(const plan& p, const Rule& rule, ilvr::torch::module_denoiser& model,
                    const std::vector<ilvr::tensor>& references, const std::vector<std::vector<job_sample>>& batches,
                    progress& bar)
{
    const ilvr::sampler sampler(p.process, rule);
    const ilvr::philox_noise noise(p.seed);
    const ilvr::tensor mask = p.conditioning == plan::mode::inpaint ? load_mask(p) : ilvr::tensor{};
    for (const auto& batch : batches) {
        const auto count = static_cast<std::int64_t>(batch.size());
        std::vector<std::uint64_t> indices;
        for (const job_sample& s : batch) indices.push_back(p.unconditional ? static_cast<std::uint64_t>(s.k)
                                                                          : p.sample_index(s.r, s.f, s.k));
        for (const job_sample& s : batch) std::filesystem::create_directories(sample_file(p, s.r, s.f, s.k).parent_path());
        ilvr::tensor x({count, p.channels, p.image_size, p.image_size});
        auto on_step = [&](const ilvr::step_event&) {
            bar.step();
            return !stop_requested();
        };
        const ilvr::run_options options{.first_sample = 0, .threads = p.threads};
        const indexed_noise batch_noise{noise, indices};
        bool finished = false;
#ifdef ILVR_CLI_CUDA
        if (p.cuda)
            finished = sample_batch_on_gpu(p, rule, model, references, batch, indices, x, bar);
        else
#endif
        if (p.unconditional) {
            finished = sampler.run(model, batch_noise, x, ilvr::no_conditioning{}, on_step, options);
        } else {
            // One reference per image ([B, C, S, S]); the batch shares the factor.
            ilvr::tensor refs({count, p.channels, p.image_size, p.image_size});
            for (std::int64_t b = 0; b < count; ++b) {
                const ilvr::tensor& ref = references[batch[static_cast<std::size_t>(b)].r];
                std::copy(ref.data(), ref.data() + ref.size(), refs.view().batch(b, 1).data());
            }
            finished = with_conditioner(p, model, std::move(refs), mask, p.factors[batch.front().f], [&](auto& cond) {
                return sampler.run(model, batch_noise, x, cond, on_step, options);
            });
        }
        if (!finished) throw interrupted();
        for (std::int64_t b = 0; b < count; ++b) {
            const job_sample& s = batch[static_cast<std::size_t>(b)];
            ilvr::save_png(sample_file(p, s.r, s.f, s.k), x.view().batch(b, 1));
        }
    }
}

/// The grid's cells, read back from the files: per row (reference, factor) the
/// reference, its phi_N and the samples; unconditional: the samples.
inline std::vector<ilvr::tensor> grid_cells(const plan& p, const std::vector<ilvr::tensor>& references)
{
    std::vector<ilvr::tensor> cells;
    auto samples = [&](std::size_t r, std::size_t f) {
        for (int k = 0; k < p.samples; ++k) cells.push_back(ilvr::load_image(sample_file(p, r, f, k), p.channels));
    };
    if (p.unconditional) {
        samples(0, 0);
        return cells;
    }
    const ilvr::tensor mask = p.conditioning == plan::mode::inpaint ? load_mask(p) : ilvr::tensor{};
    for (std::size_t r = 0; r < references.size(); ++r)
        for (std::size_t f = 0; f < p.factors.size(); ++f) {
            // The second cell: what the conditioner keeps of the reference.
            ilvr::tensor low(references[r].shape());
            const std::size_t plane = static_cast<std::size_t>(p.image_size) * static_cast<std::size_t>(p.image_size);
            if (p.conditioning == plan::mode::inpaint) {  // the known region, mid-grey elsewhere
                for (std::size_t e = 0; e < low.size(); ++e) low[e] = references[r][e] * mask[e % plane];
            } else if (p.conditioning == plan::mode::colourise) {  // the luma, as grey
                for (std::size_t e = 0; e < plane; ++e) {
                    const float* y = references[r].data();
                    const float l = 0.299f * y[e] + 0.587f * y[plane + e] + 0.114f * y[2 * plane + e];
                    for (int c = 0; c < 3; ++c) low[static_cast<std::size_t>(c) * plane + e] = l;
                }
            } else {  // phi_N; for a schedule, its finest factor
                int n = p.factors[f];
                if (p.conditioning == plan::mode::schedule) {
                    n = p.schedule.front().factor;
                    for (const auto& stage : p.schedule) n = std::min(n, stage.factor);
                }
                ilvr::low_pass(p.image_size, p.image_size, n, p.kernel)(references[r], low);
            }
            cells.push_back(references[r]);
            cells.push_back(std::move(low));
            samples(r, f);
        }
    return cells;
}

/// Runs a validated job. Progress goes to `err`; the grid path and the output
/// folder to `out`.
inline void run(const plan& p, std::ostream& out, std::ostream& err, bool err_is_tty)
{
    const std::vector<ilvr::tensor> references = load_references(p);
    if (p.conditioning == plan::mode::inpaint) (void)load_mask(p);  // a bad mask is reported before the model loads
    ilvr::torch::module_denoiser model = load_model(p);

    const auto steps = static_cast<long long>(p.process.timesteps.size());
    if (!p.quiet && p.unconditional) {
        err << "ilvr: " << p.samples << " unconditional sample(s), " << steps << " steps, batch " << p.batch << ", "
            << p.threads << " thread(s)\n"
            << std::flush;
    } else if (!p.quiet) {
        err << "ilvr: " << references.size() << " reference(s) x " << p.factors.size() << " factor(s) x "
            << p.samples << " sample(s), " << steps << " steps, " << p.range.to_string() << ", batch " << p.batch
            << ", " << p.threads << " thread(s)\n"
            << std::flush;
    }
    const auto todo = samples_to_draw(p);
    const auto batches = make_batches(p, todo);
    progress bar(err, err_is_tty, !p.quiet, static_cast<long long>(batches.size()) * steps);

    std::filesystem::create_directories(p.out);
    const auto start = std::chrono::steady_clock::now();
    try {
        if (p.ddim) sample_batches(p, ilvr::ddim{.eta = p.eta}, model, references, batches, bar);
        else if (p.sampler == "dpm++2m") sample_batches(p, ilvr::dpmpp_2m{}, model, references, batches, bar);
        else if (p.sampler == "heun") sample_batches(p, ilvr::heun{}, model, references, batches, bar);
        else sample_batches(p, ilvr::ddpm{.variance = p.variance}, model, references, batches, bar);
    } catch (...) {
        bar.interrupt();
        throw;
    }
    if (!p.quiet) {
        const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        char line[128];
        std::snprintf(line, sizeof line, "ilvr: sampled %lld image(s) in %.2f s\n", static_cast<long long>(todo.size()),
                      seconds);
        err << line << std::flush;
    }
    if (p.shard_count > 1) {  // the shards together hold every sample; `--resume` without --shard makes the grid
        out << "samples: " << p.out.string() << '\n' << std::flush;
        return;
    }
    if (p.grid.has_parent_path()) std::filesystem::create_directories(p.grid.parent_path());
    const std::vector<ilvr::tensor> cells = grid_cells(p, references);
    std::vector<ilvr::tensor_view<const float>> views(cells.begin(), cells.end());
    if (p.unconditional) {  // grid: the samples, 8 a row
        ilvr::save_png(p.grid, ilvr::make_grid(views, std::min(p.samples, 8), 2));
        out << "grid: " << p.grid.string() << '\n' << "samples: " << p.out.string() << '\n' << std::flush;
        return;
    }
    // Grid: one row per (reference, factor).
    const char* kept = p.conditioning == plan::mode::inpaint     ? "KNOWN"
                       : p.conditioning == plan::mode::colourise ? "LUMA"
                                                                 : "PHI_N";
    std::vector<std::string> row_labels, column_labels{"REF", kept};
    for (std::size_t r = 0; r < references.size(); ++r)
        for (std::size_t f = 0; f < p.factors.size(); ++f)
            row_labels.push_back((references.size() > 1 ? "R" + std::to_string(r) + " " : std::string{})
                                 + (p.conditioning == plan::mode::ilvr ? "N=" + std::to_string(p.factors[f])
                                                                       : p.row_name(f)));
    for (int k = 0; k < p.samples; ++k) column_labels.push_back("#" + std::to_string(k));
    const int text_scale = 1 + p.image_size / 128;
    const ilvr::tensor grid = ilvr::make_grid(views, p.samples + 2, 2, row_labels, column_labels, text_scale);
    ilvr::save_png(p.grid, grid);

    out << "grid: " << p.grid.string() << '\n' << "samples: " << p.out.string() << '\n' << std::flush;
}

/// `message` on one line.
inline std::string one_line(std::string message)
{
    std::replace(message.begin(), message.end(), '\n', ' ');
    std::replace(message.begin(), message.end(), '\r', ' ');
    while (!message.empty() && message.back() == ' ') message.pop_back();
    return message;
}

/// The program: parse, validate, run. Returns the exit code: 0 on success (and
/// --help), 2 for a bad input or a failed job, CLI11's own non-zero code for a
/// usage error. Every error is one line "ilvr: error: <message>" on `err`.
inline int cli_main(std::vector<std::string> args, std::ostream& out, std::ostream& err, bool err_is_tty)
{
    options o;
    const auto app = make_app(o);
    try {
        std::reverse(args.begin(), args.end());
        app->parse(args);
    } catch (const CLI::ParseError& e) {
        if (e.get_exit_code() == 0) return app->exit(e, out, err);  // --help
        err << "ilvr: error: " << one_line(e.what()) << '\n';
        return e.get_exit_code();
    }
    try {
        const bool described = use_model_metadata(o, given_model_options::from(*app)).has_value();
        plan p = validate(o);
        p.self_described = described;
        run(p, out, err, err_is_tty);
        return 0;
    } catch (const interrupted& e) {
        err << "ilvr: " << e.what() << "; samples written so far are complete, --resume continues\n";
        return 128 + static_cast<int>(stop_signal);
    } catch (const std::exception& e) {
        err << "ilvr: error: " << one_line(e.what()) << '\n';
        return 2;
    }
}

} // namespace ilvr_cli

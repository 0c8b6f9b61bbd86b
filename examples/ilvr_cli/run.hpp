// The job of the `ilvr` tool: load and prepare the references, load the model
// and check its output shape, sample every (reference, factor) in batches, write
// one PNG per sample and a grid. cli_main() is the whole program, with its
// streams passed in so tests can run it. Ref: docs/tool.md.
#pragma once

#include "options.hpp"

#include <ilvr/conditioner/ilvr.hpp>
#include <ilvr/image/io.hpp>
#include <ilvr/low_pass.hpp>
#include <ilvr/random.hpp>
#include <ilvr/sample.hpp>
#include <ilvr/sampler/ddim.hpp>
#include <ilvr/sampler/ddpm.hpp>
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
/// before any sampling, with a hint.
inline ilvr::torch::module_denoiser load_model(const plan& p)
{
    const std::string name = "model '" + p.model.string() + "': ";
    const std::string hint = " (check --image-size, --channels and --learn-sigma)";
    try {
        ilvr::torch::module_denoiser model(p.model, {.threads = p.threads});
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

/// Draws the samples 0 .. K-1 of one grid row into `folder` as sample-<k>.png,
/// in batches of consecutive missing samples (with --resume, files already
/// written are kept: save_png renames a complete temporary file into place, so
/// an existing file is whole). Sample k's noise is keyed by first_index + k.
template <class Sampler, class Conditioner>
void sample_row(const plan& p, const Sampler& sampler, ilvr::torch::module_denoiser& model, Conditioner& conditioner,
                const std::filesystem::path& folder, std::uint64_t first_index, progress& bar)
{
    std::filesystem::create_directories(folder);
    const ilvr::philox_noise noise(p.seed);
    auto file = [&](int k) { return folder / ("sample-" + std::to_string(k) + ".png"); };
    auto missing = [&](int k) { return !p.resume || !std::filesystem::exists(file(k)); };
    for (int first = 0; first < p.samples;) {
        if (!missing(first)) {
            ++first;
            continue;
        }
        int count = 1;
        while (count < p.batch && first + count < p.samples && missing(first + count)) ++count;
        ilvr::tensor x({count, p.channels, p.image_size, p.image_size});
        const bool finished = sampler.run(model, noise, x, conditioner, [&](const ilvr::step_event&) {
            bar.step();
            return !stop_requested();
        }, {.first_sample = first_index + static_cast<std::uint64_t>(first), .threads = p.threads});
        if (!finished) throw interrupted();
        for (int b = 0; b < count; ++b) ilvr::save_png(file(first + b), x.view().batch(b, 1));
        first += count;
    }
}

/// The sample PNGs of one row, read back for the grid.
inline void read_row(const plan& p, const std::filesystem::path& folder, std::vector<ilvr::tensor>& cells)
{
    for (int k = 0; k < p.samples; ++k)
        cells.push_back(ilvr::load_image(folder / ("sample-" + std::to_string(k) + ".png"), p.channels));
}

/// Samples every reference at every factor (or, with --unconditional, one row
/// without conditioning); writes the sample PNGs as they are done and returns
/// the grid's cells (per row: reference, phi_N(reference), samples).
template <class Rule>
std::vector<ilvr::tensor> sample_all(const plan& p, const Rule& rule, ilvr::torch::module_denoiser& model,
                                     const std::vector<ilvr::tensor>& references, progress& bar)
{
    const ilvr::sampler sampler(p.process, rule);
    std::vector<ilvr::tensor> cells;
    if (p.unconditional) {
        ilvr::no_conditioning none;
        sample_row(p, sampler, model, none, p.out / "unconditional", 0, bar);
        read_row(p, p.out / "unconditional", cells);
        return cells;
    }
    for (std::size_t r = 0; r < references.size(); ++r) {
        if (!p.in_shard(r)) continue;
        const ilvr::tensor& reference = references[r];
        for (std::size_t f = 0; f < p.factors.size(); ++f) {
            const int factor = p.factors[f];
            const std::filesystem::path folder =
                p.out / p.references[r].stem() / ("N" + std::to_string(factor));
            ilvr::tensor low(reference.shape());
            ilvr::low_pass(p.image_size, p.image_size, factor, p.kernel)(reference, low);
            cells.push_back(reference);
            cells.push_back(std::move(low));

            ilvr::ilvr_conditioner conditioner(reference, {.factor = factor, .kernel = p.kernel, .range = p.range,
                                                           .level = p.level});
            sample_row(p, sampler, model, conditioner, folder, p.sample_index(r, f, 0), bar);
            read_row(p, folder, cells);
        }
    }
    return cells;
}

/// Runs a validated job. Progress goes to `err`; the grid path and the output
/// folder to `out`.
inline void run(const plan& p, std::ostream& out, std::ostream& err, bool err_is_tty)
{
    const std::vector<ilvr::tensor> references = load_references(p);
    ilvr::torch::module_denoiser model = load_model(p);

    const auto steps = static_cast<long long>(p.process.timesteps.size());
    const long long batches_per_row = (p.samples + p.batch - 1) / p.batch;
    long long in_shard = 0;
    for (std::size_t r = 0; r < references.size(); ++r) in_shard += p.in_shard(r) ? 1 : 0;
    const auto rows = p.unconditional ? 1 : in_shard * static_cast<long long>(p.factors.size());
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
    progress bar(err, err_is_tty, !p.quiet, rows * batches_per_row * steps);

    std::filesystem::create_directories(p.out);
    const auto start = std::chrono::steady_clock::now();
    std::vector<ilvr::tensor> cells;
    try {
        cells = p.ddim ? sample_all(p, ilvr::ddim{.eta = p.eta}, model, references, bar)
                       : sample_all(p, ilvr::ddpm{.variance = p.variance}, model, references, bar);
    } catch (...) {
        bar.interrupt();
        throw;
    }
    if (!p.quiet) {
        const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        char line[128];
        std::snprintf(line, sizeof line, "ilvr: sampled %lld image(s) in %.2f s\n",
                      rows * static_cast<long long>(p.samples), seconds);
        err << line << std::flush;
    }

    if (p.shard_count > 1) {  // the shards together hold every sample; `--resume` without --shard makes the grid
        out << "samples: " << p.out.string() << '\n' << std::flush;
        return;
    }
    if (p.grid.has_parent_path()) std::filesystem::create_directories(p.grid.parent_path());
    std::vector<ilvr::tensor_view<const float>> views(cells.begin(), cells.end());
    if (p.unconditional) {  // grid: the samples, 8 a row
        ilvr::save_png(p.grid, ilvr::make_grid(views, std::min(p.samples, 8), 2));
        out << "grid: " << p.grid.string() << '\n' << "samples: " << p.out.string() << '\n' << std::flush;
        return;
    }
    // Grid: one row per (reference, factor).
    std::vector<std::string> row_labels, column_labels{"REF", "PHI_N"};
    for (std::size_t r = 0; r < references.size(); ++r)
        for (int factor : p.factors)
            row_labels.push_back((references.size() > 1 ? "R" + std::to_string(r) + " " : std::string{}) + "N=" +
                                 std::to_string(factor));
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
        run(validate(o), out, err, err_is_tty);
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

// The job of the `ilvr` tool: load and prepare the references, load the model
// and check its output shape, sample every (reference, factor) in batches, write
// one PNG per sample and a grid. cli_main() is the whole program, with its
// streams passed in so tests can run it. Ref: docs/tool.md.
#pragma once

#include "manifest.hpp"
#include "model_metadata.hpp"
#include "options.hpp"
#include "sampling.hpp"
#include "signals.hpp"
#ifdef ILVR_CLI_CUDA
#include "run_cuda.hpp"

#include <ilvr/device/torch.hpp>
#endif

#include <ilvr/conditioner/colourise.hpp>
#include <ilvr/conditioner/factor_schedule.hpp>
#include <ilvr/conditioner/final_projection.hpp>
#include <ilvr/conditioner/ilvr.hpp>
#include <ilvr/config.hpp>
#include <ilvr/conditioner/inpaint.hpp>
#include <ilvr/image/io.hpp>
#include <ilvr/low_pass.hpp>
#include <ilvr/random.hpp>
#include <ilvr/sample.hpp>
#include <ilvr/sampler/ddim.hpp>
#include <ilvr/sampler/ddpm.hpp>
#include <ilvr/sampler/dpm_solver.hpp>
#include <ilvr/sampler/dpm_solver_sde.hpp>
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
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <cmath>
#include <limits>

namespace ilvr_cli {

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

/// A reference as read: its pixels prepared to the model's size and the
/// checksum of its file's bytes.
struct loaded_reference {
    ilvr::tensor image;
    std::uint64_t checksum = 0;
};

/// Loads one reference: the file read with its size checked first (read_input),
/// its header's pixel count checked against the memory available before it is
/// decoded, then prepared to [1, C, S, S] in [-1, 1]. Errors name the file.
inline loaded_reference load_reference(const plan& p, const std::filesystem::path& file)
{
    const std::vector<unsigned char> bytes = read_input(file, max_reference_bytes, "reference");
    int w = 0, h = 0, comp = 0;
    if (!bytes.empty() && bytes.size() < static_cast<std::size_t>(std::numeric_limits<int>::max())
        && stbi_info_from_memory(bytes.data(), static_cast<int>(bytes.size()), &w, &h, &comp) == 1) {
        memory_estimate m;
        m.add("the process now", static_cast<double>(resident_bytes()));
        m.add("decoding reference '" + file.string() + "'", static_cast<double>(w) * h * (4.0 + 12.0 * p.channels));
        m.check(p.max_memory);
    }
    ilvr::tensor image = [&] {
        try {
            return ilvr::decode_image(bytes, p.channels, ilvr::default_max_pixels, file.string());
        } catch (const ilvr::error& e) {  // "decode_image: 'file': ..." -> "load_image: 'file': ..."
            std::string message = e.what();
            message.replace(0, std::string("decode_image").size(), "load_image");
            throw ilvr::error(message);
        }
    }();
    return {ilvr::prepare_reference(image, p.image_size), fnv1a(bytes.data(), bytes.size())};
}

/// Each reference loaded (load_reference), in order.
inline std::vector<loaded_reference> load_references(const plan& p)
{
    std::vector<loaded_reference> references;
    for (const auto& file : p.references) references.push_back(load_reference(p, file));
    return references;
}

/// The manifest of the job: what its samples are (docs/tool.md, "Resume integrity").
inline manifest job_manifest(const plan& p, const std::vector<loaded_reference>& references, std::uint64_t model_sum)
{
    manifest m;
    char eta[40];
    std::snprintf(eta, sizeof eta, "%.17g", p.eta);
    m.add("library", std::to_string(ILVR_VERSION_MAJOR) + "." + std::to_string(ILVR_VERSION_MINOR) + "." +
                         std::to_string(ILVR_VERSION_PATCH));
    m.add("model", hex64(model_sum));
    m.add("model-path", path_key(p.model).string());
    m.add("image-size", std::to_string(p.image_size));
    m.add("channels", std::to_string(p.channels));
    m.add("learn-sigma", p.learn_sigma ? "yes" : "no");
    m.add("timesteps", std::to_string(p.timesteps));
    m.add("schedule", p.schedule_name);
    m.add("respacing", p.respacing);
    m.add("sampler", p.sampler);
    m.add("eta", eta);
    if (p.bf16) m.add("precision", "bf16");  // fp32 manifests stay as they were
    if (p.final_projection > 0) m.add("final-projection", std::to_string(p.final_projection));
    if (p.sampler == "ddpm" && !p.learn_sigma)  // the only case --variance changes anything
        m.add("variance", p.variance == ilvr::fixed_variance::small ? "small" : "large");
    m.add("samples", std::to_string(p.samples));
    m.add("seed", std::to_string(p.seed));
    m.add("unconditional", p.unconditional ? "yes" : "no");
    if (!p.unconditional) {
        std::string factors;
        for (int n : p.factors) factors += (factors.empty() ? "" : ",") + std::to_string(n);
        m.add("factors", factors);
        m.add("range", p.range.to_string());
        if (p.conditioning == plan::mode::ilvr || p.conditioning == plan::mode::schedule)  // phi_N's kernel
            m.add("kernel", std::string(p.kernel.name));
        m.add("noise-level", p.level == ilvr::reference_noise_level::paper ? "paper" : "reference-code");
        if (p.conditioning != plan::mode::ilvr) m.add("conditioning", p.row_name(0));
        if (p.conditioning == plan::mode::inpaint) {
            m.add("mask", hex64(file_checksum(p.mask, "--mask")));
            m.add("repaint", std::to_string(p.repaint_jump) + "," + std::to_string(p.repaint_count));
        }
        if (p.conditioning == plan::mode::schedule) {
            std::string stages;
            for (const auto& stage : p.schedule)
                stages += (stages.empty() ? "" : ",") + stage.range.to_string() + "=" + std::to_string(stage.factor);
            m.add("factor-schedule", stages);
        }
        for (std::size_t r = 0; r < p.references.size(); ++r) {
            m.add("reference", hex64(references[r].checksum) + " " + p.names[r]);
            m.add("reference-path", path_key(p.references[r]).string());
        }
    }
    m.add("shards", std::to_string(p.shard_count));
    return m;
}

/// Whether the module's last output was float32 (or, under --precision bf16, bfloat16,
/// which autocast gives where the module does not convert its output itself).
inline bool float_output(const ilvr::torch::module_denoiser& model, bool bf16)
{
    const auto dtype = model.last_output_dtype();
    return dtype == ::torch::kFloat || (bf16 && dtype == ::torch::kBFloat16);
}

/// A loaded model, checked, and what one image costs it.
struct checked_model {
    ilvr::torch::module_denoiser model;
    std::optional<std::uint64_t> peak_per_image;  ///< the check call's peak memory above the resident size
};

/// Loads the model and runs it once on a zero image at the first sampled timestep,
/// so a model that does not fit (shape, channels, --learn-sigma, an output that
/// is not float32) is reported before any sampling, with a hint; the call's peak
/// memory is measured for the memory check. A model that describes itself
/// (ilvr.json) skips that call (a whole forward pass, seconds at 256 x 256): its
/// shapes are known, and the first step's output is checked by the denoiser.
inline checked_model load_model(const plan& p)
{
    const std::string name = "model '" + p.model.string() + "': ";
    const std::string hint = " (check --image-size, --channels and --learn-sigma)";
    try {
        checked_model checked{ilvr::torch::module_denoiser(
            p.model, {.device = p.cuda ? ::torch::Device(::torch::kCUDA) : ::torch::kCPU, .threads = p.threads,
                      .precision = p.bf16 ? ilvr::torch::arithmetic::bf16 : ilvr::torch::arithmetic::fp32}),
                              std::nullopt};
        if (p.self_described) return checked;
        const ilvr::tensor probe({1, p.channels, p.image_size, p.image_size});
        const std::vector<std::int64_t> t{p.process.timesteps.back()};
        // The first call checks the output; a second one, warm, measures the peak
        // memory of an image (the first includes one-time set-up).
        const ilvr::tensor_view<const float> out = checked.model(probe.view(), t);
        if (!float_output(checked.model, p.bf16))
            throw ilvr::error(std::string("returns ") + c10::toString(checked.model.last_output_dtype()) +
                              ", expected float32 (Float): convert the output in the model (.float())");
        const std::int64_t expected = p.learn_sigma ? 2 * p.channels : p.channels;
        if (out.shape().c != expected)
            throw ilvr::error("returns " + out.shape().to_string() + " for input " + probe.shape().to_string() +
                              (p.learn_sigma ? ", expected eps and v " : ", expected eps ") +
                              ilvr::shape4{1, expected, p.image_size, p.image_size}.to_string() + hint);
        checked.peak_per_image = measure_peak([&] { checked.model(probe.view(), t); });
        return checked;
    } catch (const ilvr::error& e) {
        std::string message = e.what();
        if (message.find(" (check ") == std::string::npos && message.find("not found") == std::string::npos &&
            message.find("cannot load") == std::string::npos && message.find("float32") == std::string::npos)
            message += hint;
        throw ilvr::error(name + message);
    }
}

/// The model as the sampler calls it: an output with NaN or Inf is an error at
/// the step it happens (the sampler adds the step and timestep to every error of
/// the network, whose own message the adapter keeps: error_summary).
struct reporting_denoiser {
    ilvr::torch::module_denoiser& model;

    ilvr::tensor_view<const float> operator()(ilvr::tensor_view<const float> x, std::span<const std::int64_t> t)
    {
        const ilvr::tensor_view<const float> out = model(x, t);
        if (!float_output(model, bf16))  // a self-described model had no check call
            throw ilvr::error("model '" + model_name + "' returns " + c10::toString(model.last_output_dtype()) +
                              ", expected float32 (Float): convert the output in the model (.float())");
        if (out.shape().c != channels)  // nor its learn_sigma (eps, or eps and v), taken from its metadata
            throw ilvr::error("model '" + model_name + "' returns " + out.shape().to_string() + " for input " +
                              x.shape().to_string() + ", but learn_sigma is " +
                              (channels == x.shape().c ? "false (eps only" : "true (eps and v") +
                              " expected, from the model's metadata ilvr.json or --learn-sigma)");
        const float* data = out.data();
        for (std::size_t e = 0; e < out.size(); ++e)
            if (!std::isfinite(data[e]))
                throw ilvr::error("model '" + model_name + "' returned NaN or Inf (batch of " +
                                  std::to_string(x.shape().n) + ")");
        return out;
    }
    std::string model_name;
    std::int64_t channels;  ///< the output's channels: C, or 2C with learn_sigma
    bool bf16 = false;      ///< --precision bf16: a bfloat16 output is accepted too
};

/// One sample of the job: reference r (unused when unconditional), factor f, number k.
struct job_sample {
    std::size_t r = 0, f = 0;
    int k = 0;
};

/// Whether `file` holds a sample of this job: a regular, non-empty PNG that
/// decodes to [1, C, S, S]. Its header is read first: a file announcing another
/// size is not decoded (a planted huge image costs nothing).
inline bool is_complete_sample(const plan& p, const std::filesystem::path& file)
{
    if (kind_at(file, false, "sample") != file_kind::regular) return false;
    try {
        const auto bytes = read_input(file, max_reference_bytes, "sample");
        int w = 0, h = 0, comp = 0;
        if (bytes.empty() || bytes.size() > static_cast<std::size_t>(std::numeric_limits<int>::max()) ||
            stbi_info_from_memory(bytes.data(), static_cast<int>(bytes.size()), &w, &h, &comp) != 1 ||
            w != p.image_size || h != p.image_size)
            return false;
        const auto image = ilvr::decode_image(bytes, p.channels, std::int64_t{w} * h, file.string());
        return image.shape() == ilvr::shape4{1, p.channels, p.image_size, p.image_size};
    } catch (const ilvr::error&) {
        return false;
    }
}

/// The samples this process draws, in job order: every sample of its shard, less,
/// when resuming, those whose file is a complete sample (is_complete_sample):
/// a missing, empty, foreign or damaged file is drawn again.
inline std::vector<job_sample> samples_to_draw(const plan& p)
{
    std::vector<job_sample> todo;
    for (std::size_t r = 0; r < (p.unconditional ? 1 : p.references.size()); ++r)
        for (std::size_t f = 0; f < std::max<std::size_t>(1, p.factors.size()); ++f)
            for (int k = 0; k < p.samples; ++k)
                if (p.in_shard(p.sample_index(r, f, k)) && !(p.resume && is_complete_sample(p, p.sample_file(r, f, k))))
                    todo.push_back({r, f, k});
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

/// The solver and conditioner options of the plan, for with_rule and with_conditioner (sampling.hpp).
inline sampling_spec sampling_of(const plan& p)
{
    sampling_spec s{p.sampler, p.eta, p.variance, sampling_spec::mode::ilvr, p.range, p.kernel, p.level,
                    p.repaint_jump, p.repaint_count, p.schedule, p.final_projection};
    switch (p.conditioning) {
    case plan::mode::inpaint: s.conditioning = sampling_spec::mode::inpaint; break;
    case plan::mode::colourise: s.conditioning = sampling_spec::mode::colourise; break;
    case plan::mode::schedule: s.conditioning = sampling_spec::mode::schedule; break;
    default: break;
    }
    return s;
}

#ifdef ILVR_CLI_CUDA
/// One batch on the GPU (--device cuda): the CPU path's noise keys, references,
/// solver and conditioner (the same sampling_spec), the device backend.
inline bool sample_batch_on_gpu(const plan& p, ilvr::torch::module_denoiser& model,
                                const std::vector<loaded_reference>& references, const ilvr::tensor& mask,
                                const std::vector<job_sample>& batch, const std::vector<std::uint64_t>& indices,
                                ilvr::tensor& x, progress& bar)
{
    const auto count = static_cast<std::int64_t>(batch.size());
    ilvr::tensor refs({count, p.channels, p.image_size, p.image_size});
    for (std::int64_t b = 0; !p.unconditional && b < count; ++b) {
        const ilvr::tensor& ref = references[batch[static_cast<std::size_t>(b)].r].image;
        std::copy(ref.data(), ref.data() + ref.size(), refs.view().batch(b, 1).data());
    }
    const cuda_batch job{&p.process, sampling_of(p), p.seed, &indices, p.unconditional ? nullptr : &refs, &mask,
                         p.unconditional ? 1 : p.factors[batch.front().f]};
    ilvr::device::torch_denoiser network(model);
    auto on_gpu = [&](ilvr::tensor_view<const float> in, std::span<const std::int64_t> t, void* stream) {
        return network(in, t, static_cast<cudaStream_t>(stream));
    };
    return sample_batch_cuda(on_gpu, job, x, [&] {
        bar.step();
        return !stop_requested();
    });
}
#endif

/// Writes a PNG inside a write_section (a signal waits for it), creating its folder,
/// after checking that the folder's lock is still this job's (check_lock()).
inline void save_output(const std::filesystem::path& file, ilvr::tensor_view<const float> image)
{
    const write_section section;
    check_lock();
    std::filesystem::create_directories(file.parent_path().empty() ? "." : file.parent_path());
    ilvr::save_png(file, image);
}

/// The --mask image as a 0/1 mask [1, 1, S, S]: a pixel is known where it is
/// lighter than mid-grey and opaque (alpha >= 128); a transparent pixel is to be
/// generated, as image editors show a transparent region as missing.
inline ilvr::tensor load_mask(const plan& p)
{
    const std::vector<unsigned char> bytes = read_input(p.mask, max_reference_bytes, "--mask");
    const ilvr::tensor image = [&] {
        try {
            return ilvr::decode_image(bytes, 1, ilvr::default_max_pixels, p.mask.string());
        } catch (const ilvr::error& e) {  // "decode_image: 'mask': ..." -> "--mask 'mask': ..."
            std::string message = e.what();
            throw ilvr::error("--mask " + message.substr(message.find('\'')));
        }
    }();
    if (image.shape().h != p.image_size || image.shape().w != p.image_size)
        throw ilvr::error("--mask '" + p.mask.string() + "': is " + std::to_string(image.shape().w) + " x "
                          + std::to_string(image.shape().h) + ", the model's images are " + std::to_string(p.image_size)
                          + " x " + std::to_string(p.image_size));
    ilvr::tensor mask(image.shape());
    for (std::size_t e = 0; e < mask.size(); ++e) mask[e] = image[e] > 0.0f ? 1.0f : 0.0f;
    int w = 0, h = 0, comp = 0;
    const int length = static_cast<int>(bytes.size());  // decode_image checked it is below 2 GiB
    if (stbi_info_from_memory(bytes.data(), length, &w, &h, &comp) == 1 && (comp == 2 || comp == 4)) {
        struct stb_pixels {  // grey and alpha; decode_image above bounded the size
            unsigned char* p;
            ~stb_pixels() { stbi_image_free(p); }
        } alpha{stbi_load_from_memory(bytes.data(), length, &w, &h, &comp, 2)};
        if (!alpha.p || std::int64_t{w} * h != static_cast<std::int64_t>(mask.size()))
            throw ilvr::error("--mask '" + p.mask.string() + "': cannot decode its alpha channel");
        for (std::size_t e = 0; e < mask.size(); ++e)
            if (alpha.p[2 * e + 1] < 128) mask[e] = 0.0f;
    }
    return mask;
}

/// Draws every batch and writes its PNGs as it finishes (folders are made only then).
template <class Rule>
void sample_batches(const plan& p, const Rule& rule, ilvr::torch::module_denoiser& model,
                    const std::vector<loaded_reference>& references, const std::vector<std::vector<job_sample>>& batches,
                    progress& bar)
{
    const ilvr::sampler sampler(p.process, rule);
    const ilvr::philox_noise noise(p.seed);
    reporting_denoiser network{model, p.model.string(), p.learn_sigma ? 2 * p.channels : p.channels, p.bf16};
    const ilvr::tensor mask = p.conditioning == plan::mode::inpaint ? load_mask(p) : ilvr::tensor{};
    for (const auto& batch : batches) {
        const auto count = static_cast<std::int64_t>(batch.size());
        std::vector<std::uint64_t> indices;
        for (const job_sample& s : batch) indices.push_back(p.sample_index(s.r, s.f, s.k));
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
            finished = sample_batch_on_gpu(p, model, references, mask, batch, indices, x, bar);
        else
#endif
        if (p.unconditional) {
            finished = sampler.run(network, batch_noise, x, ilvr::no_conditioning{}, on_step, options);
        } else {
            // One reference per image ([B, C, S, S]); the batch shares the factor.
            ilvr::tensor refs({count, p.channels, p.image_size, p.image_size});
            for (std::int64_t b = 0; b < count; ++b) {
                const ilvr::tensor& ref = references[batch[static_cast<std::size_t>(b)].r].image;
                std::copy(ref.data(), ref.data() + ref.size(), refs.view().batch(b, 1).data());
            }
            finished = with_conditioner(sampling_of(p), model, std::move(refs), mask, p.factors[batch.front().f], [&](auto& cond) {
                return sampler.run(network, batch_noise, x, cond, on_step, options);
            });
        }
        if (!finished) throw interrupted();
        for (std::int64_t b = 0; b < count; ++b) {
            const job_sample& s = batch[static_cast<std::size_t>(b)];
            save_output(p.sample_file(s.r, s.f, s.k), x.view().batch(b, 1));
        }
    }
}

/// Writes the grid from the sample files: per row (reference, factor) the
/// reference, its phi_N and the samples; unconditional: the samples, 8 a row.
/// A missing or damaged sample is an error naming it.
inline void write_grid(const plan& p, const std::vector<ilvr::tensor>& references)
{
    std::vector<ilvr::tensor> cells;
    auto samples = [&](std::size_t r, std::size_t f) {
        for (int k = 0; k < p.samples; ++k) {
            const auto file = p.sample_file(r, f, k);
            if (!is_complete_sample(p, file))
                throw ilvr::error("sample '" + file.string() + "' is missing or damaged: the job is not finished "
                                  "(run the missing shards, or --resume)");
            cells.push_back(ilvr::load_image(file, p.channels));
        }
    };
    if (p.unconditional) {
        samples(0, 0);
        std::vector<ilvr::tensor_view<const float>> views(cells.begin(), cells.end());
        save_output(p.grid, ilvr::make_grid(views, std::min(p.samples, 8), 2));
        return;
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
    std::vector<ilvr::tensor_view<const float>> views(cells.begin(), cells.end());
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
    save_output(p.grid, ilvr::make_grid(views, p.samples + 2, 2, row_labels, column_labels, text_scale));
}

/// Whether any of the job's sample files exists (any shard's).
inline bool any_sample_exists(const plan& p)
{
    for (std::size_t r = 0; r < (p.unconditional ? 1 : p.references.size()); ++r)
        for (std::size_t f = 0; f < std::max<std::size_t>(1, p.factors.size()); ++f) {
            if (kind_at(p.sample_folder(r, f), true, "sample folder") == file_kind::missing) continue;
            for (int k = 0; k < p.samples; ++k)
                if (kind_at(p.sample_file(r, f, k), false, "sample") != file_kind::missing) return true;
        }
    return false;
}

/// Before the model is loaded: with --resume, a folder that holds another job
/// (or samples and no manifest) is refused.
inline void check_resumable(const plan& p, const manifest& job)
{
    if (!p.resume) return;
    const auto found = read_manifest(p.out);
    if (found) {
        const std::string difference = found->difference(job);
        if (!difference.empty())
            throw ilvr::error("--resume: '" + p.out.string() + "' holds another job (" + difference +
                              "); give the same options, or choose another --out");
    } else if (any_sample_exists(p)) {
        throw ilvr::error("--resume: '" + p.out.string() + "' holds samples but no job manifest (" + manifest_name +
                          "), so what they are is unknown; choose another --out");
    }
}

/// Removes this process's own leftovers: temporaries of its shard's samples
/// (`sample-<k>.png.tmp-*`, from a process killed while writing) and, for a whole
/// job, of the grid and the manifest. Other shards' files are left alone.
inline void remove_stale_temporaries(const plan& p)
{
    const write_section section;
    std::error_code ec;
    auto remove_matching = [&](const std::filesystem::path& folder, const std::function<bool(const std::string&)>& mine) {
        if (kind_at(folder, true, "folder") != file_kind::folder) return;
        std::vector<std::filesystem::path> stale;
        for (std::filesystem::directory_iterator it(folder, ec), end; !ec && it != end; it.increment(ec)) {
            const std::string name = it->path().filename().string();
            const auto tmp = name.find(".tmp-");
            if (tmp != std::string::npos && mine(name.substr(0, tmp)) && kind_at(it->path(), false, "temporary") == file_kind::regular)
                stale.push_back(it->path());
        }
        for (const auto& file : stale) std::filesystem::remove(file, ec);
    };
    for (std::size_t r = 0; r < (p.unconditional ? 1 : p.references.size()); ++r)
        for (std::size_t f = 0; f < std::max<std::size_t>(1, p.factors.size()); ++f)
            remove_matching(p.sample_folder(r, f), [&](const std::string& name) {
                for (int k = 0; k < p.samples; ++k)
                    if (name == p.sample_file(r, f, k).filename().string()) return p.in_shard(p.sample_index(r, f, k));
                return false;
            });
    if (p.shard_count == 1) {
        remove_matching(p.grid.parent_path().empty() ? "." : p.grid.parent_path(),
                        [&](const std::string& name) { return name == p.grid.filename().string(); });
        remove_matching(p.out, [&](const std::string& name) { return name == manifest_name; });
    }
}

/// Takes the output folder for the job: creates it, locks it (a second job is
/// refused), and settles the manifest. --resume: the manifest must be this
/// job's (written if absent, in a folder without samples). A fresh whole job:
/// another job's manifest (or none) is replaced only when no other process holds
/// the folder (a shard never replaces another job's manifest), after the job's sample files there are removed (only this shard's
/// when other shards run), so a later --resume never trusts a file of another job.
inline std::unique_ptr<folder_lock> take_folder(const plan& p, const manifest& job)
{
    {
        const write_section section;
        std::filesystem::create_directories(p.out);
    }
    auto lock = std::make_unique<folder_lock>(p.out, p.shard_index, p.shard_count);
    for (;;) {
        const auto found = read_manifest(p.out);
        const std::string difference = found ? found->difference(job) : "";
        if (found && difference.empty()) {
            const auto shards = found->all("shards");
            if (p.shard_count > 1 && !shards.empty() && shards.front() != "1" &&
                shards.front() != std::to_string(p.shard_count))
                throw ilvr::error("--shard " + std::to_string(p.shard_index) + "/" + std::to_string(p.shard_count) +
                                  ": '" + p.out.string() + "' holds the same job in " + printable(shards.front()) +
                                  " shards; give --shard I/" + printable(shards.front()));
            break;
        }
        if (found && p.resume)
            throw ilvr::error("--resume: '" + p.out.string() + "' holds another job (" + difference + ")");
        if (!found && p.resume && any_sample_exists(p))
            throw ilvr::error("--resume: '" + p.out.string() + "' holds samples but no job manifest");
        if (found && p.shard_count > 1)  // a shard with a typo must not take over the other shards' folder
            throw ilvr::error("'" + p.out.string() + "' holds another job (" + difference + "); a shard does not "
                              "replace it: give the job's options, or remove " + manifest_name + ", or choose another --out");
        const bool alone = lock->alone();
        if (found && !alone)
            throw ilvr::error("'" + p.out.string() + "' holds another job (" + difference +
                              ") and other processes are writing it; choose another --out");
        if (!p.resume && any_sample_exists(p)) {  // none of the old files may pass for this job's
            const write_section section;
            std::error_code ec;
            for (std::size_t r = 0; r < (p.unconditional ? 1 : p.references.size()); ++r)
                for (std::size_t f = 0; f < std::max<std::size_t>(1, p.factors.size()); ++f)
                    for (int k = 0; k < p.samples; ++k)
                        if ((alone || p.in_shard(p.sample_index(r, f, k)))
                            && kind_at(p.sample_file(r, f, k), false, "sample") == file_kind::regular)
                            std::filesystem::remove(p.sample_file(r, f, k), ec);
        }
        if (write_manifest(p.out, job, found.has_value())) break;
    }
    lock->share(p.shard_count);
    remove_stale_temporaries(p);
    return lock;
}

/// Removes an output folder this job created when the job failed before writing
/// a sample: its manifest, its lock (released first) and its empty folders; a
/// folder holding any other file is left as it is.
inline void remove_if_unused(const std::filesystem::path& out, std::unique_ptr<folder_lock>& lock)
{
    const write_section section;
    std::error_code ec;
    for (std::filesystem::recursive_directory_iterator it(out, ec), end; !ec && it != end; it.increment(ec)) {
        const std::string name = it->path().filename().string();
        if (it->is_directory(ec) || (it.depth() == 0 && (name == manifest_name || name == lock_name))) continue;
        return;
    }
    if (ec) return;
    lock.reset();
    std::filesystem::remove_all(out, ec);
}

/// Runs a validated job. Progress goes to `err`; the grid path and the output
/// folder to `out`.
inline void run(const plan& p, std::ostream& out, std::ostream& err, bool err_is_tty)
{
    const std::vector<loaded_reference> references = p.unconditional ? std::vector<loaded_reference>{}
                                                                     : load_references(p);
    const manifest job = job_manifest(p, references, file_checksum(p.model, "--model"));
    check_resumable(p, job);
    if (p.conditioning == plan::mode::inpaint) (void)load_mask(p);  // a bad mask is reported before the model loads

    {  // the model's weights: about its file's size
        memory_estimate m = p.memory;
        std::uint64_t size = 0;
        kind_at(p.model, true, "--model", &size);
        m.add("model", static_cast<double>(size));
        m.check(p.max_memory);
    }
    checked_model checked = load_model(p);
    const auto steps = static_cast<long long>(p.process.timesteps.size());
    {  // the network's activations, measured at batch 1, times the batch
        const auto resident = resident_bytes();
        memory_estimate m = p.memory;
        m.parts.erase(m.parts.begin());  // "the process now" was before the model
        m.add("the process now", static_cast<double>(resident));
        const double batch = std::min<double>(p.batch, static_cast<double>(p.rows()) * p.samples);
        if (checked.peak_per_image)
            m.add("network (" + format_bytes(static_cast<double>(*checked.peak_per_image)) + " an image x batch " +
                      std::to_string(static_cast<long long>(batch)) + ")",
                  static_cast<double>(*checked.peak_per_image) * batch);
        m.check(p.max_memory);
    }

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
    const bool new_folder = kind_at(p.out, true, "--out") == file_kind::missing;
    auto lock = take_folder(p, job);
    const auto todo = samples_to_draw(p);
    const auto batches = make_batches(p, todo);
    progress bar(err, err_is_tty, !p.quiet, static_cast<long long>(batches.size()) * steps);

    const auto start = std::chrono::steady_clock::now();
    try {
        auto& model = checked.model;
        with_rule(sampling_of(p), [&](const auto& rule) { sample_batches(p, rule, model, references, batches, bar); });
    } catch (...) {
        bar.interrupt();
        if (new_folder && p.shard_count == 1) remove_if_unused(p.out, lock);
        throw;
    }
    if (!p.quiet) {
        const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        char line[128];
        std::snprintf(line, sizeof line, "ilvr: sampled %lld image(s) in %.2f s\n", static_cast<long long>(todo.size()),
                      seconds);
        err << line << std::flush;
    }
    if (p.shard_count > 1) {  // the shards together hold every sample; --assemble makes the grid
        out << "samples: " << printable(p.out.string()) << '\n' << std::flush;
        return;
    }
    std::vector<ilvr::tensor> images;
    for (const auto& r : references) images.push_back(r.image);
    write_grid(p, images);
    out << "grid: " << printable(p.grid.string()) << '\n' << "samples: " << printable(p.out.string()) << '\n'
        << std::flush;
}

/// `--assemble`: the grid of the finished job in `o.out`, from its manifest and
/// sample files, without the model. Only --out, --grid and --quiet may be given.
/// The manifest is not trusted: its numbers must parse exactly and lie in the
/// tool's own ranges, each reference's folder name must be one the tool makes
/// (safe_name(), so no `..` or `/`), and the grid's memory is estimated before
/// any sample is decoded.
inline void assemble(const options& o, std::ostream& out)
{
    const std::filesystem::path folder = o.out;
    const auto found = read_manifest(folder);
    if (!found) throw ilvr::error("--assemble: '" + folder.string() + "' holds no job manifest (" + manifest_name + ")");
    const manifest& m = *found;
    const std::string damaged = "--assemble: '" + (folder / manifest_name).string() + "' is damaged: ";
    auto number = [&](const std::string& key, const std::string& text, int low, int high) {
        int value = 0;
        if (!detail::parse_int(text, value) || text.find_first_of(" \t") != std::string::npos || value < low ||
            value > high)
            throw ilvr::error(damaged + key + " '" + printable(text) + "' is not an integer in " + std::to_string(low) +
                              " .. " + std::to_string(high));
        return value;
    };
    plan p;
    try {
        p.image_size = number("image-size", m.get("image-size"), 1, 4096);
        p.channels = number("channels", m.get("channels"), 1, 3);
        if (p.channels == 2) throw ilvr::error(damaged + "channels must be 1 or 3");
        p.samples = number("samples", m.get("samples"), 1, std::numeric_limits<int>::max());
        p.unconditional = m.get("unconditional") == "yes";
        if (!p.unconditional) {
            std::string list = m.get("factors");
            for (std::size_t begin = 0; begin <= list.size();) {
                const std::size_t comma = std::min(list.find(',', begin), list.size());
                p.factors.push_back(number("factors", list.substr(begin, comma - begin), 1, p.image_size));
                begin = comma + 1;
            }
            p.kernel = ilvr::kernels::by_name(m.get("kernel"));
        }
    } catch (const ilvr::error& e) {
        const std::string message = e.what();
        throw ilvr::error(message.rfind(damaged, 0) == 0 ? message : damaged + message);
    }
    if (!m.all("conditioning").empty())
        throw ilvr::error("--assemble: '" + folder.string() + "' holds a " + m.get("conditioning") +
                          " job; write its grid by running it again with --resume (no --shard)");
    p.out = folder;
    p.grid = o.grid.empty() ? folder / "grid.png" : std::filesystem::path(o.grid);
    const auto sums = m.all("reference"), paths = m.all("reference-path");
    if (sums.size() != paths.size() || (p.unconditional != sums.empty()))
        throw ilvr::error(damaged + std::to_string(sums.size()) + " reference entries, " +
                          std::to_string(paths.size()) + " reference-path entries");
    for (std::size_t r = 0; r < sums.size(); ++r) {
        const auto space = sums[r].find(' ');
        const std::string name = space == std::string::npos ? "" : sums[r].substr(space + 1);
        if (space != 16 || name.empty() || safe_name(name) != name)
            throw ilvr::error(damaged + "reference '" + printable(sums[r]) +
                              "' is not a checksum and a folder name the tool makes");
        p.references.push_back(paths[r]);
        p.names.push_back(name);
    }
    // Every sample is decoded and kept for the grid: the estimate comes first.
    memory_estimate estimate = detail::estimate_memory(p, true);
    estimate.add("sample files read", 4.0 * p.channels * p.image_size * p.image_size *
                                          static_cast<double>(p.rows()) * p.samples);
    estimate.check(0);
    std::vector<ilvr::tensor> references;
    for (std::size_t r = 0; r < sums.size(); ++r) {
        const loaded_reference loaded = load_reference(p, paths[r]);
        if (hex64(loaded.checksum) != sums[r].substr(0, 16))
            throw ilvr::error("--assemble: reference '" + paths[r] + "' has changed since the job was sampled");
        references.push_back(loaded.image);
    }
    detail::check_outputs(p, {}, true);
    const folder_lock lock(folder, 0, 1);
    write_grid(p, references);
    out << "grid: " << printable(p.grid.string()) << '\n' << std::flush;
}

/// `message` on one line, safe for a terminal: line breaks become spaces, other
/// control characters are escaped (printable()).
inline std::string one_line(std::string message)
{
    std::replace(message.begin(), message.end(), '\n', ' ');
    std::replace(message.begin(), message.end(), '\r', ' ');
    while (!message.empty() && message.back() == ' ') message.pop_back();
    return printable(message);
}

/// The program: parse, validate, run. Returns the exit code: 0 on success (and
/// --help), 2 for a bad input or a failed job, CLI11's own non-zero code for a
/// usage error, 128 + the signal for an interruption. Every error is one line
/// "ilvr: error: <message>" on `err`.
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
    } catch (const ilvr::error& e) {  // a number that does not parse exactly
        err << "ilvr: error: " << one_line(e.what()) << '\n';
        return 2;
    }
    try {
        if (o.assemble) {
            for (const CLI::Option* option : app->get_options())
                if (option->count() > 0 && option->get_name() != "--assemble" && option->get_name() != "--out" &&
                    option->get_name() != "--grid" && option->get_name() != "--quiet")
                    throw ilvr::error("--assemble takes only --out, --grid and --quiet, not " + option->get_name());
            assemble(o, out);
            return 0;
        }
        const bool described = use_model_metadata(o, given_model_options::from(*app)).has_value();
        plan p = validate(o);
        p.self_described = described;
        for (const std::string& warning : p.warnings) err << "ilvr: warning: " << one_line(warning) << '\n' << std::flush;
        run(p, out, err, err_is_tty);
        return 0;
    } catch (const interrupted& e) {
        err << "ilvr: " << one_line(e.what()) << "; samples written so far are complete, --resume continues\n";
        return 128 + stop_signal.load();
    } catch (const std::exception& e) {
        err << "ilvr: error: " << one_line(e.what()) << '\n';
        return 2;
    }
}

} // namespace ilvr_cli

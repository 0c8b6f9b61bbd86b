// LibTorch adapter: a TorchScript module as an ilvr denoiser (component ilvr::torch).
#pragma once

#include <ilvr/detail/parallel.hpp>
#include <ilvr/error.hpp>
#include <ilvr/tensor.hpp>

#include <ATen/Parallel.h>
#include <ATen/autocast_mode.h>
#include <torch/script.h>
#include <torch/version.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#endif

#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <vector>
#include <algorithm>

namespace ilvr::torch {

/// The user's part of a LibTorch error message, on one line: the TorchScript
/// interpreter's "The following operation failed" and its tracebacks are reduced
/// to the error itself (the text after the last traceback, "builtins." dropped)
/// and the innermost frame outside PyTorch's own modules, "(file, line N, in f)";
/// a C++ backtrace ("Exception raised from ...") is dropped; other text is kept.
inline std::string error_summary(const std::string& text)
{
    std::vector<std::string> lines;
    for (std::size_t begin = 0; begin <= text.size();) {
        const std::size_t end = std::min(text.find('\n', begin), text.size());
        lines.push_back(text.substr(begin, end - begin));
        begin = end + 1;
    }
    std::size_t traceback = lines.size();
    for (std::size_t i = 0; i < lines.size(); ++i)
        if (lines[i].rfind("Traceback of TorchScript", 0) == 0) traceback = i;
    std::string message, location;
    std::size_t first = 0;
    if (traceback < lines.size()) {
        std::string innermost, user;
        for (first = traceback + 1; first < lines.size(); ++first) {
            const std::string& line = lines[first];
            if (!line.empty() && line[0] != ' ') break;
            const auto file = line.find("File \"");
            if (file == std::string::npos) continue;
            const auto close = line.find('"', file + 6);
            if (close == std::string::npos) continue;
            std::string where = line.substr(file + 6, close - file - 6) + line.substr(close + 1);
            innermost = where;
            const std::string path = line.substr(file + 6, close - file - 6);
            if (path.find("/torch/") == std::string::npos && path.rfind("torch/", 0) != 0) user = where;
        }
        location = user.empty() ? innermost : user;
    }
    for (std::size_t i = first; i < lines.size(); ++i) {
        if (lines[i].rfind("Exception raised from ", 0) == 0) break;
        if (lines[i].empty()) continue;
        message += (message.empty() ? "" : " ") + lines[i];
    }
    if (message.rfind("builtins.", 0) == 0) message.erase(0, 9);
    if (message.empty()) message = lines.empty() ? text : lines.front();
    return location.empty() ? message : message + " (" + location + ")";
}

/// The arithmetic of the module's forward pass on the CPU.
enum class arithmetic {
    fp32,  ///< as the module is written (float32)
    bf16,  ///< LibTorch's CPU autocast to bfloat16: convolutions and matrix products in bf16
};

/// Whether this CPU has native bfloat16 arithmetic (AVX512-BF16 with AVX-512, or
/// AMX-BF16), which oneDNN's bf16 kernels need; without it they are emulated,
/// slower than float32.
inline bool cpu_has_bf16()
{
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    unsigned a = 0, b = 0, c = 0, d = 0;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return false;
    const bool amx_bf16 = (d >> 22) & 1u;  // CPUID.(7,0):EDX[22]
    const unsigned subleaves = a;
    bool avx512_bf16 = false;
    if (subleaves >= 1 && __get_cpuid_count(7, 1, &a, &b, &c, &d)) avx512_bf16 = (a >> 5) & 1u;  // CPUID.(7,1):EAX[5]
    return amx_bf16 || (avx512_bf16 && __builtin_cpu_supports("avx512f"));
#else
    return false;
#endif
}

/// Why bf16 cannot run here ("" when it can): the CPU lacks bf16 arithmetic, or the
/// input is channels-last on torch <= 1.13, whose bf16 GroupNorm gives wrong
/// results on channels-last tensors.
inline std::string bf16_refusal(bool cpu_bf16, bool channels_last, int torch_major = TORCH_VERSION_MAJOR,
                                int torch_minor = TORCH_VERSION_MINOR)
{
    if (!cpu_bf16)
        return "torch denoiser: bf16 needs a CPU with AVX512-BF16 or AMX (this one has neither: bf16 would be "
               "emulated, slower than fp32); use fp32";
    if (channels_last && (torch_major < 1 || (torch_major == 1 && torch_minor <= 13)))
        return "torch denoiser: bf16 with channels-last input gives wrong results in torch " +
               std::to_string(torch_major) + "." + std::to_string(torch_minor) +
               " (its GroupNorm kernel); use NCHW input or fp32";
    return "";
}

/// LibTorch's CPU autocast to bfloat16 while it lives (one forward pass), then the previous state.
class bf16_autocast {
public:
    bf16_autocast() : enabled_(at::autocast::is_cpu_enabled()), dtype_(at::autocast::get_autocast_cpu_dtype())
    {
        at::autocast::set_cpu_enabled(true);
        at::autocast::set_autocast_cpu_dtype(at::kBFloat16);
        at::autocast::increment_nesting();
    }
    ~bf16_autocast()
    {
        if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
        at::autocast::set_autocast_cpu_dtype(dtype_);
        at::autocast::set_cpu_enabled(enabled_);
    }
    bf16_autocast(const bf16_autocast&) = delete;
    bf16_autocast& operator=(const bf16_autocast&) = delete;

private:
    bool enabled_;
    at::ScalarType dtype_;
};

/// How the module expects its inputs.
struct module_options {
    /// Where the module runs. operator() copies inputs there and outputs back, once
    /// per step (nothing when on the CPU); the device backend hands its memory
    /// over without copies (forward_in_place, ilvr/device/torch.hpp).
    ::torch::Device device = ::torch::kCPU;
    /// dtype of the timestep tensor t [B]; guided-diffusion takes int64 original timesteps.
    ::torch::ScalarType timestep_dtype = ::torch::kLong;
    /// Multiply timesteps by this before the call (1000 / T for modules trained with
    /// guided-diffusion's rescale_timesteps=True; 1 otherwise).
    double timestep_scale = 1.0;
    /// The module's input layout: NCHW (PyTorch's) or NHWC.
    bool channels_last = false;
    /// LibTorch intra-op threads; 0 keeps LibTorch's setting. Note: process-wide.
    int threads = 0;
    /// fp32, or bf16: each forward pass under LibTorch's CPU autocast to bfloat16
    /// (what autocast keeps in float32 stays so; the module's GroupNorm must compute
    /// in float32, as scripts/convert.py's networks do). The output is converted to
    /// float32. Refused (ilvr::error) on a CUDA device, on a CPU without bf16
    /// arithmetic (cpu_has_bf16) and with channels_last on torch <= 1.13.
    arithmetic precision = arithmetic::fp32;
};

/// Wraps a TorchScript module `forward(x, t)` returning eps [B, C, H, W] or
/// eps and v [B, 2C, H, W] (guided-diffusion's learn_sigma). Runs under
/// inference mode. Returns a view of its last output, valid until the next call.
class module_denoiser {
public:
    /// Loads a TorchScript file (torch.jit.save / torch.jit.script(...).save).
    module_denoiser(const std::filesystem::path& file, module_options options = {})
        : module_(load(file, checked(options).device)), options_(options)
    {
        init();
    }
    /// Wraps an already loaded module (moved to options.device).
    module_denoiser(::torch::jit::Module module, module_options options = {})
        : module_(std::move(module)), options_(checked(options))
    {
        module_.to(options_.device);
        init();
    }

    const module_options& options() const { return options_; }
    /// The dtype the module returned on its last call (converted to float32 for the
    /// view; a caller that wants exactly float32 checks it).
    ::torch::ScalarType last_output_dtype() const { return output_dtype_; }
    ::torch::jit::Module& module() { return module_; }

    /// Runs the module on a batch in host memory: the input is shared, not copied,
    /// when the module is on the CPU (copied to options().device otherwise), and
    /// the output is returned in host memory.
    tensor_view<const float> operator()(tensor_view<const float> x, std::span<const std::int64_t> t)
    {
        c10::InferenceMode guard;
        output_ = forward(x, t, ::torch::kCPU).to(::torch::kCPU, ::torch::kFloat).contiguous();
        return {output_.data_ptr<float>(), shape_of(output_)};
    }

    /// Runs the module on a batch in the memory of `memory`, the module's own
    /// device (the device backend's hand-over: device memory on CUDA, host memory
    /// on the host system): nothing is copied, the input is the module's input
    /// and the returned view is the module's output tensor (float32, contiguous;
    /// valid until the next call). On CUDA the caller sets the current stream.
    tensor_view<const float> forward_in_place(tensor_view<const float> x, std::span<const std::int64_t> t,
                                              ::torch::Device memory)
    {
        detail::require(memory == options_.device, [&] {
            return "torch denoiser: the samples are in " + memory.str() + " memory, the module is on "
                + options_.device.str();
        });
        c10::InferenceMode guard;
        output_ = forward(x, t, memory).to(::torch::kFloat).contiguous();
        return {output_.data_ptr<float>(), shape_of(output_)};
    }

private:
    static ::torch::jit::Module load(const std::filesystem::path& file, ::torch::Device device)
    {
        detail::require(std::filesystem::exists(file), "torch denoiser: model file '" + file.string() + "' not found");
        try {
            return ::torch::jit::load(file.string(), device);
        } catch (const std::exception& e) {
            throw error("torch denoiser: cannot load '" + file.string() + "' as TorchScript: " + first_line(e.what()));
        }
    }
    static std::string first_line(const std::string& text) { return text.substr(0, text.find('\n')); }
    static shape4 shape_of(const ::torch::Tensor& out) { return {out.size(0), out.size(1), out.size(2), out.size(3)}; }

    // The module's output for x (whose memory is on `memory`), its shape checked.
    ::torch::Tensor forward(tensor_view<const float> x, std::span<const std::int64_t> t, ::torch::Device memory)
    {
        const shape4 s = x.shape();
        detail::require(t.size() == static_cast<std::size_t>(s.n), "torch denoiser: one timestep per image");
        // from_blob shares the sampler's memory; the module must not write into its input.
        auto input = ::torch::from_blob(const_cast<float*>(x.data()), {s.n, s.c, s.h, s.w},
                                        ::torch::TensorOptions().dtype(::torch::kFloat).device(memory));
        if (options_.channels_last) input = input.permute({0, 2, 3, 1}).contiguous();
        auto steps = ::torch::from_blob(const_cast<std::int64_t*>(t.data()), {s.n}, ::torch::kLong);
        if (options_.timestep_scale != 1.0) steps = steps.to(::torch::kDouble) * options_.timestep_scale;
        steps = steps.to(options_.timestep_dtype);
        if (options_.device != memory) input = input.to(options_.device);
        if (options_.device != ::torch::kCPU) steps = steps.to(options_.device);
        ::torch::jit::IValue result;
        try {
            std::optional<bf16_autocast> autocast;
            if (options_.precision == arithmetic::bf16) autocast.emplace();
            result = module_.forward({input, steps});
        } catch (const std::exception& e) {
            throw error(std::string("torch denoiser: forward failed: ") + error_summary(e.what()));
        }
        detail::require(result.isTensor(), "torch denoiser: forward must return one tensor");
        auto out = result.toTensor();
        output_dtype_ = out.scalar_type();
        if (options_.channels_last && out.dim() == 4) out = out.permute({0, 3, 1, 2});
        detail::require(out.dim() == 4, [&] {
            return "torch denoiser: output has " + std::to_string(out.dim()) + " dimensions, expected [B, C, H, W] or [B, 2C, H, W]";
        });
        const shape4 o = shape_of(out);
        const bool fits = o.n == s.n && o.h == s.h && o.w == s.w && (o.c == s.c || o.c == 2 * s.c);
        detail::require(fits, [&] {
            return "torch denoiser: output " + o.to_string() + " fits neither eps " + s.to_string() + " nor eps+v "
                + shape4{s.n, 2 * s.c, s.h, s.w}.to_string();
        });
        return out;
    }

    // The options, once bf16 is known to run with them (before the module moves anywhere).
    static const module_options& checked(const module_options& options)
    {
        if (options.precision == arithmetic::bf16) {
            detail::require(options.device == ::torch::kCPU, "torch denoiser: bf16 runs on the CPU only (device " +
                                                                options.device.str() + ")");
            const std::string why = bf16_refusal(cpu_has_bf16(), options.channels_last);
            detail::require(why.empty(), why);
        }
        return options;
    }

    void init()
    {
        module_.eval();
        if (options_.threads > 0) at::set_num_threads(options_.threads);
        // The library's parallel loops warn once if they and LibTorch's pool would
        // oversubscribe the machine (detail::check_threads).
        detail::other_runtime_threads.store(at::get_num_threads(), std::memory_order_relaxed);
    }

    ::torch::jit::Module module_;
    module_options options_;
    ::torch::Tensor output_;
    ::torch::ScalarType output_dtype_ = ::torch::kFloat;
};

} // namespace ilvr::torch

// Models that describe themselves: the `ilvr.json` a TorchScript archive may carry
// (written by scripts/convert.py) fills the model options the user did not give;
// a given option that contradicts it is an error; a file without it changes
// nothing. Ref: docs/paper-models.md, docs/tool.md.
#pragma once

#include "options.hpp"

#include <ilvr/error.hpp>

#include <caffe2/serialize/inline_container.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace ilvr_cli {

/// What a model's metadata says about it (the keys the tool uses).
struct model_metadata {
    int image_size = 0;
    int channels = 0;
    bool learn_sigma = false;
    int diffusion_steps = 1000;
    std::string noise_schedule = "linear";
    std::string respacing;                ///< the source's timestep_respacing; "" = none
    std::optional<int> class_label;       ///< the fixed class of a class-conditional network
};

/// Which model options were given on the command line.
struct given_model_options {
    bool image_size = false, channels = false, learn_sigma = false, timesteps = false, schedule = false,
         respacing = false;

    /// Reads them from a parsed app (make_app's option names).
    static given_model_options from(const CLI::App& app)
    {
        return {.image_size = app.count("--image-size") > 0, .channels = app.count("--channels") > 0,
                .learn_sigma = app.count("--learn-sigma") > 0, .timesteps = app.count("--timesteps") > 0,
                .schedule = app.count("--schedule") > 0, .respacing = app.count("--respacing") > 0};
    }
};

/// Name of the metadata record inside the TorchScript archive (torch.jit.save's `_extra_files`).
inline constexpr const char* metadata_record = "extra/ilvr.json";

/// Largest metadata record inflated (convert.py writes a few KiB).
inline constexpr std::uint64_t max_metadata_bytes = std::uint64_t{1} << 20;

/// The largest uncompressed size the zip central directory of `file` announces
/// for a record named like the metadata (`<archive>/extra/ilvr.json`, compared
/// ignoring case as LibTorch's reader does); 0 if there is none; nullopt if the
/// file is not a zip archive this can read (then no metadata is read). Only the
/// end of the file and its directory are read: nothing is inflated, so a record
/// that would inflate to gigabytes is refused by its announced size (the reader
/// never inflates more than that).
inline std::optional<std::uint64_t> metadata_record_size(const std::filesystem::path& file)
{
    const file_descriptor in(::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
    struct stat st {};
    if (in.fd < 0 || ::fstat(in.fd, &st) != 0 || !S_ISREG(st.st_mode)) return std::nullopt;
    const auto size = static_cast<std::uint64_t>(st.st_size);
    auto read_at = [&](std::uint64_t offset, std::size_t count) -> std::optional<std::string> {
        std::string bytes(count, '\0');
        if (offset > size || count > size - offset ||
            ::pread(in.fd, bytes.data(), count, static_cast<off_t>(offset)) != static_cast<ssize_t>(count))
            return std::nullopt;
        return bytes;
    };
    auto le = [](const std::string& b, std::size_t at, int bytes) {
        std::uint64_t v = 0;
        for (int i = bytes - 1; i >= 0; --i) v = v << 8 | static_cast<unsigned char>(b[at + static_cast<std::size_t>(i)]);
        return v;
    };
    // The end of central directory record: in the last 64 KiB + 22 bytes (its comment is at most 64 KiB).
    const std::size_t tail_size = static_cast<std::size_t>(std::min<std::uint64_t>(size, 65557));
    const auto tail = read_at(size - tail_size, tail_size);
    if (!tail || tail_size < 22) return std::nullopt;
    std::size_t end = std::string::npos;
    for (std::size_t i = tail_size - 22 + 1; i-- > 0;)
        if (le(*tail, i, 4) == 0x06054b50) {
            end = i;
            break;
        }
    if (end == std::string::npos) return std::nullopt;
    std::uint64_t directory_size = le(*tail, end + 12, 4), directory_offset = le(*tail, end + 16, 4);
    if (directory_offset == 0xffffffff || directory_size == 0xffffffff) {  // zip64: its locator is just before
        const std::uint64_t at = size - tail_size + end;
        const auto locator = at >= 20 ? read_at(at - 20, 20) : std::nullopt;
        if (!locator || le(*locator, 0, 4) != 0x07064b50) return std::nullopt;
        const auto record = read_at(le(*locator, 8, 8), 56);
        if (!record || le(*record, 0, 4) != 0x06064b50) return std::nullopt;
        directory_size = le(*record, 40, 8), directory_offset = le(*record, 48, 8);
    }
    if (directory_size > (std::uint64_t{64} << 20)) return std::nullopt;  // far more than any model's records
    const auto directory = read_at(directory_offset, static_cast<std::size_t>(directory_size));
    if (!directory) return std::nullopt;
    std::uint64_t largest = 0;
    const std::string suffix = std::string("/") + metadata_record;
    for (std::size_t at = 0; at + 46 <= directory->size();) {
        if (le(*directory, at, 4) != 0x02014b50) return std::nullopt;
        const std::uint64_t inflated = le(*directory, at + 24, 4);  // 0xffffffff (zip64): 4 GiB or more
        const auto name_length = static_cast<std::size_t>(le(*directory, at + 28, 2));
        const auto skip = name_length + le(*directory, at + 30, 2) + le(*directory, at + 32, 2);
        if (at + 46 + skip > directory->size()) return std::nullopt;
        std::string name = directory->substr(at + 46, name_length);
        for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        if (name.size() >= suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0)
            largest = std::max(largest, inflated);
        at += 46 + static_cast<std::size_t>(skip);
    }
    return largest;
}

/// Parses the text of an `ilvr.json`. Throws ilvr::error naming `file` and the key at fault.
inline model_metadata parse_model_metadata(const std::string& text, const std::string& file)
{
    const std::string where = "model '" + file + "': metadata ilvr.json: ";
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(text);
    } catch (const nlohmann::json::exception& e) {
        throw ilvr::error(where + "not valid JSON (" + std::string(e.what()) + ")");
    }
    if (!j.is_object()) throw ilvr::error(where + "not a JSON object");
    if (j.contains("format") && j["format"] != "ilvr-model-1")
        throw ilvr::error(where + "format " + j["format"].dump() + " is not supported (expected \"ilvr-model-1\")");
    auto integer = [&](const char* key, int low, int high) {
        if (!j.contains(key) || !j[key].is_number_integer()) throw ilvr::error(where + "'" + key + "' must be an integer");
        const auto v = j[key].get<long long>();
        if (v < low || v > high)
            throw ilvr::error(where + "'" + key + "' " + std::to_string(v) + " is out of range [" +
                              std::to_string(low) + ", " + std::to_string(high) + "]");
        return static_cast<int>(v);
    };
    model_metadata m;
    m.image_size = integer("image_size", 1, 4096);
    m.channels = integer("channels", 1, 3);
    if (m.channels == 2) throw ilvr::error(where + "'channels' must be 1 or 3");
    if (!j.contains("learn_sigma") || !j["learn_sigma"].is_boolean())
        throw ilvr::error(where + "'learn_sigma' must be true or false");
    m.learn_sigma = j["learn_sigma"].get<bool>();
    if (j.contains("diffusion_steps")) m.diffusion_steps = integer("diffusion_steps", 2, max_timesteps);
    auto text_of = [&](const char* key, std::string& out) {
        if (!j.contains(key) || j[key].is_null()) return;
        if (!j[key].is_string()) throw ilvr::error(where + "'" + key + "' must be a string");
        out = j[key].get<std::string>();
    };
    text_of("noise_schedule", m.noise_schedule);
    text_of("timestep_respacing", m.respacing);
    // Checked here, so a bad value is reported as the metadata's, not as an option the user never gave.
    if (m.noise_schedule != "linear" && m.noise_schedule != "cosine")
        throw ilvr::error(where + "noise_schedule '" + m.noise_schedule + "' is not supported (expected linear or cosine)");
    if (m.noise_schedule == "linear" && m.diffusion_steps < min_linear_timesteps)
        throw ilvr::error(where + "'diffusion_steps' " + std::to_string(m.diffusion_steps) +
                          ": the linear schedule needs at least " + std::to_string(min_linear_timesteps));
    if (!m.respacing.empty()) {
        try {
            (void)ilvr::respace(ilvr::noise_schedule::named(m.noise_schedule, m.diffusion_steps), m.respacing);
        } catch (const ilvr::error& e) {
            throw ilvr::error(where + "timestep_respacing '" + m.respacing + "': " + e.what());
        }
    }
    std::string input = "original";
    text_of("timestep_input", input);
    if (input != "original")
        throw ilvr::error(where + "timestep_input '" + input + "' is not supported (the tool passes original timesteps)");
    if (j.contains("class_label") && !j["class_label"].is_null()) m.class_label = integer("class_label", 0, 1 << 30);
    return m;
}

/// The metadata inside a TorchScript file, or nothing when it has none (or is not
/// a TorchScript archive at all: loading the model reports that). The model
/// itself is not loaded.
inline std::optional<model_metadata> read_model_metadata(const std::filesystem::path& file)
{
    const auto announced = metadata_record_size(file);
    if (!announced || *announced == 0) return std::nullopt;
    if (*announced > max_metadata_bytes)
        throw ilvr::error("model '" + file.string() + "': metadata ilvr.json inflates to " +
                          std::to_string(*announced) + " bytes, more than the " +
                          std::to_string(max_metadata_bytes >> 20) + " MiB limit (it is refused unread)");
    std::string text;
    try {
        caffe2::serialize::PyTorchStreamReader reader(file.string());
        if (!reader.hasRecord(metadata_record)) return std::nullopt;
        const auto [data, size] = reader.getRecord(metadata_record);
        text.assign(static_cast<const char*>(data.get()), size);
    } catch (const c10::Error&) {
        return std::nullopt;
    }
    return parse_model_metadata(text, file.string());
}

/// Fills the model options not given from the metadata; a given one that
/// contradicts it is an error. A given value that is invalid in itself is left for
/// validate() to report as usual. A given --respacing always wins (a sampling choice).
inline void apply_model_metadata(options& o, const model_metadata& m, const given_model_options& given)
{
    auto contradiction = [&](const std::string& flag, const std::string& meta) {
        throw ilvr::error(flag + " contradicts the model's metadata (" + meta +
                          "); the model describes itself, drop the option");
    };
    if (!given.image_size) o.image_size = m.image_size;
    else if (o.image_size >= 1 && o.image_size <= 4096 && o.image_size != m.image_size)
        contradiction("--image-size " + std::to_string(o.image_size), "image_size " + std::to_string(m.image_size));
    if (!given.channels) o.channels = m.channels;
    else if ((o.channels == 1 || o.channels == 3) && o.channels != m.channels)
        contradiction("--channels " + std::to_string(o.channels), "channels " + std::to_string(m.channels));
    if (!given.learn_sigma) o.learn_sigma = m.learn_sigma;
    else if (o.learn_sigma != m.learn_sigma) contradiction("--learn-sigma", "learn_sigma false: the model returns eps only");
    if (!given.timesteps) o.timesteps = m.diffusion_steps;
    else if (o.timesteps >= 2 && o.timesteps != m.diffusion_steps)
        contradiction("--timesteps " + std::to_string(o.timesteps), "diffusion_steps " + std::to_string(m.diffusion_steps));
    if (!given.schedule) o.schedule = m.noise_schedule;
    else if ((o.schedule == "linear" || o.schedule == "cosine") && o.schedule != m.noise_schedule)
        contradiction("--schedule " + o.schedule, "noise_schedule " + m.noise_schedule);
    if (!given.respacing && !m.respacing.empty()) o.respacing = m.respacing;
}

/// Reads the metadata of o.model, if the file exists and has any, and applies it.
/// Returns it (nothing for a file without metadata, which leaves `o` as it is).
inline std::optional<model_metadata> use_model_metadata(options& o, const given_model_options& given)
{
    std::error_code ec;
    if (!std::filesystem::is_regular_file(o.model, ec)) return std::nullopt;  // validate() reports it
    auto m = read_model_metadata(o.model);
    if (m) apply_model_metadata(o, *m, given);
    return m;
}

} // namespace ilvr_cli

// Memory of the `ilvr` tool: the memory a job may use (MemAvailable, the
// cgroup's limit, --max-memory), the process's resident size and peak, and an
// estimate of the job's peak that is checked before anything large is
// allocated. Ref: docs/tool.md ("Memory").
#pragma once

#include <ilvr/error.hpp>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <limits>
#include <optional>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace ilvr_cli {

/// `bytes` for people: "512 B", "3.4 MiB", "23.5 GiB".
inline std::string format_bytes(double bytes)
{
    const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    int u = 0;
    while (bytes >= 1024.0 && u < 6) bytes /= 1024.0, ++u;
    char text[32];
    if (u == 0) std::snprintf(text, sizeof text, "%.0f B", bytes);
    else std::snprintf(text, sizeof text, "%.1f %s", bytes, units[u]);
    return text;
}

/// Parses a size: a number with an optional binary unit K, M, G or T (also KiB,
/// MiB, ...; KB means KiB), e.g. "512M", "1.5G", "4000000". nullopt if malformed,
/// not finite or below 1 byte.
inline std::optional<std::uint64_t> parse_size(std::string_view text)
{
    double value = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc{} || end == text.data() || !std::isfinite(value) || value < 0) return std::nullopt;
    std::string unit(end, text.data() + text.size());
    for (char& c : unit) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    double scale = 1;
    if (unit == "" || unit == "B") scale = 1;
    else if (unit == "K" || unit == "KB" || unit == "KIB") scale = 0x1p10;
    else if (unit == "M" || unit == "MB" || unit == "MIB") scale = 0x1p20;
    else if (unit == "G" || unit == "GB" || unit == "GIB") scale = 0x1p30;
    else if (unit == "T" || unit == "TB" || unit == "TIB") scale = 0x1p40;
    else return std::nullopt;
    const double bytes = value * scale;
    if (bytes < 1 || bytes >= 0x1p63) return std::nullopt;
    return static_cast<std::uint64_t>(bytes);
}

/// A "Key:   N kB" field of a /proc file, in bytes (nullopt if absent).
inline std::optional<std::uint64_t> proc_field(const char* file, const std::string& key)
{
    std::ifstream in(file);
    std::string line;
    while (std::getline(in, line)) {
        if (line.compare(0, key.size() + 1, key + ":") != 0) continue;
        std::istringstream fields(line.substr(key.size() + 1));
        std::uint64_t kib = 0;
        if (fields >> kib) return kib * 1024;
    }
    return std::nullopt;
}

/// One number from a file (cgroup files); nullopt for "max", absent or malformed.
inline std::optional<std::uint64_t> file_number(const std::string& file)
{
    std::ifstream in(file);
    std::string word;
    if (!(in >> word) || word == "max") return std::nullopt;
    std::uint64_t value = 0;
    const auto [end, ec] = std::from_chars(word.data(), word.data() + word.size(), value);
    if (ec != std::errc{} || end != word.data() + word.size()) return std::nullopt;
    return value;
}

/// The process's resident memory now (VmRSS), 0 if unknown.
inline std::uint64_t resident_bytes() { return proc_field("/proc/self/status", "VmRSS").value_or(0); }

/// Memory the process may still take, and where that number comes from: the
/// smaller of MemAvailable and what is left under the cgroup's limit
/// (cgroup v2 memory.max - memory.current, or v1 limit - usage).
struct available_memory {
    std::uint64_t bytes = std::numeric_limits<std::uint64_t>::max();
    std::string source = "unknown";
};

inline available_memory memory_available()
{
    available_memory result;
    if (const auto free = proc_field("/proc/meminfo", "MemAvailable")) result = {*free, "MemAvailable"};
    auto consider = [&](std::optional<std::uint64_t> limit, std::optional<std::uint64_t> used, const char* name) {
        if (!limit || !used || *limit > (std::uint64_t{1} << 62)) return;
        const std::uint64_t left = *limit > *used ? *limit - *used : 0;
        if (left < result.bytes) result = {left, name};
    };
    // The process's own cgroup (v2: one line "0::/path").
    std::ifstream cgroup("/proc/self/cgroup");
    std::string line;
    while (std::getline(cgroup, line)) {
        if (line.rfind("0::", 0) == 0) {
            const std::string dir = "/sys/fs/cgroup" + line.substr(3);
            consider(file_number(dir + "/memory.max"), file_number(dir + "/memory.current"), "the cgroup's memory.max");
        }
    }
    consider(file_number("/sys/fs/cgroup/memory/memory.limit_in_bytes"),
             file_number("/sys/fs/cgroup/memory/memory.usage_in_bytes"), "the cgroup's memory limit");
    return result;
}

/// The peak resident memory of a call, above the resident memory before it:
/// the kernel's high-water mark (VmHWM) is reset through /proc/self/clear_refs
/// first, so the peak is the call's own. nullopt where that is not possible.
template <class F>
std::optional<std::uint64_t> measure_peak(F&& call)
{
    const std::uint64_t before = resident_bytes();
    bool reset = false;
    {
        std::ofstream clear("/proc/self/clear_refs");
        clear << "5";
        clear.flush();
        reset = static_cast<bool>(clear);
    }
    call();
    const auto peak = proc_field("/proc/self/status", "VmHWM");
    if (!reset || !peak || before == 0) return std::nullopt;
    return *peak > before ? *peak - before : 0;
}

/// The job's estimated peak, by part: what the process holds now plus what the
/// job will allocate.
struct memory_estimate {
    std::vector<std::pair<std::string, double>> parts;  ///< name, bytes

    void add(std::string name, double bytes)
    {
        if (bytes > 0) parts.emplace_back(std::move(name), bytes);
    }
    double total() const
    {
        double sum = 0;
        for (const auto& [name, bytes] : parts) sum += bytes;
        return sum;
    }

    /// Throws ilvr::error (one line, naming both numbers and the largest parts)
    /// when the total exceeds the memory available or `max_memory` (0: none).
    void check(std::uint64_t max_memory, std::uint64_t resident_now = 0) const
    {
        const double need = total();
        available_memory available = memory_available();
        double limit = static_cast<double>(available.bytes) + static_cast<double>(resident_now);
        std::string source = available.source;
        if (max_memory > 0 && static_cast<double>(max_memory) < limit) limit = static_cast<double>(max_memory), source = "--max-memory";
        if (need <= limit) return;
        auto sorted = parts;
        std::sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
        std::string detail;
        for (std::size_t i = 0; i < sorted.size() && i < 3; ++i)
            detail += (i ? ", " : "") + sorted[i].first + " " + format_bytes(sorted[i].second);
        throw ilvr::error("the job needs about " + format_bytes(need) + " of memory (" + detail + "), more than the " +
                          format_bytes(limit) + " available (" + source +
                          "); lower --batch, --samples or --timesteps, or set --max-memory");
    }
};

} // namespace ilvr_cli

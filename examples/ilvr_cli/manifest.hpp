// The job manifest and the folder lock of the `ilvr` tool.
//
// OUT/ilvr-job.txt names the job whose samples the folder holds: every option
// that changes a sample's pixels, the model file's checksum, each reference's
// name and checksum, and the library's version, one "key: value" line each.
// `--resume` continues only the job it names; `--assemble` builds the grid from
// it. OUT/.ilvr-lock carries open-file-description locks (fcntl F_OFD_SETLK):
// byte 0 exclusive for a whole job, shared for a shard, plus byte 1 + I
// exclusive for shard I, so a second job in the same folder is refused while
// the shards of one job run together. Ref: docs/tool.md ("Resume integrity").
#pragma once

#include "paths.hpp"
#include "signals.hpp"

#include <ilvr/detail/atomic_file.hpp>
#include <ilvr/error.hpp>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

namespace ilvr_cli {

/// The first line of every manifest.
inline constexpr const char* manifest_header = "ilvr job manifest 1";

/// Keys that describe where things are, not what the samples are: not compared.
inline bool is_location_key(const std::string& key) { return key == "model-path" || key == "reference-path"; }

struct manifest {
    std::vector<std::pair<std::string, std::string>> entries;  ///< in order; "reference" repeats

    void add(std::string key, std::string value) { entries.emplace_back(std::move(key), std::move(value)); }

    /// The values of `key`, in order.
    std::vector<std::string> all(const std::string& key) const
    {
        std::vector<std::string> values;
        for (const auto& [k, v] : entries)
            if (k == key) values.push_back(v);
        return values;
    }
    /// The value of `key`; throws if absent.
    std::string get(const std::string& key) const
    {
        for (const auto& [k, v] : entries)
            if (k == key) return v;
        throw ilvr::error("manifest: no '" + key + "' entry");
    }

    std::string text() const
    {
        std::string out = std::string(manifest_header) + "\n";
        for (const auto& [k, v] : entries) out += k + ": " + v + "\n";
        return out;
    }

    /// Parses text(); nullopt if it is not a manifest.
    static std::optional<manifest> parse(const std::string& text)
    {
        std::istringstream in(text);
        std::string line;
        if (!std::getline(in, line) || line != manifest_header) return std::nullopt;
        manifest m;
        while (std::getline(in, line)) {
            const auto colon = line.find(": ");
            if (colon == std::string::npos) return std::nullopt;
            m.add(line.substr(0, colon), line.substr(colon + 2));
        }
        return m;
    }

    /// The first difference in what the samples are, "key: was X, now Y" ("" if none).
    std::string difference(const manifest& now) const
    {
        std::vector<std::pair<std::string, std::string>> a, b;
        for (const auto& e : entries)
            if (!is_location_key(e.first)) a.push_back(e);
        for (const auto& e : now.entries)
            if (!is_location_key(e.first)) b.push_back(e);
        for (std::size_t i = 0; i < std::max(a.size(), b.size()); ++i) {
            if (i < a.size() && i < b.size() && a[i] == b[i]) continue;
            const std::string key = i < b.size() ? b[i].first : a[i].first;
            const std::string was = i < a.size() && a[i].first == key ? a[i].second : "(none)";
            const std::string is = i < b.size() && b[i].first == key ? b[i].second : "(none)";
            return key + " was " + was + ", now " + is;
        }
        return "";
    }
};

/// The manifest at OUT (nullopt if there is none); a file that is not a manifest
/// is an error.
inline std::optional<manifest> read_manifest(const std::filesystem::path& out)
{
    const auto file = out / manifest_name;
    const file_kind kind = kind_at(file, false, "manifest");
    if (kind == file_kind::missing) return std::nullopt;
    if (kind != file_kind::regular) throw ilvr::error("manifest '" + file.string() + "' is " + describe(kind));
    const auto bytes = read_input(file, std::uint64_t{16} << 20, "manifest");
    auto m = manifest::parse(std::string(bytes.begin(), bytes.end()));
    if (!m) throw ilvr::error("'" + file.string() + "' is not an ilvr job manifest; remove it or choose another --out");
    return m;
}

/// Writes the manifest atomically (a new, exclusively created temporary renamed,
/// or with `replace` false linked, into place: ilvr::detail::write_file_atomically),
/// inside a write_section. Returns false when `replace` is false and a manifest
/// appeared meanwhile (another shard's).
inline bool write_manifest(const std::filesystem::path& out, const manifest& m, bool replace)
{
    const write_section section;
    return ilvr::detail::write_file_atomically(out / manifest_name, m.text(), "manifest", replace);
}

/// The lock on an output folder, held until destruction (or the process's end).
class folder_lock {
public:
    /// Locks OUT for a whole job (shard_count 1: byte 0 exclusive) or for shard
    /// `index` of `count` (byte 0 shared, byte 1 + index exclusive). Throws if
    /// another job holds the folder or the same shard runs already.
    folder_lock(const std::filesystem::path& out, int shard_index, int shard_count)
    {
        const auto file = out / lock_name;
        check_output_file(file, "lock file");
        {
            const write_section section;
            fd_ = ::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
        }
        if (fd_ < 0) throw ilvr::error("lock file '" + file.string() + "': cannot open (" + std::strerror(errno) + ")");
        try {
            acquire(out, file, shard_index, shard_count);
        } catch (...) {
            ::close(fd_);  // the destructor does not run for a constructor that throws
            throw;
        }
    }
    ~folder_lock()
    {
        if (fd_ >= 0) ::close(fd_);  // releases the locks
    }
    folder_lock(const folder_lock&) = delete;
    folder_lock& operator=(const folder_lock&) = delete;

    /// Whether no other process holds the folder: holds byte 0 exclusively, or
    /// (a shard) gets it now. Then the manifest may be replaced.
    bool alone()
    {
        if (!exclusive_) exclusive_ = lock(F_WRLCK, 0);
        return exclusive_;
    }
    /// A shard that was alone shares byte 0 again, so the other shards can join.
    void share(int shard_count)
    {
        if (shard_count > 1 && exclusive_ && lock(F_RDLCK, 0)) exclusive_ = false;
    }

private:
    void acquire(const std::filesystem::path& out, const std::filesystem::path& file, int shard_index, int shard_count)
    {
        const std::string busy = "another ilvr job is writing '" + out.string() + "' (" + file.string() + " is locked)";
        // A shard waits up to 2 s for the shared lock: another shard may hold it
        // alone for a moment (while it settles the manifest).
        bool locked = lock(shard_count == 1 ? F_WRLCK : F_RDLCK, 0);
        for (int tries = 0; !locked && shard_count > 1 && tries < 20; ++tries) {
            if (stop_requested()) throw interrupted();
            ::usleep(100000);
            locked = lock(F_RDLCK, 0);
        }
        if (!locked) throw ilvr::error(busy);
        if (shard_count > 1 && !lock(F_WRLCK, 1 + static_cast<off_t>(shard_index)))
            throw ilvr::error("shard " + std::to_string(shard_index) + "/" + std::to_string(shard_count) +
                              " is already running in '" + out.string() + "'");
        exclusive_ = shard_count == 1;
    }

    bool lock(short type, off_t byte)
    {
        struct flock request {};
        request.l_type = type;
        request.l_whence = SEEK_SET;
        request.l_start = byte;
        request.l_len = 1;
        return ::fcntl(fd_, F_OFD_SETLK, &request) == 0;
    }

    int fd_ = -1;
    bool exclusive_ = false;
};

} // namespace ilvr_cli

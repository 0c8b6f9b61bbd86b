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
#include <string_view>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace ilvr_cli {

/// The first line of every manifest.
inline constexpr const char* manifest_header = "ilvr job manifest 1";

/// Keys that describe where things are, not what the samples are, and the shard
/// count (a whole job may continue a sharded one; take_folder() compares the
/// counts of shards): not compared by manifest::difference().
inline bool is_location_key(const std::string& key)
{
    return key == "model-path" || key == "reference-path" || key == "shards";
}

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

    /// The file's text: one "key: value" line each, every value escaped (escape())
    /// so that no value can end its line or start another.
    std::string text() const
    {
        std::string out = std::string(manifest_header) + "\n";
        for (const auto& [k, v] : entries) out += k + ": " + escape(v) + "\n";
        return out;
    }

    /// Parses text(); nullopt if it is not a manifest (a bad escape included).
    static std::optional<manifest> parse(const std::string& text)
    {
        std::istringstream in(text);
        std::string line;
        if (!std::getline(in, line) || line != manifest_header) return std::nullopt;
        manifest m;
        while (std::getline(in, line)) {
            const auto colon = line.find(": ");
            if (colon == std::string::npos) return std::nullopt;
            auto value = unescape(line.substr(colon + 2));
            if (!value) return std::nullopt;
            m.add(line.substr(0, colon), std::move(*value));
        }
        return m;
    }

    /// `value` with '%', control characters and DEL as %XX (two upper-case hex digits).
    static std::string escape(const std::string& value)
    {
        std::string out;
        for (char c : value) {
            const auto u = static_cast<unsigned char>(c);
            if (u < 0x20 || u == 0x7f || c == '%') {
                out.push_back('%');
                out.push_back("0123456789ABCDEF"[u >> 4]);
                out.push_back("0123456789ABCDEF"[u & 15]);
            } else {
                out.push_back(c);
            }
        }
        return out;
    }
    /// The inverse of escape(); nullopt for a '%' not followed by two hex digits
    /// or for a raw control character.
    static std::optional<std::string> unescape(const std::string& text)
    {
        std::string out;
        for (std::size_t i = 0; i < text.size(); ++i) {
            const auto u = static_cast<unsigned char>(text[i]);
            if (u < 0x20 || u == 0x7f) return std::nullopt;
            if (text[i] != '%') {
                out.push_back(text[i]);
                continue;
            }
            unsigned value = 0;
            for (int d = 1; d <= 2; ++d) {
                const char h = i + d < text.size() ? text[i + d] : 'x';
                const auto digit = std::string_view("0123456789ABCDEF").find(h);
                if (digit == std::string_view::npos) return std::nullopt;
                value = value * 16 + static_cast<unsigned>(digit);
            }
            out.push_back(static_cast<char>(value));
            i += 2;
        }
        return out;
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
        file_ = file.string();
        out_ = out.string();
        try {
            acquire(out, file, shard_index, shard_count);
            check();  // the file locked is still the one at the path (not removed meanwhile)
        } catch (...) {
            ::close(fd_);  // the destructor does not run for a constructor that throws
            throw;
        }
        previous_ = held_lock();
        held_lock() = this;
    }
    ~folder_lock()
    {
        if (held_lock() == this) held_lock() = previous_;
        if (fd_ >= 0) ::close(fd_);  // releases the locks
    }

    /// Throws when the lock file at its path is no longer the file this lock
    /// holds (removed by hand, or replaced by another job's): the lock then keeps
    /// nobody out, so the job stops before it writes. Compares device and inode of
    /// the open descriptor and of the path.
    void check() const
    {
        struct stat held {}, now {};
        if (::fstat(fd_, &held) != 0 || ::lstat(file_.c_str(), &now) != 0 || held.st_dev != now.st_dev ||
            held.st_ino != now.st_ino)
            throw ilvr::error("lock file '" + file_ + "' was removed or replaced while this job held it: another "
                              "job may be writing '" + out_ + "'; stopped (run --resume when no other job runs)");
    }

    /// The innermost lock this process holds (nullptr if none): check_lock() checks it.
    static folder_lock*& held_lock()
    {
        static folder_lock* held = nullptr;
        return held;
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
    std::string file_, out_;
    folder_lock* previous_ = nullptr;
};

/// Checks the lock this process holds, if any (folder_lock::check()): called
/// before every file the job writes into its folder.
inline void check_lock()
{
    if (const folder_lock* lock = folder_lock::held_lock()) lock->check();
}

/// Writes the manifest atomically (a new, exclusively created temporary renamed,
/// or with `replace` false linked, into place: ilvr::detail::write_file_atomically),
/// inside a write_section. Returns false when `replace` is false and a manifest
/// appeared meanwhile (another shard's).
inline bool write_manifest(const std::filesystem::path& out, const manifest& m, bool replace)
{
    const write_section section;
    check_lock();
    return ilvr::detail::write_file_atomically(out / manifest_name, m.text(), "manifest", replace);
}

} // namespace ilvr_cli

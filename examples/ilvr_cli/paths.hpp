// Files of the `ilvr` tool: what is at a path (without following a final
// symbolic link), the checks that keep outputs from replacing anything but a
// regular file, safe folder names from reference names, and size-capped,
// signal-aware reading of inputs. Ref: docs/tool.md ("Output", "Safe paths").
#pragma once

#include "signals.hpp"

#include <ilvr/error.hpp>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

namespace ilvr_cli {

/// The tool's own files directly in the output folder (besides the grid and the sample folders).
inline constexpr const char* manifest_name = "ilvr-job.txt";
inline constexpr const char* lock_name = ".ilvr-lock";
inline constexpr const char* unconditional_folder = "unconditional";

/// What a path names.
enum class file_kind { missing, regular, folder, symlink, fifo, socket, char_device, block_device, other };

/// "a FIFO", "a folder", ... for messages.
inline const char* describe(file_kind kind)
{
    switch (kind) {
    case file_kind::missing: return "missing";
    case file_kind::regular: return "a regular file";
    case file_kind::folder: return "a folder";
    case file_kind::symlink: return "a symbolic link";
    case file_kind::fifo: return "a FIFO";
    case file_kind::socket: return "a socket";
    case file_kind::char_device: return "a character device";
    case file_kind::block_device: return "a block device";
    default: return "not a regular file";
    }
}

inline file_kind kind_of(mode_t mode)
{
    switch (mode & S_IFMT) {
    case S_IFREG: return file_kind::regular;
    case S_IFDIR: return file_kind::folder;
    case S_IFLNK: return file_kind::symlink;
    case S_IFIFO: return file_kind::fifo;
    case S_IFSOCK: return file_kind::socket;
    case S_IFCHR: return file_kind::char_device;
    case S_IFBLK: return file_kind::block_device;
    default: return file_kind::other;
    }
}

/// What is at `path`, following symbolic links (`follow`) or not (lstat). Throws
/// ilvr::error for anything but "it exists" and "no such file" (a link loop,
/// no permission), with the system's reason, naming `what`.
inline file_kind kind_at(const std::filesystem::path& path, bool follow, const std::string& what,
                         std::uint64_t* size = nullptr)
{
    struct stat st {};
    const int rc = follow ? ::stat(path.c_str(), &st) : ::lstat(path.c_str(), &st);
    if (rc != 0) {
        if (errno == ENOENT || (errno == ENOTDIR && !follow)) return file_kind::missing;
        if (errno == ENOTDIR) throw ilvr::error(what + " '" + path.string() + "': a parent of it is not a folder");
        if (errno == ELOOP) throw ilvr::error(what + " '" + path.string() + "': a symbolic link loop");
        throw ilvr::error(what + " '" + path.string() + "': " + std::strerror(errno));
    }
    if (size) *size = static_cast<std::uint64_t>(st.st_size);
    return kind_of(st.st_mode);
}

/// Checks that the nearest existing ancestor of `path` is a folder (a symbolic
/// link to a folder counts), so the missing ones can be created.
inline void check_ancestors(const std::filesystem::path& path, const std::string& what)
{
    for (std::filesystem::path up = path.parent_path(); !up.empty(); up = up.parent_path()) {
        struct stat st {};
        if (::stat(up.c_str(), &st) == 0) {
            if (!S_ISDIR(st.st_mode))
                throw ilvr::error(what + " '" + path.string() + "': '" + up.string() + "' is " +
                                  describe(kind_of(st.st_mode)) + ", not a folder");
            return;
        }
        if (errno == ENOTDIR) continue;  // a higher component is a file: found further up
        if (errno == ELOOP) throw ilvr::error(what + " '" + path.string() + "': '" + up.string() + "': a symbolic link loop");
        if (errno != ENOENT) throw ilvr::error(what + " '" + path.string() + "': '" + up.string() + "': " + std::strerror(errno));
        if (up == up.parent_path()) return;
    }
}

/// Checks that a file may be written at `path`: nothing there, or a regular file
/// (replaced). A symbolic link is refused, not followed (give the target's own
/// path); a folder, FIFO, socket or device is refused; every existing ancestor
/// must be a folder. Nothing is created.
inline void check_output_file(const std::filesystem::path& path, const std::string& what)
{
    if (!path.has_filename() || path.filename() == "." || path.filename() == "..")
        throw ilvr::error(what + " '" + path.string() + "': not a file name");
    const file_kind kind = kind_at(path, false, what);
    if (kind != file_kind::missing && kind != file_kind::regular)
        throw ilvr::error(what + " '" + path.string() + "' is " + describe(kind) +
                          (kind == file_kind::symlink ? "; give the path of its target instead"
                                                      : ", not a regular file: it is not replaced"));
    check_ancestors(path, what);
}

/// Checks that a folder may hold outputs at `path`: nothing there (created later)
/// or a folder (a symbolic link to a folder counts), under folders.
inline void check_output_folder(const std::filesystem::path& path, const std::string& what)
{
    const file_kind kind = kind_at(path, true, what);
    if (kind != file_kind::missing && kind != file_kind::folder)
        throw ilvr::error(what + " '" + path.string() + "' exists and is not a folder (it is " + describe(kind) + ")");
    if (kind == file_kind::missing) check_ancestors(path, what);
}

/// The absolute path with symbolic links of its existing part resolved and `.`/`..`
/// removed: two outputs are the same file iff their keys are equal.
inline std::filesystem::path path_key(const std::filesystem::path& path)
{
    std::error_code ec;
    auto absolute = std::filesystem::absolute(path, ec);
    if (ec) return path.lexically_normal();
    auto canonical = std::filesystem::weakly_canonical(absolute, ec);
    return ec ? absolute.lexically_normal() : canonical;
}

/// Whether two paths name the same existing file: the same device and inode
/// (so a hard link or a path through another symbolic link is caught too), or,
/// where either is missing, the same path_key().
inline bool same_file(const std::filesystem::path& a, const std::filesystem::path& b)
{
    struct stat sa {}, sb {};
    if (::stat(a.c_str(), &sa) == 0 && ::stat(b.c_str(), &sb) == 0)
        return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
    return path_key(a) == path_key(b);
}

/// Whether `inner` is `outer` or lies under it (both path_key()s).
inline bool is_within(const std::filesystem::path& inner, const std::filesystem::path& outer)
{
    const auto rel = inner.lexically_relative(outer);
    return !rel.empty() && *rel.begin() != "..";
}

/// A folder name made from a reference's file stem: control characters, '/' and
/// '\' become '_', so do leading dots (no ".", "..", or hidden names); an empty
/// name is "_"; it is cut to 200 bytes (at a UTF-8 character boundary); a name
/// equal (ignoring case) to one of the tool's own entries in the output folder
/// (grid.png, unconditional, ilvr-job.txt) gets a leading '_'.
inline std::string safe_name(std::string_view stem)
{
    std::string name;
    for (char c : stem) {
        const auto u = static_cast<unsigned char>(c);
        name.push_back(u < 0x20 || u == 0x7f || c == '/' || c == '\\' ? '_' : c);
    }
    for (char& c : name) {
        if (c != '.') break;
        c = '_';
    }
    if (name.size() > 200) {
        std::size_t cut = 200;
        while (cut > 0 && (static_cast<unsigned char>(name[cut]) & 0xC0) == 0x80) --cut;  // not inside a character
        name.resize(cut);
    }
    if (name.empty()) name = "_";
    std::string lower = name;
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    for (const char* own : {"grid.png", unconditional_folder, manifest_name})
        if (lower == own) return "_" + name;
    return name;
}

/// `text` safe to print on a terminal: control characters (C0, DEL and the
/// UTF-8-encoded C1 range, which includes CSI) become `\xNN` (`\u0085` style for
/// C1), so a name or a model's message cannot move the cursor, clear the screen
/// or retitle the window. Everything the tool prints from files and models goes
/// through it.
inline std::string printable(std::string_view text)
{
    std::string shown;
    shown.reserve(text.size());
    const auto hex = [](unsigned value, int digits) {
        std::string h;
        for (int i = digits - 1; i >= 0; --i) h.push_back("0123456789abcdef"[(value >> (4 * i)) & 15]);
        return h;
    };
    for (std::size_t i = 0; i < text.size(); ++i) {
        const auto u = static_cast<unsigned char>(text[i]);
        if (u < 0x20 || u == 0x7f) {
            shown += "\\x" + hex(u, 2);
        } else if (u == 0xc2 && i + 1 < text.size() && static_cast<unsigned char>(text[i + 1]) >= 0x80 &&
                   static_cast<unsigned char>(text[i + 1]) <= 0x9f) {
            shown += "\\u00" + hex(static_cast<unsigned char>(text[++i]), 2);
        } else {
            shown.push_back(text[i]);
        }
    }
    return shown;
}

// ---------------------------------------------------------------------------
// Reading inputs.

/// Largest reference file read (regular files are checked by size before
/// reading; pipes and devices are read up to this and refused beyond it).
inline constexpr std::uint64_t max_reference_bytes = std::uint64_t{128} << 20;

/// A file descriptor closed on scope exit.
struct file_descriptor {
    int fd = -1;
    explicit file_descriptor(int f) : fd(f) {}
    ~file_descriptor()
    {
        if (fd >= 0) ::close(fd);
    }
    file_descriptor(const file_descriptor&) = delete;
    file_descriptor& operator=(const file_descriptor&) = delete;
};

/// Reads a whole input file of at most `limit` bytes. The file is opened without
/// blocking (a FIFO with no writer does not hang the open) and its type is taken
/// from the open descriptor: a folder or socket is refused, a regular file larger
/// than `limit` is refused before reading, a FIFO or device is read up to `limit`
/// bytes and refused beyond. Waiting for data checks for a stop signal ten times
/// a second (throws `interrupted`). Errors name `what` and the file.
inline std::vector<unsigned char> read_input(const std::filesystem::path& path, std::uint64_t limit,
                                             const std::string& what)
{
    const std::string name = what + " '" + path.string() + "'";
    const file_descriptor file(::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY));
    if (file.fd < 0) {
        if (errno == ENOENT) throw ilvr::error(name + ": no such file");
        if (errno == ELOOP) throw ilvr::error(name + ": a symbolic link loop");
        if (errno == ENXIO) throw ilvr::error(name + " is a socket, not a file");
        throw ilvr::error(name + ": cannot open (" + std::string(std::strerror(errno)) + ")");
    }
    struct stat st {};
    if (::fstat(file.fd, &st) != 0) throw ilvr::error(name + ": " + std::strerror(errno));
    const file_kind kind = kind_of(st.st_mode);
    if (kind == file_kind::folder || kind == file_kind::socket)
        throw ilvr::error(name + " is " + describe(kind) + ", not a file");
    const auto mib = [](std::uint64_t bytes) { return std::to_string(bytes >> 20) + " MiB"; };
    std::vector<unsigned char> bytes;
    if (kind == file_kind::regular) {
        const auto size = static_cast<std::uint64_t>(st.st_size);
        if (size > limit)
            throw ilvr::error(name + ": " + std::to_string(size) + " bytes, more than the " + mib(limit) + " limit");
        bytes.reserve(static_cast<std::size_t>(size));
    }
    std::vector<unsigned char> chunk(std::size_t{1} << 16);
    for (;;) {
        if (kind != file_kind::regular) {  // wait for data or the writer's end, 0.1 s at a time
            // (a FIFO no writer has opened yet reads as empty but does not poll ready)
            pollfd wait{file.fd, POLLIN, 0};
            if (stop_requested()) throw interrupted();
            const int ready = ::poll(&wait, 1, 100);
            if (stop_requested()) throw interrupted();
            if (ready == 0 || (ready < 0 && errno == EINTR)) continue;
        }
        const ssize_t got = ::read(file.fd, chunk.data(), chunk.size());
        if (got > 0) {
            if (bytes.size() + static_cast<std::size_t>(got) > limit)
                throw ilvr::error(name + ": " + describe(kind) + " yielding more than the " + mib(limit) + " limit");
            bytes.insert(bytes.end(), chunk.begin(), chunk.begin() + got);
            continue;
        }
        if (got == 0) break;
        if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) {
            if (stop_requested()) throw interrupted();
            continue;
        }
        throw ilvr::error(name + ": read error (" + std::string(std::strerror(errno)) + ")");
    }
    return bytes;
}

/// FNV-1a, 64 bits, of a file's bytes, read in 1 MiB pieces (checking for a stop
/// signal between them): the manifest's fingerprint of a model file. Not a
/// cryptographic hash: it tells files apart, it does not defend against forgery.
inline std::uint64_t fnv1a(const unsigned char* data, std::size_t size, std::uint64_t hash = 14695981039346656037ull)
{
    for (std::size_t i = 0; i < size; ++i) hash = (hash ^ data[i]) * 1099511628211ull;
    return hash;
}

/// fnv1a() of a regular file; errors name `what`.
inline std::uint64_t file_checksum(const std::filesystem::path& path, const std::string& what)
{
    const file_descriptor file(::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY));
    if (file.fd < 0) throw ilvr::error(what + " '" + path.string() + "': cannot open (" + std::strerror(errno) + ")");
    std::vector<unsigned char> chunk(std::size_t{1} << 20);
    std::uint64_t hash = fnv1a(nullptr, 0);
    for (;;) {
        const ssize_t got = ::read(file.fd, chunk.data(), chunk.size());
        if (got == 0) break;
        if (got < 0) {
            if (errno == EINTR) continue;
            throw ilvr::error(what + " '" + path.string() + "': read error (" + std::strerror(errno) + ")");
        }
        hash = fnv1a(chunk.data(), static_cast<std::size_t>(got), hash);
        if (stop_requested()) throw interrupted();
    }
    return hash;
}

/// `value` as 16 hex digits.
inline std::string hex64(std::uint64_t value)
{
    char text[17];
    for (int i = 15; i >= 0; --i, value >>= 4) text[i] = "0123456789abcdef"[value & 15];
    text[16] = 0;
    return text;
}

} // namespace ilvr_cli

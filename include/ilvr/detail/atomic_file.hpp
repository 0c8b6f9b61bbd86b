// Files that appear whole: the bytes go to a new temporary beside the
// destination, created exclusively under an unpredictable name, then renamed
// (or linked) into place. A link or file planted at the temporary's name is
// never followed or overwritten: the name is drawn again.
#pragma once

#include <ilvr/error.hpp>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <string_view>

#if defined(_WIN32)
#include <process.h>
#else
#include <fcntl.h>
#include <unistd.h>
#endif

namespace ilvr::detail {

/// A new name `<path>.tmp-<pid>-<16 random hex digits>`: the pid tells a
/// process's leftovers apart, the random part keeps the name unguessable.
inline std::filesystem::path temporary_name(const std::filesystem::path& path)
{
    static thread_local std::mt19937_64 bits{(static_cast<std::uint64_t>(std::random_device{}()) << 32) ^
                                             std::random_device{}()};
#if defined(_WIN32)
    const auto pid = static_cast<long long>(_getpid());
#else
    const auto pid = static_cast<long long>(::getpid());
#endif
    std::uint64_t value = bits();
    char hex[17];
    for (int i = 15; i >= 0; --i, value >>= 4) hex[i] = "0123456789abcdef"[value & 15];
    hex[16] = 0;
    std::filesystem::path temporary = path;
    temporary += ".tmp-" + std::to_string(pid) + "-" + hex;
    return temporary;
}

/// Writes `bytes` to `path` so that readers see the old file or the whole new
/// one. The temporary is created with O_CREAT | O_EXCL | O_NOFOLLOW (a name that
/// exists, a symbolic link included, is never opened: another is drawn), then
/// renamed over `path` (`replace`), or hard-linked to it and removed (not
/// `replace`: returns false, writing nothing, when `path` exists). Errors throw
/// ilvr::error starting with `who` and naming the file; the temporary is removed.
inline bool write_file_atomically(const std::filesystem::path& path, std::string_view bytes, const std::string& who,
                                  bool replace = true)
{
    const std::string name = who + ": '" + path.string() + "'";
    std::filesystem::path temporary;
    auto fail = [&](const std::string& reason) {
        std::error_code ignored;
        if (!temporary.empty()) std::filesystem::remove(temporary, ignored);
        throw error(name + ": " + reason);
    };
    bool written = false;
    for (int attempt = 0; attempt < 16; ++attempt) {
        temporary = temporary_name(path);
#if defined(_WIN32)
        std::FILE* file = std::fopen(temporary.string().c_str(), "wbx");  // C11 "x": exclusive creation
        if (!file) {
            if (errno == EEXIST) continue;
            temporary.clear();
            fail("cannot create a temporary file beside it (" + std::string(std::strerror(errno)) + ")");
        }
        const bool ok = std::fwrite(bytes.data(), 1, bytes.size(), file) == bytes.size();
        if (std::fclose(file) != 0 || !ok) fail("write failed (disk full?)");
#else
        const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0644);
        if (fd < 0) {
            if (errno == EEXIST) continue;
            temporary.clear();  // not ours: nothing to remove
            fail("cannot create a temporary file beside it (" + std::string(std::strerror(errno)) +
                 "; does the folder exist and is it writable?)");
        }
        std::size_t done = 0;
        while (done < bytes.size()) {
            const ssize_t wrote = ::write(fd, bytes.data() + done, bytes.size() - done);
            if (wrote < 0 && errno == EINTR) continue;
            if (wrote <= 0) {
                const int reason = errno;
                ::close(fd);
                fail("write failed (" + std::string(std::strerror(reason)) + ")");
            }
            done += static_cast<std::size_t>(wrote);
        }
        if (::close(fd) != 0) fail("write failed (" + std::string(std::strerror(errno)) + ")");
#endif
        written = true;
        break;
    }
    if (!written) {
        temporary.clear();
        fail("cannot find a free temporary name beside it");
    }
    std::error_code ec;
#if !defined(_WIN32)
    if (!replace) {  // link() never replaces: of two writers racing, one wins
        const int rc = ::link(temporary.c_str(), path.c_str());
        const int reason = errno;
        std::filesystem::remove(temporary, ec);
        if (rc == 0) return true;
        if (reason == EEXIST) return false;
        temporary.clear();
        fail("cannot create (" + std::string(std::strerror(reason)) + ")");
    }
#else
    if (!replace && std::filesystem::exists(path, ec)) {
        std::filesystem::remove(temporary, ec);
        return false;
    }
#endif
    std::filesystem::rename(temporary, path, ec);
    if (ec) fail("cannot rename the temporary file into place: " + ec.message());
    return true;
}

} // namespace ilvr::detail

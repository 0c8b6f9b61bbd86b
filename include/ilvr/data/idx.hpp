// Readers for IDX files (the MNIST / Fashion-MNIST format): images as
// [K, 1, H, W] tensors in [-1, 1] and their labels. Plain IDX needs nothing; gzipped
// files (.gz) need zlib, which the ilvr::data component provides (ILVR_WITH_ZLIB).
#pragma once

#include <ilvr/error.hpp>
#include <ilvr/tensor.hpp>

#include <algorithm>
#include <array>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <istream>
#include <streambuf>
#include <string>
#include <vector>

#if defined(ILVR_WITH_ZLIB) && __has_include(<zlib.h>)
#include <zlib.h>
#define ILVR_IDX_HAS_ZLIB 1
#else
#define ILVR_IDX_HAS_ZLIB 0
#endif

namespace ilvr {

namespace detail {

/// The header of an IDX file of unsigned bytes: its dimensions.
struct idx_header {
    std::vector<std::int64_t> dims;
};

/// Reads `count` bytes or throws "truncated" (naming `what`); memory grows with the
/// bytes that really arrive, so a lying header cannot make it allocate much more.
inline std::vector<unsigned char> idx_read_bytes(std::istream& in, std::int64_t count, const char* what)
{
    std::vector<unsigned char> bytes;
    constexpr std::int64_t chunk = std::int64_t{1} << 20;
    while (static_cast<std::int64_t>(bytes.size()) < count) {
        const std::int64_t want = std::min(chunk, count - static_cast<std::int64_t>(bytes.size()));
        const std::size_t at = bytes.size();
        bytes.resize(at + static_cast<std::size_t>(want));
        in.read(reinterpret_cast<char*>(bytes.data() + at), want);
        const std::int64_t got = in.gcount();
        if (got < want)
            throw error("truncated: " + std::string(what) + " needs " + std::to_string(count) + " bytes, found "
                        + std::to_string(static_cast<std::int64_t>(at) + got));
    }
    return bytes;
}

/// Reads and checks the magic number (0x00 0x00 0x08 = unsigned byte, then the
/// number of dimensions, which must be `rank`) and the big-endian dimensions.
inline idx_header idx_read_header(std::istream& in, int rank, const char* kind)
{
    const auto magic = idx_read_bytes(in, 4, "the magic number");
    if (magic[0] == 0x1f && magic[1] == 0x8b)
        throw error("is gzip-compressed: decompress it first, or link ilvr::data (zlib) and use the path loader");
    if (magic[0] != 0 || magic[1] != 0)
        throw error("bad magic number: not an IDX file (first bytes must be 0x00 0x00)");
    if (magic[2] != 0x08)
        throw error("IDX element type 0x" + std::string(1, "0123456789abcdef"[magic[2] >> 4])
                    + std::string(1, "0123456789abcdef"[magic[2] & 15])
                    + " is not supported (only unsigned bytes, 0x08)");
    if (magic[3] != rank)
        throw error("bad magic number: " + std::string(kind) + " need " + std::to_string(rank)
                    + " dimension(s), the file has " + std::to_string(magic[3]));
    const auto raw = idx_read_bytes(in, 4 * std::int64_t{rank}, "the dimensions");
    idx_header header;
    for (int d = 0; d < rank; ++d) {
        const unsigned char* b = &raw[4 * static_cast<std::size_t>(d)];
        const std::uint32_t v = (std::uint32_t{b[0]} << 24) | (std::uint32_t{b[1]} << 16) | (std::uint32_t{b[2]} << 8)
            | std::uint32_t{b[3]};
        if (v > 0x7fffffffu) throw error("dimension " + std::to_string(d) + " = " + std::to_string(v) + " is too large");
        header.dims.push_back(std::int64_t{v});
    }
    return header;
}

inline std::int64_t idx_take(std::int64_t available, std::int64_t max_count)
{
    return max_count < 0 ? available : std::min(available, max_count);
}

#if ILVR_IDX_HAS_ZLIB
/// A read-only stream buffer over a gzip file (zlib also reads plain files through it).
class gz_streambuf : public std::streambuf {
public:
    explicit gz_streambuf(const std::filesystem::path& path) : file_(gzopen(path.string().c_str(), "rb")) {}
    ~gz_streambuf() override
    {
        if (file_) gzclose(file_);
    }
    gz_streambuf(const gz_streambuf&) = delete;
    gz_streambuf& operator=(const gz_streambuf&) = delete;

    bool is_open() const { return file_ != nullptr; }
    /// zlib's message for the last failed read, or "".
    const std::string& failure() const { return failure_; }

protected:
    int_type underflow() override
    {
        if (gptr() < egptr()) return traits_type::to_int_type(*gptr());
        const int n = gzread(file_, buffer_.data(), static_cast<unsigned>(buffer_.size()));
        if (n <= 0) {
            if (n < 0) {
                int code = 0;
                const char* message = gzerror(file_, &code);
                failure_ = message ? message : "zlib read error";
            }
            return traits_type::eof();
        }
        setg(buffer_.data(), buffer_.data(), buffer_.data() + n);
        return traits_type::to_int_type(*gptr());
    }

private:
    gzFile file_;
    std::array<char, 1 << 16> buffer_{};
    std::string failure_;
};
#endif

/// Opens `path` (gzip or plain), runs `read(stream)` and puts the file name, and
/// zlib's own message if it had one, into any error.
template <class Read>
auto idx_with_file(const std::filesystem::path& path, const char* who, Read&& read)
{
    const std::string name = std::string(who) + ": '" + path.string() + "': ";
    std::error_code ec;
    const auto status = std::filesystem::status(path, ec);
    require(std::filesystem::exists(status), [&] { return name + "no such file"; });
    require(!std::filesystem::is_directory(status), [&] { return name + "is a directory"; });
#if ILVR_IDX_HAS_ZLIB
    gz_streambuf buffer(path);
    require(buffer.is_open(), [&] { return name + "cannot open for reading"; });
    std::istream in(&buffer);
    try {
        return read(in);
    } catch (const error& e) {
        throw error(name + e.what() + (buffer.failure().empty() ? "" : " (zlib: " + buffer.failure() + ")"));
    }
#else
    std::ifstream in(path, std::ios::binary);
    require(static_cast<bool>(in), [&] { return name + "cannot open for reading"; });
    try {
        return read(in);
    } catch (const error& e) {
        throw error(name + e.what());
    }
#endif
}

} // namespace detail

/// True when the path loaders below read gzipped files (zlib linked via ilvr::data).
inline constexpr bool idx_reads_gzip = ILVR_IDX_HAS_ZLIB != 0;

/// Reads an uncompressed IDX image stream (magic 0x00000803: count, rows, columns of
/// unsigned bytes) into [K, 1, H, W] floats x = u8 / 127.5 - 1 (docs/spec.md section 6.5),
/// K = min(count, max_count) (max_count < 0: all). With pad_to > 0 each image is
/// centred (floored offsets) in a pad_to x pad_to canvas of -1 (black), e.g. 28 -> 32.
/// Throws ilvr::error on a bad magic number, zero-sized images, pad_to smaller than
/// an image, or a stream that ends early.
inline tensor read_idx_images(std::istream& in, std::int64_t max_count = -1, int pad_to = 0)
{
    const auto header = detail::idx_read_header(in, 3, "images");
    const std::int64_t count = header.dims[0], h = header.dims[1], w = header.dims[2];
    if (h < 1 || w < 1)
        throw error("empty images: " + std::to_string(h) + "x" + std::to_string(w));
    if (pad_to < 0 || (pad_to > 0 && (pad_to < h || pad_to < w)))
        throw error("pad_to = " + std::to_string(pad_to) + " is smaller than the " + std::to_string(h) + "x"
                    + std::to_string(w) + " images");
    const std::int64_t k = detail::idx_take(count, max_count);
    if (k > 0 && h * w > (std::int64_t{1} << 40) / k)  // h, w < 2^31, so h * w cannot overflow
        throw error(std::to_string(k) + " images of " + std::to_string(h) + "x" + std::to_string(w)
                    + " are too many pixels");
    const std::int64_t out_h = pad_to > 0 ? pad_to : h, out_w = pad_to > 0 ? pad_to : w;
    const shape4 shape{k, 1, out_h, out_w};
    (void)shape.size();  // throws if the element count overflows
    const auto bytes = detail::idx_read_bytes(in, k * h * w, "the pixel data");

    tensor out(shape);
    std::fill(out.values().begin(), out.values().end(), -1.0f);
    const std::int64_t top = (out_h - h) / 2, left = (out_w - w) / 2;
    tensor_view<float> v = out.view();
    for (std::int64_t i = 0; i < k; ++i)
        for (std::int64_t y = 0; y < h; ++y)
            for (std::int64_t x = 0; x < w; ++x)
                v(i, 0, top + y, left + x) =
                    static_cast<float>(bytes[static_cast<std::size_t>((i * h + y) * w + x)]) / 127.5f - 1.0f;
    return out;
}

/// Reads an uncompressed IDX label stream (magic 0x00000801: count unsigned bytes);
/// returns the first min(count, max_count) labels (max_count < 0: all).
inline std::vector<int> read_idx_labels(std::istream& in, std::int64_t max_count = -1)
{
    const auto header = detail::idx_read_header(in, 1, "labels");
    const std::int64_t k = detail::idx_take(header.dims[0], max_count);
    const auto bytes = detail::idx_read_bytes(in, k, "the labels");
    return {bytes.begin(), bytes.end()};
}

/// read_idx_images on a file, plain or (with ilvr::data) gzipped. Errors name the file.
inline tensor load_idx_images(const std::filesystem::path& path, std::int64_t max_count = -1, int pad_to = 0)
{
    return detail::idx_with_file(path, "load_idx_images",
                                 [&](std::istream& in) { return read_idx_images(in, max_count, pad_to); });
}

/// read_idx_labels on a file, plain or (with ilvr::data) gzipped. Errors name the file.
inline std::vector<int> load_idx_labels(const std::filesystem::path& path, std::int64_t max_count = -1)
{
    return detail::idx_with_file(path, "load_idx_labels",
                                 [&](std::istream& in) { return read_idx_labels(in, max_count); });
}

} // namespace ilvr

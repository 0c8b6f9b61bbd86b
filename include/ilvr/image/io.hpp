// Image files and pictures: PNG/JPEG in and PNG out (through stb), the
// reference preparation of the ILVR code, a tiny bitmap font and image grids.
// Ref: docs/spec.md section 6.5. Component ilvr::image.
#pragma once

#include <ilvr/detail/atomic_file.hpp>
#include <ilvr/error.hpp>
#include <ilvr/resample/kernel.hpp>
#include <ilvr/resample/resizer.hpp>
#include <ilvr/tensor.hpp>

#include <stb_image.h>
#include <stb_image_write.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace ilvr {

namespace detail {

inline std::string quoted(const std::filesystem::path& path) { return "'" + path.string() + "'"; }

/// Pixel value of an 8-bit sample: x = u8 / 127.5 - 1 in float32 (docs/spec.md section 6.5).
inline float from_u8(int v) { return static_cast<float>(v) / 127.5f - 1.0f; }

/// 8-bit sample of a pixel value: clamp to [-1, 1], floor((x + 1) / 2 * 255 + 0.5),
/// in double (docs/spec.md section 6.5). The caller has rejected NaN.
inline std::uint8_t to_u8(float x)
{
    const double c = std::clamp(static_cast<double>(x), -1.0, 1.0);
    return static_cast<std::uint8_t>(std::floor((c + 1.0) / 2.0 * 255.0 + 0.5));
}

/// Colour c with alpha a, composited over white, rounded: (c a + 255 (255 - a)) / 255.
inline int over_white(int c, int a) { return (c * a + 255 * (255 - a) + 127) / 255; }

/// ITU-R BT.601 luma of 8-bit R, G, B, computed in double and rounded to the nearest
/// integer, so an RGB image with R = G = B gives back exactly that grey.
inline int luma(int r, int g, int b)
{
    return static_cast<int>(std::lround(0.299 * r + 0.587 * g + 0.114 * b));
}

inline std::string stb_reason()
{
    const char* reason = stbi_failure_reason();
    return reason ? reason : "unknown reason";
}

inline std::vector<unsigned char> read_file(const std::filesystem::path& path, const char* who)
{
    std::error_code ec;
    const auto status = std::filesystem::status(path, ec);
    require(std::filesystem::exists(status), [&] { return std::string(who) + ": " + quoted(path) + ": no such file"; });
    require(!std::filesystem::is_directory(status),
            [&] { return std::string(who) + ": " + quoted(path) + ": is a directory"; });
    std::ifstream in(path, std::ios::binary);
    require(static_cast<bool>(in), [&] { return std::string(who) + ": " + quoted(path) + ": cannot open for reading"; });
    std::vector<unsigned char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    require(!in.bad(), [&] { return std::string(who) + ": " + quoted(path) + ": read error"; });
    return bytes;
}

/// CRC-32 (polynomial 0xEDB88320, as PNG uses) of `n` bytes.
inline std::uint32_t crc32(const unsigned char* p, std::size_t n)
{
    static const auto table = [] {
        std::array<std::uint32_t, 256> t{};
        for (std::uint32_t i = 0; i < 256; ++i) {
            std::uint32_t c = i;
            for (int k = 0; k < 8; ++k) c = (c & 1u) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            t[i] = c;
        }
        return t;
    }();
    std::uint32_t c = 0xFFFFFFFFu;
    for (std::size_t i = 0; i < n; ++i) c = table[(c ^ p[i]) & 0xFFu] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}

/// For a PNG file, what is wrong with its chunk structure ("" if nothing): every
/// chunk must be complete with a correct CRC, and the file must reach IEND. stb
/// checks neither, so without this a flipped bit or a cut after the last IDAT
/// could decode silently into a wrong image. Other formats return "".
inline std::string png_structure_error(std::span<const unsigned char> bytes)
{
    static constexpr unsigned char signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
    if (bytes.size() < 8 || !std::equal(signature, signature + 8, bytes.begin())) return "";
    auto be32 = [&](std::size_t at) {
        return (std::uint32_t{bytes[at]} << 24) | (std::uint32_t{bytes[at + 1]} << 16)
            | (std::uint32_t{bytes[at + 2]} << 8) | std::uint32_t{bytes[at + 3]};
    };
    std::size_t at = 8;
    while (true) {
        if (bytes.size() - at < 12) return "truncated PNG (the file ends before its IEND chunk)";
        const std::size_t length = be32(at);
        if (bytes.size() - at - 12 < length) return "truncated PNG (a chunk runs past the end of the file)";
        if (crc32(&bytes[at + 4], length + 4) != be32(at + 8 + length))
            return "corrupt PNG (CRC mismatch in chunk at byte " + std::to_string(at) + ")";
        const bool end = std::equal(&bytes[at + 4], &bytes[at + 8], "IEND");
        at += 12 + length;
        if (end) return "";
    }
}

} // namespace detail

namespace detail {

/// The width and height a PNG's IHDR chunk announces ({0, 0} if `bytes` is not a
/// PNG starting with IHDR). stb refuses to report sizes whose byte count overflows
/// an int, so this lets such a header get the pixel-limit message.
inline std::pair<std::uint64_t, std::uint64_t> png_announced_size(std::span<const unsigned char> bytes)
{
    static constexpr unsigned char signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    if (bytes.size() < 24 || !std::equal(signature, signature + 8, bytes.begin())
        || !std::equal(bytes.begin() + 12, bytes.begin() + 16, "IHDR"))
        return {0, 0};
    auto be32 = [&](std::size_t i) {
        return (std::uint64_t{bytes[i]} << 24) | (std::uint64_t{bytes[i + 1]} << 16) | (std::uint64_t{bytes[i + 2]} << 8)
            | std::uint64_t{bytes[i + 3]};
    };
    return {be32(16), be32(20)};
}

} // namespace detail

/// Default pixel limit of load_image: 64 megapixels (an 8192 x 8192 image).
inline constexpr std::int64_t default_max_pixels = std::int64_t{1} << 26;

/// Decodes an image held in memory (PNG, JPEG, BMP, GIF, TGA, PSD, HDR, PIC, PNM:
/// whatever stb_image reads; 16-bit files are reduced to 8 bits) into a [1, channels, H, W]
/// tensor with x = u8 / 127.5 - 1 (docs/spec.md section 6.5). `channels` is 1 or 3:
/// - grey to 3 channels: the grey value is replicated;
/// - RGB to 1 channel: ITU-R BT.601 luma 0.299 R + 0.587 G + 0.114 B of the 8-bit
///   values, in double, rounded to the nearest integer (grey RGB stays exact);
/// - an alpha channel is composited over white, round((c a + 255 (255 - a)) / 255),
///   before anything else, so transparent parts read as white as in a viewer.
/// The size is read from the header first; more than `max_pixels` pixels is refused
/// before anything is decoded. PNG chunk CRCs are checked and a PNG must be complete
/// up to IEND (stb checks neither; JPEG has no checksums, so there only damage that
/// breaks the decoder is noticed). Every failure (missing file, unknown format,
/// corrupt or truncated data, too large) throws ilvr::error naming the file and the
/// reason (stb's, where stb found it).
/// stb keeps its failure reason in a global: call this from one thread at a time.
inline tensor decode_image(std::span<const unsigned char> bytes, int channels, std::int64_t max_pixels = default_max_pixels,
                           const std::string& name = "image in memory")
{
    const std::string quoted_name = "'" + name + "'";
    detail::require(channels == 1 || channels == 3, [&] {
        return "decode_image: " + quoted_name + ": channels must be 1 or 3, got " + std::to_string(channels);
    });
    detail::require(bytes.size() <= static_cast<std::size_t>(std::numeric_limits<int>::max()),
                    [&] { return "decode_image: " + quoted_name + ": file larger than 2 GiB"; });
    const int length = static_cast<int>(bytes.size());

    // Plain variables, not a structured binding: clang 14 cannot capture those in a lambda.
    const auto announced = detail::png_announced_size(bytes);
    const std::uint64_t announced_w = announced.first, announced_h = announced.second;
    detail::require(announced_w * announced_h <= static_cast<std::uint64_t>(max_pixels), [&] {
        return "decode_image: " + quoted_name + ": " + std::to_string(announced_w) + "x" + std::to_string(announced_h)
            + " = " + std::to_string(announced_w * announced_h) + " pixels exceeds max_pixels = " + std::to_string(max_pixels);
    });
    int w = 0, h = 0, comp = 0;
    detail::require(stbi_info_from_memory(bytes.data(), length, &w, &h, &comp) == 1, [&] {
        return "decode_image: " + quoted_name + ": not a readable image (" + detail::stb_reason() + ")";
    });
    const std::int64_t pixels = std::int64_t{w} * h;
    detail::require(pixels <= max_pixels, [&] {
        return "decode_image: " + quoted_name + ": " + std::to_string(w) + "x" + std::to_string(h) + " = "
            + std::to_string(pixels) + " pixels exceeds max_pixels = " + std::to_string(max_pixels);
    });

    const std::string damage = detail::png_structure_error(bytes);
    detail::require(damage.empty(), [&] { return "decode_image: " + quoted_name + ": " + damage; });

    struct stb_pixels {
        unsigned char* p;
        ~stb_pixels() { stbi_image_free(p); }
    } decoded{stbi_load_from_memory(bytes.data(), length, &w, &h, &comp, 0)};
    detail::require(decoded.p != nullptr, [&] {
        return "decode_image: " + quoted_name + ": cannot decode (" + detail::stb_reason() + ")";
    });
    detail::require(comp >= 1 && comp <= 4 && std::int64_t{w} * h <= max_pixels, [&] {
        return "decode_image: " + quoted_name + ": decoder returned an unexpected layout";
    });

    tensor out({1, channels, h, w});
    const auto plane = static_cast<std::size_t>(w) * static_cast<std::size_t>(h);
    float* dst = out.data();
    const unsigned char* src = decoded.p;
    for (std::size_t i = 0; i < plane; ++i, src += comp) {
        int r = src[0], g = src[0], b = src[0];
        if (comp >= 3) g = src[1], b = src[2];
        if (comp == 2 || comp == 4) {
            const int a = src[comp - 1];
            r = detail::over_white(r, a), g = detail::over_white(g, a), b = detail::over_white(b, a);
        }
        if (channels == 1) {
            dst[i] = detail::from_u8(comp >= 3 ? detail::luma(r, g, b) : r);
        } else {
            dst[i] = detail::from_u8(r);
            dst[plane + i] = detail::from_u8(g);
            dst[2 * plane + i] = detail::from_u8(b);
        }
    }
    return out;
}

/// Reads an image file and decodes it with decode_image (same rules and errors,
/// naming the file).
inline tensor load_image(const std::filesystem::path& path, int channels, std::int64_t max_pixels = default_max_pixels)
{
    detail::require(channels == 1 || channels == 3, [&] {
        return "load_image: " + detail::quoted(path) + ": channels must be 1 or 3, got " + std::to_string(channels);
    });
    const std::vector<unsigned char> bytes = detail::read_file(path, "load_image");
    try {
        return decode_image(bytes, channels, max_pixels, path.string());
    } catch (const error& e) {
        std::string message = e.what();
        message.replace(0, std::string("decode_image").size(), "load_image");
        throw error(message);
    }
}

/// The 8-bit samples of one image ([1, C, H, W], C = 1 or 3), interleaved H x W x C:
/// clamp to [-1, 1], u8 = floor((x + 1) / 2 * 255 + 0.5) (docs/spec.md section 6.5). NaN is an error.
inline std::vector<std::uint8_t> to_u8(tensor_view<const float> image)
{
    const shape4 s = image.shape();
    detail::require(s.n == 1 && (s.c == 1 || s.c == 3) && s.h >= 1 && s.w >= 1, [&] {
        return "to_u8: expected one image [1, C, H, W] with C = 1 or 3, got " + s.to_string();
    });
    const std::size_t plane = s.plane_size();
    const auto c = static_cast<std::size_t>(s.c);
    std::vector<std::uint8_t> out(plane * c);
    for (std::size_t k = 0; k < c; ++k) {
        const float* src = image.plane(k);
        for (std::size_t i = 0; i < plane; ++i) {
            detail::require(!std::isnan(src[i]), [&] {
                return "to_u8: NaN at channel " + std::to_string(k) + ", pixel " + std::to_string(i);
            });
            out[i * c + k] = detail::to_u8(src[i]);
        }
    }
    return out;
}

/// Writes one image ([1, C, H, W], C = 1 or 3; pass image.batch(i, 1) for one image of
/// a batch) as an 8-bit PNG, converted by to_u8; a batch of several images is refused
/// (write each with its own name). The file appears atomically: the PNG is written to
/// a new `<name>.tmp-<pid>-<random>` in the destination folder, created exclusively
/// (a link planted there is never followed), and renamed over the destination, so
/// readers see the old file or the whole new one, never a part
/// (detail::write_file_atomically). On any failure the temporary is removed, the
/// destination is left as it was, and ilvr::error names the file and the reason.
/// (No fsync: a power cut may lose it.)
inline void save_png(const std::filesystem::path& path, tensor_view<const float> image)
{
    const shape4 s = image.shape();
    detail::require(s.n == 1, [&] {
        return "save_png: " + detail::quoted(path) + ": takes one image [1, C, H, W], got a batch " + s.to_string() +
            " (write image i as image.batch(i, 1), each to its own file)";
    });
    const std::vector<std::uint8_t> pixels = to_u8(image);
    detail::require(s.w <= std::numeric_limits<int>::max() / (3 * 4) && s.h <= std::numeric_limits<int>::max(),
                    [&] { return "save_png: " + detail::quoted(path) + ": image too large for PNG"; });
    detail::require(path.has_filename(), [&] { return "save_png: " + detail::quoted(path) + ": no file name"; });

    // Encode in memory first: stb's file writer does not check its writes.
    struct sink {
        std::vector<char> bytes;
        bool failed = false;
        static void append(void* context, void* data, int size)
        {
            auto* self = static_cast<sink*>(context);
            try {
                const char* p = static_cast<const char*>(data);
                self->bytes.insert(self->bytes.end(), p, p + size);
            } catch (...) {  // nothing may be thrown through stb's C code
                self->failed = true;
            }
        }
    } png;
    const int w = static_cast<int>(s.w), h = static_cast<int>(s.h), c = static_cast<int>(s.c);
    const int ok = stbi_write_png_to_func(&sink::append, &png, w, h, c, pixels.data(), w * c);
    detail::require(ok != 0 && !png.failed, [&] { return "save_png: " + detail::quoted(path) + ": PNG encoding failed"; });

    const std::string_view bytes(png.bytes.data(), png.bytes.size());
    detail::write_file_atomically(path, bytes, "save_png");
}

/// The reference preparation of the ILVR code (docs/spec.md section 6.5) for
/// [N, C, H, W] images of any aspect ratio; returns [N, C, size, size]:
/// 1. while the short side is >= 2 size, halve both sides with a box filter: each
///    output is the mean of a 2 x 2 block, an odd side drops its last row or column
///    (floor(L / 2), as the reference's integer halving);
/// 2. resize with the library's antialiased cubic (Keys a = -0.5) so the short side is
///    exactly `size` and the long side round(L * size / short) (half away from zero);
///    skipped when the sizes already match;
/// 3. crop size x size at offsets (H' - size) / 2 and (W' - size) / 2 (floored).
/// Everything is done on floats; the reference works on 8-bit samples.
inline tensor prepare_reference(tensor_view<const float> image, int size)
{
    const shape4 s = image.shape();
    detail::require(size >= 1, "prepare_reference: size must be >= 1, got " + std::to_string(size));
    detail::require(s.n >= 1 && s.c >= 1 && s.h >= 1 && s.w >= 1,
                    "prepare_reference: empty image " + s.to_string());
    detail::require(s.h <= std::numeric_limits<int>::max() && s.w <= std::numeric_limits<int>::max(),
                    "prepare_reference: image " + s.to_string() + " too large");

    // 1. Box halving.
    tensor halved;
    tensor_view<const float> current = image;
    while (std::min(current.shape().h, current.shape().w) >= 2 * std::int64_t{size}) {
        const shape4 a = current.shape();
        tensor next({a.n, a.c, a.h / 2, a.w / 2});
        const shape4 b = next.shape();
        for (std::size_t p = 0; p < a.planes(); ++p) {
            const float* src = current.plane(p);
            float* dst = next.view().plane(p);
            for (std::int64_t y = 0; y < b.h; ++y) {
                const float* r0 = src + (2 * y) * a.w;
                const float* r1 = r0 + a.w;
                for (std::int64_t x = 0; x < b.w; ++x)
                    dst[y * b.w + x] = 0.25f * ((r0[2 * x] + r0[2 * x + 1]) + (r1[2 * x] + r1[2 * x + 1]));
            }
        }
        halved = std::move(next);
        current = halved.view();
    }

    // 2. Cubic resize so the short side is `size`.
    const shape4 a = current.shape();
    const std::int64_t short_side = std::min(a.h, a.w);
    const double scale = static_cast<double>(size) / static_cast<double>(short_side);
    auto target = [&](std::int64_t length) {
        return length == short_side ? std::int64_t{size}
                                    : std::max<std::int64_t>(size, std::llround(static_cast<double>(length) * scale));
    };
    const std::int64_t rh = target(a.h), rw = target(a.w);
    detail::require(rh <= std::numeric_limits<int>::max() && rw <= std::numeric_limits<int>::max(), [&] {
        return "prepare_reference: image " + s.to_string() + " is too elongated to resize to a short side of "
            + std::to_string(size);
    });

    // 3. Centre crop. Resizing only the rows and columns of the crop (windows of
    // the full resize's tables, each output exactly as in the full resize) keeps
    // the cost at size x size: a 1 x 65536 strip would otherwise be resized to
    // 16 x 1M pixels first to keep 16 x 16 of them.
    const std::int64_t top = (rh - size) / 2, left = (rw - size) / 2;
    tensor out({a.n, a.c, size, size});
    if (rh != a.h || rw != a.w) {
        const resizer resize(make_axis_weights(static_cast<int>(a.h), static_cast<int>(rh), scale, kernels::cubic,
                                               static_cast<int>(top), size),
                             make_axis_weights(static_cast<int>(a.w), static_cast<int>(rw), scale, kernels::cubic,
                                               static_cast<int>(left), size));
        resize.apply(current, out.view());
        return out;
    }
    for (std::size_t p = 0; p < a.planes(); ++p) {
        const float* src = current.plane(p);
        float* dst = out.view().plane(p);
        for (std::int64_t y = 0; y < size; ++y)
            std::copy_n(src + (top + y) * a.w + left, size, dst + y * size);
    }
    return out;
}

// ---------------------------------------------------------------------------
// A 5 x 7 bitmap font for labels: digits, A-Z (lower case is drawn upper case),
// space and  = . , : - / ( ) + _ # % ? '  (anything else draws as ?).

namespace detail {

struct glyph {
    char c;
    std::array<std::uint8_t, 7> rows;  ///< top to bottom; bit 4 is the left column
};

inline constexpr glyph font_5x7[] = {
    {' ', {0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00}}, {'0', {0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E}},
    {'1', {0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E}}, {'2', {0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F}},
    {'3', {0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E}}, {'4', {0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02}},
    {'5', {0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E}}, {'6', {0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E}},
    {'7', {0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08}}, {'8', {0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E}},
    {'9', {0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C}}, {'A', {0x0E, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11}},
    {'B', {0x1E, 0x11, 0x11, 0x1E, 0x11, 0x11, 0x1E}}, {'C', {0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E}},
    {'D', {0x1C, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1C}}, {'E', {0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F}},
    {'F', {0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x10}}, {'G', {0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F}},
    {'H', {0x11, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11}}, {'I', {0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E}},
    {'J', {0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0C}}, {'K', {0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11}},
    {'L', {0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F}}, {'M', {0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11}},
    {'N', {0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11}}, {'O', {0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E}},
    {'P', {0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10}}, {'Q', {0x0E, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0D}},
    {'R', {0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11}}, {'S', {0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E}},
    {'T', {0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04}}, {'U', {0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E}},
    {'V', {0x11, 0x11, 0x11, 0x11, 0x11, 0x0A, 0x04}}, {'W', {0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0A}},
    {'X', {0x11, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x11}}, {'Y', {0x11, 0x11, 0x0A, 0x04, 0x04, 0x04, 0x04}},
    {'Z', {0x1F, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1F}}, {'=', {0x00, 0x00, 0x1F, 0x00, 0x1F, 0x00, 0x00}},
    {'.', {0x00, 0x00, 0x00, 0x00, 0x00, 0x0C, 0x0C}}, {',', {0x00, 0x00, 0x00, 0x00, 0x0C, 0x04, 0x08}},
    {':', {0x00, 0x0C, 0x0C, 0x00, 0x0C, 0x0C, 0x00}}, {'-', {0x00, 0x00, 0x00, 0x1F, 0x00, 0x00, 0x00}},
    {'/', {0x01, 0x02, 0x02, 0x04, 0x08, 0x08, 0x10}}, {'(', {0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02}},
    {')', {0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08}}, {'+', {0x00, 0x04, 0x04, 0x1F, 0x04, 0x04, 0x00}},
    {'_', {0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x1F}}, {'#', {0x0A, 0x0A, 0x1F, 0x0A, 0x1F, 0x0A, 0x0A}},
    {'%', {0x18, 0x19, 0x02, 0x04, 0x08, 0x13, 0x03}}, {'?', {0x0E, 0x11, 0x01, 0x02, 0x04, 0x00, 0x04}},
    {'\'', {0x04, 0x04, 0x08, 0x00, 0x00, 0x00, 0x00}},
};

inline const glyph& find_glyph(char c)
{
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    for (const glyph& g : font_5x7)
        if (g.c == c) return g;
    return find_glyph('?');
}

} // namespace detail

/// Height in pixels of a line of text drawn at `scale`.
inline int text_height(int scale = 1) { return 7 * scale; }
/// Width in pixels of `text` drawn at `scale` (5 pixels a glyph, 1 between glyphs).
inline int text_width(std::string_view text, int scale = 1)
{
    return text.empty() ? 0 : (6 * static_cast<int>(text.size()) - 1) * scale;
}

/// Draws `text` with the built-in 5 x 7 font, each font pixel a scale x scale square,
/// its top-left corner at (top, left), setting those pixels of every plane of `image`
/// to `value` (-1 is black). Parts outside the image are clipped.
inline void draw_text(tensor_view<float> image, int top, int left, std::string_view text, int scale = 1,
                      float value = -1.0f)
{
    detail::require(scale >= 1, "draw_text: scale must be >= 1, got " + std::to_string(scale));
    const shape4 s = image.shape();
    for (std::size_t k = 0; k < text.size(); ++k) {
        const auto& rows = detail::find_glyph(text[k]).rows;
        const std::int64_t x0 = left + static_cast<std::int64_t>(k) * 6 * scale;
        for (int gy = 0; gy < 7; ++gy)
            for (int gx = 0; gx < 5; ++gx) {
                if (!(rows[static_cast<std::size_t>(gy)] & (0x10 >> gx))) continue;
                for (std::int64_t y = top + std::int64_t{gy} * scale; y < top + std::int64_t{gy + 1} * scale; ++y)
                    for (std::int64_t x = x0 + std::int64_t{gx} * scale; x < x0 + std::int64_t{gx + 1} * scale; ++x)
                        if (y >= 0 && y < s.h && x >= 0 && x < s.w)
                            for (std::size_t p = 0; p < s.planes(); ++p) image.plane(p)[y * s.w + x] = value;
            }
    }
}

/// Tiles images (each [1, C, H, W], all the same C) into one [1, C, H', W'] image,
/// `columns` to a row, in order, on a white background (value 1). Every cell is as
/// large as the largest image; smaller images are centred in their cell (floored).
/// `padding` white pixels separate the cells and surround the grid. Optional text,
/// drawn in black with the built-in font at `text_scale`: `row_labels[r]` to the left
/// of row r (vertically centred), `column_labels[c]` above column c (horizontally
/// centred); the label strip is as wide (tall) as the longest label plus a gap of
/// max(padding, 2 text_scale).
inline tensor make_grid(const std::vector<tensor_view<const float>>& images, int columns, int padding,
                        const std::vector<std::string>& row_labels = {},
                        const std::vector<std::string>& column_labels = {}, int text_scale = 1)
{
    detail::require(!images.empty(), "make_grid: no images");
    detail::require(columns >= 1 && padding >= 0 && text_scale >= 1,
                    "make_grid: need columns >= 1, padding >= 0 and text_scale >= 1, got "
                        + std::to_string(columns) + ", " + std::to_string(padding) + ", "
                        + std::to_string(text_scale));
    const std::int64_t channels = images.front().shape().c;
    std::int64_t cell_h = 0, cell_w = 0;
    for (std::size_t i = 0; i < images.size(); ++i) {
        const shape4 s = images[i].shape();
        detail::require(s.n == 1 && s.c == channels && s.c >= 1 && s.h >= 1 && s.w >= 1, [&] {
            return "make_grid: image " + std::to_string(i) + " is " + s.to_string() + ", expected [1, "
                + std::to_string(channels) + ", H, W]";
        });
        cell_h = std::max(cell_h, s.h), cell_w = std::max(cell_w, s.w);
    }
    const auto count = static_cast<std::int64_t>(images.size());
    const std::int64_t cols = std::min<std::int64_t>(columns, count);
    const std::int64_t rows = (count + columns - 1) / columns;
    detail::require(static_cast<std::int64_t>(row_labels.size()) <= rows, [&] {
        return "make_grid: " + std::to_string(row_labels.size()) + " row labels for " + std::to_string(rows) + " rows";
    });
    detail::require(static_cast<std::int64_t>(column_labels.size()) <= cols, [&] {
        return "make_grid: " + std::to_string(column_labels.size()) + " column labels for " + std::to_string(cols)
            + " columns";
    });

    const int gap = std::max(padding, 2 * text_scale);
    int label_w = 0;
    for (const auto& label : row_labels) label_w = std::max(label_w, text_width(label, text_scale));
    const bool has_column_labels =
        std::any_of(column_labels.begin(), column_labels.end(), [](const std::string& l) { return !l.empty(); });
    const std::int64_t left = padding + (label_w > 0 ? label_w + gap : 0);
    const std::int64_t top = padding + (has_column_labels ? text_height(text_scale) + gap : 0);
    const std::int64_t width = left + cols * (cell_w + padding), height = top + rows * (cell_h + padding);

    tensor grid({1, channels, height, width});
    std::fill(grid.values().begin(), grid.values().end(), 1.0f);
    tensor_view<float> g = grid.view();
    for (std::int64_t i = 0; i < count; ++i) {
        const tensor_view<const float> im = images[static_cast<std::size_t>(i)];
        const shape4 s = im.shape();
        const std::int64_t y0 = top + (i / columns) * (cell_h + padding) + (cell_h - s.h) / 2;
        const std::int64_t x0 = left + (i % columns) * (cell_w + padding) + (cell_w - s.w) / 2;
        for (std::int64_t k = 0; k < channels; ++k)
            for (std::int64_t y = 0; y < s.h; ++y)
                std::copy_n(&im(0, k, y, 0), s.w, &g(0, k, y0 + y, x0));
    }
    for (std::size_t r = 0; r < row_labels.size(); ++r) {
        const auto y = top + static_cast<std::int64_t>(r) * (cell_h + padding) + (cell_h - text_height(text_scale)) / 2;
        draw_text(g, static_cast<int>(y), padding, row_labels[r], text_scale);
    }
    for (std::size_t c = 0; c < column_labels.size(); ++c) {
        const auto x = left + static_cast<std::int64_t>(c) * (cell_w + padding)
            + (cell_w - text_width(column_labels[c], text_scale)) / 2;
        draw_text(g, padding, static_cast<int>(std::max<std::int64_t>(x, 0)), column_labels[c], text_scale);
    }
    return grid;
}

} // namespace ilvr

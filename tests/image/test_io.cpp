// Image files (load_image, save_png, to_u8), prepare_reference, make_grid and the
// IDX loaders.
#include "support/random.hpp"

#include <ilvr/data/idx.hpp>
#include <ilvr/image/io.hpp>

#include "support/temp_folder.hpp"

#include <catch2/catch.hpp>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using ilvr::shape4;
using ilvr::tensor;

namespace {

struct temp_folder : ilvr_test::temp_folder {
    temp_folder() : ilvr_test::temp_folder("test-io") {}
};

void write_bytes(const fs::path& path, const std::string& bytes)
{
    std::ofstream out(path, std::ios::binary);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string read_bytes(const fs::path& path)
{
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

float u8_value(int v) { return static_cast<float>(v) / 127.5f - 1.0f; }

/// An image whose samples are all u8-representable, covering every value 0..255.
tensor u8_image(std::int64_t c, std::int64_t h, std::int64_t w, unsigned seed)
{
    tensor t({1, c, h, w});
    std::mt19937 gen(seed);
    for (std::size_t i = 0; i < t.size(); ++i) t[i] = u8_value(i < 256 ? int(i) : int(gen() % 256));
    return t;
}

/// Writes interleaved 8-bit pixels with `comp` channels (1 grey, 2 grey+alpha, 3 RGB, 4 RGBA).
void write_raw_png(const fs::path& path, int w, int h, int comp, const std::vector<std::uint8_t>& pixels)
{
    REQUIRE(stbi_write_png(path.string().c_str(), w, h, comp, pixels.data(), w * comp) != 0);
}

/// Checks that `f` throws ilvr::error whose message contains every one of `parts`.
template <class F>
void require_error(F&& f, const std::vector<std::string>& parts)
{
    try {
        f();
        FAIL("no ilvr::error thrown");
    } catch (const ilvr::error& e) {
        const std::string message = e.what();
        INFO(message);
        for (const auto& part : parts) CHECK(message.find(part) != std::string::npos);
    }
}

int over_white(int c, int a) { return int(std::lround((c * a + 255.0 * (255 - a)) / 255.0)); }

} // namespace

// ---------------------------------------------------------------------------
// to_u8, save_png, load_image

TEST_CASE("to_u8 clamps and rounds as docs/spec.md section 6.5 says", "[image]")
{
    tensor t({1, 1, 1, 8}, {-1.0f, 1.0f, 0.0f, 2.0f, -3.0f, u8_value(17), -0.996f, 0.9999f});
    const auto u = ilvr::to_u8(t);
    // floor((x + 1) / 2 * 255 + 0.5): 0 -> 128, -0.996 -> floor(1.01) = 1, 0.9999 -> 255.
    CHECK(u == std::vector<std::uint8_t>{0, 255, 128, 255, 0, 17, 1, 255});
    for (int v = 0; v < 256; ++v) {
        tensor one({1, 1, 1, 1}, {u8_value(v)});
        CHECK(int(ilvr::to_u8(one)[0]) == v);
    }
    tensor rgb({1, 3, 1, 2}, {-1, 1, 0, 0, 1, -1});  // planar in, interleaved out
    CHECK(ilvr::to_u8(rgb) == std::vector<std::uint8_t>{0, 128, 255, 255, 128, 0});
    tensor nan({1, 1, 1, 1}, {std::nanf("")});
    CHECK_THROWS_AS(ilvr::to_u8(nan), ilvr::error);
    CHECK_THROWS_AS(ilvr::to_u8(tensor({2, 3, 4, 4})), ilvr::error);
    CHECK_THROWS_AS(ilvr::to_u8(tensor({1, 2, 4, 4})), ilvr::error);
}

TEST_CASE("save_png then load_image round-trips u8-representable images exactly", "[image]")
{
    temp_folder dir;
    for (int c : {1, 3}) {
        const tensor image = u8_image(c, 23, 37, 7u + unsigned(c));
        const fs::path file = dir / ("round" + std::to_string(c) + ".png");
        ilvr::save_png(file, image);
        const tensor back = ilvr::load_image(file, c);
        REQUIRE(back.shape() == image.shape());
        CHECK(back.values() == image.values());
    }
    // One image of a batch.
    tensor batch({3, 3, 5, 6});
    for (std::size_t i = 0; i < batch.size(); ++i) batch[i] = u8_value(int(i % 256));
    const fs::path file = dir / "batch1.png";
    ilvr::save_png(file, batch.view().batch(1, 1));
    const tensor back = ilvr::load_image(file, 3);
    const auto one = batch.view().batch(1, 1);
    CHECK(std::vector<float>(one.data(), one.data() + one.size()) == back.values());
}

TEST_CASE("load_image maps grey, RGB, grey+alpha and RGBA files to 1 or 3 channels", "[image]")
{
    temp_folder dir;
    SECTION("grey to 3 channels replicates")
    {
        write_raw_png(dir / "g.png", 3, 1, 1, {0, 77, 255});
        const tensor t = ilvr::load_image(dir / "g.png", 3);
        REQUIRE(t.shape() == shape4{1, 3, 1, 3});
        for (int c = 0; c < 3; ++c) {
            CHECK(t.view()(0, c, 0, 0) == u8_value(0));
            CHECK(t.view()(0, c, 0, 1) == u8_value(77));
            CHECK(t.view()(0, c, 0, 2) == u8_value(255));
        }
        CHECK(ilvr::load_image(dir / "g.png", 1).values() == std::vector<float>{u8_value(0), u8_value(77), u8_value(255)});
    }
    SECTION("RGB to 1 channel is rounded BT.601 luma; grey RGB stays exact")
    {
        write_raw_png(dir / "rgb.png", 5, 1, 3, {255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 20, 30, 93, 93, 93});
        const tensor t = ilvr::load_image(dir / "rgb.png", 1);
        REQUIRE(t.shape() == shape4{1, 1, 1, 5});
        // 0.299 * 255 = 76.245, 0.587 * 255 = 149.685, 0.114 * 255 = 29.07, 2.99 + 11.74 + 3.42 = 18.15.
        CHECK(t.values() == std::vector<float>{u8_value(76), u8_value(150), u8_value(29), u8_value(18), u8_value(93)});
        const tensor rgb = ilvr::load_image(dir / "rgb.png", 3);
        CHECK(rgb.view()(0, 0, 0, 3) == u8_value(10));
        CHECK(rgb.view()(0, 1, 0, 3) == u8_value(20));
        CHECK(rgb.view()(0, 2, 0, 3) == u8_value(30));
    }
    SECTION("RGBA is composited over white")
    {
        write_raw_png(dir / "rgba.png", 3, 1, 4, {200, 100, 50, 255, 200, 100, 50, 0, 200, 100, 50, 128});
        const tensor t = ilvr::load_image(dir / "rgba.png", 3);
        REQUIRE(t.shape() == shape4{1, 3, 1, 3});
        const int colour[3] = {200, 100, 50};
        for (int c = 0; c < 3; ++c) {
            CHECK(t.view()(0, c, 0, 0) == u8_value(colour[c]));                     // opaque
            CHECK(t.view()(0, c, 0, 1) == u8_value(255));                           // transparent: white
            CHECK(t.view()(0, c, 0, 2) == u8_value(over_white(colour[c], 128)));    // half
        }
        CHECK(over_white(200, 128) == 227);
        const tensor grey = ilvr::load_image(dir / "rgba.png", 1);
        CHECK(grey.view()(0, 0, 0, 1) == u8_value(255));
        CHECK(grey.view()(0, 0, 0, 0) == u8_value(int(std::lround(0.299 * 200 + 0.587 * 100 + 0.114 * 50))));
    }
    SECTION("grey + alpha is composited over white")
    {
        write_raw_png(dir / "ga.png", 2, 1, 2, {40, 255, 40, 64});
        const tensor t = ilvr::load_image(dir / "ga.png", 1);
        CHECK(t.values() == std::vector<float>{u8_value(40), u8_value(over_white(40, 64))});
    }
    SECTION("channels other than 1 and 3 are refused")
    {
        write_raw_png(dir / "g.png", 1, 1, 1, {0});
        for (int c : {0, 2, 4, -1}) require_error([&] { ilvr::load_image(dir / "g.png", c); }, {"g.png", "channels"});
    }
}

TEST_CASE("load_image reads JPEG and BMP too", "[image]")
{
    temp_folder dir;
    const int w = 24, h = 16;
    std::vector<std::uint8_t> pixels(std::size_t(w * h * 3));
    for (std::size_t i = 0; i < pixels.size(); i += 3) pixels[i] = 200, pixels[i + 1] = 120, pixels[i + 2] = 40;
    REQUIRE(stbi_write_jpg((dir / "a.jpg").string().c_str(), w, h, 3, pixels.data(), 100) != 0);
    REQUIRE(stbi_write_bmp((dir / "a.bmp").string().c_str(), w, h, 3, pixels.data()) != 0);
    const tensor jpg = ilvr::load_image(dir / "a.jpg", 3), bmp = ilvr::load_image(dir / "a.bmp", 3);
    REQUIRE(jpg.shape() == shape4{1, 3, h, w});
    REQUIRE(bmp.shape() == shape4{1, 3, h, w});
    const int colour[3] = {200, 120, 40};
    for (int c = 0; c < 3; ++c)
        for (int y = 0; y < h; ++y)
            for (int x = 0; x < w; ++x) {
                CHECK(bmp.view()(0, c, y, x) == u8_value(colour[c]));
                CHECK(std::abs(jpg.view()(0, c, y, x) - u8_value(colour[c])) <= 3.0f / 127.5f);  // lossy
            }
}

TEST_CASE("load_image refuses images over max_pixels from the header, before decoding", "[image]")
{
    temp_folder dir;
    // A PNG signature and an IHDR for a 5000 x 5000 RGB image, and no pixel data at
    // all: decoding would fail, so only the header check can give this message.
    std::string png = "\x89PNG\r\n\x1a\n";
    png += std::string("\0\0\0\x0d", 4) + "IHDR";
    png += std::string("\0\0\x13\x88\0\0\x13\x88", 8) + std::string("\x08\x02\0\0\0", 5);
    const std::uint32_t crc = ilvr::detail::crc32(reinterpret_cast<const unsigned char*>(&png[12]), 17);
    for (int k = 0; k < 4; ++k) png += char((crc >> (24 - 8 * k)) & 255);
    write_bytes(dir / "huge.png", png);
    require_error([&] { ilvr::load_image(dir / "huge.png", 3, 1'000'000); },
                  {"huge.png", "5000x5000", "max_pixels"});
    // With the default limit (64 Mpx) the header passes and the missing data is found.
    require_error([&] { ilvr::load_image(dir / "huge.png", 3); }, {"huge.png", "truncated PNG"});

    // 100000 x 100000: stb refuses to report a size whose bytes overflow an int
    // ("unknown image type"); the IHDR is read first, so the limit is named.
    std::string giant = "\x89PNG\r\n\x1a\n";
    giant += std::string("\0\0\0\x0d", 4) + "IHDR";
    giant += std::string("\0\x01\x86\xa0\0\x01\x86\xa0", 8) + std::string("\x08\0\0\0\0", 5);
    const std::uint32_t giant_crc = ilvr::detail::crc32(reinterpret_cast<const unsigned char*>(&giant[12]), 17);
    for (int k = 0; k < 4; ++k) giant += char((giant_crc >> (24 - 8 * k)) & 255);
    write_bytes(dir / "giant.png", giant);
    require_error([&] { ilvr::load_image(dir / "giant.png", 1); }, {"giant.png", "100000x100000", "max_pixels"});

    ilvr::save_png(dir / "small.png", u8_image(3, 10, 20, 1));
    CHECK_NOTHROW(ilvr::load_image(dir / "small.png", 3, 200));
    require_error([&] { ilvr::load_image(dir / "small.png", 3, 199); }, {"small.png", "max_pixels"});
}

TEST_CASE("load_image errors name the file and the reason", "[image]")
{
    CHECK(ilvr::detail::crc32(reinterpret_cast<const unsigned char*>("123456789"), 9) == 0xCBF43926u);
    temp_folder dir;
    require_error([&] { ilvr::load_image(dir / "missing.png", 3); }, {"missing.png", "no such file"});
    require_error([&] { ilvr::load_image(dir.path, 3); }, {"is a directory"});

    std::string garbage(300, '\0');
    std::mt19937 gen(3);
    for (auto& ch : garbage) ch = char(gen() % 256);
    write_bytes(dir / "garbage.png", garbage);
    require_error([&] { ilvr::load_image(dir / "garbage.png", 3); }, {"garbage.png", "not a readable image ("});

    write_bytes(dir / "empty.png", "");
    require_error([&] { ilvr::load_image(dir / "empty.png", 3); }, {"empty.png"});

    // Noise compresses badly, so the pixel data is most of the file; cut it in half.
    tensor noise = ilvr_test::normal_tensor({1, 3, 64, 64}, 5);
    ilvr::save_png(dir / "full.png", noise);
    const std::string bytes = read_bytes(dir / "full.png");
    for (std::size_t keep : {bytes.size() / 2, bytes.size() - 20, std::size_t{40}}) {
        write_bytes(dir / "truncated.png", bytes.substr(0, keep));
        INFO("kept " << keep << " of " << bytes.size() << " bytes");
        require_error([&] { ilvr::load_image(dir / "truncated.png", 3); }, {"truncated.png", "("});
    }
    // Cut exactly before IEND: stb alone would decode this.
    write_bytes(dir / "no-iend.png", bytes.substr(0, bytes.size() - 12));
    require_error([&] { ilvr::load_image(dir / "no-iend.png", 3); }, {"no-iend.png", "truncated PNG"});
    // One flipped bit in the compressed data: caught by the chunk CRC.
    std::string corrupt = bytes;
    corrupt[100] = char(corrupt[100] ^ 0x10);
    write_bytes(dir / "corrupt.png", corrupt);
    require_error([&] { ilvr::load_image(dir / "corrupt.png", 3); }, {"corrupt.png", "CRC"});
    // A bad colour type in IHDR with a matching CRC: stb's reason is reported.
    std::string bad_type = bytes;
    bad_type[25] = 7;
    const std::uint32_t crc = ilvr::detail::crc32(reinterpret_cast<const unsigned char*>(&bad_type[12]), 17);
    for (int k = 0; k < 4; ++k) bad_type[29 + std::size_t(k)] = char((crc >> (24 - 8 * k)) & 255);
    write_bytes(dir / "bad-type.png", bad_type);
    require_error([&] { ilvr::load_image(dir / "bad-type.png", 3); }, {"bad-type.png", "("});
}

TEST_CASE("save_png writes atomically and leaves nothing behind on failure", "[image]")
{
    temp_folder dir;
    const tensor a = u8_image(3, 8, 8, 1), b = u8_image(3, 8, 8, 2);

    ilvr::save_png(dir / "out.png", a);
    CHECK(dir.names() == std::vector<std::string>{"out.png"});  // no temporary left
    ilvr::save_png(dir / "out.png", b);                        // replaces
    CHECK(dir.names() == std::vector<std::string>{"out.png"});
    CHECK(ilvr::load_image(dir / "out.png", 3).values() == b.values());

    // A folder that does not exist: error, and nothing is created.
    const fs::path missing = dir / "no-such-folder";
    require_error([&] { ilvr::save_png(missing / "x.png", a); }, {"x.png", "cannot create"});
    CHECK(!fs::exists(missing));
    CHECK(dir.names() == std::vector<std::string>{"out.png"});

    // A batch: refused in save_png's own name, saying how to write each image.
    ilvr::tensor batch({2, 3, 8, 8});
    require_error([&] { ilvr::save_png(dir / "batch.png", batch); }, {"save_png: ", "takes one image", "batch(i, 1)"});
    CHECK(dir.names() == std::vector<std::string>{"out.png"});
    ilvr::save_png(dir / "second.png", batch.view().batch(1, 1));
    fs::remove(dir / "second.png");

    // The destination is a folder: the rename fails, the temporary is removed.
    fs::create_directory(dir / "taken.png");
    require_error([&] { ilvr::save_png(dir / "taken.png", a); }, {"taken.png", "rename"});
    CHECK(fs::is_directory(dir / "taken.png"));
    CHECK(dir.names().size() == 2);

    // Bad images write nothing.
    require_error([&] { ilvr::save_png(dir / "bad.png", tensor({1, 2, 4, 4})); }, {"[1, 2, 4, 4]"});
    require_error([&] { ilvr::save_png(dir / "bad.png", tensor({2, 3, 4, 4})); }, {"[2, 3, 4, 4]"});
    CHECK(!fs::exists(dir / "bad.png"));
    CHECK(dir.names().size() == 2);
}

// ---------------------------------------------------------------------------
// prepare_reference

TEST_CASE("prepare_reference gives size x size for any aspect ratio", "[image]")
{
    struct c_hw {
        std::int64_t h, w;
        int size;
    };
    for (auto [h, w, size] : {c_hw{200, 300, 64}, c_hw{300, 200, 64}, c_hw{600, 260, 64}, c_hw{31, 97, 16},
                              c_hw{10, 10, 32}, c_hw{7, 3, 5}, c_hw{1000, 1001, 1}, c_hw{64, 64, 64}}) {
        INFO(h << "x" << w << " -> " << size);
        const tensor x = ilvr_test::normal_tensor({2, 3, h, w}, 11);
        const tensor out = ilvr::prepare_reference(x, size);
        CHECK(out.shape() == shape4{2, 3, size, size});

        tensor constant({1, 3, h, w});
        std::fill(constant.values().begin(), constant.values().end(), 0.375f);
        const tensor flat = ilvr::prepare_reference(constant, size);
        CHECK(ilvr_test::max_abs_diff(flat.values(), std::vector<float>(flat.size(), 0.375f)) < 1e-6);
    }
    CHECK_THROWS_AS(ilvr::prepare_reference(tensor({1, 3, 8, 8}), 0), ilvr::error);
    CHECK_THROWS_AS(ilvr::prepare_reference(tensor({1, 3, 8, 8}), -4), ilvr::error);
}

TEST_CASE("prepare_reference resizes only the crop, bitwise as a full resize then crop", "[image]")
{
    // The reference's way (docs/spec.md section 6.5): resize so the short side is S, then crop the
    // centre. prepare_reference resizes only the crop's rows and columns; every
    // output must be the same float. Shapes below 2S on the short side, so no halving.
    struct c_hw {
        std::int64_t h, w;
        int size;
    };
    for (const c_hw& shape : {c_hw{23, 37, 16}, c_hw{37, 23, 16}, c_hw{5, 200, 8}, c_hw{300, 7, 12}, c_hw{3, 3, 9},
                              c_hw{40, 41, 32}, c_hw{1, 300, 4}}) {
        const std::int64_t h = shape.h, w = shape.w;  // not structured bindings: clang 14 cannot capture those
        const int size = shape.size;
        INFO(h << "x" << w << " -> " << size);
        const tensor x = ilvr_test::normal_tensor({1, 2, h, w}, 21);
        const double scale = static_cast<double>(size) / static_cast<double>(std::min(h, w));
        auto target = [&](std::int64_t l) {
            return l == std::min(h, w) ? std::int64_t{size} : std::max<std::int64_t>(size, std::llround(static_cast<double>(l) * scale));
        };
        const std::int64_t rh = target(h), rw = target(w);
        const ilvr::resizer full(static_cast<int>(h), static_cast<int>(w), static_cast<int>(rh), static_cast<int>(rw),
                                 scale, ilvr::kernels::cubic);
        tensor resized({1, 2, rh, rw});
        full.apply(x, resized.view());
        const tensor out = ilvr::prepare_reference(x, size);
        const std::int64_t top = (rh - size) / 2, left = (rw - size) / 2;
        for (int c = 0; c < 2; ++c)
            for (int y = 0; y < size; ++y)
                for (int col = 0; col < size; ++col)
                    REQUIRE(out.view()(0, c, y, col) == resized.view()(0, c, top + y, left + col));
    }
}

TEST_CASE("prepare_reference of a long strip costs only the crop", "[image][limits]")
{
    // 1 x 65536 to 16 x 16: a full resize would make 16 x 1,048,576 pixels first.
    tensor strip({1, 3, 1, 65536});
    for (std::size_t i = 0; i < strip.size(); ++i) strip[i] = static_cast<float>(i % 7) / 7.0f;
    const tensor out = ilvr::prepare_reference(strip, 16);
    CHECK(out.shape() == shape4{1, 3, 16, 16});
    // Too elongated to resize at all: a clear error, not an overflow.
    CHECK_THROWS_WITH(ilvr::prepare_reference(tensor({1, 1, 1, 1 << 22}), 4096), Catch::Contains("too elongated"));
}

TEST_CASE("prepare_reference halves by 2x2 means, drops an odd last row, crops at (L - S) // 2", "[image]")
{
    SECTION("8x8 -> 4: one halving, nothing else")
    {
        const tensor x = ilvr_test::normal_tensor({1, 1, 8, 8}, 1);
        const tensor out = ilvr::prepare_reference(x, 4);
        const auto v = x.view();
        for (int y = 0; y < 4; ++y)
            for (int c = 0; c < 4; ++c) {
                const float mean = 0.25f * ((v(0, 0, 2 * y, 2 * c) + v(0, 0, 2 * y, 2 * c + 1))
                                            + (v(0, 0, 2 * y + 1, 2 * c) + v(0, 0, 2 * y + 1, 2 * c + 1)));
                CHECK(out.view()(0, 0, y, c) == mean);
            }
    }
    SECTION("9x17 -> 4: halving to 4x8 drops the last row and column, crop at column 2")
    {
        const tensor x = ilvr_test::normal_tensor({1, 1, 9, 17}, 2);
        const tensor out = ilvr::prepare_reference(x, 4);
        const auto v = x.view();
        for (int y = 0; y < 4; ++y)
            for (int c = 0; c < 4; ++c) {
                const int cc = c + 2;
                const float mean = 0.25f * ((v(0, 0, 2 * y, 2 * cc) + v(0, 0, 2 * y, 2 * cc + 1))
                                            + (v(0, 0, 2 * y + 1, 2 * cc) + v(0, 0, 2 * y + 1, 2 * cc + 1)));
                CHECK(out.view()(0, 0, y, c) == mean);
            }
    }
    SECTION("4x11 -> 4: no resize, crop at (11 - 4) // 2 = 3")
    {
        const tensor x = ilvr_test::normal_tensor({1, 2, 4, 11}, 3);
        const tensor out = ilvr::prepare_reference(x, 4);
        for (int c = 0; c < 2; ++c)
            for (int y = 0; y < 4; ++y)
                for (int k = 0; k < 4; ++k) CHECK(out.view()(0, c, y, k) == x.view()(0, c, y, k + 3));
    }
    SECTION("a short side of 5 goes up to 8 with the cubic resizer")
    {
        // 5x12 -> short side 8, long side round(12 * 8 / 5) = round(19.2) = 19, crop at 5.
        const tensor x = ilvr_test::normal_tensor({1, 1, 5, 12}, 4);
        const ilvr::resizer up(5, 12, 8, 19, 8.0 / 5.0, ilvr::kernels::cubic);
        tensor big({1, 1, 8, 19});
        up.apply(x, big.view());
        const tensor out = ilvr::prepare_reference(x, 8);
        for (int y = 0; y < 8; ++y)
            for (int k = 0; k < 8; ++k) CHECK(out.view()(0, 0, y, k) == big.view()(0, 0, y, k + 5));
    }
}

// ---------------------------------------------------------------------------
// make_grid and the font

TEST_CASE("make_grid tiles, centres and pads", "[image]")
{
    tensor a({1, 3, 4, 6}), b({1, 3, 8, 2}), c({1, 3, 2, 2});
    std::fill(a.values().begin(), a.values().end(), -1.0f);
    std::fill(b.values().begin(), b.values().end(), 0.0f);
    std::fill(c.values().begin(), c.values().end(), 0.5f);
    const tensor g = ilvr::make_grid({a, b, c}, 2, 1);
    // Cells 8x6, 2 columns, 2 rows, padding 1 around and between.
    REQUIRE(g.shape() == shape4{1, 3, 1 + 2 * 9, 1 + 2 * 7});
    const auto v = g.view();
    // a at cell (0, 0): rows 1 + 2 .. 1 + 5, columns 1 .. 6.
    CHECK(v(0, 0, 3, 1) == -1.0f);
    CHECK(v(0, 2, 6, 6) == -1.0f);
    CHECK(v(0, 0, 2, 1) == 1.0f);
    CHECK(v(0, 0, 7, 1) == 1.0f);
    // b at cell (0, 1): x0 = 1 + 7 + (6 - 2) / 2 = 10, rows 1 .. 8.
    CHECK(v(0, 1, 1, 10) == 0.0f);
    CHECK(v(0, 1, 8, 11) == 0.0f);
    CHECK(v(0, 1, 1, 9) == 1.0f);
    CHECK(v(0, 1, 1, 12) == 1.0f);
    // c at cell (1, 0): y0 = 1 + 9 + 3 = 13, x0 = 1 + 2 = 3.
    CHECK(v(0, 0, 13, 3) == 0.5f);
    CHECK(v(0, 0, 14, 4) == 0.5f);
    // Padding and the empty cell (1, 1) are white.
    double sum = 0;
    for (int y = 10; y < 18; ++y)
        for (int x = 8; x < 14; ++x) sum += v(0, 0, y, x);
    CHECK(sum == 48.0);
    for (int x = 0; x < 15; ++x) CHECK(v(0, 0, 0, x) == 1.0f);

    CHECK_THROWS_AS(ilvr::make_grid({}, 2, 1), ilvr::error);
    CHECK_THROWS_AS(ilvr::make_grid({a, tensor({1, 1, 4, 4})}, 2, 1), ilvr::error);
    CHECK_THROWS_AS(ilvr::make_grid({a}, 0, 1), ilvr::error);
    CHECK_THROWS_AS(ilvr::make_grid({a, b}, 2, 1, {"ONE", "TWO"}), ilvr::error);  // one row only
}

TEST_CASE("make_grid labels: black text where the glyphs are, white around", "[image]")
{
    tensor im({1, 1, 20, 20});  // mid grey
    const int scale = 2, padding = 3;
    const tensor g = ilvr::make_grid({im, im, im, im}, 2, padding, {"N=2", "ab"}, {"1", "(X)"}, scale);
    const int gap = std::max(padding, 2 * scale);
    const int label_w = ilvr::text_width("N=2", scale);
    CHECK(label_w == (6 * 3 - 1) * scale);
    const int left = padding + label_w + gap, top = padding + ilvr::text_height(scale) + gap;
    REQUIRE(g.shape() == shape4{1, 1, top + 2 * (20 + padding), left + 2 * (20 + padding)});
    const auto v = g.view();
    auto count_black = [&](int y0, int y1, int x0, int x1) {
        int n = 0;
        for (int y = y0; y < y1; ++y)
            for (int x = x0; x < x1; ++x) n += v(0, 0, y, x) == -1.0f;
        return n;
    };
    // Row label 0 sits at x = padding, y = top + (20 - 14) / 2, in a 34 x 14 box.
    const int ly = top + (20 - ilvr::text_height(scale)) / 2;
    const int in_box = count_black(ly, ly + 14, padding, padding + label_w);
    CHECK(in_box > 0);
    CHECK(count_black(top, top + 20, 0, left) == in_box);  // nothing else on that strip
    // 'N' first column is fully set: (ly + 2k, padding) for all 7 rows.
    for (int k = 0; k < 7; ++k) CHECK(v(0, 0, ly + scale * k, padding) == -1.0f);
    // Lower case is drawn as upper case: "ab" is the glyphs of "AB".
    tensor lower({1, 1, 7, 11}), upper({1, 1, 7, 11});
    ilvr::draw_text(lower, 0, 0, "ab");
    ilvr::draw_text(upper, 0, 0, "AB");
    CHECK(lower.values() == upper.values());
    CHECK(count_black(top + 20 + padding, top + 40 + padding, 0, left) > 0);
    // Column labels are above their columns.
    CHECK(count_black(padding, padding + 14, left, left + 20) > 0);
    CHECK(count_black(padding, padding + 14, left + 20 + padding, left + 40 + padding) > 0);
    CHECK(count_black(0, padding, 0, int(g.shape().w)) == 0);
    // Unknown characters draw as '?'.
    tensor q1({1, 1, 7, 5}), q2({1, 1, 7, 5});
    ilvr::draw_text(q1, 0, 0, "~");
    ilvr::draw_text(q2, 0, 0, "?");
    CHECK(q1.values() == q2.values());
    // Clipped drawing does not write outside the image.
    tensor tiny({1, 1, 3, 3});
    CHECK_NOTHROW(ilvr::draw_text(tiny, -2, -2, "W8", 3));
}

// ---------------------------------------------------------------------------
// IDX

namespace {

std::string be32(std::uint32_t v)
{
    return {char(v >> 24), char((v >> 16) & 255), char((v >> 8) & 255), char(v & 255)};
}

std::string idx_images(std::uint32_t count, std::uint32_t h, std::uint32_t w, std::size_t bytes_kept = SIZE_MAX)
{
    std::string s = std::string("\0\0\x08\x03", 4) + be32(count) + be32(h) + be32(w);
    for (std::uint32_t i = 0; i < count * h * w; ++i) s += char((i * 37 + 11) % 256);
    return s.substr(0, std::min(bytes_kept, s.size()));
}

std::string idx_labels(std::uint32_t count)
{
    std::string s = std::string("\0\0\x08\x01", 4) + be32(count);
    for (std::uint32_t i = 0; i < count; ++i) s += char(i % 10);
    return s;
}

} // namespace

TEST_CASE("IDX images and labels read from streams and files", "[data]")
{
    std::istringstream in(idx_images(3, 2, 3));
    const tensor t = ilvr::read_idx_images(in);
    REQUIRE(t.shape() == shape4{3, 1, 2, 3});
    for (std::size_t i = 0; i < t.size(); ++i) CHECK(t[i] == u8_value(int((i * 37 + 11) % 256)));

    std::istringstream in2(idx_images(3, 2, 3));
    const tensor padded = ilvr::read_idx_images(in2, 2, 6);
    REQUIRE(padded.shape() == shape4{2, 1, 6, 6});
    for (int n = 0; n < 2; ++n)
        for (int y = 0; y < 6; ++y)
            for (int x = 0; x < 6; ++x) {
                const bool inside = y >= 2 && y < 4 && x >= 1 && x < 4;  // offsets (6-2)/2, (6-3)/2
                const float expected = inside ? t.view()(n, 0, y - 2, x - 1) : -1.0f;
                CHECK(padded.view()(n, 0, y, x) == expected);
            }

    std::istringstream labels(idx_labels(25));
    const auto l = ilvr::read_idx_labels(labels, 12);
    REQUIRE(l.size() == 12);
    CHECK(l[11] == 1);

    temp_folder dir;
    write_bytes(dir / "images", idx_images(4, 5, 5));
    write_bytes(dir / "labels", idx_labels(4));
    CHECK(ilvr::load_idx_images(dir / "images").shape() == shape4{4, 1, 5, 5});
    CHECK(ilvr::load_idx_images(dir / "images", 0).shape() == shape4{0, 1, 5, 5});
    CHECK(ilvr::load_idx_labels(dir / "labels") == std::vector<int>{0, 1, 2, 3});
}

TEST_CASE("IDX errors: magic, rank, truncation, padding, missing files", "[data]")
{
    auto images_error = [](const std::string& bytes, const std::string& part, int pad_to = 0) {
        std::istringstream in(bytes);
        require_error([&] { ilvr::read_idx_images(in, -1, pad_to); }, {part});
    };
    images_error("\x01\0\x08\x03" + be32(1) + be32(2) + be32(2) + "abcd", "bad magic");
    images_error(std::string("\0\0\x0d\x03", 4) + be32(1) + be32(2) + be32(2), "0x0d");
    images_error(idx_labels(4), "3 dimension");
    images_error(idx_images(3, 4, 4, 16 + 47), "truncated");
    images_error(idx_images(3, 4, 4, 10), "truncated");
    images_error("", "truncated");
    images_error(idx_images(1, 0, 4), "empty");
    images_error(idx_images(1, 28, 28), "pad_to", 27);
    images_error(std::string("\x1f\x8b\x08\0", 4), "gzip");
    images_error(std::string("\0\0\x08\x03", 4) + be32(1u << 30) + be32(1024) + be32(1024), "too many pixels");
    // A header that promises far more than the stream holds fails without allocating it all.
    images_error(std::string("\0\0\x08\x03", 4) + be32(1u << 20) + be32(1024) + be32(512) + "abc", "truncated");
    {
        std::istringstream in(idx_images(3, 2, 2));
        require_error([&] { ilvr::read_idx_labels(in); }, {"1 dimension"});
    }
    {
        std::string labels = idx_labels(10);
        std::istringstream in(labels.substr(0, labels.size() - 1));
        require_error([&] { ilvr::read_idx_labels(in); }, {"truncated"});
        std::istringstream in2(labels.substr(0, labels.size() - 1));
        CHECK(ilvr::read_idx_labels(in2, 9).size() == 9);  // only what is asked for must exist
    }
    temp_folder dir;
    require_error([&] { ilvr::load_idx_images(dir / "nothing.gz"); }, {"nothing.gz", "no such file"});
    write_bytes(dir / "short", idx_images(3, 4, 4, 40));
    require_error([&] { ilvr::load_idx_images(dir / "short"); }, {"short", "truncated"});
}

#if ILVR_IDX_HAS_ZLIB
TEST_CASE("IDX files compressed with gzip", "[data]")
{
    temp_folder dir;
    const std::string raw = idx_images(50, 8, 8);
    auto write_gz = [](const fs::path& path, const std::string& bytes) {
        gzFile f = gzopen(path.string().c_str(), "wb");
        REQUIRE(f != nullptr);
        REQUIRE(gzwrite(f, bytes.data(), unsigned(bytes.size())) == int(bytes.size()));
        REQUIRE(gzclose(f) == Z_OK);
    };
    write_gz(dir / "images.gz", raw);
    std::istringstream in(raw);
    CHECK(ilvr::load_idx_images(dir / "images.gz").values() == ilvr::read_idx_images(in).values());
    // A cut-off gzip file: truncated, with zlib's own message.
    const std::string gz = read_bytes(dir / "images.gz");
    write_bytes(dir / "cut.gz", gz.substr(0, gz.size() / 2));
    require_error([&] { ilvr::load_idx_images(dir / "cut.gz"); }, {"cut.gz", "truncated"});
}
#endif

TEST_CASE("Fashion-MNIST test set, where installed", "[data]")
{
    const fs::path folder = "/usr/share/datasets/fashion-mnist";
    const fs::path images = folder / "t10k-images-idx3-ubyte.gz", labels = folder / "t10k-labels-idx1-ubyte.gz";
    if (!ilvr::idx_reads_gzip || !fs::exists(images) || !fs::exists(labels)) {
        WARN("Fashion-MNIST or zlib not available: skipped");
        return;
    }
    const tensor t = ilvr::load_idx_images(images);
    CHECK(t.shape() == shape4{10000, 1, 28, 28});
    const auto [lo, hi] = std::minmax_element(t.values().begin(), t.values().end());
    CHECK(*lo == -1.0f);
    CHECK(*hi == 1.0f);
    const auto l = ilvr::load_idx_labels(labels);
    REQUIRE(l.size() == 10000);
    std::vector<int> per_class(10, 0);
    for (int v : l) {
        REQUIRE(v >= 0);
        REQUIRE(v <= 9);
        ++per_class[std::size_t(v)];
    }
    CHECK(per_class == std::vector<int>(10, 1000));  // the test set is balanced

    const tensor padded = ilvr::load_idx_images(images, 5, 32);
    REQUIRE(padded.shape() == shape4{5, 1, 32, 32});
    for (int n = 0; n < 5; ++n)
        for (int y = 0; y < 32; ++y)
            for (int x = 0; x < 32; ++x) {
                const bool inside = y >= 2 && y < 30 && x >= 2 && x < 30;
                CHECK(padded.view()(n, 0, y, x) == (inside ? t.view()(n, 0, y - 2, x - 2) : -1.0f));
            }
}

// The low-pass filter phi_N at work: a synthetic RGB test card and a few
// Fashion-MNIST test images, filtered for N = 1, 2, 4, 8, 16 with the cubic kernel,
// written as one labelled PNG grid.
//
//   low_pass_gallery OUT.png [FASHION_MNIST_FOLDER]
//
// The folder defaults to /usr/share/datasets/fashion-mnist; without it only the
// test card is drawn.
#include <ilvr/data/idx.hpp>
#include <ilvr/image/io.hpp>
#include <ilvr/low_pass.hpp>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

namespace {

constexpr int factors[] = {1, 2, 4, 8, 16};

/// A 256 x 256 RGB test card: stripes of period 32 down to 2 pixels, a disc, a
/// square, a triangle, a checkerboard and large text, over a soft gradient.
ilvr::tensor test_card()
{
    constexpr int size = 256;
    ilvr::tensor card({1, 3, size, size});
    auto v = card.view();
    auto put = [&](int y, int x, float r, float g, float b) {
        v(0, 0, y, x) = r, v(0, 1, y, x) = g, v(0, 2, y, x) = b;
    };
    for (int y = 0; y < size; ++y)
        for (int x = 0; x < size; ++x) {
            const float t = static_cast<float>(y) / size;
            put(y, x, 0.2f + 0.6f * t, 0.5f + 0.3f * t, 0.9f);  // pale blue to near white
        }
    // Stripes: five blocks, periods 32, 16, 8, 4, 2.
    for (int k = 0; k < 5; ++k) {
        const int period = 32 >> k;
        for (int y = 8; y < 64; ++y)
            for (int x = 8 + 48 * k; x < 8 + 48 * k + 44; ++x) {
                const float s = ((x - 8) / (period / 2)) % 2 ? 1.0f : -1.0f;
                put(y, x, s, s, s);
            }
    }
    // Disc, square, triangle.
    for (int y = 72; y < 188; ++y)
        for (int x = 0; x < size; ++x) {
            const double dy = y - 128.5, dx = x - 52.5;
            if (dx * dx + dy * dy <= 42.0 * 42.0) put(y, x, 0.9f, -0.8f, -0.7f);
            if (x >= 106 && x < 176 && y >= 93 && y < 163) put(y, x, -0.7f, 0.6f, -0.6f);
            const int half = (y - 84) / 2;  // apex at (84, 211), base at y = 172
            if (y >= 84 && y < 172 && x >= 211 - half && x <= 211 + half) put(y, x, -0.8f, -0.5f, 0.8f);
        }
    // Checkerboard of 8-pixel squares.
    for (int y = 196; y < 252; ++y)
        for (int x = 168; x < 248; ++x) {
            const float s = ((y - 196) / 8 + (x - 168) / 8) % 2 ? 1.0f : -1.0f;
            put(y, x, s, s, s);
        }
    // Text on a white box.
    for (int y = 196; y < 252; ++y)
        for (int x = 8; x < 160; ++x) put(y, x, 1.0f, 1.0f, 1.0f);
    ilvr::draw_text(card, 203, 11, "ILVR", 6);
    return card;
}

/// phi_N of every plane of `image` with the cubic kernel.
ilvr::tensor low_pass(const ilvr::tensor& image, int factor)
{
    const auto s = image.shape();
    ilvr::low_pass phi(static_cast<int>(s.h), static_cast<int>(s.w), factor, ilvr::kernels::cubic);
    ilvr::tensor out(s);
    phi(image, out);
    return out;
}

/// A one-channel [1, 1, H, W] image as three channels, each pixel a k x k square:
/// only for display, so small images are not lost in large cells.
ilvr::tensor enlarge_grey(ilvr::tensor_view<const float> image, int k)
{
    const auto s = image.shape();
    ilvr::tensor out({1, 3, s.h * k, s.w * k});
    auto o = out.view();
    for (std::int64_t c = 0; c < 3; ++c)
        for (std::int64_t y = 0; y < s.h * k; ++y)
            for (std::int64_t x = 0; x < s.w * k; ++x) o(0, c, y, x) = image(0, 0, y / k, x / k);
    return out;
}

} // namespace

int main(int argc, char** argv)
{
    if (argc < 2 || argc > 3) {
        std::fprintf(stderr, "usage: %s OUT.png [FASHION_MNIST_FOLDER]\n", argv[0]);
        return 2;
    }
    const std::filesystem::path out = argv[1];
    const std::filesystem::path fashion = argc > 2 ? argv[2] : "/usr/share/datasets/fashion-mnist";
    try {
        std::vector<ilvr::tensor> cells;  // row-major: one row per input, one column per N
        std::vector<std::string> rows;

        const ilvr::tensor card = test_card();
        for (int n : factors) cells.push_back(low_pass(card, n));
        rows.push_back("TEST CARD");

        const auto images = fashion / "t10k-images-idx3-ubyte.gz", labels = fashion / "t10k-labels-idx1-ubyte.gz";
        if (ilvr::idx_reads_gzip && std::filesystem::exists(images) && std::filesystem::exists(labels)) {
            static const char* const classes[] = {"T-SHIRT/TOP", "TROUSER", "PULLOVER", "DRESS", "COAT",
                                                  "SANDAL",      "SHIRT",   "SNEAKER",  "BAG",   "ANKLE BOOT"};
            const int picks[] = {0, 1, 7};  // an ankle boot, a pullover, a shirt
            const ilvr::tensor batch = ilvr::load_idx_images(images, 8, 32);  // 28 x 28 centred in 32 x 32
            const std::vector<int> label = ilvr::load_idx_labels(labels, 8);
            for (int i : picks) {
                ilvr::tensor one({1, 1, 32, 32});
                const auto src = batch.view().batch(i, 1);
                std::copy(src.data(), src.data() + src.size(), one.data());
                for (int n : factors) cells.push_back(enlarge_grey(low_pass(one, n), 8));
                rows.push_back(classes[label[static_cast<std::size_t>(i)]]);
            }
        } else {
            std::fprintf(stderr, "note: no Fashion-MNIST in %s (or no zlib): test card only\n", fashion.c_str());
        }

        std::vector<ilvr::tensor_view<const float>> views(cells.begin(), cells.end());
        std::vector<std::string> columns;
        for (int n : factors) columns.push_back("N=" + std::to_string(n));
        const ilvr::tensor grid = ilvr::make_grid(views, 5, 6, rows, columns, 3);
        ilvr::save_png(out, grid);
        std::printf("wrote %s (%lldx%lld)\n", out.c_str(), static_cast<long long>(grid.shape().w),
                    static_cast<long long>(grid.shape().h));
    } catch (const ilvr::error& e) {
        std::fprintf(stderr, "low_pass_gallery: %s\n", e.what());
        return 1;
    }
    return 0;
}

// export_references [DATA_DIR] [OUT_DIR] [COUNT]: writes the first COUNT (8) test
// images of Fashion-MNIST that have distinct classes, padded to 32 x 32, as
// OUT_DIR/t10k-<index>-<class>.png. It made the bundled references of the ilvr
// tool (models/fashion-mnist-ddpm/references/).
#include <ilvr/data/idx.hpp>
#include <ilvr/image/io.hpp>

#include <array>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <string>
#include <vector>

int main(int argc, char** argv)
{
    const std::filesystem::path data = argc > 1 ? argv[1] : "/usr/share/datasets/fashion-mnist";
    const std::filesystem::path out = argc > 2 ? argv[2] : "models/fashion-mnist-ddpm/references";
    const int count = argc > 3 ? std::stoi(argv[3]) : 8;
    static const std::array<const char*, 10> names{"t-shirt-top", "trouser", "pullover", "dress", "coat",
                                                   "sandal",      "shirt",   "sneaker",  "bag",   "ankle-boot"};
    try {
        const ilvr::tensor images = ilvr::load_idx_images(data / "t10k-images-idx3-ubyte.gz", -1, 32);
        const std::vector<int> labels = ilvr::load_idx_labels(data / "t10k-labels-idx1-ubyte.gz");
        std::filesystem::create_directories(out);
        std::array<bool, 10> taken{};
        int written = 0;
        for (std::size_t i = 0; i < labels.size() && written < count; ++i) {
            const int label = labels[i];
            if (label < 0 || label > 9 || taken[static_cast<std::size_t>(label)]) continue;
            taken[static_cast<std::size_t>(label)] = true;
            char name[64];
            std::snprintf(name, sizeof name, "t10k-%04zu-%s.png", i, names[static_cast<std::size_t>(label)]);
            ilvr::save_png(out / name, images.view().batch(static_cast<std::int64_t>(i), 1));
            std::printf("%s\n", (out / name).string().c_str());
            ++written;
        }
    } catch (const std::exception& e) {
        std::fprintf(stderr, "export_references: %s\n", e.what());
        return 1;
    }
}

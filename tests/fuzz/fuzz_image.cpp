// Fuzz target: image decoding and reference preparation. Any bytes either throw
// ilvr::error or give an image in [-1, 1] that prepare_reference turns into S x S.
#include <ilvr/image/io.hpp>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <span>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    try {
        const auto image = ilvr::decode_image(std::span<const unsigned char>(data, size), 3, 1 << 16);
        for (float v : image.values())
            if (!(v >= -1.0f && v <= 1.0f)) std::abort();
        const auto reference = ilvr::prepare_reference(image, 16);
        if (reference.shape().h != 16 || reference.shape().w != 16) std::abort();
    } catch (const ilvr::error&) {
    }
    return 0;
}

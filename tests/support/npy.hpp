// A minimal reader for the golden .npy files (format 1.x/2.x, little endian, C order).
#pragma once

#include <cstdint>
#include <cstring>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace ilvr_test {

/// An array read from a .npy file, converted to double or kept as int64.
struct npy_array {
    std::string dtype;                 ///< "<f4", "<f8" or "<i8"
    std::vector<std::int64_t> shape;   ///< dimensions, C order
    std::vector<double> values;        ///< float data (f4, f8)
    std::vector<std::int64_t> ints;    ///< integer data (i8)
    std::size_t size() const { return dtype == "<i8" ? ints.size() : values.size(); }
    /// Float values as float32 (the golden tensors are float32).
    std::vector<float> floats() const { return {values.begin(), values.end()}; }
};

inline npy_array read_npy(const std::string& path)
{
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("cannot open " + path);
    char magic[8];
    in.read(magic, 8);
    if (!in || std::memcmp(magic, "\x93NUMPY", 6) != 0) throw std::runtime_error(path + ": not a .npy file");
    std::uint32_t header_len = 0;
    if (magic[6] == 1) {
        unsigned char b[2];
        in.read(reinterpret_cast<char*>(b), 2);
        header_len = b[0] | (b[1] << 8);
    } else {
        unsigned char b[4];
        in.read(reinterpret_cast<char*>(b), 4);
        header_len = b[0] | (b[1] << 8) | (b[2] << 16) | (std::uint32_t(b[3]) << 24);
    }
    std::string header(header_len, '\0');
    in.read(header.data(), header_len);
    auto field = [&](const std::string& key) {
        const auto at = header.find("'" + key + "'");
        if (at == std::string::npos) throw std::runtime_error(path + ": header lacks " + key);
        return header.substr(header.find(':', at) + 1);
    };
    npy_array a;
    const std::string descr = field("descr");
    a.dtype = descr.substr(descr.find('\'') + 1, 3);
    if (field("fortran_order").find("False") == std::string::npos)
        throw std::runtime_error(path + ": Fortran order is not supported");
    const std::string shape = field("shape");
    std::size_t count = 1;
    for (std::size_t p = shape.find('(') + 1; p < shape.find(')');) {
        while (p < shape.size() && (shape[p] == ' ' || shape[p] == ',')) ++p;
        if (shape[p] == ')') break;
        std::size_t used = 0;
        a.shape.push_back(std::stoll(shape.substr(p), &used));
        count *= static_cast<std::size_t>(a.shape.back());
        p += used;
    }
    if (a.dtype == "<f4") {
        std::vector<float> raw(count);
        in.read(reinterpret_cast<char*>(raw.data()), static_cast<std::streamsize>(count * 4));
        a.values.assign(raw.begin(), raw.end());
    } else if (a.dtype == "<f8") {
        a.values.resize(count);
        in.read(reinterpret_cast<char*>(a.values.data()), static_cast<std::streamsize>(count * 8));
    } else if (a.dtype == "<i8") {
        a.ints.resize(count);
        in.read(reinterpret_cast<char*>(a.ints.data()), static_cast<std::streamsize>(count * 8));
    } else {
        throw std::runtime_error(path + ": unsupported dtype " + a.dtype);
    }
    if (!in) throw std::runtime_error(path + ": truncated data");
    return a;
}

} // namespace ilvr_test

// A fresh folder under the system's temporary folder for one test, removed
// with its contents when the test ends (pass or fail).
#pragma once

#include <filesystem>
#include <random>
#include <string>
#include <system_error>
#include <vector>

#include <unistd.h>

namespace ilvr_test {

struct temp_folder {
    std::filesystem::path path;

    /// `tag` names the test file in the folder name, to tell leftovers apart.
    explicit temp_folder(const std::string& tag = "test")
    {
        static int counter = 0;  // tests of one binary run one at a time
        std::random_device rd;
        path = std::filesystem::temp_directory_path()
            / ("ilvr-" + tag + "-" + std::to_string(getpid()) + "-" + std::to_string(counter++) + "-"
               + std::to_string(rd()));
        std::filesystem::create_directories(path);
    }
    ~temp_folder()
    {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
    temp_folder(const temp_folder&) = delete;
    temp_folder& operator=(const temp_folder&) = delete;

    std::filesystem::path operator/(const std::string& name) const { return path / name; }

    /// The names of the entries directly in the folder.
    std::vector<std::string> names() const
    {
        std::vector<std::string> out;
        for (const auto& e : std::filesystem::directory_iterator(path)) out.push_back(e.path().filename().string());
        return out;
    }
};

} // namespace ilvr_test

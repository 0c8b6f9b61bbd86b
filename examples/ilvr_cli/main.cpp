// ilvr: the command-line tool. Conditions a pretrained TorchScript DDPM on
// reference images with ILVR; see docs/tool.md or `ilvr --help`.
#include "run.hpp"
#include "signals.hpp"

#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include <unistd.h>

int main(int argc, char** argv)
{
    ilvr_cli::install_stop_handlers(true);  // a signal ends the tool at once, outside file writes
    return ilvr_cli::cli_main(std::vector<std::string>(argv + 1, argv + argc), std::cout, std::cerr,
                              isatty(fileno(stderr)) == 1);
}

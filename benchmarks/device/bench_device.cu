// The device benchmarks on CUDA: the same source as the host system's bench_device.
#include "bench_device.cpp"

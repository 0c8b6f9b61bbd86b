// The device tests on CUDA: the same source as the host system's test_device.
#include "test_device.cpp"

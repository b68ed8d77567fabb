#include "CFuzzDriver.h"

// Both come from the fuzzer: the first from libFuzzer (linked by -sanitize=fuzzer), the second
// from the target's Swift code (@_cdecl).
extern int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));
extern int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int upgradebench_fuzz_main(int argc, char **argv) {
    return LLVMFuzzerRunDriver(&argc, &argv, LLVMFuzzerTestOneInput);
}

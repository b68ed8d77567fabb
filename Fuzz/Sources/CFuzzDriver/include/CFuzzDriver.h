#ifndef C_FUZZ_DRIVER_H
#define C_FUZZ_DRIVER_H

#include <stddef.h>
#include <stdint.h>

/// Runs libFuzzer's driver (command line, corpus, mutation loop) on the target's
/// `LLVMFuzzerTestOneInput`. SwiftPM gives every executable its own entry point symbol, so the
/// targets call this from their `main.swift` instead of linking libFuzzer's `main`.
int upgradebench_fuzz_main(int argc, char **argv);

#endif

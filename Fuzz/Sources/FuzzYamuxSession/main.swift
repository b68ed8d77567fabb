// libFuzzer's driver; the input callback is `LLVMFuzzerTestOneInput` in the other file.
import CFuzzDriver

#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

exit(upgradebench_fuzz_main(CommandLine.argc, CommandLine.unsafeArgv))

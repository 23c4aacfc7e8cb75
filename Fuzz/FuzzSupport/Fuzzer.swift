#if canImport(Glibc)
import Glibc
#endif

/// What every libFuzzer target shares: starting libFuzzer's driver, and failing an oracle.
///
/// Each target's `main.swift` defines its `LLVMFuzzerTestOneInput` and ends with `Fuzzer.run(fuzzOne)`. SwiftPM
/// links executables with their own `main`, so libFuzzer's is never used; `run` calls the driver instead. Only a
/// build with `-DFUZZING` (scripts/fuzz, which also links libFuzzer through `-sanitize=fuzzer`) has the driver;
/// ordinary builds compile the targets too, so they keep up with the code they test, and `run` just says how
/// to build them.
public enum Fuzzer {
    /// libFuzzer's per-input callback: the input's bytes and their count; returns 0.
    public typealias TestOneInput = @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt

    /// Runs libFuzzer on `testOneInput` with the process's arguments (corpus folders, `-max_total_time`, …) and
    /// exits with its status.
    public static func run(_ testOneInput: TestOneInput) -> Never {
        #if FUZZING
        var argc = CommandLine.argc
        var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
        exit(LLVMFuzzerRunDriver(&argc, &argv, testOneInput))
        #else
        print("Fuzz target: build with -Xswiftc -sanitize=fuzzer -Xswiftc -DFUZZING")
        exit(0)
        #endif
    }

    /// Stops with `message` when an oracle fails: libFuzzer sees the crash and keeps the input that caused it.
    public static func check(_ condition: Bool, _ message: @autoclosure () -> String) {
        if !condition { fatalError(message()) }
    }
}

#if FUZZING
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: Fuzzer.TestOneInput
) -> CInt
#endif

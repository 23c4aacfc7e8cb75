#if canImport(Glibc)
import Glibc
#endif

/// What the libFuzzer targets share: starting libFuzzer's driver, failing an oracle, reading the control byte and
/// cutting an input into chunks.
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

    /// The layout of most targets' inputs: byte 0 is a control byte (limits, chunking, mode), the rest is what a
    /// client would send. Nil for an empty input.
    public static func controlAndInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> (control: UInt8, input: [UInt8])? {
        guard let data, size > 0 else { return nil }
        return (data[0], Array(UnsafeBufferPointer(start: data + 1, count: size - 1)))
    }

    /// `input` cut into consecutive pieces of 1…`maxLength` bytes, the lengths drawn from a linear congruential
    /// sequence that starts at `seed`: one input then also checks that a parser gives the same answer however
    /// the bytes arrive. The pieces keep `input`'s indices.
    public static func chunks(of input: [UInt8], seed: UInt32, maxLength: Int) -> [ArraySlice<UInt8>] {
        var chunks: [ArraySlice<UInt8>] = []
        var start = 0
        var step = seed | 1
        while start < input.count {
            let length = min(input.count - start, 1 + Int(step % UInt32(maxLength)))
            chunks.append(input[start..<start + length])
            start += length
            step = step &* 1_103_515_245 &+ 12_345
        }
        return chunks
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

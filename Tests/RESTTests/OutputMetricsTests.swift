import Gateway
import XCTest
@testable import CLI

/// The gateway's output counters on `/metrics`, next to the hub's and the REST router's.
final class OutputMetricsTests: XCTestCase {
    func testOutputCountersAreRenderedAsPrometheusFamilies() {
        let stats = GatewayOutputStatistics(framesWritten: 12_000, writeCalls: 1_500, bytesWritten: 960_000,
                                            queuedBytes: 128, queueHighWaterBytes: 65_536, slowConsumerCloses: 2)
        let text = OutputMetricsPage.render(stats)
        let samples = Dictionary(text.split(separator: "\n").filter { !$0.hasPrefix("#") }.map { line in
            let parts = line.split(separator: " ")
            return (String(parts[0]), Double(parts[1]) ?? .nan)
        }, uniquingKeysWith: { a, _ in a })
        XCTAssertEqual(samples["parley_frames_written_total"], 12_000)
        XCTAssertEqual(samples["parley_write_syscalls_total"], 1_500)
        XCTAssertEqual(samples["parley_frames_per_write_syscall"], 8)
        XCTAssertEqual(samples["parley_written_bytes_total"], 960_000)
        XCTAssertEqual(samples["parley_output_queued_bytes"], 128)
        XCTAssertEqual(samples["parley_output_queue_high_water_bytes"], 65_536)
        for name in samples.keys {
            XCTAssertTrue(text.contains("# TYPE \(name) "), "TYPE for \(name)")
            XCTAssertTrue(text.contains("# HELP \(name) "), "HELP for \(name)")
        }
    }

    func testNoWritesYetRendersZeroFramesPerSyscall() {
        let text = OutputMetricsPage.render(GatewayOutputStatistics(framesWritten: 0, writeCalls: 0, bytesWritten: 0,
                                                                   queuedBytes: 0, queueHighWaterBytes: 0,
                                                                   slowConsumerCloses: 0))
        XCTAssertTrue(text.contains("\nparley_frames_per_write_syscall 0\n"))
    }
}

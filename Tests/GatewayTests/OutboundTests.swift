import XCTest
@testable import Gateway

/// An `Outbound` built by copying a payload and one that adopts a buffer already holding it frame the same bytes.
final class OutboundTests: XCTestCase {
    private func bytes(of message: Outbound, _ part: Outbound.Part) -> [UInt8] {
        let range = message.range(of: part)
        return Array(UnsafeRawBufferPointer(start: message.address(at: range.lowerBound), count: range.count))
    }

    func testAnAdoptedBufferIsFramedAsACopiedPayloadIsAtEveryHeaderLength() {
        // Each side of the 2-byte, 4-byte and 10-byte headers (RFC 6455 §5.2), in the smallest headroom that
        // holds every header and in a larger one.
        for count in [0, 1, 125, 126, 127, 65_535, 65_536, 70_000] {
            let payload = (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
            let copied = Outbound(payload)
            for headroom in [10, 13] {
                let base = UnsafeMutableRawPointer.allocate(byteCount: headroom + count + 1, alignment: 16)
                base.initializeMemory(as: UInt8.self, repeating: 0xEE, count: headroom + count + 1)
                payload.withUnsafeBytes { (base + headroom).copyMemory(from: $0.baseAddress!, byteCount: count) }
                let adopted = Outbound(adopting: base, headroom: headroom, payloadCount: count)
                for part in [Outbound.Part.payload, .line, .webSocketFrame] {
                    XCTAssertEqual(bytes(of: adopted, part), bytes(of: copied, part), "\(count) bytes, \(part)")
                }
                XCTAssertEqual(adopted.payload, payload)
                XCTAssertEqual(adopted.webSocketHeader, copied.webSocketHeader)
            }
        }
        let binary = Outbound(adopting: .allocate(byteCount: 12, alignment: 16), headroom: 10, payloadCount: 1,
                              webSocketOpcode: .binary)
        XCTAssertEqual(binary.webSocketHeader, [0x82, 0x01], "the opcode is the one asked for")
    }
}

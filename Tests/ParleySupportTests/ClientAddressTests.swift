import ParleySupport
import XCTest

/// The per-address rules the gateway and the hub share.
final class ClientAddressTests: XCTestCase {
    func testIPv4IsItsOwnKey() {
        XCTAssertEqual(ClientAddress.limitKey("203.0.113.7"), "203.0.113.7")
        XCTAssertEqual(ClientAddress.limitKey("10.0.0.1"), "10.0.0.1")
    }

    func testIPv6IsKeyedByItsSlash64() {
        XCTAssertEqual(ClientAddress.limitKey("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64")
        XCTAssertEqual(ClientAddress.limitKey("2001:DB8:1:2:bbbb::9"), "2001:db8:1:2::/64", "case does not matter")
        XCTAssertEqual(ClientAddress.limitKey("2001:db8:a:b:ffff:ffff:ffff:ffff"), "2001:db8:a:b::/64")
        XCTAssertNotEqual(ClientAddress.limitKey("2001:db8:1:3::1"), ClientAddress.limitKey("2001:db8:1:2::1"))
        XCTAssertEqual(ClientAddress.limitKey("2001:db8::1"), "2001:db8:0:0::/64", "compressed zero groups spelled out")
        XCTAssertEqual(ClientAddress.limitKey("::1"), "0:0:0:0::/64")
    }

    func testIPv4MappedIPv6CountsAsTheIPv4Address() {
        XCTAssertEqual(ClientAddress.limitKey("::ffff:203.0.113.7"), "203.0.113.7")
        XCTAssertEqual(ClientAddress.limitKey("::FFFF:192.0.2.4"), "192.0.2.4")
        XCTAssertEqual(ClientAddress.limitKey("::ffff:192.0.2.4"), ClientAddress.limitKey("192.0.2.4"))
    }

    func testTextThatIsNotAnAddressIsItsOwnKey() {
        XCTAssertEqual(ClientAddress.limitKey("not:an:address"), "not:an:address")
        XCTAssertEqual(ClientAddress.limitKey("Example"), "example")
    }

    func testLoopbackForms() {
        for host in ["127.0.0.1", "127.1.2.3", "127.255.255.255", "::1", "::ffff:127.0.0.1", "::FFFF:127.0.0.2"] {
            XCTAssertTrue(ClientAddress.isLoopback(host), host)
        }
        for host in ["128.0.0.1", "10.0.0.1", "0.0.0.0", "::", "::2", "2001:db8::1", "::ffff:10.0.0.1", "1.127.0.0"] {
            XCTAssertFalse(ClientAddress.isLoopback(host), host)
        }
    }
}

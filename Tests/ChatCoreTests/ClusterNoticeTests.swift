import XCTest
@testable import ChatCore

/// The wire form of the notices nodes exchange: every case comes back as it went, odd text included, and
/// anything malformed or unknown is ignored rather than fatal.
final class ClusterNoticeTests: XCTestCase {
    func testEveryNoticeRoundTrips() {
        let text = "quote \" backslash \\ newline \n tab \t emoji 🎉 nul \u{0}"
        let notices: [ClusterNotice] = [
            .online(user: "hans", node: "a:1", peer: .none, at: 1),
            .online(user: "hans", node: "a:1", peer: .tcp(port: 40001), at: 2),
            .online(user: "hans", node: "a:1", peer: .webRTC, at: 3),
            .offline(user: "luke", node: "b", at: 4),
            .broadcast(id: 9_007_199_254_740_000, from: "leia", text: text, at: 5),
            .account(name: "rey", passwordHash: "$argon2id$v=19$m=65536,t=3,p=1$c2FsdA$aGFzaA"),
            .token(TokenRecord(digest: "ab12", user: "rey", expiresAt: 6)),
            .revoked(digest: "ab12"),
            .block(blocker: "hans", blocked: "luke", isBlocked: true),
            .block(blocker: "hans", blocked: "luke", isBlocked: false),
            .loginFailed(user: "leia", at: 7),
            .loginSucceeded(user: "leia"),
            .waiting(user: "leia", node: "c", isWaiting: true),
            .heartbeat(node: "c", users: ["a", "b"]),
            .heartbeat(node: "c", users: []),
            .committed(StoredMessage(id: 10, seq: 3, from: "hans", to: "luke", text: text, at: 8)),
            .privateRequest(asker: "hans", target: "luke", expiresAt: 9),
            .privateAnswer(asker: "hans", target: "luke", accepted: true, host: "10.0.0.2", port: 40002, token: "t"),
            .signal(from: "hans", to: "luke", data: .object(["sdp": .string("v=0"), "n": .number(1)])),
        ]
        for notice in notices {
            XCTAssertEqual(ClusterNotice.decode(notice.encoded()), notice, "\(notice)")
        }
    }

    func testMalformedAndUnknownNoticesAreIgnored() {
        for raw in ["", "{", "[]", #"{"t":"teleport","user":"x"}"#, #"{"t":"online","user":"x"}"#,
                    #"{"t":"committed","id":"one","seq":1,"from":"a","to":"b","text":"","at":1}"#] {
            XCTAssertNil(ClusterNotice.decode(Array(raw.utf8)), raw)
        }
    }
}

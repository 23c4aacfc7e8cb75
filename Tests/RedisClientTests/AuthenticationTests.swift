import Logging
import RedisClient
import XCTest

/// A Redis server that wants a password: the URL's user and password (or a password given beside the URL) are sent
/// with `AUTH` on both connections before anything else, and a refusal says why without showing the password.
final class AuthenticationTests: XCTestCase {
    func testCredentialsAreDecodedAndNeverShown() throws {
        let url = try RedisURL(parsing: "redis://bob:p%40ss%3Aw%C3%B6rd@cache:7000/2")
        XCTAssertEqual(url, RedisURL(host: "cache", port: 7000, database: 2, username: "bob", password: "p@ss:wörd"))
        XCTAssertEqual(url.description, "redis://cache:7000/2", "the password is never printed")
        XCTAssertEqual(try RedisURL(parsing: "redis://:secret@[::1]"),
                       RedisURL(host: "::1", username: nil, password: "secret"), "a password alone: the default user")
        XCTAssertEqual(try RedisURL(parsing: "redis://cache").withPassword(ifNoneGiven: "fromenv").password, "fromenv")
        XCTAssertEqual(try RedisURL(parsing: "redis://cache").withPassword(ifNoneGiven: "").password, nil)
        XCTAssertEqual(try RedisURL(parsing: "redis://:inurl@cache").withPassword(ifNoneGiven: "fromenv").password, "inurl",
                       "the URL's own password wins")
    }

    func testAnACLUserIsAuthenticatedOnBothConnectionsAndAWrongPasswordIsRefused() throws {
        let admin = try TestRedis.upClient(self, name: "admin")
        let user = "parley-test-\(UInt32.random(in: 0...UInt32.max))"
        XCTAssertEqual(admin.call(["ACL", "SETUSER", .init(user), "on", ">s3cr@t", "~*", "&*", "+@all"]), .success(.status("OK")))
        addTeardownBlock { _ = admin.call(["ACL", "DELUSER", .init(user)]) }
        let base = try TestRedis.url()
        let server = base.dropFirst("redis://".count)

        let client = try TestRedis.upClient(self, url: "redis://\(user):s3cr%40t@\(server)", name: "authed")
        XCTAssertEqual(client.call(["ACL", "WHOAMI"]), .success(.bulk(Array(user.utf8))))
        // The subscriber connection logged in too: it receives what is published.
        let channel = TestRedis.key("auth")
        let received = Recorder<[UInt8]>()
        let subscribed = Recorder<Bool>()
        client.subscribe([channel], onMessage: { _, payload in received.record(payload) }) { subscribed.record((try? $0.get()) != nil) }
        XCTAssertEqual(subscribed.wait().first, true)
        _ = admin.call(["PUBLISH", .init(channel), "hello"])
        XCTAssertEqual(received.wait().first, Array("hello".utf8))

        let refused = try TestRedis.client(self, url: "redis://\(user):wrong-guess@\(server)", name: "refused")
        XCTAssertTrue(waitUntil { refused.lastError != nil })
        let reason = refused.lastError?.description ?? ""
        XCTAssertTrue(reason.contains("WRONGPASS"), reason)
        XCTAssertFalse(reason.contains("wrong-guess"), "the password is not in the reason: \(reason)")
        XCTAssertFalse(refused.isUp)
        XCTAssertEqual(refused.call(["PING"], seconds: 1), .failure(.disconnected))
    }
}

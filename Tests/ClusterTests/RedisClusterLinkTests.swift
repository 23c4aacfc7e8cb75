import ChatCore
import Cluster
import Foundation
import Logging
import RedisClient
import XCTest

/// The Redis link against a real Redis (scripts/test starts a throwaway one): the cluster-wide claim and its
/// takeover from a dead node, a restarted node dropping its old claims, notices to everyone and to one node, and
/// clusters on different database numbers not hearing each other.
final class RedisClusterLinkTests: XCTestCase {
    private var links: [RedisClusterLink] = []
    private var admin: RedisClient?

    override func tearDown() {
        for link in links { link.stop() }
        links = []
        admin?.stop()
        admin = nil
    }

    private func redisURL(database: Int) throws -> String {
        guard let url = ProcessInfo.processInfo.environment["PARLEY_TEST_REDIS"], !url.isEmpty else {
            throw XCTSkip("PARLEY_TEST_REDIS is not set (scripts/test starts a throwaway Redis)")
        }
        return "\(url)/\(database)"
    }

    /// A started link named `node` and what it hears; waits until it is up.
    private func link(_ node: String, database: Int = 5) throws -> (RedisClusterLink, Recorder) {
        let link = try RedisClusterLink(url: try redisURL(database: database), node: node, nodeTimeout: 10_000,
                                        logger: Logger(label: "test.cluster")) { count, done in
            done((0..<Int64(count)).map { $0 + 1 })
        }
        let recorder = Recorder()
        try link.start(delivering: recorder)
        links.append(link)
        try eventually("\(node) is up") { link.isUp && recorder.ups > 0 }
        return (link, recorder)
    }

    /// Runs a raw command on the test database (cleanup, simulating an expiry).
    private func command(_ arguments: [RedisArgument], database: Int = 5) throws -> RedisReply {
        if admin == nil {
            let client = try RedisClient(url: try redisURL(database: database), name: "test-admin",
                                         logger: Logger(label: "test.admin"))
            try client.start()
            admin = client
            try eventually("the test client is up") { client.isUp }
        }
        let box = Box<Result<RedisReply, RedisError>>()
        admin!.send(arguments) { box.set($0) }
        return try box.wait().get()
    }

    private func claim(_ link: RedisClusterLink, _ user: String) throws -> ClaimOutcome {
        let box = Box<ClaimOutcome>()
        link.claim(user) { box.set($0) }
        return try box.wait()
    }

    override func setUp() async throws {
        // A clean database for each test: claims and alive keys of earlier tests would be taken for live ones.
        _ = try command(["FLUSHDB"])
    }

    func testAUserIsHeldByOneNodeUntilItReleasesThem() throws {
        let (a, _) = try link("a")
        let (b, _) = try link("b")
        XCTAssertEqual(try claim(a, "hans"), .claimed)
        XCTAssertEqual(try claim(a, "hans"), .claimed, "claiming again on the same node is fine")
        XCTAssertEqual(try claim(b, "hans"), .heldBy(node: "a"))
        b.release("hans")  // not b's to give back
        XCTAssertEqual(try claim(b, "hans"), .heldBy(node: "a"))
        a.release("hans")
        try eventually("released") { (try? self.claim(b, "hans")) == .claimed }
    }

    func testAClaimOfANodeThatIsNoLongerAliveIsTakenOver() throws {
        let (a, _) = try link("a")
        let (b, _) = try link("b")
        XCTAssertEqual(try claim(a, "luke"), .claimed)
        XCTAssertEqual(try claim(b, "luke"), .heldBy(node: "a"))
        _ = try command(["DEL", "parley:alive:a"])  // what its expiry does once node a stops
        XCTAssertEqual(try claim(b, "luke"), .claimed)
    }

    func testANodeRestartedUnderItsNameDropsTheClaimsOfItsPreviousRun() throws {
        let (a, _) = try link("a")
        XCTAssertEqual(try claim(a, "leia"), .claimed)
        XCTAssertEqual(try claim(a, "yoda"), .claimed)
        a.stop()
        links.removeAll { $0 === a }
        _ = try command(["SET", "parley:alive:a", "1"])  // as if it came back before its alive key expired
        let (b, _) = try link("b")
        XCTAssertEqual(try claim(b, "leia"), .heldBy(node: "a"))
        _ = try link("a")
        try eventually("old claims dropped") { (try? self.claim(b, "leia")) == .claimed }
        XCTAssertEqual(try claim(b, "yoda"), .claimed)
    }

    func testNoticesReachEveryOtherNodeOrOneAndNotTheSender() throws {
        let (a, heardByA) = try link("a")
        let (_, heardByB) = try link("b")
        let (_, heardByC) = try link("c")
        a.publish(.loginFailed(user: "hans", at: 1))
        a.send(.signal(from: "hans", to: "luke", data: .string("x")), to: "c")
        try eventually("everyone heard") { heardByB.notices.count == 1 && heardByC.notices.count == 2 }
        XCTAssertEqual(heardByB.notices, [.loginFailed(user: "hans", at: 1)])
        XCTAssertEqual(heardByC.notices.last, .signal(from: "hans", to: "luke", data: .string("x")))
        XCTAssertEqual(heardByA.notices, [], "a node does not hear its own notices")
    }

    func testClustersOnDifferentDatabasesDoNotHearEachOther() throws {
        let (a, _) = try link("a", database: 5)
        let (_, sameCluster) = try link("b", database: 5)
        let (_, otherCluster) = try link("b", database: 6)
        a.publish(.loginSucceeded(user: "hans"))
        try eventually("delivered") { sameCluster.notices.count == 1 }
        usleep(100_000)
        XCTAssertEqual(otherCluster.notices, [])
    }

    private func eventually(_ what: String, timeout: Double = 5, _ condition: () throws -> Bool) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while try !condition() {
            guard Date() < deadline else { return XCTFail("not within \(timeout) s: \(what)") }
            usleep(10_000)
        }
    }
}

/// What a link hands its listener.
final class Recorder: ClusterListener, @unchecked Sendable {
    private let lock = NSLock()
    private var heard: [ClusterNotice] = []
    private var upCount = 0
    var notices: [ClusterNotice] { lock.withLock { heard } }
    var ups: Int { lock.withLock { upCount } }
    func clusterReceived(_ notice: ClusterNotice) { lock.withLock { heard.append(notice) } }
    func clusterLinkChanged(up: Bool) { if up { lock.withLock { upCount += 1 } } }
}

/// One value handed over from another thread, waited for.
final class Box<T: Sendable>: @unchecked Sendable {
    private let ready = DispatchSemaphore(value: 0)
    private let lock = NSLock()
    private var value: T?
    func set(_ value: T) {
        lock.withLock { self.value = value }
        ready.signal()
    }
    func wait(seconds: Double = 5) throws -> T {
        guard ready.wait(timeout: .now() + seconds) == .success else { throw CancellationError() }
        return lock.withLock { value! }
    }
}

import CArgon2
import ParleySupport
import XCTest
@testable import ChatCore

/// The hasher's own side of libargon2: the encoded form it writes and reads, and the working memory it keeps from
/// hash to hash.
final class Argon2MemoryTests: XCTestCase {
    private let salt: [UInt8] = Array(0..<16)

    /// What the hasher writes is byte for byte what libargon2's encoded-string API writes for the same input.
    func testTheEncodingIsLibargon2sOwn() {
        for (m, t, p, password) in [(64 as UInt32, 1 as UInt32, 1 as UInt32, "pw"), (256, 3, 2, ""), (1024, 2, 1, "ünïcødé 🔑")] {
            let ours = Argon2Hasher.encode(password, salt: salt, memoryKiB: m, iterations: t, parallelism: p)
            XCTAssertEqual(ours, libargon2Encoded(password, m: m, t: t, p: p, version: ARGON2_VERSION_13))
        }
    }

    func testParsingReadsBackWhatItWrites() throws {
        let encoded = Argon2Hasher.encode("pw", salt: salt, memoryKiB: 64, iterations: 1, parallelism: 1)
        let parts = try XCTUnwrap(Argon2Encoded(parsing: encoded))
        XCTAssertEqual(parts.version, 19)
        XCTAssertEqual([parts.memoryKiB, parts.iterations, parts.parallelism], [64, 1, 1])
        XCTAssertEqual(parts.salt, salt)
        XCTAssertEqual(parts.hash.count, Argon2Hasher.hashLength)
        XCTAssertEqual(parts.text, encoded)
    }

    /// Only the one canonical spelling parses; the rest is left to libargon2's decoder.
    func testParsingRefusesEverySpellingButTheCanonicalOne() {
        let good = Argon2Hasher.encode("pw", salt: salt, memoryKiB: 64, iterations: 1, parallelism: 1)
        let hashField = String(good.split(separator: "$").last!)
        let variants = [
            good.replacingOccurrences(of: "m=64", with: "m=064"),            // a leading zero
            good.replacingOccurrences(of: "v=19$", with: ""),                // no version: libargon2 reads 0x10
            good + "=",                                                      // padding
            good.replacingOccurrences(of: ",t=1", with: ",t=1,x=2"),         // an extra cost
            good.replacingOccurrences(of: "p=1", with: "p=-1"),
            good.replacingOccurrences(of: "$argon2id$", with: "$argon2i$"),
            good + "$",
            good.replacingOccurrences(of: hashField, with: String(hashField.dropLast()) + "B"),  // stray low bits
            good.replacingOccurrences(of: "m=64", with: "m=4294967296"),     // past 32 bits
        ]
        for variant in variants where variant != good {
            XCTAssertNil(Argon2Encoded(parsing: variant), variant)
        }
    }

    /// Strings the hasher would not write itself still verify exactly as libargon2 reads them: a version-16 hash
    /// with its version written and without it.
    func testNonCanonicalStringsVerifyAsLibargon2ReadsThem() {
        let old = libargon2Encoded("pw", m: 64, t: 1, p: 1, version: ARGON2_VERSION_10)
        XCTAssertTrue(old.contains("$v=16$"), old)
        let unversioned = old.replacingOccurrences(of: "v=16$", with: "")
        for encoded in [old, unversioned] {
            XCTAssertEqual(Argon2Hasher.matches("pw", encoded: encoded), true, encoded)
            XCTAssertEqual(Argon2Hasher.matches("px", encoded: encoded), false, encoded)
        }
        XCTAssertNil(Argon2Encoded(parsing: unversioned))
    }

    /// A pool's threads map one block each and reuse it for every later hash and check, at any parameters
    /// whose block has that size.
    func testAHashingThreadMapsItsBlockOnce() throws {
        let memoryKiB: UInt32 = 4_104  // a size no other test uses, so the counts are this test's own
        let bytes = Int(memoryKiB) * 1024
        let pool = WorkerPool(threads: 1)
        defer { pool.shutdown() }
        let hasher = Argon2Hasher(memoryKiB: memoryKiB, iterations: 1, pool: pool)
        let before = Argon2Memory.shared.counts(ofBytes: bytes)
        var hashes: [String] = []
        for password in ["a", "b", "c"] {
            let box = AsyncResult<String>()
            hasher.hash(password) { box.set($0) }
            hashes.append(try box.wait())
        }
        for (password, encoded) in zip(["a", "b", "c"], hashes) {
            let box = AsyncResult<Bool>()
            hasher.verify(password, encoded: encoded) { box.set($0) }
            XCTAssertTrue(try box.wait())
        }
        let after = Argon2Memory.shared.counts(ofBytes: bytes)
        XCTAssertEqual(after.mapped - before.mapped, before.idle == 0 ? 1 : 0, "six runs, one mapping")
        XCTAssertEqual(after.idle, 1, "the block waits for the next hash")
    }

    /// A block nobody hashed in for the idle lifetime goes back to the system; a younger one stays.
    func testTrimUnmapsOnlyBlocksIdleForTheirLifetime() throws {
        let memoryKiB: UInt32 = 4_108  // this test's own size
        let bytes = Int(memoryKiB) * 1024
        let pool = WorkerPool(threads: 1)
        defer { pool.shutdown() }
        let hasher = Argon2Hasher(memoryKiB: memoryKiB, iterations: 1, pool: pool)
        let box = AsyncResult<String>()
        hasher.hash("pw") { box.set($0) }
        let encoded = try box.wait()
        XCTAssertFalse(encoded.isEmpty)
        let memory = Argon2Memory.shared
        XCTAssertEqual(memory.counts(ofBytes: bytes).idle, 1)

        let lifetime = Argon2Memory.idleLifetime
        let now = MonotonicClock.now()
        XCTAssertFalse(memory.hasExpiredBlocks(idleFor: lifetime, now: now))
        memory.trim(idleFor: lifetime, now: now)
        XCTAssertEqual(memory.counts(ofBytes: bytes).idle, 1, "a block just given back stays")

        let later = now + lifetime.nanoseconds + 1_000_000_000
        XCTAssertTrue(memory.hasExpiredBlocks(idleFor: lifetime, now: later))
        XCTAssertGreaterThanOrEqual(memory.trim(idleFor: lifetime, now: later), 1)
        XCTAssertEqual(memory.counts(ofBytes: bytes).idle, 0, "a block idle past its lifetime is unmapped")
        XCTAssertFalse(memory.hasExpiredBlocks(idleFor: lifetime, now: later))

        let mapped = memory.counts(ofBytes: bytes).mapped
        let again = AsyncResult<Bool>()
        hasher.verify("pw", encoded: encoded) { again.set($0) }
        XCTAssertTrue(try again.wait(), "the next hash maps a fresh block")
        XCTAssertEqual(memory.counts(ofBytes: bytes).mapped, mapped + 1)
    }

    /// The output is the same whichever memory libargon2 works in: a hash made in a kept block verifies through
    /// libargon2's own encoded-string API, which allocates with malloc.
    func testHashesFromAKeptBlockVerifyThroughLibargon2() {
        for _ in 0..<3 {
            let encoded = Argon2Hasher.encode("pw", salt: salt, memoryKiB: 128, iterations: 2, parallelism: 1)
            XCTAssertEqual(Array("pw".utf8).withUnsafeBytes { argon2id_verify(encoded, $0.baseAddress, 2) },
                           ARGON2_OK.rawValue)
        }
    }

    private func libargon2Encoded(_ password: String, m: UInt32, t: UInt32, p: UInt32, version: argon2_version) -> String {
        let length = argon2_encodedlen(t, m, p, UInt32(salt.count), UInt32(Argon2Hasher.hashLength), Argon2_id)
        var encoded = [CChar](repeating: 0, count: length)
        let pwd = Array(password.utf8)
        let rc = pwd.withUnsafeBytes { pwdBytes in
            salt.withUnsafeBytes { saltBytes in
                argon2_hash(t, m, p, pwdBytes.baseAddress, pwdBytes.count, saltBytes.baseAddress, saltBytes.count,
                            nil, Argon2Hasher.hashLength, &encoded, length, Argon2_id, version.rawValue)
            }
        }
        XCTAssertEqual(rc, ARGON2_OK.rawValue)
        return String(decoding: encoded.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

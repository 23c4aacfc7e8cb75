import CArgon2
import COpenSSL
import Logging

/// Turns passwords into salted slow hashes and checks them, off the caller's thread.
public protocol PasswordHasher: Sendable {
    /// Calls `done` with the encoded hash (algorithm, parameters and salt inside), on a worker thread.
    func hash(_ password: String, done: @escaping @Sendable (String) -> Void)
    /// Calls `done` with whether `password` matches `encoded`, on a worker thread.
    func verify(_ password: String, encoded: String, done: @escaping @Sendable (Bool) -> Void)
    /// How many hash/verify jobs are queued or running; the hub refuses new login attempts past a bound (DoS:
    /// docs/SECURITY.md, "Passwords and accounts").
    var backlog: Int { get }
}

/// argon2id through libargon2, OWASP's first choice: m = 19 MiB, t = 2, p = 1, a 16-byte salt from the OS
/// CSPRNG, a 32-byte hash, in the standard encoded form `$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`.
/// About 34 ms per hash on this machine class, so it runs on a `WorkerPool`.
///
/// Tests use the same code with tiny parameters (`memoryKiB: 64, iterations: 1`). Verification always uses the
/// parameters stored in the encoded string, so hashes made with other parameters keep working.
public final class Argon2Hasher: PasswordHasher {
    /// OWASP's minimum memory for argon2id: 19 MiB.
    public static let defaultMemoryKiB: UInt32 = 19_456
    /// OWASP's iteration count for 19 MiB.
    public static let defaultIterations: UInt32 = 2
    /// 128 bits, as RFC 9106 recommends.
    static let saltLength = 16
    static let hashLength = 32
    /// The hashing threads' nice value, the lowest priority there is: CFS weighs a nice-19 thread at 15 against
    /// a nice-0 thread's 1024, so a hash runs in the CPU time the event loops leave over.
    public static let workerNiceness: Int32 = 19

    public let memoryKiB: UInt32
    public let iterations: UInt32
    /// Lanes. 1: the pool already keeps the cores busy with separate logins.
    public let parallelism: UInt32
    private let pool: WorkerPool
    private let logger: Logger

    /// A hasher with its own pool (`WorkerPool.defaultThreadCount` threads at `workerNiceness`) unless `pool`
    /// is given.
    public init(memoryKiB: UInt32 = Argon2Hasher.defaultMemoryKiB, iterations: UInt32 = Argon2Hasher.defaultIterations,
                parallelism: UInt32 = 1, pool: WorkerPool? = nil, logger: Logger = Logger(label: "parley.passwords")) {
        // libargon2's own lower bounds; checked here so a bad configuration fails at start, not at first login.
        precondition(iterations >= 1 && parallelism >= 1 && memoryKiB >= 8 * parallelism, "argon2id parameters out of range")
        self.memoryKiB = memoryKiB
        self.iterations = iterations
        self.parallelism = parallelism
        // Nice 19: a hash waits while an event loop has work (a login storm must not stall other users'
        // messages); the bounded backlog turns the excess into `busy` refusals.
        self.pool = pool ?? WorkerPool(name: "parley-hash", niceness: Self.workerNiceness)
        self.logger = logger
    }

    public var backlog: Int { pool.backlog }

    /// The encoded-string prefix this hasher writes, e.g. `$argon2id$v=19$m=19456,t=2,p=1$`.
    public var encodedPrefix: String { "$argon2id$v=19$m=\(memoryKiB),t=\(iterations),p=\(parallelism)$" }

    /// Stops the pool after the queued work. Call once at shutdown, not from a completion.
    public func shutdown() {
        pool.shutdown()
    }

    public func hash(_ password: String, done: @escaping @Sendable (String) -> Void) {
        // Capture the parameters, not self: a job must not keep the hasher (and its pool) alive.
        let (m, t, p) = (memoryKiB, iterations, parallelism)
        run(done, refused: "") {
            let salt = SecureRandom.bytes(Self.saltLength)
            return Self.encode(password, salt: salt, memoryKiB: m, iterations: t, parallelism: p)
        }
    }

    public func verify(_ password: String, encoded: String, done: @escaping @Sendable (Bool) -> Void) {
        run(done, refused: false) { Self.matches(password, encoded: encoded) }
    }

    /// Runs `work` on the pool and hands its result to `done`. When the pool is full or stopped the
    /// answer fails closed — an unusable hash, a failed check — so an overloaded server never lets anyone in.
    /// The hub checks `backlog` before asking, so this is a last line of defence, not a normal path.
    private func run<T: Sendable>(_ done: @escaping @Sendable (T) -> Void, refused: T, work: @escaping @Sendable () -> T) {
        if !pool.submit({ done(work()) }) {
            logger.error("password hashing refused: the worker pool is full or stopped", metadata: ["backlog": "\(pool.backlog)"])
            done(refused)
        }
    }

    /// The encoded argon2id hash of `password` with `salt`. Traps if libargon2 rejects the parameters, which
    /// only a programming error (say, memory below 8 KiB per lane) can cause.
    static func encode(_ password: String, salt: [UInt8], memoryKiB: UInt32, iterations: UInt32, parallelism: UInt32) -> String {
        let length = argon2_encodedlen(iterations, memoryKiB, parallelism, UInt32(salt.count), UInt32(hashLength), Argon2_id)
        var encoded = [CChar](repeating: 0, count: length)
        let rc = withPasswordBytes(password) { pwd, count in
            salt.withUnsafeBytes { saltBytes in
                argon2id_hash_encoded(iterations, memoryKiB, parallelism, pwd, count,
                                      saltBytes.baseAddress, saltBytes.count, hashLength, &encoded, length)
            }
        }
        precondition(rc == ARGON2_OK.rawValue, "argon2id_hash_encoded failed: \(String(cString: argon2_error_message(rc)))")
        return String(decoding: encoded.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// True when `password` hashes to `encoded` (libargon2 compares in constant time). False for anything
    /// that is not a well-formed argon2id string.
    static func matches(_ password: String, encoded: String) -> Bool {
        guard encoded.hasPrefix("$argon2id$") else { return false }
        return withPasswordBytes(password) { pwd, count in
            argon2id_verify(encoded, pwd, count) == ARGON2_OK.rawValue
        }
    }

    /// Gives libargon2 the password's UTF-8 bytes with a non-null pointer (even for ""), then zeroes the copy.
    /// The zeroing is best effort: Swift strings cannot be wiped, but this buffer at least does not linger.
    private static func withPasswordBytes<R>(_ password: String, _ body: (UnsafeRawPointer, Int) -> R) -> R {
        var bytes = Array(password.utf8)
        let count = bytes.count
        bytes.append(0)
        defer {
            bytes.withUnsafeMutableBytes { raw in
                for index in raw.indices { raw[index] = 0 }
            }
        }
        return bytes.withUnsafeBytes { body($0.baseAddress!, count) }
    }
}

/// Random bytes from the OS CSPRNG, for salts.
enum SecureRandom {
    /// `count` bytes from OpenSSL's `RAND_bytes` (seeded by the kernel). Should that ever fail, the standard
    /// library's system generator, which reads the kernel's `getrandom` directly.
    static func bytes(_ count: Int) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        if RAND_bytes(&bytes, Int32(count)) == 1 { return bytes }
        var system = SystemRandomNumberGenerator()
        for index in bytes.indices { bytes[index] = system.next() }
        return bytes
    }
}

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
        Argon2Memory.shared.keep(atLeast: self.pool.threadCount)
        self.logger = logger
    }

    public var backlog: Int { pool.backlog }

    /// The encoded-string prefix this hasher writes, e.g. `$argon2id$v=19$m=19456,t=2,p=1$`.
    public var encodedPrefix: String {
        Argon2Encoded.header(version: ARGON2_VERSION_13.rawValue, memoryKiB: memoryKiB, iterations: iterations,
                             parallelism: parallelism)
    }

    /// Hands the working memory that no hash has used for `Argon2Memory.idleLifetime` back to the system, on a
    /// worker (unmapping many MiB does not belong on an event loop). Cheap when there is nothing to hand back, so
    /// the server calls it every few seconds.
    public func releaseIdleMemory() {
        guard Argon2Memory.shared.hasExpiredBlocks() else { return }
        _ = pool.submit { Argon2Memory.shared.trim() }
    }

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

    /// The encoded argon2id hash of `password` with `salt`, computed in a block from `Argon2Memory`; "" (which
    /// verifies nothing) when the system has no memory for the block. Traps if libargon2 rejects the
    /// parameters, which only a programming error can cause: `init` checks them.
    static func encode(_ password: String, salt: [UInt8], memoryKiB: UInt32, iterations: UInt32, parallelism: UInt32) -> String {
        var encoded = Argon2Encoded(version: ARGON2_VERSION_13.rawValue, memoryKiB: memoryKiB, iterations: iterations,
                                    parallelism: parallelism, salt: salt, hash: [UInt8](repeating: 0, count: hashLength))
        let rc = withContext(password, &encoded) { argon2_ctx(&$0, Argon2_id) }
        if rc == ARGON2_MEMORY_ALLOCATION_ERROR.rawValue { return "" }
        precondition(rc == ARGON2_OK.rawValue, "argon2id failed: \(String(cString: argon2_error_message(rc)))")
        return encoded.text
    }

    /// True when `password` hashes to `encoded` (compared in constant time by libargon2). False for anything that
    /// is not a well-formed argon2id string. Strings not in the canonical form this hasher writes go to
    /// libargon2's own decoder, which reads them as it always has (with memory from `malloc`).
    static func matches(_ password: String, encoded: String) -> Bool {
        guard encoded.hasPrefix(Argon2Encoded.prefix) else { return false }
        guard var stored = Argon2Encoded(parsing: encoded) else {
            return withPasswordBytes(password) { pwd, count in
                argon2id_verify(encoded, pwd, count) == ARGON2_OK.rawValue
            }
        }
        let expected = stored.hash
        stored.hash = [UInt8](repeating: 0, count: expected.count)
        return withContext(password, &stored) { context in
            expected.withUnsafeBytes { argon2_verify_ctx(&context, $0.baseAddress!.assumingMemoryBound(to: CChar.self), Argon2_id) }
        } == ARGON2_OK.rawValue
    }

    /// Runs `body` with a libargon2 context for `password` and `parts` (its hash buffer receives the output),
    /// using `Argon2Memory`'s blocks.
    private static func withContext(_ password: String, _ parts: inout Argon2Encoded,
                                    _ body: (inout argon2_context) -> Int32) -> Int32 {
        let (version, m, t, p) = (parts.version, parts.memoryKiB, parts.iterations, parts.parallelism)
        let salt = parts.salt
        return withPasswordBytes(password) { pwd, count in
            salt.withUnsafeBufferPointer { saltBytes in
                parts.hash.withUnsafeMutableBufferPointer { out in
                    var context = argon2_context(
                        out: out.baseAddress, outlen: UInt32(out.count),
                        pwd: UnsafeMutablePointer(mutating: pwd.assumingMemoryBound(to: UInt8.self)), pwdlen: UInt32(count),
                        salt: UnsafeMutablePointer(mutating: saltBytes.baseAddress), saltlen: UInt32(saltBytes.count),
                        secret: nil, secretlen: 0, ad: nil, adlen: 0,
                        t_cost: t, m_cost: m, lanes: p, threads: p, version: version,
                        allocate_cbk: Argon2Memory.allocate, free_cbk: Argon2Memory.release,
                        flags: 0)  // ARGON2_DEFAULT_FLAGS, whose macro Swift cannot import
                    return body(&context)
                }
            }
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

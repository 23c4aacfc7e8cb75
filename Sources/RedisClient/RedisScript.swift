import ParleySupport

/// A Lua script run with EVALSHA, so that each call sends the 40-character digest instead of the whole source.
///
/// The digest is learnt from `SCRIPT LOAD` on the first call. Redis forgets loaded scripts when it restarts
/// (`NOSCRIPT`); the call is then retried once with EVAL, which runs the source and caches it again, so the caller
/// never sees `NOSCRIPT`. Scripts run atomically on the server, which is what claiming a presence key needs.
///
/// Ordering: while the digest is known a call is ordered with the caller's other commands like any command; the
/// first call and a call after a restart take an extra round trip, so callers that depend on the order of a
/// script call and a later command should send the later one from the script's completion.
public final class RedisScript: Sendable {
    public let source: String
    private let digest = PThreadMutex<String?>(nil)

    public init(_ source: String) {
        self.source = source
    }

    /// Runs the script with `keys` (KEYS[1...]) and `arguments` (ARGV[1...]); `done` gets the script's reply, or
    /// the error reply Lua raised.
    public func run(on client: RedisClient, keys: [RedisArgument] = [], arguments: [RedisArgument] = [],
                    done: @escaping RedisCompletion) {
        let tail = [RedisArgument(keys.count)] + keys + arguments
        guard let known = digest.withLock({ $0 }) else {
            load(on: client, failed: done) { sha in client.send(["EVALSHA", RedisArgument(sha)] + tail, done: done) }
            return
        }
        let source = source
        client.send(["EVALSHA", RedisArgument(known)] + tail) { result in
            if case .success(.error(let message)) = result, message.hasPrefix("NOSCRIPT") {
                client.send(["EVAL", RedisArgument(source)] + tail, done: done)
            } else {
                done(result)
            }
        }
    }

    /// SCRIPT LOAD, remembering the digest for later calls; a reply other than the digest goes to `failed`.
    private func load(on client: RedisClient, failed: @escaping RedisCompletion,
                      then next: @escaping @Sendable (String) -> Void) {
        client.send(["SCRIPT", "LOAD", RedisArgument(source)]) { [digest] result in
            guard case .success(.bulk(let bytes)) = result else { return failed(result) }
            let sha = String(decoding: bytes, as: UTF8.self)
            digest.withLock { $0 = sha }
            next(sha)
        }
    }
}

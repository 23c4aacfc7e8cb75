import ParleySupport

/// Each event loop runs on its own joinable thread: `stop()` promises that the loops have finished when it
/// returns, which only a join can keep.
typealias LoopThread = JoinableThread

extension JoinableThread {
    /// Starts a thread named `name` that runs `body` once; a failure comes back as a `SystemError`, like every
    /// other system call the gateway makes.
    static func start(name: String, _ body: @escaping @Sendable () -> Void) throws(SystemError) -> JoinableThread {
        do {
            return try JoinableThread(name: name, body)
        } catch {
            throw SystemError(code: error.code, call: "pthread_create")
        }
    }
}

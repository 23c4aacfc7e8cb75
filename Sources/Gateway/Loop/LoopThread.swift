import CLinuxShims
import Glibc

/// A joinable OS thread that runs one event loop. Foundation's `Thread` cannot be joined, and
/// `stop()` promises that the loops have finished when it returns.
struct LoopThread: Sendable {
    private let handle: pthread_t

    /// Starts a thread named `name` (Linux keeps the first 15 bytes) that runs `body` once.
    static func start(name: String, _ body: @escaping @Sendable () -> Void) throws(SystemError) -> LoopThread {
        final class Box: Sendable {
            let name: String
            let body: @Sendable () -> Void
            init(name: String, body: @escaping @Sendable () -> Void) { self.name = name; self.body = body }
        }
        let box = Unmanaged.passRetained(Box(name: name, body: body))
        var handle = pthread_t()
        let result = pthread_create(&handle, nil, { argument in
            let box = Unmanaged<Box>.fromOpaque(argument!).takeRetainedValue()
            parley_set_thread_name(String(box.name.utf8.prefix(15))!)
            box.body()
            return nil
        }, box.toOpaque())
        guard result == 0 else {
            box.release()
            // pthread_create returns its error instead of setting errno.
            throw SystemError(code: result, call: "pthread_create")
        }
        return LoopThread(handle: handle)
    }

    /// True when called on this thread (a thread cannot join itself).
    var isCurrent: Bool { pthread_equal(handle, pthread_self()) != 0 }

    /// Waits for the thread to finish.
    func join() {
        _ = pthread_join(handle, nil)
    }
}

import CLinuxShims
import Glibc

/// A plain POSIX thread that can be joined: the event loops, the store's writer, the password-hashing workers.
///
/// Why not Foundation's `Thread`, Dispatch or Swift concurrency: each of these is one long-lived thread that
/// blocks in the kernel (epoll, a condition variable), and shutdown must be able to wait until it has finished,
/// which only `pthread_join` gives. ThreadSanitizer models `pthread_create` and `pthread_join`, so what a thread
/// did is seen as happening before `join` returns.
public struct JoinableThread: Sendable {
    private let handle: pthread_t

    /// Starts `body` on a new thread.
    /// - Parameters:
    ///   - name: shows in debuggers and `top -H`; Linux keeps the first 15 bytes.
    ///   - niceness: the nice value the thread runs at. Linux applies it to the calling thread only, so one thread
    ///     can yield the CPU to its siblings (password hashing, at 19, takes what the event loops leave over).
    ///     0 leaves the process's value; a value the kernel refuses also leaves it.
    ///   - body: runs once; the thread ends when it returns.
    public init(name: String, niceness: Int32 = 0, _ body: @escaping @Sendable () -> Void) throws(ThreadStartError) {
        let start = Unmanaged.passRetained(Start(name: name, niceness: niceness, body: body))
        var handle = pthread_t()
        let result = pthread_create(&handle, nil, { argument in
            Unmanaged<Start>.fromOpaque(argument!).takeRetainedValue().run()
            return nil
        }, start.toOpaque())
        guard result == 0 else {
            start.release()
            throw ThreadStartError(code: result)
        }
        self.handle = handle
    }

    /// True when called on this thread (a thread cannot join itself).
    public var isCurrent: Bool { pthread_equal(handle, pthread_self()) != 0 }

    /// Waits until the body has returned. Call once per thread, never from the thread itself.
    public func join() {
        precondition(!isCurrent, "a thread cannot join itself")
        _ = pthread_join(handle, nil)
    }

    /// What the new thread needs, handed over through `pthread_create`'s single pointer.
    private final class Start: Sendable {
        let name: String
        let niceness: Int32
        let body: @Sendable () -> Void

        init(name: String, niceness: Int32, body: @escaping @Sendable () -> Void) {
            self.name = name
            self.niceness = niceness
            self.body = body
        }

        func run() {
            // pthread_setname_np refuses names over 15 bytes instead of cutting them.
            var bytes = name.utf8.prefix(15).map { CChar(bitPattern: $0) }
            bytes.append(0)
            parley_set_thread_name(bytes)
            if niceness != 0 { _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, niceness) }
            body()
        }
    }
}

/// `pthread_create` failed (it returns its error instead of setting errno): EAGAIN when the system is out of
/// threads or memory for a stack.
public struct ThreadStartError: Error, Equatable, CustomStringConvertible {
    /// The errno value `pthread_create` returned.
    public let code: Int32

    public init(code: Int32) {
        self.code = code
    }

    public var description: String { "pthread_create failed: \(String(cString: strerror(code)))" }
}

/// The rule for how many threads of one kind are worth running: one per online core. The gateway runs that many
/// event loops and the password-hashing pool that many workers, so both follow the machine they run on.
public enum CoreCount {
    /// Cores the system has online, at least 1.
    public static var online: Int { max(sysconf(Int32(_SC_NPROCESSORS_ONLN)), 1) }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// A plain POSIX thread that can be joined, for the store's writer and the worker pool.
///
/// Why not Dispatch or Swift concurrency: the writer must be one long-lived thread that blocks on a condition
/// variable and owns the SQLite write connection, and shutdown must be able to wait for it to finish (join).
final class NativeThread: @unchecked Sendable {
    // Written once in `init`, read only by `join` on the owner's thread.
    private var handle: pthread_t

    /// Starts `body` on a new thread. `name` shows up in debuggers and `top -H` (Linux keeps 15 bytes).
    init(name: String, _ body: @escaping @Sendable () -> Void) {
        let box = Unmanaged.passRetained(Body(name: name, run: body)).toOpaque()
        #if canImport(Glibc)
        var handle = pthread_t()
        let rc = pthread_create(&handle, nil, { raw in
            NativeThread.enter(raw)
            return nil
        }, box)
        #else
        var maybe: pthread_t?
        let rc = pthread_create(&maybe, nil, { raw in
            NativeThread.enter(raw)
            return nil
        }, box)
        guard let handle = maybe else { fatalError("pthread_create failed: \(rc)") }
        #endif
        // Without a thread the store cannot commit and the pool cannot hash; there is no useful way to go on.
        precondition(rc == 0, "pthread_create failed: \(rc)")
        self.handle = handle
    }

    /// Waits until the thread's body has returned. Call once, never from the thread itself.
    func join() {
        precondition(!isCurrent, "a thread cannot join itself")
        pthread_join(handle, nil)
    }

    /// True when called on this thread.
    var isCurrent: Bool { pthread_equal(handle, pthread_self()) != 0 }

    private final class Body {
        let name: String
        let run: @Sendable () -> Void
        init(name: String, run: @escaping @Sendable () -> Void) {
            self.name = name
            self.run = run
        }
    }

    private static func enter(_ raw: UnsafeMutableRawPointer?) {
        guard let raw else { return }
        let body = Unmanaged<Body>.fromOpaque(raw).takeRetainedValue()
        // Foundation sets the kernel's thread name (Glibc's module does not export pthread_setname_np).
        Thread.current.name = body.name
        body.run()
    }
}

/// A mutex with one condition variable: `wait()` sleeps until `signal()`/`broadcast()`, never spins.
///
/// Waiters must re-check their predicate in a loop (spurious wake-ups are allowed by POSIX).
final class ConditionLock: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let condition: UnsafeMutablePointer<pthread_cond_t>

    init() {
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
        condition = .allocate(capacity: 1)
        condition.initialize(to: pthread_cond_t())
        pthread_cond_init(condition, nil)
    }

    deinit {
        pthread_cond_destroy(condition)
        condition.deallocate()
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    /// Runs `body` with the mutex held.
    func withLock<T>(_ body: () throws -> T) rethrows -> T {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body()
    }

    /// Releases the mutex, sleeps until signalled, re-acquires it. Only inside `withLock`.
    func wait() {
        pthread_cond_wait(condition, mutex)
    }

    /// Wakes one waiter. Call inside `withLock` so the wake-up cannot slip between a check and a wait.
    func signal() {
        pthread_cond_signal(condition)
    }

    /// Wakes every waiter.
    func broadcast() {
        pthread_cond_broadcast(condition)
    }
}

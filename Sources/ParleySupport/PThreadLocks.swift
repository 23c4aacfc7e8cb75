import Glibc

// Why pthreads and not `Synchronization.Mutex`: on Linux, `Mutex` locks with atomics and futex calls that
// ThreadSanitizer does not model, so every object handed from one thread to another through it is reported as
// a data race, drowning real ones (Tests/tsan.supp has the proof). A pthread mutex costs the same when
// uncontended and is understood by the sanitizer, so the locks every thread hand-off goes through (a loop's
// inbox, the store's queue, the hashing pool) are these.

/// One pthread mutex at a fixed address: pthread mutexes must not move, so this is not copyable and its
/// storage is allocated once.
@usableFromInline
struct RawMutex: ~Copyable {
    @usableFromInline let pointer: UnsafeMutablePointer<pthread_mutex_t>

    init() {
        pointer = .allocate(capacity: 1)
        pointer.initialize(to: pthread_mutex_t())
        pthread_mutex_init(pointer, nil)
    }

    deinit {
        pthread_mutex_destroy(pointer)
        pointer.deallocate()
    }

    @inlinable func lock() { pthread_mutex_lock(pointer) }
    @inlinable func unlock() { pthread_mutex_unlock(pointer) }
}

/// State behind a pthread mutex, with the `withLock` shape of `Synchronization.Mutex`.
public final class PThreadMutex<State>: @unchecked Sendable {
    // @unchecked: `state` is only touched between lock and unlock.
    @usableFromInline let mutex = RawMutex()
    @usableFromInline var state: State

    public init(_ state: State) {
        self.state = state
    }

    /// Runs `body` on the state with the mutex held.
    @inlinable
    public func withLock<Result>(_ body: (inout State) throws -> Result) rethrows -> Result {
        mutex.lock()
        defer { mutex.unlock() }
        return try body(&state)
    }
}

/// A mutex with one condition variable, guarding its owner's own fields: `wait()` sleeps until `signal()` or
/// `broadcast()`, never spins.
///
/// Waiters must re-check their predicate in a loop (POSIX allows spurious wake-ups).
public final class ConditionLock: @unchecked Sendable {
    @usableFromInline let mutex = RawMutex()
    private let condition: UnsafeMutablePointer<pthread_cond_t>

    public init() {
        condition = .allocate(capacity: 1)
        condition.initialize(to: pthread_cond_t())
        pthread_cond_init(condition, nil)
    }

    deinit {
        pthread_cond_destroy(condition)
        condition.deallocate()
    }

    /// Runs `body` with the mutex held.
    @inlinable
    public func withLock<Result>(_ body: () throws -> Result) rethrows -> Result {
        mutex.lock()
        defer { mutex.unlock() }
        return try body()
    }

    /// Releases the mutex, sleeps until signalled, re-acquires it. Only inside `withLock`.
    public func wait() {
        pthread_cond_wait(condition, mutex.pointer)
    }

    /// Wakes one waiter. Call inside `withLock`, so the wake-up cannot slip between a check and a wait.
    public func signal() {
        pthread_cond_signal(condition)
    }

    /// Wakes every waiter.
    public func broadcast() {
        pthread_cond_broadcast(condition)
    }
}

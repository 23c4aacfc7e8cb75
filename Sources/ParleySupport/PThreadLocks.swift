import Glibc

// Why pthreads and not `Synchronization.Mutex`: on Linux, `Mutex` locks with atomics and futex calls that
// ThreadSanitizer does not model, so every object handed from one thread to another through it is reported as
// a data race, drowning real ones (Tests/tsan.supp has the proof). A pthread mutex costs the same when
// uncontended and is understood by the sanitizer, so the locks every thread hand-off goes through (a loop's
// inbox, the store's queue, the hashing pool) are these.

/// A pthread mutex or condition variable at a fixed address: POSIX forbids moving or copying one, so it lives in
/// its own allocation, is not copyable, and is set up and torn down exactly once.
@usableFromInline
struct PThreadObject<Object>: ~Copyable {
    @usableFromInline let pointer: UnsafeMutablePointer<Object>
    private let destroy: (UnsafeMutablePointer<Object>) -> Int32

    init(_ blank: Object, setUp: (UnsafeMutablePointer<Object>) -> Int32,
         tearDown: @escaping (UnsafeMutablePointer<Object>) -> Int32) {
        pointer = .allocate(capacity: 1)
        pointer.initialize(to: blank)
        _ = setUp(pointer)
        destroy = tearDown
    }

    deinit {
        _ = destroy(pointer)
        pointer.deallocate()
    }
}

extension PThreadObject where Object == pthread_mutex_t {
    static func mutex() -> Self {
        Self(pthread_mutex_t(), setUp: { pthread_mutex_init($0, nil) }, tearDown: pthread_mutex_destroy)
    }

    @inlinable func lock() { pthread_mutex_lock(pointer) }
    @inlinable func unlock() { pthread_mutex_unlock(pointer) }
}

/// State behind a pthread mutex, with the `withLock` shape of `Synchronization.Mutex`.
public final class PThreadMutex<State>: @unchecked Sendable {
    // @unchecked: `state` is only touched between lock and unlock.
    @usableFromInline let mutex = PThreadObject.mutex()
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
    @usableFromInline let mutex = PThreadObject.mutex()
    /// Timed waits measure CLOCK_MONOTONIC, not the default CLOCK_REALTIME: a wall clock set back (an NTP
    /// step, an operator) would otherwise stretch a 2 ms wait of the store's writer by as much as it moved.
    private let condition = PThreadObject(pthread_cond_t(), setUp: { condition in
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        defer { pthread_condattr_destroy(&attributes) }
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        return pthread_cond_init(condition, &attributes)
    }, tearDown: pthread_cond_destroy)

    public init() {}

    /// Runs `body` with the mutex held.
    @inlinable
    public func withLock<Result>(_ body: () throws -> Result) rethrows -> Result {
        mutex.lock()
        defer { mutex.unlock() }
        return try body()
    }

    /// Releases the mutex, sleeps until signalled, re-acquires it. Only inside `withLock`.
    public func wait() {
        pthread_cond_wait(condition.pointer, mutex.pointer)
    }

    /// Like `wait()`, but wakes by itself after `seconds` at the latest (a retry timer: the PostgreSQL store's
    /// reconnect backoff). Returns false when the time ran out. Only inside `withLock`.
    @discardableResult
    public func wait(seconds: Double) -> Bool {
        wait(untilNanoseconds: MonotonicClock.now() + UInt64(max(0, seconds) * 1e9))
    }

    /// Sleeps, re-checking `keepWaiting` at every wake-up, until it is false or the monotonic clock reaches
    /// `deadline` (ns): a store's writer letting a batch fill before its next commit. Only inside `withLock`.
    public func wait(until deadline: UInt64, while keepWaiting: () -> Bool) {
        while keepWaiting() && MonotonicClock.now() < deadline { wait(untilNanoseconds: deadline) }
    }

    @discardableResult
    private func wait(untilNanoseconds deadline: UInt64) -> Bool {
        var spec = timespec(tv_sec: Int(deadline / 1_000_000_000), tv_nsec: Int(deadline % 1_000_000_000))
        return pthread_cond_timedwait(condition.pointer, mutex.pointer, &spec) == 0  // on the condition's clock
    }

    /// Wakes one waiter. Call inside `withLock`, so the wake-up cannot slip between a check and a wait.
    public func signal() {
        pthread_cond_signal(condition.pointer)
    }

    /// Wakes every waiter.
    public func broadcast() {
        pthread_cond_broadcast(condition.pointer)
    }
}

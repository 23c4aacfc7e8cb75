import Glibc

/// State behind a pthread mutex, with the `withLock` shape of `Synchronization.Mutex`.
///
/// Why not `Mutex`: on Linux it locks with atomics and futex calls that ThreadSanitizer does not model, so every
/// object handed from one thread to another through it (an `Outbound` posted to a loop's inbox, say) is reported
/// as a data race, drowning real ones (Tests/tsan.supp has the proof). A pthread mutex costs the same when
/// uncontended and is understood by the sanitizer, so the inbox — the one channel into every loop — uses this.
final class PThreadMutex<State>: @unchecked Sendable {
    // @unchecked: `state` is only touched between lock and unlock.
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private var state: State

    init(_ state: State) {
        self.state = state
        pthread_mutex_init(mutex, nil)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    func withLock<Result>(_ body: (inout State) throws -> Result) rethrows -> Result {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body(&state)
    }
}

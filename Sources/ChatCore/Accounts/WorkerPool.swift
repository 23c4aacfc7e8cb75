import ParleySupport

/// A few threads that run closures from one bounded FIFO, for CPU-heavy work that must stay off the event
/// loops (password hashing, docs/ARCHITECTURE.md §6 principle 2).
///
/// Bounded: `submit` refuses work when `capacity` jobs are already waiting, so a login storm cannot grow memory
/// without limit; callers check `backlog` first and refuse politely (docs/SECURITY.md, "Passwords and accounts"). Idle
/// threads sleep on a condition variable. `shutdown()` stops intake, lets the queued jobs finish, and joins the
/// threads.
public final class WorkerPool: Sendable {
    /// Worker threads when none is given: one per online core (`CoreCount.online`). More could not hash any
    /// faster, and the event loops (also one per core) keep their share because the hashing pool runs at a low
    /// priority (`niceness`); a login storm on an otherwise idle machine still gets every core.
    public static var defaultThreadCount: Int { CoreCount.online }
    /// Waiting jobs allowed when none is given.
    public static let defaultCapacity = 1024

    /// The number of worker threads.
    public let threadCount: Int
    /// The most jobs that may wait (not counting the ones running).
    public let capacity: Int

    private let queue: JobQueue
    // Filled once in `init`, read only by `shutdown`.
    private let threads: [JoinableThread]

    /// Starts `threads` workers named `name-1`, `name-2`, …
    /// - Parameter niceness: the workers' nice value (0: the process's own). Password hashing runs at a lower
    ///   priority than the event loops, so a login storm takes the CPU the loops leave over instead of a fair
    ///   share of it; on an idle core it runs as fast as ever.
    public init(threads: Int = WorkerPool.defaultThreadCount, capacity: Int = WorkerPool.defaultCapacity,
                name: String = "parley-worker", niceness: Int32 = 0) {
        precondition(threads > 0 && capacity > 0, "a worker pool needs at least one thread and one slot")
        threadCount = threads
        self.capacity = capacity
        let queue = JobQueue(capacity: capacity)
        self.queue = queue
        // The threads hold the queue, not the pool, so a pool nobody references can still be shut down by deinit.
        self.threads = (1...threads).map { index in
            do {
                return try JoinableThread(name: "\(name)-\(index)", niceness: niceness) { queue.runJobs() }
            } catch {
                // Without its threads the pool cannot run anything; there is no useful way to go on.
                fatalError("\(error)")
            }
        }
    }

    deinit {
        // Stop the threads if the owner forgot; no join, since the last reference may be dropped on a worker.
        queue.stopIntake()
    }

    /// Queues `job`. Returns false, without running it, when the queue is full or the pool is shut down.
    @discardableResult
    public func submit(_ job: @escaping @Sendable () -> Void) -> Bool {
        queue.append(job)
    }

    /// Jobs waiting or running.
    public var backlog: Int { queue.backlog }

    /// Stops intake, waits for every queued job to run, then joins the threads. Idempotent; not from a worker.
    public func shutdown() {
        guard queue.stopIntake() else { return }
        for thread in threads { thread.join() }
    }

    /// True when called on one of this pool's threads.
    public var isWorkerThread: Bool { threads.contains { $0.isCurrent } }
}

/// The FIFO behind `WorkerPool`; its threads loop in `runJobs`.
private final class JobQueue: @unchecked Sendable {
    private let state = ConditionLock()
    private let capacity: Int
    // Guarded by `state`. A ring would save the O(n) removeFirst, but n is at most `capacity` pointers and each
    // job costs tens of milliseconds; the array is simpler.
    private var jobs: [@Sendable () -> Void] = []
    private var running = 0
    private var isStopping = false

    init(capacity: Int) {
        self.capacity = capacity
    }

    func append(_ job: @escaping @Sendable () -> Void) -> Bool {
        state.withLock {
            guard !isStopping, jobs.count < capacity else { return false }
            jobs.append(job)
            state.signal()
            return true
        }
    }

    var backlog: Int { state.withLock { jobs.count + running } }

    /// Returns true for the first call (the one that should join).
    @discardableResult
    func stopIntake() -> Bool {
        state.withLock {
            defer { isStopping = true; state.broadcast() }
            return !isStopping
        }
    }

    /// A worker's life: take the oldest job, run it outside the lock, repeat; leave once stopping and empty.
    func runJobs() {
        while true {
            let next: (@Sendable () -> Void)? = state.withLock {
                while jobs.isEmpty && !isStopping { state.wait() }
                guard !jobs.isEmpty else { return nil }
                running += 1
                return jobs.removeFirst()
            }
            guard let job = next else { return }
            job()
            state.withLock { running -= 1 }
        }
    }
}

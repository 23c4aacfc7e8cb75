import Glibc
import ParleySupport

/// Names one scheduled timer so it can be cancelled.
struct TimerID: Hashable, Sendable {
    fileprivate let rawValue: UInt64
}

/// Deadlines in a binary min-heap: O(log n) to schedule or pop, O(1) to cancel.
///
/// Cancellation is lazy: the heap entry stays until it reaches the top and is then skipped, and the
/// heap is rebuilt when dead entries outnumber live ones, so memory tracks the live timers. Equal
/// deadlines fire in the order they were scheduled. A repeating timer is rescheduled for its next
/// period after `now`; a loop that fell behind skips the missed periods instead of firing a burst.
/// `Action` is plain data the loop interprets, so the queue holds no closures over the loop itself.
///
/// Loop-confined: a value owned by one `EventLoop`.
struct TimerQueue<Action> {
    private struct Entry {
        var deadline: UInt64
        var sequence: UInt64

        func precedes(_ other: Entry) -> Bool {
            deadline != other.deadline ? deadline < other.deadline : sequence < other.sequence
        }
    }

    private struct Timer {
        var action: Action
        var interval: UInt64?
    }

    private var heap: [Entry] = []
    private var live: [UInt64: Timer] = [:]
    private var nextSequence: UInt64 = 0

    init() {}

    /// How many timers are scheduled and not cancelled.
    var count: Int { live.count }
    var isEmpty: Bool { live.isEmpty }

    /// Schedules `action` at `deadline` (monotonic nanoseconds), then every `interval` if given.
    @discardableResult
    mutating func schedule(at deadline: UInt64, repeatingEvery interval: UInt64? = nil, _ action: Action) -> TimerID {
        precondition(interval.map { $0 > 0 } ?? true, "a repeating timer needs a positive interval")
        nextSequence += 1
        live[nextSequence] = Timer(action: action, interval: interval)
        push(Entry(deadline: deadline, sequence: nextSequence))
        return TimerID(rawValue: nextSequence)
    }

    /// Cancels `id`; cancelling a timer that already fired (or twice) does nothing.
    mutating func cancel(_ id: TimerID) {
        guard live.removeValue(forKey: id.rawValue) != nil else { return }
        if heap.count > 64 && heap.count > 2 * live.count { rebuild() }
    }

    /// The earliest live deadline, or nil when nothing is scheduled.
    mutating func nextDeadline() -> UInt64? {
        discardCancelledTop()
        return heap.first?.deadline
    }

    /// Removes and returns the earliest action due at `now`, or nil. Call repeatedly: the caller may
    /// schedule or cancel between calls (a fired action often cancels or schedules another).
    mutating func popExpired(now: UInt64) -> Action? {
        discardCancelledTop()
        guard let top = heap.first, top.deadline <= now else { return nil }
        popTop()
        guard let timer = live[top.sequence] else { return nil }
        if let interval = timer.interval {
            let (next, overflow) = top.deadline.addingReportingOverflow(interval)
            let deadline = overflow ? .max : (next > now ? next : now &+ interval)
            push(Entry(deadline: deadline, sequence: top.sequence))
        } else {
            live[top.sequence] = nil
        }
        return timer.action
    }

    // MARK: - Heap

    private mutating func discardCancelledTop() {
        while let top = heap.first, live[top.sequence] == nil { popTop() }
    }

    private mutating func push(_ entry: Entry) {
        heap.append(entry)
        var child = heap.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard heap[child].precedes(heap[parent]) else { break }
            heap.swapAt(child, parent)
            child = parent
        }
    }

    private mutating func popTop() {
        let last = heap.removeLast()
        guard !heap.isEmpty else { return }
        heap[0] = last
        siftDown(from: 0)
    }

    private mutating func siftDown(from start: Int) {
        var parent = start
        while true {
            let left = 2 * parent + 1, right = left + 1
            var smallest = parent
            if left < heap.count && heap[left].precedes(heap[smallest]) { smallest = left }
            if right < heap.count && heap[right].precedes(heap[smallest]) { smallest = right }
            if smallest == parent { return }
            heap.swapAt(parent, smallest)
            parent = smallest
        }
    }

    /// Drops cancelled entries and restores the heap property bottom-up in O(n).
    private mutating func rebuild() {
        heap.removeAll { live[$0.sequence] == nil }
        guard heap.count > 1 else { return }
        for index in stride(from: heap.count / 2 - 1, through: 0, by: -1) { siftDown(from: index) }
    }
}

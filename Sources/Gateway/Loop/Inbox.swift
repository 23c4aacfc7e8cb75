import Glibc
import ParleySupport
import Synchronization

/// Work handed to an event loop, applied on the loop's thread in the order it was posted.
enum InboxItem: Sendable {
    /// Queue `Outbound` on each of these connections (all owned by the receiving loop).
    case send(Outbound, [ConnectionID])
    /// `send` to one connection.
    case sendOne(Outbound, ConnectionID)
    /// Like `send`, but the bytes may wait up to `EventLoop.coalescingDelay` for other output to the same
    /// connection, so that they leave in the same gather write (`GatewayServer.send(_:to:coalescing:)`).
    case sendCoalesced(Outbound, [ConnectionID])
    /// Flush, then close, the connection.
    case close(ConnectionID)
    /// A socket accepted by loop 0 for this loop to own from now on; `isHTTP` if it came in on the HTTP port.
    case adopt(fd: Int32, peer: PeerAddress, isHTTP: Bool)
    /// The application's answer to the HTTP request the connection is waiting on.
    case httpResponse(ConnectionID, HTTPResponse)
    /// Change the connection's line / WebSocket message limit (clamped to the configured maximum).
    case setMessageLimit(ConnectionID, Int)
    /// Run `body` on this loop every `interval` until stop.
    case scheduleRepeating(interval: Duration, body: @Sendable () -> Void)
    /// Begin a graceful stop that must be finished by `deadline` (monotonic nanoseconds).
    case stop(deadline: UInt64)
}

/// The one door into an event loop from other threads: a mutex-protected FIFO plus an eventfd.
///
/// Every `send`/`close` goes through here, even from the loop's own thread, because the FIFO is what
/// makes per-connection order equal call order across all threads. The eventfd is written only when
/// the FIFO goes from empty to non-empty and the caller is another thread: a non-empty FIFO already
/// has a wake-up on the way (or is being drained right now), and the loop checks the FIFO before it
/// sleeps, so its own posts need no wake-up at all. The write happens under the mutex, which is also
/// what makes `close()` safe: after it, no thread can touch the descriptor.
final class Inbox: Sendable {
    private struct State {
        var items: [InboxItem] = []
        var wakeDescriptor: Int32 = -1
        var isClosed = false
    }

    /// A pthread mutex rather than `Mutex`, so ThreadSanitizer sees every hand-off through the inbox.
    private let state = PThreadMutex(State())
    /// The loop thread's pthread_t, or 0 before it runs. Read without the mutex on every post.
    private let owner = Atomic<UInt>(0)

    init() {}

    deinit {
        state.withLock { state in
            if state.wakeDescriptor >= 0 { Syscall.close(state.wakeDescriptor) }
        }
    }

    /// Creates the eventfd the loop waits on; returns it for registration with epoll.
    func makeWakeDescriptor() throws(SystemError) -> Int32 {
        let descriptor = try Syscall.makeEventCounter()
        state.withLock { $0.wakeDescriptor = descriptor }
        return descriptor
    }

    /// Records the calling thread as the loop thread (posts from it never write the eventfd).
    func bindToCurrentThread() {
        owner.store(pthread_self(), ordering: .releasing)
    }

    /// True when called on the loop thread that drains this inbox.
    var isOnLoopThread: Bool {
        let thread = owner.load(ordering: .acquiring)
        return thread != 0 && pthread_equal(thread, pthread_self()) != 0
    }

    /// Appends `item` and wakes the loop if needed. Returns false once the loop has shut down; the
    /// caller then still owns whatever the item carries (an accepted descriptor must be closed).
    @discardableResult
    func post(_ item: InboxItem) -> Bool {
        let fromLoopThread = isOnLoopThread
        return state.withLock { state in
            guard !state.isClosed else { return false }
            let wasEmpty = state.items.isEmpty
            state.items.append(item)
            if wasEmpty && !fromLoopThread && state.wakeDescriptor >= 0 {
                Syscall.signalEventCounter(state.wakeDescriptor)
            }
            return true
        }
    }

    /// Whether anything is waiting; the loop checks this before choosing to block.
    var hasItems: Bool {
        state.withLock { !$0.items.isEmpty }
    }

    /// Moves every waiting item into `buffer` (which must be empty) by swapping storage, so the
    /// mutex is held for O(1) and both arrays keep their capacity between ticks.
    func takeAll(into buffer: inout [InboxItem]) {
        state.withLock { state in swap(&state.items, &buffer) }
    }

    /// Refuses further posts and returns what was left, for the loop to release on its way out.
    func close() -> [InboxItem] {
        state.withLock { state in
            state.isClosed = true
            let leftovers = state.items
            state.items = []
            return leftovers
        }
    }
}

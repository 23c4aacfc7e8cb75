import CLinuxShims
import Glibc
import ParleySupport

/// A command encoded for `redisAsyncCommandArgv`: every argument's bytes back to back, plus each one's length.
/// Encoded on the caller's thread, so the client thread only copies it into hiredis's output buffer.
struct EncodedCommand: Sendable {
    let bytes: [UInt8]
    let lengths: [Int]

    init(_ arguments: [RedisArgument]) {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(arguments.reduce(1) { $0 + $1.bytes.count })
        for argument in arguments { bytes.append(contentsOf: argument.bytes) }
        // A spare byte, so the buffer has an address even when every argument is empty (hiredis never reads it).
        bytes.append(0)
        self.bytes = bytes
        lengths = arguments.map(\.bytes.count)
    }

    /// The command's name, upper-cased, for log lines (never the arguments: they may be private).
    var name: String {
        String(decoding: bytes.prefix(lengths.first ?? 0), as: UTF8.self).uppercased()
    }
}

/// Work handed to the client thread, applied in the order it was posted.
enum ClientRequest: Sendable {
    case command(EncodedCommand, RedisCompletion)
    case subscribe([String], RedisClient.MessageHandler, (@Sendable (Result<Void, RedisError>) -> Void)?)
    case unsubscribe([String])

    /// Calls the request's completion, if it has one, with `error`: for requests that will never be carried out.
    func fail(with error: RedisError) {
        switch self {
        case .command(_, let done): done(.failure(error))
        case .subscribe(_, _, let done): done?(.failure(error))
        case .unsubscribe: break
        }
    }
}

/// The one door into the client thread: a mutex-protected FIFO plus an eventfd, the shape of the Gateway loop's
/// inbox. The eventfd is written only when the FIFO goes from empty to non-empty, so a burst of 100 000 sends costs
/// one wake-up, and the thread takes the whole burst in one swap, which is what lets hiredis write it out in as few
/// `write` calls as the socket allows.
final class RequestQueue: Sendable {
    enum Phase { case notStarted, running, stopped }

    private struct State {
        var items: [ClientRequest] = []
        var phase = Phase.notStarted
        var stopRequested = false
    }

    private let state = PThreadMutex(State())
    /// The eventfd the client thread waits on; created with the queue and closed with it.
    let wakeDescriptor: Int32

    init() throws(RedisError) {
        wakeDescriptor = parley_eventfd()
        guard wakeDescriptor >= 0 else { throw .connectionFailed("eventfd: \(String(cString: strerror(errno)))") }
    }

    deinit { Glibc.close(wakeDescriptor) }

    /// Appends `request` unless the client is stopped (or stopping); returns false then, so that the caller can
    /// fail the request itself, outside the lock. Before `start` requests wait here: a subscription made before
    /// the first connection is part of that connection's set-up, and a command is failed as "down" at start.
    func post(_ request: ClientRequest) -> Bool {
        state.withLock { state in
            guard state.phase != .stopped, !state.stopRequested else { return false }
            if state.items.isEmpty { wake() }
            state.items.append(request)
            return true
        }
    }

    /// Marks the client running (start) and reports whether it was not started before.
    func markRunning() -> Bool {
        state.withLock { state in
            guard state.phase == .notStarted else { return false }
            state.phase = .running
            return true
        }
    }

    /// Asks the client thread to stop. Returns the phase found: `.running` (the caller must join the thread),
    /// `.notStarted` (there is no thread; the caller fails what was queued), or `.stopped` (stopped or stopping).
    func requestStop() -> Phase {
        state.withLock { state in
            guard state.phase == .running, !state.stopRequested else {
                return state.phase == .notStarted ? .notStarted : .stopped
            }
            state.stopRequested = true
            wake()
            return .running
        }
    }

    /// Swaps everything queued into `buffer` (which must be empty) and reports whether a stop was asked for.
    /// Draining the eventfd first means a post that races with this swap still leaves a wake-up behind.
    func takeAll(into buffer: inout [ClientRequest]) -> Bool {
        var counter: UInt64 = 0
        _ = read(wakeDescriptor, &counter, 8)
        return state.withLock { state in
            swap(&state.items, &buffer)
            return state.stopRequested
        }
    }

    /// Refuses every later post and returns what was still queued, for the thread to fail on its way out.
    func close() -> [ClientRequest] {
        state.withLock { state in
            state.phase = .stopped
            let leftovers = state.items
            state.items = []
            return leftovers
        }
    }

    private func wake() {
        var one: UInt64 = 1
        _ = write(wakeDescriptor, &one, 8)
    }
}

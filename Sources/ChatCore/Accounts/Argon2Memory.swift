import CArgon2
import Glibc
import ParleySupport

/// argon2id's working memory (m KiB per hash: 19 MiB at the defaults), mapped once per hashing thread and reused
/// from hash to hash instead of asked of `malloc` every time.
///
/// Why: whether `malloc` keeps a 19 MiB block warm between hashes is the allocator's choice. glibc does (its mmap
/// threshold grows to the block's size after the first free); mimalloc and others hand a block that large back to
/// the system at once, and the next hash faults every page in again — measured at 42–52 ms a hash against 29–33 ms
/// (docs/PERFORMANCE.md, "Another allocator"). Owning the block makes a login's cost the same under any allocator.
///
/// A block nobody has hashed in for `idleLifetime` goes back to the system (`trim`, which the server calls every
/// few seconds): a login burst on a machine with many cores would otherwise keep a block per core for good, as
/// glibc's heaps do. The next login after a quiet spell pays the page faults once.
///
/// libargon2 wipes the block before it hands it back (its default `FLAG_clear_internal_memory`), so a kept block
/// holds nothing of the last password; it is also left out of core dumps.
///
/// libargon2's allocation callbacks are plain C function pointers without a context argument, so the blocks live
/// in one process-wide keeper, `shared`.
final class Argon2Memory: Sendable {
    static let shared = Argon2Memory()

    /// The callbacks to put in an `argon2_context`.
    static let allocate: allocate_fptr = { memory, bytes in
        memory?.pointee = Argon2Memory.shared.take(bytes)
        return 0  // libargon2 ignores this and checks the pointer: nil is its ARGON2_MEMORY_ALLOCATION_ERROR
    }
    static let release: deallocate_fptr = { memory, bytes in
        if let memory { Argon2Memory.shared.give(memory, bytes) }
    }

    /// How long a block may wait for the next hash before `trim` unmaps it.
    static let idleLifetime: Duration = .seconds(30)

    private struct Block {
        let base: UnsafeMutableRawPointer
        let bytes: Int
        /// `MonotonicClock` nanoseconds when the last hash gave it back.
        let idleSince: UInt64
    }

    private struct State {
        var idle: [Block] = []
        /// Blocks kept while no hash uses them: the most hashes any hasher runs at once.
        var idleLimit = 1
        /// How many blocks of each size were ever mapped, for tests and the curious.
        var mapped: [Int: Int] = [:]
    }

    private let state = PThreadMutex(State())

    /// Keeps up to `workers` idle blocks, so a pool of that many threads never maps a block twice.
    func keep(atLeast workers: Int) {
        state.withLock { $0.idleLimit = max($0.idleLimit, workers) }
    }

    /// How many blocks of `bytes` have been mapped so far, and how many of them are idle now.
    func counts(ofBytes bytes: Int) -> (mapped: Int, idle: Int) {
        state.withLock { state in (state.mapped[bytes, default: 0], state.idle.count { $0.bytes == bytes }) }
    }

    /// An idle block of exactly `bytes`, else a fresh mapping; nil when the system has no memory to give.
    private func take(_ bytes: Int) -> UnsafeMutablePointer<UInt8>? {
        let reused: Block? = state.withLock { state in
            guard let index = state.idle.lastIndex(where: { $0.bytes == bytes }) else { return nil }
            return state.idle.remove(at: index)
        }
        if let reused { return reused.base.assumingMemoryBound(to: UInt8.self) }
        guard let base = mmap(nil, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
              base != MAP_FAILED else { return nil }
        _ = madvise(base, bytes, Int32(MADV_DONTDUMP))
        state.withLock { $0.mapped[bytes, default: 0] += 1 }
        return base.assumingMemoryBound(to: UInt8.self)
    }

    /// Keeps `memory` for the next hash, or unmaps the oldest idle block when the keeper is full.
    private func give(_ memory: UnsafeMutablePointer<UInt8>, _ bytes: Int) {
        let evicted: Block? = state.withLock { state in
            state.idle.append(Block(base: UnsafeMutableRawPointer(memory), bytes: bytes, idleSince: MonotonicClock.now()))
            return state.idle.count > state.idleLimit ? state.idle.removeFirst() : nil
        }
        if let evicted { munmap(evicted.base, evicted.bytes) }
    }

    /// Whether `trim` would unmap anything: a cheap look, so the server asks a worker to trim only then.
    func hasExpiredBlocks(idleFor lifetime: Duration = idleLifetime, now: UInt64 = MonotonicClock.now()) -> Bool {
        state.withLock { $0.idle.first.map { $0.idleSince <= Self.cutoff(lifetime, now) } ?? false }
    }

    /// Unmaps the blocks given back before `now - idleFor`; returns how many. Blocks are given back in time order,
    /// so the old ones are a prefix of the list.
    @discardableResult
    func trim(idleFor lifetime: Duration = idleLifetime, now: UInt64 = MonotonicClock.now()) -> Int {
        let cutoff = Self.cutoff(lifetime, now)
        let expired: [Block] = state.withLock { state in
            let count = state.idle.prefix { $0.idleSince <= cutoff }.count
            defer { state.idle.removeFirst(count) }
            return Array(state.idle.prefix(count))
        }
        for block in expired { munmap(block.base, block.bytes) }
        return expired.count
    }

    private static func cutoff(_ lifetime: Duration, _ now: UInt64) -> UInt64 {
        now >= lifetime.nanoseconds ? now - lifetime.nanoseconds : 0
    }
}

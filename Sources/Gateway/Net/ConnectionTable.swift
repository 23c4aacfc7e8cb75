/// A loop's connections, found by epoll token (slot + generation) or by `ConnectionID` (loop, slot, sequence):
/// either way by indexing the slots, which a fan-out to thousands of connections does once per recipient.
///
/// Slots are reused, descriptors are reused by the kernel, so neither can identify a connection
/// over time. Each slot carries a generation that is bumped when its connection is removed, and the
/// token registered with epoll holds both: an event or timer that names an old generation finds
/// nothing. Together with the deferred reap (a closed connection keeps its slot until the end of the
/// tick) this keeps stale events from ever reaching a newer connection.
///
/// Token layout: generation in the high 32 bits, slot in the low 32. Generations wrap before
/// 0xFFFF_FFFF, so the three reserved tokens (wake-up, line listener and HTTP listener, all ones in
/// the high half) can never collide with a connection.
///
/// Loop-confined: a value owned by one `EventLoop`.
struct ConnectionTable {
    static let wakeToken: UInt64 = .max
    static let listenerToken: UInt64 = .max - 1
    static let httpListenerToken: UInt64 = .max - 2

    private var slots: [Connection?] = []
    private var generations: [UInt32] = []
    private var freeSlots: [Int] = []
    private(set) var count = 0

    init() {}

    var isEmpty: Bool { count == 0 }

    /// Every connection, in no particular order (a snapshot: safe to mutate the table meanwhile).
    var all: [Connection] { slots.compactMap { $0 } }

    /// Creates a connection in a free slot; `make` receives the token to register with epoll and the
    /// connection's id (`loop`, the slot, `sequence`).
    mutating func insert(loop: Int, sequence: UInt64,
                         _ make: (_ token: UInt64, _ id: ConnectionID) -> Connection) -> Connection {
        let slot: Int
        if let free = freeSlots.popLast() {
            slot = free
        } else {
            slot = slots.count
            slots.append(nil)
            generations.append(0)
        }
        let connection = make(UInt64(generations[slot]) << 32 | UInt64(slot),
                              ConnectionID(loop: loop, slot: slot, sequence: sequence))
        slots[slot] = connection
        count += 1
        return connection
    }

    /// The live connection `token` was issued for, or nil if that slot has moved on.
    func connection(forToken token: UInt64) -> Connection? {
        let slot = Int(token & 0xFFFF_FFFF)
        guard slot < slots.count, UInt64(generations[slot]) == token >> 32 else { return nil }
        return slots[slot]
    }

    func connection(for id: ConnectionID) -> Connection? {
        let slot = id.slot
        guard slot < slots.count, let connection = slots[slot], connection.id == id else { return nil }
        return connection
    }

    /// Frees `connection`'s slot and bumps its generation so its token is dead from now on.
    mutating func remove(_ connection: Connection) {
        let slot = Int(connection.token & 0xFFFF_FFFF)
        guard slot < slots.count, slots[slot] === connection else { return }
        slots[slot] = nil
        let next = generations[slot] &+ 1
        generations[slot] = next == UInt32.max ? 0 : next
        freeSlots.append(slot)
        count -= 1
    }
}

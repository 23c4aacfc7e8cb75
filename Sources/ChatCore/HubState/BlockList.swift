/// Who blocked whom (docs/PROTOCOL.md §4.3). Read on every message, broadcast recipient and presence line, so reads
/// are synchronous lookups; a change is applied here at once (the very next message obeys it) and undone if the store
/// refuses it. A cluster implementation would replicate it from PostgreSQL through the bus.
protocol BlockList: AnyObject {
    /// Has `blocker` blocked `other`?
    func hasBlocked(_ blocker: String, _ other: String) -> Bool
    func setBlocked(_ blocker: String, _ other: String, _ blocked: Bool)
    /// Everyone `blocker` has blocked, sorted.
    func blocked(by blocker: String) -> [String]
    /// Every block, as the store has them (a cluster node resyncing after it may have missed notices).
    func replaceAll(_ blocks: [String: Set<String>])
}

/// The single-node block list, loaded from the store's snapshot.
final class LocalBlockList: BlockList {
    /// blocker → users they blocked.
    private var blocks: [String: Set<String>]

    init(_ blocks: [String: Set<String>] = [:]) {
        self.blocks = blocks
    }

    func hasBlocked(_ blocker: String, _ other: String) -> Bool {
        blocks[blocker]?.contains(other) ?? false
    }

    func setBlocked(_ blocker: String, _ other: String, _ blocked: Bool) {
        if blocked { blocks[blocker, default: []].insert(other) } else { blocks[blocker]?.remove(other) }
    }

    func blocked(by blocker: String) -> [String] {
        (blocks[blocker] ?? []).sorted()
    }

    func replaceAll(_ blocks: [String: Set<String>]) {
        self.blocks = blocks
    }
}

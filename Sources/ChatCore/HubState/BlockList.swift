/// Who blocked whom (docs/PROTOCOL.md §4.3). Read on every message, broadcast recipient and presence line, so reads
/// are synchronous lookups; a change is applied here at once (the very next message obeys it) and undone if the store
/// refuses it. A cluster implementation would replicate it from PostgreSQL through the bus.
protocol BlockList: AnyObject {
    /// Has `blocker` blocked `other`?
    func hasBlocked(_ blocker: String, _ other: String) -> Bool
    func setBlocked(_ blocker: String, _ other: String, _ blocked: Bool)
    /// Everyone `blocker` has blocked, sorted.
    func blocked(by blocker: String) -> [String]
    /// Everyone who blocked `other` (a room message checks the sender's blockers, not every member).
    func blockers(of other: String) -> Set<String>
    /// Every block, as the store has them (a cluster node resyncing after it may have missed notices).
    func replaceAll(_ blocks: [String: Set<String>])
}

/// The single-node block list, loaded from the store's snapshot.
final class LocalBlockList: BlockList {
    /// blocker → users they blocked.
    private var blocks: [String: Set<String>]
    /// blocked user → who blocked them: the same pairs, the other way round.
    private var blockedBy: [String: Set<String>] = [:]

    init(_ blocks: [String: Set<String>] = [:]) {
        self.blocks = blocks
        indexBlockers()
    }

    func hasBlocked(_ blocker: String, _ other: String) -> Bool {
        blocks[blocker]?.contains(other) ?? false
    }

    func setBlocked(_ blocker: String, _ other: String, _ blocked: Bool) {
        if blocked {
            blocks[blocker, default: []].insert(other)
            blockedBy[other, default: []].insert(blocker)
        } else {
            blocks[blocker]?.remove(other)
            blockedBy[other]?.remove(blocker)
            if blockedBy[other]?.isEmpty == true { blockedBy[other] = nil }
        }
    }

    func blockers(of other: String) -> Set<String> {
        blockedBy[other] ?? []
    }

    func blocked(by blocker: String) -> [String] {
        (blocks[blocker] ?? []).sorted()
    }

    func replaceAll(_ blocks: [String: Set<String>]) {
        self.blocks = blocks
        indexBlockers()
    }

    private func indexBlockers() {
        blockedBy = [:]
        for (blocker, others) in blocks {
            for other in others { blockedBy[other, default: []].insert(blocker) }
        }
    }
}

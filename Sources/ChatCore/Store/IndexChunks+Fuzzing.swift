import Foundation

/// The index chunk format (`IndexChunks`) for its fuzz target, on plain tuples. The format is the store's own,
/// but a row read back from disk is input like any other: a damaged or hand-edited database must give an error,
/// never a trap or a wrong read.
@_spi(Fuzzing) public enum IndexChunkFormat {
    /// A message id, the seq its user received it with (0 if sent), the other side.
    public typealias Entry = (id: Int64, seq: Int64, partner: Int64)

    public static var targetEntries: Int { IndexChunks.targetEntries }

    public static func decode(_ bytes: [UInt8]) throws -> [Entry] {
        try IndexChunks.decode(Data(bytes)).map { ($0.id, $0.seq, $0.partner) }
    }

    public static func encode(_ entries: [Entry]) -> [UInt8] {
        IndexChunks.encode(ledgerEntries(entries)[...])
    }

    /// Where a run's entries (one user's, in id order) are cut into rows.
    public static func rows(of entries: [Entry]) -> [Range<Int>] {
        IndexChunks.rows(of: ledgerEntries(entries))
    }

    private static func ledgerEntries(_ entries: [Entry]) -> [LogLedger.Entry] {
        entries.map { LogLedger.Entry(id: $0.id, seq: $0.seq, partner: $0.partner) }
    }
}

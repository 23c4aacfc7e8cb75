// libFuzzer target for the store's packed index (IndexChunks): the varint decoder of an `index_chunks` row, its
// encoder, and where a run's entries are cut into rows.
//
// Oracles: any bytes decode to entries or to the store's "damaged" error, never a trap; what decodes, encoded
// again, decodes to the same entries in no more bytes (the encoder writes the shortest varints); entries built
// from the input (ids rising, seqs as a run has them) survive encode and decode unchanged; and the cut into rows
// covers the run in order, each row but the last holds at least the target, and every seq received before a cut
// is below every seq received after it, which is what an inbox page relies on. Build and run: see Fuzz/README.md.
import FuzzSupport
@_spi(Fuzzing) import ChatCore

private func same(_ a: [IndexChunkFormat.Entry], _ b: [IndexChunkFormat.Entry]) -> Bool {
    a.count == b.count && zip(a, b).allSatisfy { $0.id == $1.id && $0.seq == $1.seq && $0.partner == $1.partner }
}

/// Entries from the input, three bytes each: the id's step (at least 1), the partner, and the seq: 0 (sent) when
/// the byte is 0, else a step up from the last seq received, or, when the control byte's low bit is set, a seq
/// anywhere (appends out of id order), which makes the cut wait for a place that keeps seqs apart.
private func entries(from input: [UInt8], scattered: Bool) -> [IndexChunkFormat.Entry] {
    var result: [IndexChunkFormat.Entry] = []
    var id: Int64 = 0, seq: Int64 = 0
    var i = 0
    while i + 2 < input.count {
        id += Int64(input[i]) + 1
        let partner = Int64(input[i + 1])
        var received: Int64 = 0
        if input[i + 2] != 0 {
            if scattered {
                received = Int64(input[i + 2]) * 4096 + Int64(i / 3)  // unique, as a user's seqs are
            } else {
                seq += Int64(input[i + 2] % 4) + 1
                received = seq
            }
        }
        result.append((id, received, partner))
        i += 3
    }
    return result
}

private let fuzzOne: Fuzzer.TestOneInput = { data, size in
    guard let (control, input) = Fuzzer.controlAndInput(data, size) else { return 0 }

    // The input as a row read from disk.
    do {
        let decoded = try IndexChunkFormat.decode(input)
        let again = IndexChunkFormat.encode(decoded)
        Fuzzer.check(again.count <= input.count, "re-encoding grew: \(again.count) > \(input.count) bytes")
        Fuzzer.check(same(try IndexChunkFormat.decode(again), decoded), "re-encoded row decodes differently")
    } catch {
        guard case .damaged? = error as? StoreError else { fatalError("not the damaged-row error: \(error)") }
    }

    // The input as a run of entries: round trip and the cut into rows.
    let run = entries(from: input, scattered: control & 1 == 1)
    do {
        Fuzzer.check(same(try IndexChunkFormat.decode(IndexChunkFormat.encode(run)), run), "a run does not survive encode+decode")
    } catch {
        Fuzzer.check(false, "an encoded run does not decode: \(error)")
    }
    let rows = IndexChunkFormat.rows(of: run)
    Fuzzer.check(rows.first?.lowerBound ?? 0 == 0 && rows.last?.upperBound ?? 0 == run.count, "rows do not cover the run")
    for (row, next) in zip(rows, rows.dropFirst()) {
        Fuzzer.check(row.upperBound == next.lowerBound, "rows not contiguous")
        Fuzzer.check(row.count >= IndexChunkFormat.targetEntries, "a row before the last holds \(row.count)")
        let highestBefore = run[..<row.upperBound].map(\.seq).max() ?? 0
        let lowestAfter = run[row.upperBound...].map(\.seq).filter { $0 > 0 }.min() ?? .max
        Fuzzer.check(highestBefore < lowestAfter, "a cut at \(row.upperBound) mixes seqs: \(highestBefore) ≥ \(lowestAfter)")
    }
    Fuzzer.check(rows.allSatisfy { !$0.isEmpty }, "an empty row")
    return 0
}

Fuzzer.run(fuzzOne)

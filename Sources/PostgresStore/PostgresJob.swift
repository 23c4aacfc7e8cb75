import ChatCore

/// Work for the writer: a `ChatStore` call, or ids drawn from the sequence.
enum PostgresJob: Sendable {
    case store(StoreJob)
    case reserveIDs(Int, done: @Sendable (Result<[Int64], any Error>) -> Void)

    var isWrite: Bool {
        switch self {
        case .store(let job): job.isWrite
        case .reserveIDs: false
        }
    }

    var isAppend: Bool {
        if case .store(.append) = self { return true }
        return false
    }

    func fail(_ error: any Error) {
        switch self {
        case .store(let job): job.fail(error)
        case .reserveIDs(_, let done): done(.failure(error))
        }
    }
}

/// A call of a batch run without savepoints failed: roll back and run the batch again, isolating each call.
struct BareRunFailed: Error {}

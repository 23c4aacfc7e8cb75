extension Array {
    /// Moves the first `limit` elements (all of them, if there are no more) into `batch`, which must be empty.
    /// When everything fits, the two arrays swap buffers instead: a store writer taking its queue as a batch then
    /// allocates nothing, and the queue goes on in the batch's old, already grown buffer. (A copied batch of a
    /// few dozen jobs is kilobytes, an allocation large enough to make glibc sweep its small free chunks.)
    public mutating func moveFront(upTo limit: Int, into batch: inout [Element]) {
        precondition(batch.isEmpty, "the batch must be empty")
        if count <= limit {
            swap(&self, &batch)
        } else {
            batch.append(contentsOf: self[..<limit])
            removeFirst(limit)
        }
    }
}

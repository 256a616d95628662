using static TorchSharp.torch;

namespace Bcbp.Training.Distributed;

/// <summary>
/// A job whose ranks are threads of one process, meeting at a <see cref="System.Threading.Barrier"/>: the collective of
/// the CPU tests of data-parallel training (2 ranks as 2 threads give the same weights as 1 rank). Each rank reduces
/// all ranks' tensors itself, in rank order, so every rank computes bit for bit the same result, as NCCL's do.
/// <see cref="For"/> gives each thread its rank's <see cref="ICollective"/>.
/// </summary>
public sealed class InProcessGroup : IDisposable
{
    readonly Barrier _barrier;
    readonly IReadOnlyList<Tensor>?[] _slots;

    /// <summary>Ranks of the job.</summary>
    public int WorldSize { get; }

    public InProcessGroup(int worldSize)
    {
        if (worldSize < 1) throw new ArgumentOutOfRangeException(nameof(worldSize), "a job has at least one rank.");
        WorldSize = worldSize;
        _barrier = new Barrier(worldSize);
        _slots = new IReadOnlyList<Tensor>?[worldSize];
    }

    /// <summary>The collective of rank <paramref name="rank"/>; use it from that rank's thread only.</summary>
    public ICollective For(int rank)
    {
        if (rank < 0 || rank >= WorldSize) throw new ArgumentOutOfRangeException(nameof(rank), $"rank must be in 0..{WorldSize - 1}.");
        return new Member(this, rank);
    }

    /// <summary>Releases the barrier.</summary>
    public void Dispose() => _barrier.Dispose();

    /// <summary>A rank that fails (throws) leaves the others waiting at the barrier forever; a test's rank thread
    /// calls this on failure so the others fail too instead of hanging.</summary>
    public void Abort() => _barrier.Dispose();

    sealed class Member(InProcessGroup group, int rank) : ICollective
    {
        public int Rank => rank;
        public int WorldSize => group.WorldSize;

        void Meet()
        {
            try { group._barrier.SignalAndWait(TimeSpan.FromMinutes(5)); }
            catch (ObjectDisposedException) { throw new OperationCanceledException("another rank of the in-process job failed."); }
        }

        public void AllReduce(IReadOnlyList<Tensor> tensors, ReduceOp op)
        {
            group._slots[rank] = tensors;
            Meet();
            // Reduce into new tensors first, then write after everybody has read the inputs.
            var results = new Tensor[tensors.Count];
            using (no_grad())
            {
                for (int i = 0; i < tensors.Count; i++)
                {
                    var sum = group._slots[0]![i].clone();
                    for (int r = 1; r < group.WorldSize; r++) sum.add_(group._slots[r]![i]);
                    if (op == ReduceOp.Average) sum.div_(group.WorldSize);
                    results[i] = sum;
                }
            }
            Meet();
            using (no_grad())
                for (int i = 0; i < tensors.Count; i++) { tensors[i].copy_(results[i]); results[i].Dispose(); }
            Meet();
        }

        public void Broadcast(IReadOnlyList<Tensor> tensors, int root)
        {
            group._slots[rank] = tensors;
            Meet();
            var copies = tensors.Select((_, i) => group._slots[root]![i].clone()).ToArray();
            Meet();
            using (no_grad())
                for (int i = 0; i < tensors.Count; i++) { tensors[i].copy_(copies[i]); copies[i].Dispose(); }
            Meet();
        }

        public void Barrier() => Meet();

        public void Dispose() { }
    }
}

namespace Bcbp.Training.Data;

/// <summary>One rank's part of a split in a data-parallel job: rank <see cref="Rank"/> of <see cref="WorldSize"/>.</summary>
public sealed record DataShard(int Rank, int WorldSize)
{
    /// <summary>The whole split (one process).</summary>
    public static DataShard Whole { get; } = new(0, 1);

    /// <summary>Stream of <see cref="DataRng"/> for this rank's augmentation. Rank 0 draws from stream 1, the stream of a
    /// plain run, so world size 1 is exactly the plain trainer; other ranks draw from streams of their own (their
    /// images differ, so must their crops and flips).</summary>
    public long AugmentStream => Rank == 0 ? 1 : ((long)Rank << 32) | 1;
}

/// <summary>What a shard does with the examples that do not divide evenly over the ranks.</summary>
public enum ShardRemainder
{
    /// <summary>Training: repeat the order's first examples until every rank has ceil(N / W) (PyTorch's
    /// DistributedSampler with drop_last=False), so every rank takes the same number of steps.</summary>
    Pad,
    /// <summary>Training: drop the last N mod W examples of the order (DistributedSampler with drop_last=True).</summary>
    Drop,
    /// <summary>Evaluation: every example exactly once; ranks hold floor or ceil of N / W, and the ranks' counts are
    /// summed afterwards.</summary>
    Exact,
}

/// <summary>
/// PyTorch's DistributedSampler over an epoch's order: every rank shuffles with the same permutation (from the seed
/// and the epoch, <see cref="DataRng"/>) and takes every W-th example starting at its rank, so the shards are
/// disjoint and together cover the split (<see cref="ShardRemainder"/> says what happens to the remainder). With a
/// per-rank batch of B / W, step k of the W ranks together sees exactly the examples step k of one process with batch
/// B sees (when W divides B), which makes data-parallel SGD the same computation as one-process SGD.
/// </summary>
public static class DistributedSampler
{
    /// <summary>The indices rank <paramref name="shard"/> reads from <paramref name="order"/> (an epoch's permutation
    /// or 0..N-1), in order.</summary>
    public static long[] Indices(IReadOnlyList<long> order, DataShard shard, ShardRemainder remainder)
    {
        int n = order.Count, w = shard.WorldSize, r = shard.Rank;
        if (w < 1 || r < 0 || r >= w) throw new ArgumentOutOfRangeException(nameof(shard), $"rank {r} of {w} is not a shard.");
        int total = remainder switch
        {
            ShardRemainder.Pad => (n + w - 1) / w * w,
            ShardRemainder.Drop => n / w * w,
            _ => n,
        };
        var mine = new List<long>(total / w + 1);
        // Padding repeats the order from its start (as often as needed when N < W).
        for (int i = r; i < total; i += w) mine.Add(n == 0 ? 0 : order[i % n]);
        return n == 0 ? Array.Empty<long>() : mine.ToArray();
    }

    /// <summary>Examples rank <paramref name="shard"/> reads of a split of <paramref name="n"/>.</summary>
    public static int CountOf(int n, DataShard shard, ShardRemainder remainder) => remainder switch
    {
        ShardRemainder.Pad => (n + shard.WorldSize - 1) / shard.WorldSize,
        ShardRemainder.Drop => n / shard.WorldSize,
        _ => n / shard.WorldSize + (shard.Rank < n % shard.WorldSize ? 1 : 0),
    };
}

/// <summary>A source that can give one rank's shard of itself (the in-memory datasets and image folders).</summary>
public interface IShardableSource : IBatchSource
{
    /// <summary>This split as rank <paramref name="shard"/> of a data-parallel job reads it: <see cref="IBatchSource.Count"/>
    /// is the shard's, batches come from <see cref="DistributedSampler.Indices"/> of each epoch's order.</summary>
    IBatchSource Shard(DataShard shard, ShardRemainder remainder);
}

namespace Bcbp.Training.Data;

/// <summary>How an epoch is cut into batches: the one rule every batch source follows and the schedules count with.</summary>
public static class Batching
{
    /// <summary>Whether the batch of <paramref name="size"/> examples starting at <paramref name="start"/> is dropped:
    /// when shuffling (training), a last, short batch of a single example is (BatchNorm cannot train on one).</summary>
    public static bool Drops(int start, int size, int batchSize, bool shuffle) => shuffle && size == 1 && start > 0 && size < batchSize;

    /// <summary>Batches of one epoch of <paramref name="count"/> examples: ceil(count / batchSize), less the dropped
    /// last batch of <see cref="Drops"/>. Steps per epoch of the learning-rate and pruning schedules.</summary>
    public static int Count(int count, int batchSize, bool shuffle)
    {
        if (batchSize < 1) throw new ArgumentOutOfRangeException(nameof(batchSize), "batch size must be >= 1");
        int batches = (count + batchSize - 1) / batchSize;
        return batches > 0 && Drops((batches - 1) * batchSize, count - (batches - 1) * batchSize, batchSize, shuffle) ? batches - 1 : batches;
    }
}

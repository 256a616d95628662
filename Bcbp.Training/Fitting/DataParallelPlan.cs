using Bcbp.Training.Config;

namespace Bcbp.Training.Fitting;

/// <summary>
/// The batch and learning rate of each rank of a data-parallel job: <c>data.batch_size</c> is the global batch, split
/// evenly over the ranks, unless <c>train.batch_per_gpu</c> sets the per-rank batch (the global batch is then W times
/// it); with <c>train.lr_scaling: linear</c> the learning rate is scaled by global batch / <c>data.batch_size</c>
/// (Goyal et al. 2017: the batch <c>train.lr</c> was tuned for is <c>data.batch_size</c>; <c>train.warmup_epochs</c>
/// is their warm-up). One rank without <c>batch_per_gpu</c> is the plain trainer: batch <c>data.batch_size</c>, factor 1.
/// </summary>
/// <param name="WorldSize">Ranks of the job.</param>
/// <param name="BatchPerRank">Examples per rank and step.</param>
/// <param name="GlobalBatch">Examples per optimizer step over all ranks.</param>
/// <param name="LrScale">Factor on every learning rate of the schedule.</param>
public sealed record DataParallelPlan(int WorldSize, int BatchPerRank, int GlobalBatch, double LrScale)
{
    /// <summary>The plan of <paramref name="worldSize"/> ranks.</summary>
    /// <exception cref="ArgumentException">The global batch does not split evenly over the ranks (one line with the fix).</exception>
    public static DataParallelPlan Of(DataConfig data, TrainConfig train, int worldSize)
    {
        if (worldSize < 1) throw new ArgumentOutOfRangeException(nameof(worldSize), "a job has at least one rank.");
        int perRank;
        if (train.BatchPerGpu > 0) perRank = train.BatchPerGpu;
        else if (data.BatchSize % worldSize != 0)
            throw new ArgumentException($"data.batch_size is {data.BatchSize} but the job has {worldSize} ranks: the global batch must split evenly; " +
                                        $"set data.batch_size to a multiple of {worldSize} (or train.batch_per_gpu to the batch of each GPU).");
        else perRank = data.BatchSize / worldSize;
        int global = perRank * worldSize;
        double scale = train.LrScaling == "linear" ? (double)global / data.BatchSize : 1.0;
        return new DataParallelPlan(worldSize, perRank, global, scale);
    }
}

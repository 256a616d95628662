using Bcbp.Training.Data;
using Bcbp.Training.Distributed;
using Bcbp.Training.Logging;
using TorchSharp;
using static TorchSharp.torch;

namespace Bcbp.Training.Fitting;

/// <summary>Evaluates a classifier on a split: loss, top-1 and top-5 accuracy. In a data-parallel job each rank evaluates
/// its shard (<see cref="ShardRemainder.Exact"/>: every image once) and the sums are added over the ranks, so the
/// metrics are those of the whole split.</summary>
public static class Evaluator
{
    /// <summary>Evaluates <paramref name="model"/> on <paramref name="source"/>; <paramref name="progress"/> shows the
    /// batches under <paramref name="title"/>. With <paramref name="precision"/> the forward pass runs as training's
    /// does (compute-type weights and input, channels_last), the loss in fp32. With a <paramref name="collective"/>,
    /// <paramref name="source"/> is this rank's shard and the result covers every rank's.</summary>
    public static EvalMetrics Evaluate(nn.Module<Tensor, Tensor> model, IBatchSource source, int batchSize,
                                       IProgressReporter? progress = null, string title = "eval", MixedPrecision? precision = null,
                                       ICollective? collective = null)
    {
        bool wasTraining = model.training;
        model.eval();
        try
        {
            using var noGrad = no_grad();
            using var weights = precision?.UseComputeWeights();
            // Sums stay on the device; one synchronization at the end instead of one per batch.
            Tensor? lossSum = null, top1 = null, top5 = null;
            long count = 0;
            (progress ?? NullProgress.Instance).Run(title, (source.Count + batchSize - 1) / batchSize, ticker =>
            {
                foreach (var (input, target) in source.Batches(batchSize, shuffle: false, augment: false, epoch: 0))
                {
                    using var scope = NewDisposeScope();
                    var logits = precision is null ? model.call(input) : MixedPrecision.Logits(model.call(precision.Input(input)));
                    int k = (int)Math.Min(5, logits.shape[1]);
                    var hits = logits.topk(k, dim: 1).indexes.eq(target.unsqueeze(1));
                    var batchLoss = nn.functional.cross_entropy(logits, target, reduction: nn.Reduction.Sum).to_type(ScalarType.Float64);
                    var batchTop1 = hits.select(1, 0).sum();
                    var batchTop5 = hits.any(1).sum();
                    lossSum = Accumulate(lossSum, batchLoss);
                    top1 = Accumulate(top1, batchTop1);
                    top5 = Accumulate(top5, batchTop5);
                    count += target.shape[0];
                    ticker.Advance((int)target.shape[0], () => "");
                }
            });
            if (collective is not null)
            {
                var device = model.parameters().First().device;
                using var sums = tensor(new[] { 0.0, 0.0, 0.0, count }, ScalarType.Float64, device);
                if (count > 0)
                {
                    sums[0] = lossSum!; sums[1] = top1!.to_type(ScalarType.Float64); sums[2] = top5!.to_type(ScalarType.Float64);
                }
                lossSum?.Dispose(); top1?.Dispose(); top5?.Dispose();
                collective.AllReduce(new[] { sums }, ReduceOp.Sum);
                var s = sums.cpu().data<double>().ToArray();
                if (s[3] == 0) throw new InvalidOperationException("evaluation split is empty: check data.root and the dataset files.");
                return new EvalMetrics(s[0] / s[3], 100.0 * s[1] / s[3], 100.0 * s[2] / s[3]);
            }
            if (count == 0) throw new InvalidOperationException("evaluation split is empty: check data.root and the dataset files.");
            using (lossSum) using (top1) using (top5)
                return new EvalMetrics(lossSum!.item<double>() / count, 100.0 * top1!.item<long>() / count,
                    100.0 * top5!.item<long>() / count);
        }
        finally { model.train(wasTraining); }
    }

    // Keeps the running sum alive past the batch's dispose scope.
    static Tensor Accumulate(Tensor? sum, Tensor value)
    {
        var next = sum is null ? value.clone() : sum + value;
        sum?.Dispose();
        return next.MoveToOuterDisposeScope();
    }
}

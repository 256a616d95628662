using Bcbp.Models.IO;
using Bcbp.Models;
using Bcbp.Kernels.Conversion;
using Bcbp.Training.Backend;
using Bcbp.Training.Fitting;
using TorchSharp;
using static TorchSharp.torch;

namespace Bcbp.Training.Inference;

/// <summary>
/// Runs a pruned model two ways on the same inputs — the masked dense model and its sparse conversion
/// (<see cref="SparseConversion"/>: BcbpConv2d/BcbpLinear, BN folded) — and compares them: accuracy and loss when the
/// inputs have labels, prediction agreement, relative error of the logits (overall and the worst sample), and the time
/// of one forward pass of each over the first batch (<see cref="ForwardTimer"/>); the comparison is an
/// <see cref="OutputComparison"/>.
/// </summary>
public static class SparseEvaluation
{
    /// <summary>
    /// Loads the pruned model <paramref name="arch"/> + <paramref name="weights"/> twice with
    /// <see cref="MaskedModel"/> (conversion works in place, so the sparse model is its own copy) and converts one
    /// on the CPU in float32, so BN folding happens before any rounding to <see cref="SparseSettings.Dtype"/>. Batches
    /// are consumed one at a time (targets may be null); <paramref name="inputs"/> names them in the report.
    /// </summary>
    public static SparseReport Evaluate(string arch, int numClasses, int inChannels, string weights,
        IEnumerable<(Tensor Input, Tensor? Target)> batches, string inputs, SparseSettings settings)
    {
        using var _ = no_grad();
        using var dense = MaskedModel.Load(arch, numClasses, inChannels, weights);
        if (!MaskedModel.IsPruned(dense))
            throw new InvalidDataException($"'{weights}' has no {WeightMask.BufferName} entries: it is a dense model. " +
                                           "Sparse inference needs a pruned one (a run with a prune section saves its masks).");
        using var sparse = MaskedModel.Load(arch, numClasses, inChannels, weights);
        var converted = SparseConversion.Convert(sparse, settings.TileRows, settings.Layout, settings.FoldBatchNorm);
        dense.to(settings.Device).to(settings.Dtype);
        sparse.to(settings.Device).to(settings.Dtype);

        var tally = new OutputComparison();
        long[]? shape = null;
        double denseMs = 0, sparseMs = 0;
        foreach (var (input, target) in batches)
        {
            using var scope = NewDisposeScope();
            var x = input.to(settings.Device).to(settings.Dtype);
            if (shape is null)
            {
                shape = x.shape;
                var ms = ForwardTimer.MedianMs(new Func<Tensor>[] { () => dense.call(x), () => sparse.call(x) },
                                               ForwardTimer.DefaultWarmup, settings.Iters, settings.Device);
                (denseMs, sparseMs) = (ms[0], ms[1]);
            }
            tally.Add(dense.call(x), sparse.call(x), target);
        }
        if (shape is null) throw new InvalidOperationException("no input batches to evaluate: the test split is empty (check data.root and data.num_test)");

        double maxErr = tally.MaxSampleRelErr, tol = settings.Tolerance;
        return new SparseReport
        {
            Arch = arch, Weights = weights, Inputs = inputs,
            Device = settings.Device.ToString(), Dtype = settings.Dtype.ToString(), TileRows = settings.TileRows,
            Layout = settings.Layout.ToString().ToLowerInvariant(), FoldBatchNorm = settings.FoldBatchNorm, Converted = converted.Converted,
            LeftDense = converted.LeftDenseLines,
            Samples = tally.Samples, InputShape = shape,
            DenseTop1 = tally.Top1A, SparseTop1 = tally.Top1B, DenseLoss = tally.LossA, SparseLoss = tally.LossB,
            Agreement = tally.Agreement, Disagreements = tally.Disagreements,
            LogitsRelErr = tally.RelErr, MaxLogitsRelErr = maxErr,
            Tolerance = tol, Passed = maxErr <= tol, DenseMs = denseMs, SparseMs = sparseMs,
        };
    }
}

using Bcbp.Models.IO;
using Bcbp.Models;
using System.Diagnostics;
using Bcbp.Kernels.Conversion;
using TorchSharp;
using static TorchSharp.torch;

namespace Bcbp.Training.Inference;

/// <summary>
/// Runs a pruned model two ways on the same inputs — the masked dense model and its sparse conversion
/// (<see cref="SparseConversion"/>: BcbpConv2d/BcbpLinear, BN folded) — and compares them: accuracy and loss when the
/// inputs have labels, prediction agreement, relative error of the logits (overall and the worst sample), and the time
/// of one forward pass of each over the first batch.
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

        var tally = new Tally();
        long[]? shape = null;
        double denseMs = 0, sparseMs = 0;
        foreach (var (input, target) in batches)
        {
            using var scope = NewDisposeScope();
            var x = input.to(settings.Device).to(settings.Dtype);
            if (shape is null)
            {
                shape = x.shape;
                denseMs = TimeMs(() => dense.call(x), settings);
                sparseMs = TimeMs(() => sparse.call(x), settings);
            }
            tally.Add(dense.call(x).to(ScalarType.Float32), sparse.call(x).to(ScalarType.Float32), target);
        }
        if (shape is null) throw new InvalidOperationException("no input batches to evaluate: the test split is empty (check data.root and data.num_test)");

        double maxErr = tally.MaxRelErr, tol = settings.Tolerance;
        return new SparseReport
        {
            Arch = arch, Weights = weights, Inputs = inputs,
            Device = settings.Device.ToString(), Dtype = settings.Dtype.ToString(), TileRows = settings.TileRows,
            Layout = settings.Layout.ToString().ToLowerInvariant(), FoldBatchNorm = settings.FoldBatchNorm, Converted = converted.Converted,
            LeftDense = converted.LeftDenseLines,
            Samples = tally.Samples, InputShape = shape,
            DenseTop1 = tally.Labelled ? 100.0 * tally.DenseCorrect / tally.Samples : null,
            SparseTop1 = tally.Labelled ? 100.0 * tally.SparseCorrect / tally.Samples : null,
            DenseLoss = tally.Labelled ? tally.DenseLossSum / tally.Samples : null,
            SparseLoss = tally.Labelled ? tally.SparseLossSum / tally.Samples : null,
            Agreement = (double)tally.Agree / tally.Samples, Disagreements = tally.Samples - tally.Agree,
            LogitsRelErr = Math.Sqrt(tally.ErrSq / Math.Max(tally.RefSq, 1e-300)), MaxLogitsRelErr = maxErr,
            Tolerance = tol, Passed = maxErr <= tol, DenseMs = denseMs, SparseMs = sparseMs,
        };
    }

    /// <summary>Running sums over batches (read back per batch: evaluation is not the timed part).</summary>
    sealed class Tally
    {
        public long Samples, Agree, DenseCorrect, SparseCorrect;
        public double DenseLossSum, SparseLossSum, ErrSq, RefSq, MaxRelErr;
        public bool Labelled = true;

        public void Add(Tensor dense, Tensor sparse, Tensor? target)
        {
            var diff = sparse - dense;
            var rowErr = diff.square().sum(1);
            var rowRef = dense.square().sum(1);
            ErrSq += rowErr.sum().item<float>();
            RefSq += rowRef.sum().item<float>();
            MaxRelErr = Math.Max(MaxRelErr, (rowErr / rowRef.clamp_min(1e-24)).sqrt().max().item<float>());
            var d = dense.argmax(1); var s = sparse.argmax(1);
            Agree += d.eq(s).sum().item<long>();
            Samples += dense.shape[0];
            if (target is null) { Labelled = false; return; }
            var t = target.to(dense.device);
            DenseCorrect += d.eq(t).sum().item<long>();
            SparseCorrect += s.eq(t).sum().item<long>();
            DenseLossSum += nn.functional.cross_entropy(dense, t, reduction: nn.Reduction.Sum).item<float>();
            SparseLossSum += nn.functional.cross_entropy(sparse, t, reduction: nn.Reduction.Sum).item<float>();
        }
    }

    /// <summary>Mean of <see cref="SparseSettings.Iters"/> queued forward passes after two warm-up passes (on CUDA the
    /// queue hides host launch overhead; the device is synchronized before the clock starts and stops).</summary>
    static double TimeMs(Func<Tensor> forward, SparseSettings settings)
    {
        void Sync() { if (settings.Device.type == DeviceType.CUDA) torch.cuda.synchronize(); }
        for (int i = 0; i < 2; i++) { using var s = NewDisposeScope(); forward(); }
        Sync();
        var sw = Stopwatch.StartNew();
        for (int i = 0; i < settings.Iters; i++) { using var s = NewDisposeScope(); forward(); }
        Sync();
        return sw.Elapsed.TotalMilliseconds / Math.Max(1, settings.Iters);
    }
}

using Bcbp.Models.IO;
using Bcbp.Models;
using Bcbp.Kernels.Conversion;
using Bcbp.Training.Backend;
using Bcbp.Training.Fitting;
using Bcbp.Training.Pruning.Surgery;
using Bcbp.Training.Runs;
using Bcbp.Training.Data;
using TorchSharp;
using static TorchSharp.torch;

namespace Bcbp.Training.Inference;

/// <summary>
/// Runs a pruned model two ways on the same inputs — the masked dense model and its sparse conversion
/// (<see cref="SparseConversion"/>: BcbpConv2d/BcbpLinear, BN folded) — and compares them: accuracy and loss when the
/// inputs have labels, prediction agreement, relative error of the logits (overall and the worst sample), and the time
/// of one forward pass of each over the first batch (<see cref="ForwardTimer"/>); the comparison is an
/// <see cref="OutputComparison"/>. Both are judged against a float32 reference (the masked dense model in float32 with
/// TF32 off): per image the sparse logits may be off by at most max(2 x the dense model's own error, 1e-3) in
/// float16/bfloat16, 1e-4 in float32 (<see cref="SparseSettings.Floor"/>). On our GPU kernels it also times the
/// whole-model plan (<see cref="Bcbp.Kernels.Plan.PlannedModel"/>: the dense stem and classifier on our kernels too,
/// one CUDA graph) and holds every batch of it to the same rule; where whole filters were pruned, also the physically
/// smaller model's plan (<see cref="FilterSurgery"/>: silent filters and their consumers' input columns removed, as a
/// user who shrinks a filter-pruned model runs it), held to the same rule.
/// </summary>
public static class SparseEvaluation
{
    /// <summary>
    /// Builds the pruned model <paramref name="arch"/> + <paramref name="weights"/> (read once) several times with
    /// <see cref="MaskedModel"/> (conversion works in place, so each converted model is its own copy) and converts them
    /// on the CPU in float32, so BN folding happens before any rounding to <see cref="SparseSettings.Dtype"/>. Batches
    /// are consumed one at a time (targets may be null); <paramref name="inputs"/> names them in the report.
    /// </summary>
    public static SparseReport Evaluate(string arch, int numClasses, int inChannels, string weights,
        IEnumerable<(Tensor Input, Tensor? Target)> batches, string inputs, SparseSettings settings)
    {
        var state = StateDictIO.Read(weights);
        try { return Evaluate(() => MaskedModel.Load(arch, numClasses, inChannels, state, weights), arch, weights, batches, inputs, settings); }
        finally { foreach (var t in state.Values) t.Dispose(); }
    }

    static SparseReport Evaluate(Func<nn.Module<Tensor, Tensor>> load, string arch, string weights,
        IEnumerable<(Tensor Input, Tensor? Target)> batches, string inputs, SparseSettings settings)
    {
        using var _ = no_grad();
        using var dense = load();
        if (!MaskedModel.IsPruned(dense))
            throw new InvalidDataException($"'{weights}' has no {WeightMask.BufferName} entries: it is a dense model. " +
                                           "Sparse inference needs a pruned one (a run with a prune section saves its masks).");
        using var sparse = load();
        var converted = SparseConversion.Convert(sparse, settings.TileRows, settings.Layout, settings.FoldBatchNorm);
        // On our GPU kernels, the whole-model plan as well: dense stem and classifier converted too, one CUDA graph.
        bool kernels = settings.Device.type == DeviceType.CUDA && settings.Dtype != ScalarType.Float32 && settings.FoldBatchNorm;
        using var whole = kernels ? load() : null;
        if (whole is not null) SparseConversion.Convert(whole, settings.TileRows, settings.Layout, foldBatchNorm: true, dense: true);
        whole?.to(settings.Device).to(settings.Dtype);
        using var plan = whole is null ? null : new PlanPath(new Bcbp.Kernels.Plan.PlannedModel(whole));
        // Where whole filters were pruned, the physically smaller model too, as a plan of its own.
        var built = kernels ? Shrunk(load, settings) : default;
        using var shrunkModel = built.Model;
        using var shrunk = shrunkModel is null ? null : new PlanPath(new Bcbp.Kernels.Plan.PlannedModel(shrunkModel));
        var plans = new[] { plan, shrunk }.OfType<PlanPath>().ToArray();
        // The float32 reference: the dense model itself when it runs in float32, else a float32 copy.
        bool lowPrecision = settings.Dtype != ScalarType.Float32;
        using var reference = lowPrecision ? load() : null;
        reference?.to(settings.Device);
        dense.to(settings.Device).to(settings.Dtype);
        sparse.to(settings.Device).to(settings.Dtype);
        bool tf32Conv = torch.backends.cudnn.allow_tf32, tf32Mm = torch.backends.cuda.matmul.allow_tf32;
        torch.backends.cudnn.allow_tf32 = false;
        torch.backends.cuda.matmul.allow_tf32 = false;
        long failing = 0, control = 0;
        double worstSparse = 0, worstDense = 0, tightest = double.PositiveInfinity;

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
                plans = plans.Where(p => p.Runs(x)).ToArray();
                var timed = new List<Func<Tensor>> { () => dense.call(x), () => sparse.call(x) };
                timed.AddRange(plans.Select(p => (Func<Tensor>)(() => p.Model.call(x))));
                var ms = ForwardTimer.MedianMs(timed.ToArray(), ForwardTimer.DefaultWarmup, settings.Iters, settings.Device);
                (denseMs, sparseMs) = (ms[0], ms[1]);
                for (int i = 0; i < plans.Length; i++) plans[i].Timed(ms[2 + i]);
            }
            var yd = dense.call(x); var ys = sparse.call(x);
            tally.Add(yd, ys, target);
            var yr = reference is null ? yd.to(ScalarType.Float32) : reference.call(input.to(settings.Device).to(ScalarType.Float32));
            var es = OutputComparison.SampleRelErr(yr, ys);
            var ed = reference is null ? zeros_like(es) : OutputComparison.SampleRelErr(yr, yd);
            var bound = settings.Bound(ed);
            failing += settings.Failing(es, ed);
            control += settings.Failing(ed, es);   // the same rule with the two models swapped: how noisy the rule is
            foreach (var p in plans) p.Check(x, yr, bound);
            worstSparse = Math.Max(worstSparse, es.max().item<float>());
            worstDense = Math.Max(worstDense, ed.max().item<float>());
            tightest = Math.Min(tightest, bound.min().item<float>());
        }
        torch.backends.cudnn.allow_tf32 = tf32Conv;
        torch.backends.cuda.matmul.allow_tf32 = tf32Mm;
        if (shape is null) throw new InvalidOperationException("no input batches to evaluate: the test split is empty (check data.root and data.num_test)");

        double maxErr = tally.MaxSampleRelErr;
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
            MaxSparseRelErrVsReference = worstSparse, MaxDenseRelErrVsReference = worstDense,
            Tolerance = tightest, FailingSamples = failing, SwappedFailingSamples = control, Passed = failing == 0, DenseMs = denseMs, SparseMs = sparseMs,
            PlanMs = plan?.Ms, MaxPlanRelErrVsReference = plan?.Err, PlanFailingSamples = plan?.Failing, PlanNote = plan?.Note,
            ShrunkRemoved = built.Removed, ShrunkPlanMs = shrunk?.Ms, MaxShrunkPlanRelErrVsReference = shrunk?.Err,
            ShrunkPlanFailingSamples = shrunk?.Failing, ShrunkPlanNote = shrunk?.Note ?? built.Note,
        };
    }

    /// <summary>A whole-model plan as the evaluation times and checks it: its time over the first batch, then every
    /// batch against the float32 reference under the pass rule's bound; a batch shape it cannot plan (it then runs
    /// layer by layer) or a launch it cannot prepare voids its figures, with the reason, and the evaluation goes on.</summary>
    sealed class PlanPath(Bcbp.Kernels.Plan.PlannedModel model) : IDisposable
    {
        public Bcbp.Kernels.Plan.PlannedModel Model { get; } = model;
        public double? Ms { get; private set; }
        public double? Err { get; private set; }
        public long? Failing { get; private set; }
        public string? Note { get; private set; }

        /// <summary>One untimed call: false (and the reason in <see cref="Note"/>) where the plan cannot run.</summary>
        public bool Runs(Tensor x)
        {
            try { Model.call(x); return true; }
            catch (Exception e) when (e is ArgumentException or InvalidOperationException or NotSupportedException)
            {
                Note = $"could not run: {e.Message}";
                return false;
            }
        }

        public void Timed(double ms)
        {
            Note = Model.FallbackReason ?? (Model.LastPlan is { Graphed: false } p ? $"no CUDA graph: {p.CaptureError}" : null);
            if (Model.FallbackReason is null) (Ms, Err, Failing) = (ms, 0, 0);
        }

        public void Check(Tensor x, Tensor reference, Tensor bound)
        {
            if (Failing is null) return;
            Tensor y;
            try { y = Model.call(x); }
            catch (Exception e) when (e is ArgumentException or InvalidOperationException or NotSupportedException)
            {
                (Ms, Err, Failing, Note) = (null, null, null, $"batch of {x.shape[0]}: could not run: {e.Message}");
                return;
            }
            if (Model.FallbackReason is { } why) { (Ms, Err, Failing, Note) = (null, null, null, $"batch of {x.shape[0]}: {why}"); return; }
            var err = OutputComparison.SampleRelErr(reference, y);
            Failing += err.gt(bound).sum().item<long>();
            Err = Math.Max(Err!.Value, err.max().item<float>());
        }

        public void Dispose() => Model.Dispose();
    }

    /// <summary>The model physically shrunk by <see cref="FilterSurgery"/> and converted whole (BN folded, the dense
    /// layers too) on <paramref name="settings"/>' device and type, with what was removed; (null, null, null) when no
    /// whole filter can be removed, (null, null, why) when the shrunk model cannot be built.</summary>
    internal static (nn.Module<Tensor, Tensor>? Model, string? Removed, string? Note) Shrunk(Func<nn.Module<Tensor, Tensor>> load,
        SparseSettings settings)
    {
        var model = load();
        try
        {
            var removed = FilterSurgery.Apply(model);
            if (removed.Count == 0) { model.Dispose(); return (null, null, null); }
            SparseConversion.Convert(model, settings.TileRows, settings.Layout, foldBatchNorm: true, dense: true);
            model.to(settings.Device).to(settings.Dtype);
            long before = removed.Sum(r => r.ChannelsBefore), after = removed.Sum(r => r.ChannelsAfter);
            return (model, $"{before - after} of {before} channels removed in {removed.Count} layers", null);
        }
        catch (Exception e)
        {
            model.Dispose();
            if (e is ArgumentException or InvalidOperationException or NotSupportedException)
                return (null, null, $"the shrunk model could not be built: {e.Message}");
            throw;
        }
    }

    /// <summary>Evaluates run folder <paramref name="dir"/> on its test split (<paramref name="overrides"/> change its
    /// config, e.g. data.root). Tile rows default to <see cref="KernelTileRows"/>, the batch to data.eval_batch_size.</summary>
    public static SparseReport EvaluateRun(string dir, IEnumerable<string> overrides, int? tileRows, SparseLayout layout, bool fold,
        Device device, ScalarType dtype, int? batch, int iters)
    {
        var run = SavedRun.Open(dir, overrides);
        var c = run.Config;
        if (c.Prune is null)
            throw new InvalidDataException($"run '{dir}' is a dense run: its config.json has no prune section, so '{run.ModelFile}' carries no " +
                                           "weight_mask. Sparse inference needs a pruned run (a config with a prune section).");
        int cc = device.type == DeviceType.CUDA ? Bcbp.Kernels.Ops.KernelPaths.ComputeCapability(device.index < 0 ? 0 : device.index) : 0;
        var settings = new SparseSettings(tileRows ?? KernelTileRows(c.Prune.TileRows, device, dtype, cc), layout, fold, device, dtype, iters);
        var test = DatasetFactory.CreateTest(c.Data, device, c.Seed);
        try
        {
            var batches = test.Batches(batch ?? c.Data.EvalBatchSize, shuffle: false, augment: false, epoch: 0)
                .Select(b => (b.Input, (Tensor?)b.Target));
            var report = SparseEvaluation.Evaluate(c.Model.Arch, c.Model.NumClasses, c.Model.InChannels, run.ModelFile, batches,
                c.Data.Dataset, settings);
            return report with { Run = run.Dir, RecordedTop1 = run.Result?.Top1 };
        }
        finally { (test as IDisposable)?.Dispose(); }
    }

    /// <summary>Compares a saved pruned model on one seeded random batch [batch, inChannels, size, size].</summary>
    public static SparseReport EvaluateRandom(string arch, string weights, int numClasses, int inChannels, int size, int batch, SparseSettings settings)
    {
        using var x = randn(new long[] { batch, inChannels, size, size }, generator: new Generator(17));
        return SparseEvaluation.Evaluate(arch, numClasses, inChannels, weights, new[] { (x, (Tensor?)null) }, "random", settings);
    }

    /// <summary>
    /// Tile rows to pack a run's masks with: its prune.tile_rows wherever the device's kernels take it — any multiple
    /// of 8 on compute capability 9.0 (the Hopper kernel; <paramref name="computeCapability"/> 90), a multiple of 32
    /// elsewhere (<c>KernelConfig</c>) — else the least common multiple with that unit, so each packed tile covers
    /// whole pruning tiles (BCBP masks of 16-row tiles are then unbalanced at 32 rows and run on the block kernel).
    /// </summary>
    public static int KernelTileRows(int pruneTileRows, Device device, ScalarType dtype, int computeCapability)
    {
        bool kernels = device.type == DeviceType.CUDA && dtype != ScalarType.Float32;
        int unit = computeCapability == 90 ? 8 : 32;
        if (!kernels || pruneTileRows % unit == 0) return pruneTileRows;
        int gcd = pruneTileRows, b = unit;
        while (b != 0) (gcd, b) = (b, gcd % b);
        return pruneTileRows / gcd * unit;
    }
}

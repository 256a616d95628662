using Bcbp.Models.Structure;
using Bcbp.Training.Config;
using Bcbp.Training.Pruning.Layers;
using Bcbp.Training.Pruning.Methods;
using Bcbp.Training.Pruning.Report;
using Bcbp.Training.Pruning.Schedule;
using TorchSharp.Modules;
using Bcbp.Training.Fitting;
using TorchSharp;
using static TorchSharp.torch;

namespace Bcbp.Training.Pruning;

/// <summary>
/// Prunes a model while it trains. <see cref="Create"/> validates the config, finds the prunable layers and at once
/// registers an all-ones <c>weight_mask</c> buffer on each, so a checkpoint (which carries the masks) can be loaded
/// into the model right after — that is the resume order: Create, then load_state_dict, then train. Then, per step:
/// masks are recomputed from the current weights at the schedule's update steps (<see cref="OnBatchBegin"/>);
/// gradients are masked after backward; weights are re-masked after every optimizer step, which keeps pruned weights
/// exactly zero whatever momentum, Adam moments or weight decay do.
/// </summary>
public sealed class PruningHook : ITrainingHook
{
    readonly PruneConfig _config;
    readonly IPruningMethod _method;
    readonly SparsitySchedule _schedule;
    readonly Serilog.ILogger _log;
    /// <summary>For filter pruning: layer name -> the BatchNorm2d that normalizes its output.</summary>
    readonly IReadOnlyDictionary<string, BatchNorm2d> _filterNorms;
    readonly bool _isFilter;
    double _appliedFraction = -1;
    readonly List<SparsityUpdate> _updates = new();

    PruningHook(PruneConfig config, nn.Module model, IReadOnlyList<PrunableLayer> layers, int stepsPerEpoch, Serilog.ILogger log)
    {
        // A structural method removes channels: the BatchNorm after a pruned filter is zeroed too, so the channel is
        // exactly 0 downstream and FilterSurgery can delete it without changing the outputs.
        _isFilter = PruningMethodInfo.Of(config.MethodKind).Structural;
        _filterNorms = _isFilter ? ModelStructure.ConvNorms(model).ToDictionary(p => p.Key, p => p.Value.Module) : new Dictionary<string, BatchNorm2d>();
        _config = config;
        Layers = layers;
        _method = PruningMethods.Create(config);
        _schedule = new SparsitySchedule(config.Schedule, config.Sparsity, stepsPerEpoch);
        _log = log;
    }

    /// <summary>Validates <paramref name="config"/> against <paramref name="model"/> without changing it: patterns,
    /// the layers they leave, and (BCBP) the tile shape on every layer. A run calls it before its dense phase, so a bad
    /// pattern or tile size fails in seconds, not after hours of training. Returns the layers.</summary>
    public static IReadOnlyList<PrunableLayer> Check(PruneConfig config, nn.Module model)
    {
        config.Validate();
        var layers = LayerDiscovery.Discover(model, config);
        if (config.TileRows == 0) config.TileRows = TileShape.AutoRows(layers.Select(l => l.M)); // TrainingRun resolves it before, for config.json
        if (PruningMethodInfo.Of(config.MethodKind).UsesTiles)
        {
            var tallest = layers.MaxBy(l => l.M)!;
            if (config.TileRows > tallest.M)
                throw new ArgumentException($"prune.tile_rows = {config.TileRows} is taller than every pruned layer (the tallest, " +
                                            $"{tallest.Name}, has {tallest.M} rows); use at most {tallest.M}, typically 16 to 64.");
            foreach (var l in layers)
                TileGrid.For(l.M, l.K, config.TileRows, config.TileCols, PruneOptions.From(config).Remainder, l.Name);
        }
        return layers;
    }

    /// <summary>Validates <paramref name="config"/> (<see cref="Check"/>), discovers the layers and registers their masks.</summary>
    public static PruningHook Create(PruneConfig config, nn.Module model, int stepsPerEpoch, Serilog.ILogger log)
    {
        var layers = Check(config, model);
        var single = TileShape.SingleTileLayers(layers.Select(l => (l.Name, l.M, l.K)), config.TileRows, config.TileCols);
        if (single.Count > 0)
            log.Warning("{Count} of {Total} pruned layers are a single {TileRows}-row tile ({Layers}): their balance (wit) is 1 by construction; " +
                        "set prune.tile_rows to at most half their rows (or leave it unset) to see it",
                single.Count, layers.Count, config.TileRows, string.Join(", ", single));
        foreach (var l in layers) l.EnsureMask();
        var hook = new PruningHook(config, model, layers, stepsPerEpoch, log) { LeftDense = LayerDiscovery.LeftDense(model, config) };
        foreach (var l in hook.LeftDense) log.Warning("Left dense: {Layer}: {Reason}", l.Name, l.Reason);
        log.Information("Pruning {Method} to sparsity {Sparsity} ({Scope}) on {Count} layers: {Layers}",
            config.Method, config.Sparsity, config.Scope, layers.Count, string.Join(", ", layers.Select(l => l.Name)));
        return hook;
    }

    /// <summary>The pruned layers, in model order.</summary>
    public IReadOnlyList<PrunableLayer> Layers { get; }

    /// <summary>Layers with weights this method cannot prune (<see cref="LayerDiscovery.LeftDense"/>), kept dense.</summary>
    public IReadOnlyList<LeftDenseLayer> LeftDense { get; private init; } = Array.Empty<LeftDenseLayer>();

    /// <summary>The schedule the masks follow.</summary>
    public SparsitySchedule Schedule => _schedule;

    /// <summary>Fraction of zeros in the masks over all prunable layers.</summary>
    public double AchievedSparsity
    {
        get
        {
            using var _ = torch.no_grad();
            double zeros = Layers.Sum(l => (double)(l.NumWeights - l.Mask.count_nonzero().item<long>()));
            return zeros / Layers.Sum(l => (double)l.NumWeights);
        }
    }

    /// <summary>The masks' sparsity for TensorBoard: <c>sparsity/overall</c> and <c>sparsity/layer/NAME</c> per pruned
    /// layer (reads every mask back from the device; once per epoch).</summary>
    public IEnumerable<(string Tag, double Value)> SparsityScalars()
    {
        using var _ = torch.no_grad();
        var perLayer = Layers.Select(l => (Tag: $"sparsity/layer/{l.Name}", Value: l.AchievedSparsity)).ToList();
        double zeros = Layers.Zip(perLayer, (l, p) => p.Value * l.NumWeights).Sum();
        return perLayer.Prepend(("sparsity/overall", zeros / Layers.Sum(l => (double)l.NumWeights)));
    }

    /// <summary>Re-applies the (possibly just loaded) masks to the weights.</summary>
    public void OnTrainBegin(TrainContext ctx) => ApplyMasks();

    /// <summary>weight *= mask on every layer; for filter pruning also the bias and the following BatchNorm's affine
    /// of pruned channels, so a pruned channel is exactly 0 (with or without BatchNorm) and FilterSurgery can remove it.</summary>
    public void ApplyMasks()
    {
        foreach (var l in Layers) l.ApplyMask();
        if (!_isFilter) return;
        using var _ = torch.no_grad();
        foreach (var layer in Layers)
        {
            // Looked up each time: the trainer's FlatParameters may replace the parameter tensors after the hook exists.
            var bias = layer.Module.named_parameters(recurse: false).FirstOrDefault(p => p.name == "bias").parameter;
            _filterNorms.TryGetValue(layer.Name, out var norm);
            if (bias is null && norm is null) continue;
            var alive = AliveRows(layer);
            bias?.mul_(alive);
            if (norm is null) continue;
            norm.weight!.mul_(alive);
            norm.bias?.mul_(alive);
        }
    }

    /// <summary>1 for each output channel (mask row) that keeps a weight, 0 for a pruned filter.</summary>
    static Tensor AliveRows(PrunableLayer layer) => WeightMatrix.AsMatrix(layer.Mask).amax(new long[] { 1 });

    /// <summary>Recomputes the masks when the schedule says so and the target went up.</summary>
    public void OnBatchBegin(TrainContext ctx)
    {
        if (!_schedule.IsUpdateStep(ctx.GlobalStep)) return;
        double fraction = _config.Sparsity > 0 ? _schedule.SparsityAt(ctx.GlobalStep) / _config.Sparsity : 1.0;
        if (fraction <= _appliedFraction + 1e-12) return;
        UpdateMasks(fraction);
        _appliedFraction = fraction;
        var achieved = AchievedSparsity; // reads every mask back: once per update, for metrics.json's ramp
        _updates.Add(new SparsityUpdate(ctx.GlobalStep, (double)ctx.GlobalStep / Math.Max(1, ctx.StepsPerEpoch), achieved));
        _log.Debug("Step {Step}: masks at {Fraction:P1} of the final sparsity, achieved {Achieved:0.0000}", ctx.GlobalStep, fraction, achieved);
    }

    /// <summary>The current sparsity, for the trainer's progress and epoch lines and metrics.</summary>
    public double? Sparsity => AchievedSparsity;

    /// <summary>The mask updates since the last call.</summary>
    public IReadOnlyList<SparsityUpdate> TakeMaskUpdates()
    {
        var taken = _updates.ToList();
        _updates.Clear();
        return taken;
    }

    /// <summary>
    /// Recomputes every mask for the layers' targets scaled by <paramref name="fraction"/> of their final sparsity
    /// (so per-layer overrides ramp on the same schedule), and applies them. Pruned units stay pruned.
    /// </summary>
    public void UpdateMasks(double fraction)
    {
        using var _ = torch.no_grad();
        bool global = _config.ScopeKind == PruneScope.Global;
        var targets = Layers.Select(l => new PruneTarget(WeightMatrix.AsMatrix(l.Weight), l.Sparsity * fraction,
                                                         WeightMatrix.AsMatrix(l.Mask), l.Name)).ToArray();
        var masks = new Tensor[Layers.Count];
        var shared = Enumerable.Range(0, Layers.Count).Where(i => global && !Layers[i].Overridden).ToArray();
        if (shared.Length > 0)
        {
            var sharedMasks = _method.ComputeMasks(shared.Select(i => targets[i]).ToArray(), global: true);
            for (int j = 0; j < shared.Length; j++) masks[shared[j]] = sharedMasks[j];
        }
        foreach (var i in Enumerable.Range(0, Layers.Count).Except(shared))
            masks[i] = _method.ComputeMasks(new[] { targets[i] })[0];
        for (int i = 0; i < Layers.Count; i++) Layers[i].Mask.copy_(masks[i].reshape(Layers[i].Mask.shape));
        ApplyMasks();
    }

    /// <summary>grad *= mask, so the optimizer sees no gradient for pruned weights.</summary>
    public void OnAfterBackward(TrainContext ctx)
    {
        using var _ = torch.no_grad();
        foreach (var l in Layers)
        {
            var g = l.Weight.grad;
            if (g is not null) g.mul_(l.Mask);
        }
    }

    /// <summary>weight *= mask after the step: momentum and Adam moments of pruned weights cannot revive them.</summary>
    public void OnAfterOptimizerStep(TrainContext ctx) => ApplyMasks();

    /// <summary>Warns when training ended before the schedule reached the final sparsity.</summary>
    public void OnTrainEnd(TrainContext ctx)
    {
        if (_appliedFraction < 1.0 - 1e-12)
            _log.Warning("Training ended at step {Step} before the pruning schedule reached sparsity {Sparsity} (step {End}); achieved {Achieved:0.0000}",
                ctx.GlobalStep, _config.Sparsity, _schedule.EndStep, AchievedSparsity);
    }

    /// <summary>The per-layer report (achieved sparsity, kept columns per tile, wit).</summary>
    public PruneReport BuildReport()
    {
        var layers = Layers.Select(l =>
        {
            var stats = TileStats.Compute(WeightMatrix.AsMatrix(l.Mask), _config.TileRows, _config.TileCols);
            return new LayerReport(l.Name, l.M, l.K, l.Sparsity, l.AchievedSparsity, stats.Tiles, stats.KeptColumnsMin,
                                   stats.KeptColumnsMax, stats.KeptColumnsMean, stats.KeptColumns, stats.Wit);
        }).ToList();
        return new PruneReport(_config.Method, _config.Sparsity, AchievedSparsity, _config.TileRows, _config.TileCols, layers, LeftDense);
    }

    /// <summary>Writes prune_report.json and prune_report.md into <paramref name="runDir"/> and logs a summary.</summary>
    public PruneReport WriteReport(string runDir)
    {
        var report = BuildReport();
        PruneReportWriter.Write(report, runDir);
        foreach (var l in report.Layers)
            _log.Information("Pruned {Layer} [{M}x{K}]: sparsity {Achieved:0.0000} (target {Target:0.0000}), kept columns per tile {Min}..{Max}, wit {Wit:0.000}",
                l.Name, l.M, l.K, l.AchievedSparsity, l.TargetSparsity, l.KeptColumnsMin, l.KeptColumnsMax, l.Wit);
        _log.Information("Pruning {Method}: achieved sparsity {Achieved:0.0000} over {Count} layers (target {Target}); max wit {Wit:0.000}",
            report.Method, report.AchievedSparsity, report.Layers.Count, report.TargetSparsity, report.Layers.Max(l => l.Wit));
        return report;
    }
}

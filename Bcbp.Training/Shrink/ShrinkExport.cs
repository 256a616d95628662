using Bcbp.Models;
using Bcbp.Models.IO;
using TorchSharp;
using static TorchSharp.torch;
using Bcbp.Training.Backend;
using Bcbp.Training.Config;
using Bcbp.Training.Costs;
using Bcbp.Training.Data;
using Bcbp.Training.Json;
using Bcbp.Training.Pruning.Layers;
using Bcbp.Training.Pruning.Surgery;
using Bcbp.Training.Runs;

namespace Bcbp.Training.Shrink;

/// <summary>Options of <see cref="ShrinkExport.Run"/>.</summary>
/// <param name="RunDir">A run folder written by <c>bcbp train</c> (config.json, model.safetensors with masks).</param>
/// <param name="OutDir">Where the shrunk model and shrink.json go; null: the run folder.</param>
/// <param name="Batch">Batch of the throughput measurement.</param>
/// <param name="Warmup">Untimed forward passes per model before timing.</param>
/// <param name="Iters">Timed forward passes per model (<see cref="ForwardTimer"/>: windows taking turns, the median).</param>
/// <param name="NumTest">Test images to compare on; 0: the run's data.num_test (0 there: the whole test set).</param>
public sealed record ShrinkOptions(string RunDir, string? OutDir = null, int Batch = 64, int Warmup = ForwardTimer.DefaultWarmup, int Iters = 10, int NumTest = 0);

/// <summary>
/// Exports a pruned run as a genuinely smaller dense model: rebuilds the run's model with its masks, removes the
/// silent filters (<see cref="FilterSurgery"/>), saves the shrunk weights (.safetensors, .pt) and their
/// <see cref="ShrinkManifest"/>, checks on the run's test set that the shrunk model computes what the masked one does,
/// counts parameters and MACs of both, times both side by side, and writes <see cref="ShrinkReport"/> as shrink.json.
/// </summary>
public static class ShrinkExport
{
    public static ShrinkReport Run(ShrinkOptions options, Device device)
    {
        if (options.Batch < 1) throw new ArgumentException($"--batch must be at least 1, got {options.Batch}");
        if (options.Warmup < 0) throw new ArgumentException($"--warmup must be >= 0, got {options.Warmup}");
        var (runDir, config, weightsPath, _) = SavedRun.Open(options.RunDir);
        string outDir = Path.GetFullPath(options.OutDir ?? runDir);

        var state = StateDictIO.Read(weightsPath);
        try
        {
            if (WeightMask.In(state).Count == 0)
                throw new InvalidDataException($"run '{runDir}' is dense: {Path.GetFileName(weightsPath)} has no weight_mask entries. " +
                                               "bcbp shrink needs a pruned run; train one with a prune section (prune.method filter removes whole filters).");
            return Export(options, device, runDir, outDir, config, weightsPath, state);
        }
        finally
        {
            foreach (var t in state.Values) t.Dispose();
        }
    }

    static ShrinkReport Export(ShrinkOptions options, Device device, string runDir, string outDir, ExperimentConfig config,
                               string weightsPath, IReadOnlyDictionary<string, Tensor> state)
    {
        using var scope = NewDisposeScope();
        var masked = Build(config, state, weightsPath);
        var shrunk = Build(config, state, weightsPath);
        var removed = FilterSurgery.Apply(shrunk);
        var zeroLeft = ZeroFilters(shrunk);
        if (removed.Count == 0)
            throw new InvalidOperationException(
                $"nothing could be removed from run '{runDir}' (prune.method {config.Prune?.Method ?? "none"}): no removable producer " +
                "(a ResNet block's inner conv, a VGG conv) has a whole pruned filter whose BatchNorm output is <= 0. " +
                (zeroLeft.Count > 0 ? $"The all-zero filters there are ({string.Join(", ", zeroLeft.Select(z => $"{z.Key}: {z.Value}"))}) feed residual sums or a non-zero BatchNorm. " : "") +
                "Physical pruning needs whole pruned filters: train with prune.method filter.");

        int size = ModelCostFile.InputSize(config.Data);
        var inputShape = new long[] { config.Model.InChannels, size, size };
        var costBefore = CostCounter.Count(masked, inputShape);
        var costAfter = CostCounter.Count(shrunk, inputShape);

        var manifest = new ShrinkManifest
        {
            Arch = config.Model.Arch, NumClasses = config.Model.NumClasses, InChannels = config.Model.InChannels,
            Widths = FilterSurgery.Widths(shrunk),
        };
        var files = new[] { ShrinkManifest.WeightsFile, ShrinkManifest.TorchWeightsFile, ShrinkManifest.FileName }.Select(f => Path.Combine(outDir, f)).ToList();
        Directory.CreateDirectory(outDir);
        StateDictIO.Save(shrunk, files[0]);
        StateDictIO.Save(shrunk, files[1]);
        manifest.Write(files[2]);
        var reloaded = ShrinkManifest.Load(files[2]);

        foreach (var m in new[] { masked, shrunk, reloaded }) { m.to(device); m.eval(); }
        if (options.NumTest > 0) config.Data.NumTest = options.NumTest;
        var test = DatasetFactory.CreateTest(config.Data, device, config.Seed);
        var agreement = OutputAgreement.Measure(masked, shrunk, reloaded, test, config.Data.EvalBatchSize);

        var x = randn(new long[] { options.Batch }.Concat(inputShape).ToArray(), generator: new Generator(17)).to(device);
        var ms = ForwardTimer.MedianMs(new Func<Tensor>[] { () => masked.call(x), () => shrunk.call(x) },
                                       options.Warmup, options.Iters, device);
        var report = new ShrinkReport
        {
            Run = runDir, Arch = config.Model.Arch, Method = config.Prune?.Method, Sparsity = config.Prune?.Sparsity,
            InputShape = inputShape, Removed = removed, ZeroFiltersLeft = zeroLeft,
            ParamsBefore = masked.parameters().Sum(p => p.numel()), ParamsAfter = shrunk.parameters().Sum(p => p.numel()),
            NonzeroParamsBefore = costBefore.KeptParams, NonzeroParamsAfter = costAfter.KeptParams,
            MacsBefore = costBefore.Macs, MacsAfter = costAfter.Macs,
            TestImages = agreement.Images, Top1Masked = agreement.Top1A, Top1Shrunk = agreement.Top1B,
            Top1Agreement = agreement.SameClass, MaxAbsLogitDiff = agreement.MaxAbsDiff, ReloadMaxAbsDiff = agreement.ReloadMaxAbsDiff,
            Tolerance = (device.type == DeviceType.CUDA ? 1e-2 : 1e-4) * Math.Max(1.0, agreement.MaxAbsLogit),
            Device = device.ToString(), Threads = get_num_threads(), Batch = options.Batch, Warmup = options.Warmup, Iters = options.Iters,
            MaskedImagesPerSec = options.Batch * 1000.0 / ms[0], ShrunkImagesPerSec = options.Batch * 1000.0 / ms[1],
            Files = files,
        };
        OutputJson.Write(Path.Combine(outDir, ShrinkReport.FileName), report);
        return report;
    }

    static nn.Module<Tensor, Tensor> Build(ExperimentConfig config, IReadOnlyDictionary<string, Tensor> state, string source) =>
        MaskedModel.Load(config.Model.Arch, config.Model.NumClasses, config.Model.InChannels, state, source);

    /// <summary>Layer -> all-zero mask rows, for the layers that have any.</summary>
    static IReadOnlyDictionary<string, long> ZeroFilters(nn.Module model)
    {
        var result = new SortedDictionary<string, long>(StringComparer.Ordinal);
        foreach (var (name, _, mask) in WeightMask.Masked(model))
        {
            long zero = WeightMatrix.AsMatrix(mask).sum(1).eq(0).sum().item<long>();
            if (zero > 0) result[name] = zero;
        }
        return result;
    }
}

using Bcbp.Models;
using Bcbp.Models.IO;
using Bcbp.Models.Onnx;
using Bcbp.Training.Costs;
using Bcbp.Training.Pruning.Surgery;
using Bcbp.Training.Runs;
using static TorchSharp.torch;

namespace Bcbp.Training.Export;

/// <summary>Options of <see cref="RunExport.Run"/>.</summary>
/// <param name="RunDir">A run folder written by <c>bcbp train</c>.</param>
/// <param name="Format">Export format; only <c>onnx</c>.</param>
/// <param name="Out">The file to write; null: <c>model.onnx</c> (or <c>model_shrunk.onnx</c>) in the run folder.</param>
/// <param name="Shrunk">Export the filter-pruned model <c>bcbp shrink</c> wrote (<c>model_shrunk.json</c>) instead of the run's model.</param>
public sealed record ExportOptions(string RunDir, string Format = RunExport.Onnx, string? Out = null, bool Shrunk = false);

/// <summary>What a run export wrote: the exporter's figures and which model it was.</summary>
/// <param name="Run">The run folder.</param>
/// <param name="Arch">model.arch of the run.</param>
/// <param name="Kind"><c>dense</c>, <c>masked</c> (pruned weights kept as zeros) or <c>shrunk</c> (filters removed).</param>
/// <param name="Onnx">The file and the exporter's figures.</param>
public sealed record ExportReport(string Run, string Arch, string Kind, OnnxExportInfo Onnx);

/// <summary>
/// Exports a finished run's model (dense, masked, or shrunk by <c>bcbp shrink</c>) for other runtimes: rebuilds it as
/// the run saved it and writes it with <see cref="OnnxExporter"/> at the run's input size, batch dynamic.
/// </summary>
public static class RunExport
{
    public const string Onnx = "onnx";

    public static ExportReport Run(ExportOptions options)
    {
        if (!string.Equals(options.Format, Onnx, StringComparison.OrdinalIgnoreCase))
            throw new ArgumentException($"--format {options.Format}: unknown export format; supported: {Onnx}");
        var run = SavedRun.Open(options.RunDir);
        var config = run.Config;
        string kind;
        nn.Module<Tensor, Tensor> model;
        if (options.Shrunk)
        {
            string manifest = Path.Combine(run.Dir, ShrinkManifest.FileName);
            if (!File.Exists(manifest))
                throw new FileNotFoundException($"run '{options.RunDir}' has no {ShrinkManifest.FileName}: shrink it first with `bcbp shrink --run {options.RunDir}`, then export with --shrunk", manifest);
            model = ShrinkManifest.Load(manifest);
            kind = "shrunk";
        }
        else
        {
            model = MaskedModel.Load(config.Model.Arch, config.Model.NumClasses, config.Model.InChannels, run.ModelFile);
            kind = MaskedModel.IsPruned(model) ? "masked" : "dense";
        }
        using (model)
        {
            int size = ModelCostFile.InputSize(config.Data);
            string file = Path.GetFullPath(options.Out ?? Path.Combine(run.Dir, options.Shrunk ? "model_shrunk.onnx" : "model.onnx"));
            var doc = $"bcbp run {config.Name}: {config.Model.Arch}, {kind}" +
                      (config.Prune is { } p ? $", prune.method {p.Method} at sparsity {p.Sparsity:0.###}" : "") +
                      $"; input normalized with the dataset's mean/std ({config.Data.Dataset})";
            var info = OnnxExporter.Export(model, new long[] { config.Model.InChannels, size, size }, file, doc);
            return new ExportReport(run.Dir, config.Model.Arch, kind, info);
        }
    }
}

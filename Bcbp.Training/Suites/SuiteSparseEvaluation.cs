using Bcbp.Kernels.Conversion;
using Bcbp.Training.Backend;
using Bcbp.Training.Inference;
using Bcbp.Training.Json;
using Bcbp.Training.Runs;
using TorchSharp;

namespace Bcbp.Training.Suites;

/// <summary>
/// <c>bcbp suite --sparse-eval</c>: <see cref="SparseEvaluation.EvaluateRun"/> on every finished pruning cell that has
/// no sparse_eval.json yet, on the cell's device (fp16 kernels on CUDA, the fp32 reference on the CPU); the report is
/// written into the cell's folder, where the suite report reads its speedup.
/// </summary>
public static class SuiteSparseEvaluation
{
    /// <summary>Evaluates the cells; <paramref name="log"/> gets one summary per cell, <paramref name="error"/> one line
    /// per failure. Returns how many failed or mismatched.</summary>
    public static int EvaluateFinished(string outputDir, IEnumerable<SuiteCell> cells, IReadOnlyList<string> overrides, string? libtorch,
                                       Action<string> log, Action<string> error)
    {
        int failed = 0;
        foreach (var cell in cells.Where(c => !c.IsDense))
        {
            var dir = Path.Combine(outputDir, cell.Name);
            var reportFile = Path.Combine(dir, SparseReport.FileName);
            if (RunFolder.StateOf(dir) != RunState.Finished || File.Exists(reportFile)) continue;
            try
            {
                // The device the cell ran on, with the suite's --set applied as EvaluateRun applies them.
                var device = TorchBackend.Initialize(SavedRun.Open(dir, overrides).Config.Device, libtorch);
                bool cuda = device.type == DeviceType.CUDA;
                var report = SparseEvaluation.EvaluateRun(dir, overrides, null, SparseLayout.Auto, fold: true, device,
                    cuda ? torch.ScalarType.Float16 : torch.ScalarType.Float32, batch: null, iters: cuda ? 10 : 2);
                OutputJson.Write(reportFile, report);
                log($"{cell.Name}: sparse {report.Summary()}");
                if (!report.Passed) failed++;
            }
            catch (Exception e) when (e is ArgumentException or InvalidDataException or InvalidOperationException or NotSupportedException or IOException)
            {
                error($"error: {cell.Name}: sparse evaluation failed: {e.Message}");
                failed++;
            }
        }
        return failed;
    }
}

using Bcbp.Kernels.Conversion;
using Bcbp.Kernels.Formats;
using Bcbp.Kernels.Plan;
using Bcbp.Models;
using Bcbp.Training.Pruning.Surgery;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Bcbp.Training.Inference;

/// <summary>
/// The whole-model plan's checks in <c>verify</c> (GPU only): each model pruned 75% with random balanced masks and
/// random BatchNorm statistics, its plan (dense stem and classifier on our kernels, CUDA graph) in fp16 against the
/// float32 masked model (TF32 off), by the sparse pass rule: per batch, rel err(plan) &lt;= max(2 x rel err(masked
/// fp16 dense), 1e-3); the graph replay against the same launches run one by one (identical); and the plan against its
/// steps run by TorchSharp ops (<see cref="PlanReference"/>). The "shrunk" models keep half plus one of every conv's
/// filters but the stem's and are physically shrunk (<see cref="FilterSurgery"/>) before conversion, as a filter run's
/// sparse evaluation times them (odd widths such as 9 of 16, partial tiles): the plan against the float32 masked model
/// they came from.
/// </summary>
internal static class PlanVerification
{
    static readonly (string Arch, int Size, int Classes, int TileRows, int[] Batches, bool Shrunk)[] Models =
    {
        ("resnet20", 32, 10, 16, new[] { 1, 3, 8 }, false), ("vgg16_cifar", 32, 10, 32, new[] { 1, 8 }, false),
        ("resnet50", 224, 1000, 64, new[] { 1, 8 }, false), ("vgg16", 224, 1000, 64, new[] { 2 }, false),
        ("resnet20", 32, 10, 16, new[] { 1, 8 }, true), ("vgg16_cifar", 32, 10, 32, new[] { 8 }, true),
    };

    /// <summary>Runs the checks; <paramref name="report"/> takes (what, error, tolerance).</summary>
    internal static void Run(Device device, Generator gen, Action<string, double, double> report)
    {
        foreach (var (arch, size, classes, tileRows, batches, shrunk) in Models)
        {
            try { Check(arch, size, classes, tileRows, batches, shrunk, device, gen, report); }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                report($"plan {Name(arch, shrunk)}: {e.GetType().Name}: {e.Message.ReplaceLineEndings(" ")}", double.PositiveInfinity, 0);
            }
        }
    }

    static string Name(string arch, bool shrunk) => shrunk ? arch + " shrunk" : arch;

    static void Check(string arch, int size, int classes, int tileRows, int[] batches, bool shrunk, Device device, Generator gen,
        Action<string, double, double> report)
    {
        {
            using var scope = NewDisposeScope();
            using var _ = no_grad();
            nn.Module<Tensor, Tensor> Make()             // the same pruned model each call
            {
                random.manual_seed(5);
                var m = ModelFactory.Create(arch, classes);
                if (!shrunk) SyntheticMasks.PruneModel(m, tileRows, 0.75, new Generator(77));
                var g = new Generator(78);
                foreach (var (_, module) in m.named_modules())
                    if (module is BatchNorm2d bn)
                    {
                        bn.running_mean!.normal_(0, 0.1, g); bn.running_var!.uniform_(0.5, 1.5, g);
                        bn.weight!.uniform_(0.5, 1.5, g); bn.bias!.normal_(0, 0.1, g);
                    }
                if (shrunk) SyntheticMasks.PruneHalfTheFilters(m, new Generator(77), extra: 1);   // odd widths: 9 of 16
                m.eval();
                return m;
            }
            var model = Make();
            model.to(device);
            var inputs = batches.Select(b => randn(new long[] { b, 3, size, size }, generator: gen).to(device)).ToArray();
            var reference = inputs.Select(x => model.forward(x)).ToArray();
            model.half();
            var dense16 = inputs.Select(x => model.forward(x.half())).ToArray();
            // Converted in float32 (BatchNorm folded before any rounding, as `sparse` does); packed in fp16 at first use.
            var whole = Make();
            // Shrunk on the CPU and then moved, as SparseEvaluation.Shrunk does with a loaded run.
            if (shrunk && FilterSurgery.Apply(whole).Count == 0) throw new InvalidOperationException("no filter could be removed");
            whole.to(device);
            SparseConversion.Convert(whole, tileRows, SparseLayout.Bcbp, foldBatchNorm: true, dense: true);
            using var graphed = new PlannedModel(whole);
            using var launched = new PlannedModel(whole, graph: false);
            for (int i = 0; i < batches.Length; i++)
            {
                var x = inputs[i].half();
                var plan = graphed.forward(x);
                string how = graphed.FallbackReason is { } why ? $"FELL BACK: {why}"
                    : graphed.LastPlan!.Graphed ? $"CUDA graph, {graphed.LastPlan.Launches} launches" : $"no graph: {graphed.LastPlan.CaptureError}";
                double denseErr = KernelVerification.RelErr(dense16[i], reference[i]);
                double tol = Math.Max(2 * denseErr, 1e-3);
                double err = graphed.FallbackReason is null ? KernelVerification.RelErr(plan, reference[i]) : double.PositiveInfinity;
                string name = Name(arch, shrunk);
                report($"plan {name} b{batches[i]} fp16 ({how}) vs fp32 (masked fp16 dense: {denseErr:E2})", err, tol);
                report($"plan {name} b{batches[i]} graph replay vs launches one by one", KernelVerification.RelErr(plan, launched.forward(x)), 0);
                // The plan's own kernels (transpose, pools, shortcuts) against its steps run by TorchSharp ops.
                if (graphed.LastPlan is { } p)
                    report($"plan {name} b{batches[i]} kernels vs PlanReference (same steps, TorchSharp ops)",
                        KernelVerification.RelErr(plan, PlanReference.Forward(p.Graph, x)), 3e-3);
            }
        }
    }
}

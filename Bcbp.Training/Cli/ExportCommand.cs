using Bcbp.Training.Export;

namespace Bcbp.Training.Cli;

/// <summary><c>bcbp export --run runs/NAME --format onnx</c>: writes the run's model as ONNX (<see cref="RunExport"/>).</summary>
public sealed class ExportCommand : ICliCommand
{
    public string Name => "export";
    public string Summary => "export a run's model (dense, masked or shrunk) as ONNX with a dynamic batch dimension";

    public int Run(CliArgs args)
    {
        if (args.Has("help"))
        {
            Console.WriteLine("usage: bcbp export --run runs/NAME [--format onnx] [--shrunk] [--out FILE]\n" +
                              "  --run     a run folder written by bcbp train\n" +
                              "  --format  onnx (default onnx)\n" +
                              "  --shrunk  export the model `bcbp shrink` wrote (model_shrunk.json) instead of the run's masked model\n" +
                              "  --out     output file (default: model.onnx, or model_shrunk.onnx, in the run folder)");
            return 0;
        }
        string run = args.Get("run") ?? throw new ArgumentException("--run is required (a run folder written by bcbp train, e.g. runs/NAME)");
        var options = new ExportOptions(run, args.Get("format", RunExport.Onnx), args.Get("out"), args.Has("shrunk"));
        args.ThrowOnUnknown();

        var r = RunExport.Run(options);
        var o = r.Onnx;
        Console.WriteLine($"exported {r.Arch} ({r.Kind}) to {o.Path}: {o.Bytes / 1048576.0:F2} MiB, opset {o.Opset}, {o.Nodes} nodes, " +
                          $"{o.Parameters:N0} weights ({o.ZeroWeights:N0} zeros); input [batch, {string.Join(", ", o.InputShape)}] -> logits [batch, {o.OutputShape[0]}]; " +
                          $"graph vs model max |logit diff| {o.MaxAbsDiff:E2}");
        return 0;
    }
}

using System.CommandLine;
using Bcbp.Training.Backend;
using Bcbp.Training.Config;
using Bcbp.Training.Export;

namespace Bcbp.Training.Cli;

/// <summary><c>bcbp export --run runs/NAME --format onnx</c>: writes the run's model (dense, masked, or shrunk with
/// <c>--shrunk</c>) as ONNX with a dynamic batch dimension (<see cref="RunExport"/>) and prints what it wrote.</summary>
public sealed class ExportCommand : ICliCommand
{
    readonly Option<string?> _run = CliOptions.Path("--run", PathKind.Run, "a finished run folder written by bcbp train: a path, or a name in runs/", required: true);
    readonly Option<string?> _format = CliOptions.Choice("--format", RunExport.Onnx, "export format", RunExport.Onnx);
    readonly Option<bool> _shrunk = CliOptions.Flag("--shrunk", "export the model bcbp shrink wrote (model_shrunk.json) instead of the run's dense or masked model");
    readonly Option<string?> _out = new("--out") { Description = "output file (default: model.onnx, or model_shrunk.onnx, in the run folder)", HelpName = "FILE" };

    public Command Build()
    {
        var command = new Command("export", "export a run's model (dense, masked or shrunk) as ONNX with a dynamic batch dimension")
        {
            _run, _format, _shrunk, _out,
        };
        command.SetAction(Run);
        return command;
    }

    int Run(ParseResult p)
    {
        TorchBackend.Initialize("cpu"); // exporting reads the weights on the CPU, whatever device the run trained on
        var r = RunExport.Run(new ExportOptions(p.GetValue(_run)!, p.GetValue(_format)!, p.GetValue(_out), p.GetValue(_shrunk)));
        var o = r.Onnx;
        Console.WriteLine($"exported {r.Arch} ({r.Kind}) to {o.Path}: {o.Bytes / 1048576.0:F2} MiB, opset {o.Opset}, {o.Nodes} nodes, " +
                          $"{o.Parameters:N0} weights ({o.ZeroWeights:N0} zeros); input [batch, {string.Join(", ", o.InputShape)}] -> logits [batch, {o.OutputShape[0]}]; " +
                          $"graph vs model max |logit diff| {o.MaxAbsDiff:E2}");
        return ExitCodes.Ok;
    }
}

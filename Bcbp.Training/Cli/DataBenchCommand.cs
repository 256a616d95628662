using Bcbp.Models.IO;
using System.Diagnostics;
using System.Text.Json;
using System.CommandLine;
using Bcbp.Training.Config;
using Bcbp.Training.Data;
using Bcbp.Training.Backend;
using static TorchSharp.torch;

namespace Bcbp.Training.Cli;

/// <summary>
/// <c>bcbp bench-data --config NAME [--set data.x=y] [--device cuda] [--epochs 2] [--decode-routes N]</c>: how fast the data pipeline of a
/// config delivers batches (images/s) with no model: load time, one shuffled augmented training epoch and one
/// evaluation pass per repeat, the device synchronized before each clock stops. Prints and writes JSON (--output).
/// </summary>
public sealed class DataBenchCommand : ICliCommand
{
    readonly Option<string?> _config = CliOptions.Path("--config", PathKind.Config,
        "the config whose data section is measured: a path, or a name in configs/", required: true);
    readonly Option<List<string>> _sets = CliOptions.Sets("override a config key, e.g. --set data.workers=8 (repeatable)");
    readonly Option<int> _epochs = CliOptions.Int("--epochs", 2, "passes (the first includes warm-up: JIT, CUDA kernels, file cache)");
    readonly Option<int> _decodeRoutes = CliOptions.Int("--decode-routes", 0,
        "image folders: also time each decoder route (whole, crop_only, auto) on this many images, one thread; 0: not", min: 0);
    readonly Option<string?> _output = new("--output") { Description = "also write the JSON report here", HelpName = "FILE" };
    readonly DeviceOptions _device = new();

    public Command Build()
    {
        var command = new Command("bench-data", "data pipeline throughput (img/s) of a config's dataset with no model: load time, " +
                                                "one augmented training pass and one evaluation pass per epoch")
        {
            _config, _sets, _epochs, _decodeRoutes, _output,
        };
        _device.AddTo(command);
        command.SetAction(Run);
        return command;
    }

    int Run(ParseResult p)
    {
        var config = ConfigLoader.Load(p.GetValue(_config)!, p.GetValue(_sets));
        int epochs = p.GetValue(_epochs);
        string? output = p.GetValue(_output);
        var device = _device.Initialize(p, config.Device);
        var result = DataThroughput.Measure(config, device, epochs, Console.WriteLine, p.GetValue(_decodeRoutes));
        var json = JsonSerializer.Serialize(result, new JsonSerializerOptions { WriteIndented = true });
        Console.WriteLine(json);
        if (output is not null) AtomicFile.WriteAllText(output, json + "\n");
        return ExitCodes.Ok;
    }
}

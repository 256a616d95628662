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
/// <c>bcbp bench-data --config NAME [--set data.x=y] [--device cuda] [--epochs 2]</c>: how fast the data pipeline of a
/// config delivers batches (images/s) with no model: load time, one shuffled augmented training epoch and one
/// evaluation pass per repeat, the device synchronized before each clock stops. Prints and writes JSON (--output).
/// </summary>
public sealed class DataBenchCommand : ICliCommand
{
    readonly Option<string?> _config = CliOptions.Path("--config", PathKind.Config,
        "the config whose data section is measured: a path, or a name in configs/", required: true);
    readonly Option<List<string>> _sets = CliOptions.Sets("override a config key, e.g. --set data.workers=8 (repeatable)");
    readonly Option<int> _epochs = CliOptions.Int("--epochs", 2, "passes (the first includes warm-up: JIT, CUDA kernels, file cache)");
    readonly Option<string?> _output = new("--output") { Description = "also write the JSON report here", HelpName = "FILE" };
    readonly DeviceOptions _device = new();

    public Command Build()
    {
        var command = new Command("bench-data", "data pipeline throughput (img/s) of a config's dataset with no model: load time, " +
                                                "one augmented training pass and one evaluation pass per epoch")
        {
            _config, _sets, _epochs, _output,
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
        var clock = Stopwatch.StartNew();
        var (train, test) = DatasetFactory.Create(config.Data, device, config.Seed);
        double loadSeconds = clock.Elapsed.TotalSeconds;
        Console.WriteLine($"{config.Data.Dataset} on {device}: train {train.Count}, test {test.Count}, " +
                          $"{train.Channels}x{train.ImageSize.Height}x{train.ImageSize.Width}, {train.NumClasses} classes; loaded in {loadSeconds:F2} s");

        var trainRates = new List<double>();
        var testRates = new List<double>();
        for (int epoch = 0; epoch < epochs; epoch++)
        {
            trainRates.Add(Pass(train, config.Data.BatchSize, shuffle: true, augment: config.Data.Augment, epoch, out var mean, out var std));
            testRates.Add(Pass(test, config.Data.EvalBatchSize, shuffle: false, augment: false, epoch, out _, out _));
            Console.WriteLine($"epoch {epoch}: train {trainRates[^1],10:F0} img/s (augmented batch mean {mean:F3}, std {std:F3}), " +
                              $"eval {testRates[^1],10:F0} img/s");
        }
        var result = new
        {
            dataset = config.Data.Dataset, device = device.ToString(), train_count = train.Count, test_count = test.Count,
            batch_size = config.Data.BatchSize, eval_batch_size = config.Data.EvalBatchSize, augment = config.Data.Augment,
            load_seconds = loadSeconds, train_images_per_second = trainRates, eval_images_per_second = testRates,
        };
        var json = JsonSerializer.Serialize(result, new JsonSerializerOptions { WriteIndented = true });
        Console.WriteLine(json);
        if (output is not null) AtomicFile.WriteAllText(output, json + "\n");
        return ExitCodes.Ok;
    }

    /// <summary>Images per second of one pass; the first epoch includes any warm-up (JIT, CUDA kernels, file cache).</summary>
    static double Pass(IBatchSource source, int batchSize, bool shuffle, bool augment, int epoch, out double mean, out double std)
    {
        var clock = Stopwatch.StartNew();
        long images = 0;
        mean = std = 0;
        foreach (var (input, _) in source.Batches(batchSize, shuffle, augment, epoch))
        {
            images += input.shape[0];
            using var scope = NewDisposeScope();
            // Reading a value waits for the device, so the clock measures finished batches.
            if (images >= source.Count - batchSize) { mean = input.mean().item<float>(); std = input.std().item<float>(); }
        }
        return images / clock.Elapsed.TotalSeconds;
    }
}

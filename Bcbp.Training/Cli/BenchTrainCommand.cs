using Bcbp.Models.IO;
using System.Diagnostics;
using System.Text.Json;
using Bcbp.Models;
using TorchSharp;
using static TorchSharp.torch;
using Bcbp.Training.Backend;
using Bcbp.Training.Config;
using Bcbp.Training.Fitting;
using Bcbp.Training.Runs;

namespace Bcbp.Training.Cli;

/// <summary>
/// <c>bcbp bench-train --arch resnet56 --batch 128 --device cuda</c>: training throughput (images/s) of the trainer's
/// own step (forward, cross-entropy, backward, SGD with momentum and weight decay) on random data already on the device.
/// Warmup steps are excluded and the device is synchronized before the clock starts and stops. Prints and writes JSON;
/// experiments/pytorch_reference/train_throughput.py measures PyTorch eager the same way.
/// </summary>
public sealed class BenchTrainCommand : ICliCommand
{
    public string Name => "bench-train";
    public string Summary => "training throughput (img/s): --arch resnet56 --batch 128 [--device cuda] [--steps 100] [--warmup 20] [--repeats 3] [--threads N]";

    public int Run(CliArgs args)
    {
        if (args.Has("help"))
        {
            Console.WriteLine("usage: bcbp bench-train [--arch resnet56] [--batch 128] [--steps 100] [--warmup 20] [--repeats 3] [--classes 10]\n" +
                              "                        [--in-channels 3] [--image-size 32] [--device cpu|cuda] [--libtorch DIR] [--threads N] [--output FILE]\n" +
                              "  training throughput (img/s) of the trainer's step on random data; compare with experiments/pytorch_reference/train_throughput.py");
            return 0;
        }
        string arch = args.Get("arch", "resnet56");
        int batch = args.GetInt("batch", 128);
        int steps = args.GetInt("steps", 100);
        int warmup = args.GetInt("warmup", 20);
        int repeats = args.GetInt("repeats", 3);
        int classes = args.GetInt("classes", 10);
        int channels = args.GetInt("in-channels", 3);
        int size = args.GetInt("image-size", 32);
        string deviceName = args.Get("device", "cpu");
        string? output = args.Get("output");
        string? libtorch = args.Get("libtorch");
        int threads = args.GetInt("threads", 0);
        args.ThrowOnUnknown();
        if (batch <= 0 || steps <= 0 || warmup < 0 || repeats <= 0)
            throw new ArgumentException("--batch, --steps and --repeats must be > 0 and --warmup >= 0");

        var device = TorchBackend.Initialize(deviceName, libtorch);
        if (threads > 0) set_num_threads(threads);
        random.manual_seed(0);
        var model = ModelFactory.Create(arch, classes, channels);
        model.to(device);
        var config = new TrainConfig { Optimizer = "sgd", Lr = 0.1, Momentum = 0.9, WeightDecay = 5e-4, LrSchedule = "constant" };
        var trainer = new Trainer(model, config, "bench", epochs: 1, stepsPerEpoch: 1, device);
        model.train();
        using var input = randn(batch, channels, size, size, device: device);
        using var target = randint(classes, new long[] { batch }, dtype: ScalarType.Int64, device: device);

        RunSteps(trainer, input, target, warmup, device);
        var windows = new List<double>();
        for (int r = 0; r < repeats; r++)
        {
            var clock = Stopwatch.StartNew();
            RunSteps(trainer, input, target, steps, device);
            windows.Add((double)steps * batch / clock.Elapsed.TotalSeconds);
        }
        double median = windows.Order().ElementAt(windows.Count / 2);
        var report = new Dictionary<string, object?>
        {
            ["framework"] = "bcbp (TorchSharp 0.107.0)", ["arch"] = arch, ["batch"] = batch, ["image_size"] = size,
            ["in_channels"] = channels, ["device"] = device.ToString(), ["cpu_threads"] = get_num_threads(), ["libtorch"] = TorchBackend.LibTorchDir ?? "bundled",
            ["warmup_steps"] = warmup, ["steps"] = steps, ["repeats"] = repeats, ["images_per_second"] = median,
            ["images_per_second_all"] = windows, ["ms_per_step"] = 1000.0 * batch / median,
            ["commit"] = Provenance.Commit(), ["machine"] = Provenance.Machine(device.ToString()), ["finished_utc"] = DateTime.UtcNow,
        };
        Console.WriteLine($"bench-train {arch} batch {batch} on {device}: {median:F0} images/s ({1000.0 * batch / median:F2} ms/step; " +
                          $"windows {string.Join(", ", windows.Select(w => w.ToString("F0")))})");
        output ??= Path.Combine("results", $"bench_train_{arch}_b{batch}_{device.type.ToString().ToLowerInvariant()}.json");
        AtomicFile.WriteAllText(output, JsonSerializer.Serialize(report, new JsonSerializerOptions { WriteIndented = true }) + "\n");
        Console.WriteLine($"wrote {output}");
        return 0;
    }

    static void RunSteps(Trainer trainer, Tensor input, Tensor target, int steps, Device device)
    {
        for (int i = 0; i < steps; i++)
        {
            using var scope = NewDisposeScope();
            trainer.Step(input, target);
        }
        if (device.type == DeviceType.CUDA) cuda.synchronize(device);
    }
}

using System.Diagnostics;
using Bcbp.Models;
using Bcbp.Training.Backend;
using Bcbp.Training.Config;
using Bcbp.Training.Fitting;
using TorchSharp;
using static TorchSharp.torch;

namespace Bcbp.Training.Runs;

/// <summary>
/// Training throughput (images/s) of the trainer's own step (forward, cross-entropy, backward, SGD with momentum and
/// weight decay) on random data already on the device: warm-up steps excluded, the device synchronized before the
/// clock starts and stops, the median of <c>repeats</c> windows (<c>bcbp bench-train</c>).
/// </summary>
public static class TrainThroughput
{
    /// <summary>Measures <paramref name="arch"/>; returns the report written as JSON (median images/s under
    /// "images_per_second", every window under "images_per_second_all").</summary>
    public static Dictionary<string, object?> Measure(string arch, int batch, int steps, int warmup, int repeats, int classes, int channels,
        int size, Device device)
    {
        random.manual_seed(0);
        var model = ModelFactory.Create(arch, classes, channels);
        model.to(device);
        var config = new TrainConfig { Optimizer = "sgd", Lr = 0.1, Momentum = 0.9, WeightDecay = 5e-4, LrSchedule = "constant" };
        var trainer = new Trainer(model, config, TrainingPhase.Dense, epochs: 1, stepsPerEpoch: 1, device);
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
        return report;
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

using System.Diagnostics;
using Bcbp.Training.Config;
using static TorchSharp.torch;

namespace Bcbp.Training.Data;

/// <summary>
/// How fast a config's data pipeline delivers batches (images/s) with no model (<c>bcbp bench-data</c>): load time, then
/// per epoch one shuffled augmented training pass and one evaluation pass.
/// </summary>
public static class DataThroughput
{
    /// <summary>Measures <paramref name="epochs"/> epochs of <paramref name="config"/>'s data on <paramref name="device"/>,
    /// printing a line per epoch; returns the result written as JSON.</summary>
    /// <param name="config">The experiment config whose data section is measured.</param>
    /// <param name="device">Where the batches are delivered.</param>
    /// <param name="epochs">Epochs to time (the first includes warm-up).</param>
    /// <param name="print">Receives one line per epoch.</param>
    /// <param name="decodeImages">Image folders: also time each decoder route on this many images, one thread
    /// (0: not).</param>
    public static object Measure(ExperimentConfig config, Device device, int epochs, Action<string> print, int decodeImages = 0)
    {
        var clock = Stopwatch.StartNew();
        var (train, test) = DatasetFactory.Create(config.Data, device, config.Seed);
        double loadSeconds = clock.Elapsed.TotalSeconds;
        print($"{config.Data.Dataset} on {device}: train {train.Count}, test {test.Count}, " +
                          $"{train.Channels}x{train.ImageSize.Height}x{train.ImageSize.Width}, {train.NumClasses} classes; loaded in {loadSeconds:F2} s");

        var trainRates = new List<double>();
        var testRates = new List<double>();
        for (int epoch = 0; epoch < epochs; epoch++)
        {
            trainRates.Add(Pass(train, config.Data.BatchSize, shuffle: true, augment: config.Data.Augment, epoch, out var mean, out var std));
            testRates.Add(Pass(test, config.Data.EvalBatchSize, shuffle: false, augment: false, epoch, out _, out _));
            print($"epoch {epoch}: train {trainRates[^1],10:F0} img/s (augmented batch mean {mean:F3}, std {std:F3}), " +
                              $"eval {testRates[^1],10:F0} img/s");
        }
        var decode = new Dictionary<string, double>();
        if (decodeImages > 0 && train is ImageFolderSource folder)
        {
            foreach (var route in new[] { DecodeRoute.Whole, DecodeRoute.CropOnly, DecodeRoute.Auto })
                foreach (bool random in new[] { true, false })
                    decode[$"{ConfigNames.Of(route)}_{(random ? "random_crop" : "center_crop")}"] = folder.DecodeMilliseconds(route, decodeImages, random);
            print("decode, one thread, ms per image: " + string.Join(", ", decode.Select(kv => $"{kv.Key} {kv.Value:F2}")));
        }
        var result = new
        {
            dataset = config.Data.Dataset, device = device.ToString(), train_count = train.Count, test_count = test.Count,
            batch_size = config.Data.BatchSize, eval_batch_size = config.Data.EvalBatchSize, augment = config.Data.Augment,
            load_seconds = loadSeconds, train_images_per_second = trainRates, eval_images_per_second = testRates,
            workers = config.Data.Workers, prefetch = (train as ImageFolderSource)?.Prefetch ?? 0,
            cpu_count = Environment.ProcessorCount, decode_ms_per_image = decode,
        };
        (train as IDisposable)?.Dispose(); // image folders: page-locked slots and decode threads
        (test as IDisposable)?.Dispose();
        return result;
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

using SkiaSharp;
using static TorchSharp.torch;

namespace Bcbp.Training.Data;

/// <summary>
/// Streams an <see cref="ImageFolder"/> from disk: background tasks decode the next <see cref="Prefetch"/> batches,
/// each over <see cref="Workers"/> threads, with SkiaSharp (crop, resize, flip in one draw) while the current one
/// trains; the main thread only copies the uint8 batch to the device and normalizes it there. Training: random-resized-crop + horizontal flip; evaluation
/// (or augment off): resize the shorter side to size*256/224 and center-crop. Each image's random crop comes from
/// (seed, epoch, position in the epoch), so results do not depend on thread timing.
/// </summary>
public sealed class ImageFolderSource : IBatchSource
{
    readonly ImageFolder _folder;
    readonly int _size;
    readonly double[] _mean, _std;
    readonly bool _augmentEnabled;
    readonly long _seed;
    readonly Device _device;

    public ImageFolderSource(ImageFolder folder, int size, double[] mean, double[] std, bool augmentEnabled, int workers,
                             long seed, Device device)
    {
        _folder = folder;
        _size = size;
        _mean = mean;
        _std = std;
        _augmentEnabled = augmentEnabled;
        Workers = workers;
        _seed = seed;
        _device = device;
    }

    /// <summary>Threads that decode the images of a batch.</summary>
    public int Workers { get; }
    /// <summary>Batches decoded ahead of the one in use.</summary>
    public const int Prefetch = 2;
    public int Count => _folder.Files.Count;
    public int NumClasses => _folder.Classes.Count;
    public int Channels => 3;
    public (int Height, int Width) ImageSize => (_size, _size);
    public IReadOnlyList<string> Classes => _folder.Classes;

    /// <inheritdoc/>
    public IEnumerable<(Tensor Input, Tensor Target)> Batches(int batchSize, bool shuffle, bool augment, int epoch)
    {
        if (batchSize < 1) throw new ArgumentOutOfRangeException(nameof(batchSize), "batch size must be >= 1");
        int n = Count;
        long[] order = shuffle ? DataRng.For(_seed, epoch, 0).Permutation(n) : Enumerable.Range(0, n).Select(i => (long)i).ToArray();
        var starts = new List<int>();
        for (int s = 0; s < n; s += batchSize)
            if (!(shuffle && s > 0 && n - s == 1)) starts.Add(s);
        bool randomCrop = augment && _augmentEnabled;

        var pending = new Queue<Task<byte[]>>();
        int next = 0;
        void Enqueue()
        {
            int start = starts[next++], size = Math.Min(batchSize, n - start);
            pending.Enqueue(Task.Run(() => DecodeBatch(order, start, size, randomCrop, epoch)));
        }
        while (next < starts.Count && pending.Count < Prefetch) Enqueue();

        Tensor? input = null, target = null;
        for (int k = 0; k < starts.Count; k++)
        {
            var pixels = pending.Dequeue().GetAwaiter().GetResult();
            if (next < starts.Count) Enqueue();
            int start = starts[k], size = Math.Min(batchSize, n - start);
            input?.Dispose(); target?.Dispose();
            using (var scope = NewDisposeScope())
            {
                var bytes = tensor(pixels, new long[] { size, 3, _size, _size }).to(_device);
                input = Augment.Normalize(bytes, _mean, _std);
                target = tensor(order.AsSpan(start, size).ToArray().Select(i => _folder.Labels[i]).ToArray(), device: _device);
                scope.Detach(input, target);
            }
            yield return (input, target);
        }
    }

    /// <summary>Decodes one batch, its images spread over <see cref="Workers"/> threads (an evaluation batch can be
    /// hundreds of images).</summary>
    byte[] DecodeBatch(long[] order, int start, int size, bool randomCrop, int epoch)
    {
        int plane = _size * _size;
        var pixels = new byte[size * 3 * plane];
        try
        {
            Parallel.For(0, size, new ParallelOptions { MaxDegreeOfParallelism = Workers }, i =>
            {
                var rng = DataRng.For(_seed, epoch, 2 + start + i);
                DecodeInto(_folder.Files[(int)order[start + i]], randomCrop, ref rng, pixels.AsSpan(i * 3 * plane, 3 * plane));
            });
        }
        catch (AggregateException e) // the first bad file's own error (it names the file), not a wrapper
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(e.InnerExceptions[0]).Throw();
        }
        return pixels;
    }

    /// <summary>Decodes one file, crops, resizes to size x size (flipping when drawn), and writes it channel-major.</summary>
    void DecodeInto(string path, bool randomCrop, ref DataRng rng, Span<byte> chw)
    {
        using var source = SKBitmap.Decode(path)
            ?? throw new InvalidDataException($"'{path}' could not be decoded as an image (corrupt or not JPEG/PNG); remove or replace it");
        var box = randomCrop ? CropBox.RandomResized(source.Width, source.Height, ref rng) : CropBox.Center(source.Width, source.Height);
        bool flip = randomCrop && rng.NextDouble() < 0.5;
        using var image = SKImage.FromBitmap(source);
        using var target = new SKBitmap(new SKImageInfo(_size, _size, SKColorType.Rgba8888, SKAlphaType.Unpremul));
        using (var canvas = new SKCanvas(target))
        {
            if (flip) canvas.Scale(-1, 1, _size / 2f, 0);
            canvas.DrawImage(image, new SKRect(box.X, box.Y, box.X + box.Width, box.Y + box.Height),
                             new SKRect(0, 0, _size, _size), new SKSamplingOptions(SKFilterMode.Linear, SKMipmapMode.None));
        }
        var rgba = target.GetPixelSpan();
        int plane = _size * _size;
        for (int p = 0; p < plane; p++)
        {
            chw[p] = rgba[4 * p];
            chw[plane + p] = rgba[4 * p + 1];
            chw[2 * plane + p] = rgba[4 * p + 2];
        }
    }
}

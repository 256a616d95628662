using static TorchSharp.torch;

namespace Bcbp.Training.Data;

/// <summary>
/// Streams an <see cref="ImageFolder"/> from disk. <see cref="Workers"/> threads decode the pass's images in order
/// (<see cref="DecodePass"/>), each image only as far as its crop needs (<see cref="CropDecoder"/>: for JPEG the crop's
/// rows and columns, DCT-scaled when the crop is at least twice the target), resampled and flipped by Skia straight into
/// a reusable batch slot in NHWC BGRX bytes (<see cref="BatchLayout"/>), up to <see cref="Prefetch"/> batches ahead of
/// the consumer (<see cref="BatchRing"/>). On CUDA the slots are page-locked and copied asynchronously on a stream of
/// their own while the previous step runs (<see cref="BatchStaging"/>); the device reorders, converts and normalizes.
/// Training: random-resized-crop + horizontal flip; evaluation (or augment off): resize the shorter side to
/// size*256/224 and center-crop (torchvision's Resize(256) + CenterCrop(224)). Each image's crop comes from (seed,
/// epoch, position in the epoch), so results do not depend on the number of workers or on thread timing.
/// </summary>
public sealed class ImageFolderSource : IShardableSource, IDisposable
{
    readonly ImageFolder _folder;
    readonly int _size;
    readonly double[] _mean, _std;
    readonly bool _augmentEnabled;
    readonly long _seed;
    readonly Device _device;
    readonly object _lock = new();
    DataShard _shard = DataShard.Whole;
    ShardRemainder _remainder;
    BatchStaging? _staging;
    DecodePass? _pass;
    (Tensor Scale, Tensor Shift)? _normalization;

    public ImageFolderSource(ImageFolder folder, int size, double[] mean, double[] std, bool augmentEnabled, int workers,
                             long seed, Device device, int prefetch = DefaultPrefetch)
    {
        if (workers < 1 || prefetch < 1) throw new ArgumentOutOfRangeException(nameof(workers), "workers and prefetch must be >= 1");
        Prefetch = prefetch;
        _folder = folder;
        _size = size;
        _mean = mean;
        _std = std;
        _augmentEnabled = augmentEnabled;
        Workers = workers;
        _seed = seed;
        _device = device;
    }

    /// <summary>Threads that decode images (one pool for the whole pass, not per batch).</summary>
    public int Workers { get; }
    /// <summary>Batches decoded ahead of the consumer (<c>data.prefetch</c>): the slots of the ring, each
    /// <c>batch x size x size x 4</c> bytes, page-locked on CUDA.</summary>
    public int Prefetch { get; }
    /// <summary>The default of <see cref="Prefetch"/>: enough to cover a slow image or a slow step, little memory.</summary>
    public const int DefaultPrefetch = 3;
    /// <summary>Images one pass reads: the folder's, or a shard's (<see cref="Shard"/>).</summary>
    public int Count => _shard.WorldSize == 1 ? _folder.Files.Count : DistributedSampler.CountOf(_folder.Files.Count, _shard, _remainder);
    public int NumClasses => _folder.Classes.Count;
    public int Channels => 3;
    public (int Height, int Width) ImageSize => (_size, _size);
    public IReadOnlyList<string> Classes => _folder.Classes;

    /// <inheritdoc/>
    /// <remarks>Inputs have channels_last strides (NHWC memory, <see cref="BatchLayout"/>). One pass at a time: starting
    /// a pass stops one that was left unfinished.</remarks>
    public IEnumerable<(Tensor Input, Tensor Target)> Batches(int batchSize, bool shuffle, bool augment, int epoch)
    {
        if (batchSize < 1) throw new ArgumentOutOfRangeException(nameof(batchSize), "batch size must be >= 1");
        return Pass(batchSize, shuffle, augment && _augmentEnabled, epoch);
    }

    IEnumerable<(Tensor Input, Tensor Target)> Pass(int batchSize, bool shuffle, bool randomCrop, int epoch)
    {
        int total = _folder.Files.Count, n = Count;
        long[] order = shuffle ? DataRng.For(_seed, epoch, 0).Permutation(total) : Enumerable.Range(0, total).Select(i => (long)i).ToArray();
        // The position in the epoch's order of this source's i-th image (i itself unless sharded; padding wraps around).
        long Position(long i) => _shard.Rank + i * _shard.WorldSize;
        long File(long i) => order[Position(i) % total];
        var counts = new List<int>();
        for (int s = 0; s < n; s += batchSize)
        {
            int size = Math.Min(batchSize, n - s);
            if (!Batching.Drops(s, size, batchSize, shuffle)) counts.Add(size);
        }
        if (counts.Count == 0) yield break;

        DecodePass pass;
        BatchStaging staging;
        lock (_lock)
        {
            _pass?.Dispose(); // an enumeration left unfinished: its threads stop before the slots are reused
            staging = Staging(counts[0]);
            if (_normalization is null)
            {
                using var scope = NewDisposeScope();
                var n2 = BatchLayout.Normalization(_mean, _std, _device);
                scope.Detach(n2.Scale, n2.Shift);
                _normalization = n2;
            }
            var ring = new BatchRing(staging.Depth, staging.WaitUntilFree);
            long imageBytes = staging.ImageBytes;
            _pass = pass = new DecodePass(Workers, batchSize, counts.ToArray(), ring,
                (image, slot, index) => DecodeImage(File(image), Position(image), randomCrop, epoch, staging.Pixels(slot) + (nint)(index * imageBytes)),
                (batch, slot, count) =>
                {
                    var labels = new long[count];
                    for (int i = 0; i < count; i++) labels[i] = _folder.Labels[File((long)batch * batchSize + i)];
                    staging.SetLabels(slot, labels);
                    staging.Send(slot, count);
                });
        }

        Tensor? input = null, target = null;
        try
        {
            for (int k = 0; k < counts.Count; k++)
            {
                pass.WaitFor(k);
                int slot = k % staging.Depth;
                input?.Dispose(); target?.Dispose();
                using (var scope = NewDisposeScope())
                {
                    var (pixels, labels) = staging.Receive(slot, counts[k]);
                    var (scale, shift) = _normalization!.Value;
                    input = BatchLayout.ToModelInput(pixels, scale, shift);
                    target = labels.clone(); // the slot's labels are overwritten by a later batch
                    staging.Consumed(slot);
                    // Into the caller's scope (the trainer's epoch scope frees the last batch); earlier ones are freed here.
                    scope.MoveToOuter(input, target);
                }
                pass.Release(k);
                yield return (input, target);
            }
        }
        finally
        {
            lock (_lock)
            {
                pass.Dispose();
                if (_pass == pass) _pass = null;
            }
        }
    }

    /// <summary>The slots, grown when a pass needs more images a batch than they hold.</summary>
    BatchStaging Staging(int capacity)
    {
        if (_staging is { } s && s.Capacity >= capacity) return s;
        _staging?.Dispose();
        return _staging = BatchStaging.Create(_device, Prefetch, capacity, _size);
    }

    /// <summary>Milliseconds of one thread's work per image, decoding the first <paramref name="images"/> files by
    /// <paramref name="route"/> with epoch 0's crops (random-resized or center) into one buffer: what each step of the
    /// decoder saves (<c>bench-data --decode-routes</c>). Each file is read once before the clock starts.</summary>
    public double DecodeMilliseconds(DecodeRoute route, int images, bool randomCrop)
    {
        int n = Math.Min(images, _folder.Files.Count);
        if (n < 1) return double.NaN;
        for (int i = 0; i < n; i++) _ = File.ReadAllBytes(_folder.Files[i]); // page cache, as in a pass after the first
        var buffer = GC.AllocateUninitializedArray<byte>((int)BatchLayout.ImageBytes(_size), pinned: true);
        var destination = System.Runtime.InteropServices.Marshal.UnsafeAddrOfPinnedArrayElement(buffer, 0);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        for (int i = 0; i < n; i++)
        {
            var rng = DataRng.For(_seed, 0, 2 + i);
            CropDecoder.Decode(_folder.Files[i], (width, height) =>
            {
                var box = randomCrop ? CropBox.RandomResized(width, height, ref rng) : CropBox.Center(width, height);
                return (box, randomCrop && rng.NextDouble() < 0.5);
            }, _size, destination, route);
        }
        return clock.Elapsed.TotalMilliseconds / n;
    }

    /// <summary>Decodes file <paramref name="file"/>, the <paramref name="position"/>-th image of the pass, into
    /// <paramref name="destination"/>; its crop and flip come from (seed, epoch, position).</summary>
    void DecodeImage(long file, long position, bool randomCrop, int epoch, IntPtr destination)
    {
        var rng = DataRng.For(_seed, epoch, 2 + position);
        CropDecoder.Decode(_folder.Files[(int)file], (width, height) =>
        {
            var box = randomCrop ? CropBox.RandomResized(width, height, ref rng) : CropBox.Center(width, height);
            return (box, randomCrop && rng.NextDouble() < 0.5);
        }, _size, destination);
    }

    /// <inheritdoc/>
    /// <remarks>Image i of rank r's pass is the one at position r + i * W of the epoch's order (PyTorch's
    /// DistributedSampler) and takes its crop and flip from that position, so W ranks together decode exactly the
    /// images, crops and flips of one process. The shard has its own decode threads and slots.</remarks>
    public IBatchSource Shard(DataShard shard, ShardRemainder remainder)
    {
        if (_shard.WorldSize != 1) throw new InvalidOperationException("a shard cannot be sharded again.");
        if (shard.WorldSize == 1) return this;
        return new ImageFolderSource(_folder, _size, _mean, _std, _augmentEnabled, Workers, _seed, _device, Prefetch)
        {
            _shard = shard,
            _remainder = remainder,
        };
    }

    /// <summary>Stops a pass in progress and frees the slots (page-locked memory on CUDA).</summary>
    public void Dispose()
    {
        lock (_lock)
        {
            _pass?.Dispose();
            _pass = null;
            _staging?.Dispose();
            _staging = null;
            if (_normalization is var (scale, shift)) { scale.Dispose(); shift.Dispose(); }
            _normalization = null;
        }
    }
}
